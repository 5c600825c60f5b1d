"""TLS records that arrive in pieces: the ciphertext reads under ferrosock.ssl stop at record
boundaries and keep a record's header when the body is late, as OpenSSL's own reads do.

A relay between the peers forwards the server's bytes in chosen pieces, with pauses, so the
client meets a record whose header has come and whose body has not. Each scenario runs on the
stdlib's SSLSocket and on ferrosock's, and the outcomes must be the same.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from typing import Any, Callable

import tlsutil

certs = tlsutil.certs
tls_mod = tlsutil.tls_mod

pytestmark = tlsutil.needs_openssl


class Relay:
    """Copies server -> client bytes through `shape(data) -> [(piece, pause_after)]`."""

    def __init__(self, server_side: socket.socket, client_side: socket.socket, shape: Callable):
        self._src, self._dst, self._shape = server_side, client_side, shape
        self.armed = threading.Event()  # shape the next server write
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            data = self._src.recv(65536)
            if not data:
                self._dst.shutdown(socket.SHUT_WR)
                return
            pieces = self._shape(data) if self.armed.is_set() else [(data, 0.0)]
            for piece, pause in pieces:
                self._dst.sendall(piece)
                time.sleep(pause)

    def join(self) -> None:
        self._thread.join(5)
        assert not self._thread.is_alive()


def _relayed(
    certs: Any, mod: Any, shape: Callable, client_fn: Callable[[Any, Relay, Any], Any]
) -> Any:
    """Server (stdlib) <-> relay <-> client (module under test); client_fn(tls, relay, server)."""
    server_ctx = tlsutil.server_context(certs)
    client_ctx = tlsutil.client_context(certs)
    s_end, r_in = socket.socketpair()  # server <-> relay
    r_out, c_end = socket.socketpair()  # relay <-> client
    client_plain = c_end if mod is socket else mod.socket(fileno=c_end.detach())
    # Client -> server bytes go straight through a second relay thread without shaping.
    back = threading.Thread(target=_pump, args=(r_out, r_in), daemon=True)
    back.start()
    relay = Relay(r_in, r_out, shape)
    server_box: dict = {}

    def serve() -> None:
        tls = server_ctx.wrap_socket(s_end, server_side=True)
        server_box["tls"] = tls
        server_box["ready"].set()
        server_box["done"].wait(5)
        tls.close()

    server_box["ready"] = threading.Event()
    server_box["done"] = threading.Event()
    server = threading.Thread(target=serve, daemon=True)
    server.start()
    try:
        with client_ctx.wrap_socket(client_plain, server_hostname="localhost") as tls:
            assert server_box["ready"].wait(5)
            return client_fn(tls, relay, server_box["tls"])
    finally:
        server_box["done"].set()
        server.join(5)
        relay.join()
        back.join(5)
        for s in (r_in, r_out):
            s.close()


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while True:
            data = src.recv(65536)
            if not data:
                dst.shutdown(socket.SHUT_WR)
                return
            dst.sendall(data)
    except OSError:
        pass


def _split_after_header(pause: float) -> Callable:
    return lambda data: [(data[:5], pause), (data[5:], 0.0)]


def _late_body(tls: Any, relay: Relay, server: Any) -> Any:
    """A read times out between header and body; the next read gets the record whole."""
    relay.armed.set()
    server.sendall(b"record one")
    tls.settimeout(0.1)
    first = tlsutil.outcome(tls.recv, 100)
    tls.settimeout(5)
    second = tlsutil.outcome(tls.recv, 100)
    relay.armed.clear()
    server.sendall(b"record two")
    return first, second, tlsutil.outcome(tls.recv, 100)


def test_a_timeout_between_header_and_body_keeps_the_stream(certs: Any, tls_mod: Any) -> None:
    got = _relayed(certs, tls_mod, _split_after_header(0.4), _late_body)
    assert got == _relayed(certs, socket, _split_after_header(0.4), _late_body)
    assert got[1] == ("ok", b"record one") and got[2] == ("ok", b"record two")
    assert got[0][1] in (TimeoutError, socket.timeout)


def _trickle(data: bytes) -> list:
    # 1 ms a byte: the whole record cannot be there before the reader's first try, however
    # the threads are scheduled (with no pause, a busy machine sometimes let it all through).
    return [(data[i : i + 1], 0.001) for i in range(len(data))]


def _trickled(tls: Any, relay: Relay, server: Any) -> Any:
    """A record arriving a byte at a time is read whole, blocking and non-blocking."""
    relay.armed.set()
    server.sendall(b"x" * 300)
    got = tls.recv(1000)
    server.sendall(b"y" * 50)
    tls.setblocking(False)
    waits = 0
    while True:
        try:
            more = tls.recv(1000)
            break
        except tlsutil.ssl.SSLWantReadError:
            waits += 1
            select.select([tls], [], [], 5)
    tls.setblocking(True)
    return got, more, waits > 0


def test_a_record_that_trickles_in(certs: Any, tls_mod: Any) -> None:
    got = _relayed(certs, tls_mod, _trickle, _trickled)
    assert got[:2] == (b"x" * 300, b"y" * 50)
    assert got == _relayed(certs, socket, _trickle, _trickled)


def _two_records(tls: Any, relay: Relay, server: Any) -> Any:
    """Two records in one segment: after the first is read, select() still sees the second
    (nothing was read ahead into a buffer select cannot see)."""
    relay.armed.set()
    server.sendall(b"first")
    server.sendall(b"second")
    time.sleep(0.2)  # both records are in the client's socket buffer now
    a = tls.recv(100)
    readable = bool(select.select([tls], [], [], 0)[0])
    return a, tls.pending(), readable, tls.recv(100)


def test_select_sees_the_next_record(certs: Any, tls_mod: Any) -> None:
    got = _relayed(certs, tls_mod, _whole, _two_records)
    assert got == (b"first", 0, True, b"second")
    assert got == _relayed(certs, socket, _whole, _two_records)


def _whole(data: bytes) -> list:
    return [(data, 0.0)]
