"""Every error the stdlib raises, ferrosock raises the same: type, errno and message.

Each case is `lambda m: ...` run once with `socket` and once with `ferrosock`; the
comparison is on (type(exc), exc.errno, str(exc)), or on the value when nothing is raised.
Host names here are numeric or rejected before any lookup: the tests never ask DNS.
"""

from __future__ import annotations

import os
import socket
import struct
from typing import Any, Callable

import pytest
from conftest import HOST4, assert_parity, outcome, short_unix_path
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def on(op: Callable[[Any], Any], family=socket.AF_INET, type_=socket.SOCK_STREAM):
    """A case that runs `op(s)` on a fresh socket of the module."""

    def case(m):
        with m.socket(family, type_) as s:
            return op(s)

    return case


def after_close(op: Callable[[Any], Any]):
    def case(m):
        s = m.socket()
        s.close()
        return op(s)

    return case


def after_close_dgram(op: Callable[[Any], Any]):
    def case(m):
        s = m.socket(m.AF_INET, m.SOCK_DGRAM)
        s.close()
        return op(s)

    return case


def connected(op: Callable[[Any, Any], Any]):
    """A case that runs `op(client, server_side)` on a connected TCP pair of the module."""

    def case(m):
        with m.socket() as srv:
            srv.bind((HOST4, 0))
            srv.listen()
            with m.create_connection(srv.getsockname()) as c:
                conn, _ = srv.accept()
                with conn:
                    return op(c, conn)

    return case


def bound_port(m, type_=socket.SOCK_STREAM):
    s = m.socket(m.AF_INET, type_)
    s.bind((HOST4, 0))
    return s


def address_in_use(m):
    with bound_port(m) as first, m.socket() as second:
        return second.bind(first.getsockname())


def refused(m):
    with bound_port(m) as holder, m.socket() as c:  # bound, not listening: RST
        return c.connect(holder.getsockname())


def refused_ex(m):
    with bound_port(m) as holder, m.socket() as c:
        return c.connect_ex(holder.getsockname())


def udp_refused(m):
    """A connected UDP socket gets ICMP port unreachable back as ECONNREFUSED."""
    with bound_port(m, m.SOCK_DGRAM) as holder:
        addr = holder.getsockname()
    with m.socket(m.AF_INET, m.SOCK_DGRAM) as c:
        c.connect(addr)
        c.send(b"x")
        c.settimeout(2)
        return c.recv(10)


def reset_by_peer(m):
    def op(c, conn):
        conn.setsockopt(m.SOL_SOCKET, m.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()  # abortive close: RST
        return c.recv(10)

    return connected(op)(m)


def broken_pipe(m):
    def op(c, conn):
        conn.close()
        c.shutdown(m.SHUT_RD)
        for _ in range(100):
            c.send(b"x" * 1024)  # the first send gets RST, a later one EPIPE

    return connected(op)(m)


UNIX_MISSING = "/nonexistent-ferrosock-dir/s.sock"

CASES: dict[str, Callable[[Any], Any]] = {
    # ---- the OS says no
    "address-in-use": address_in_use,
    "connection-refused": refused,
    "connect_ex-refused": refused_ex,
    "udp-refused": udp_refused,
    "connection-reset": reset_by_peer,
    "broken-pipe": broken_pipe,
    "connect-twice": connected(lambda c, conn: c.connect(conn.getsockname())),
    "connect_ex-twice": connected(lambda c, conn: c.connect_ex(conn.getsockname())),
    "bind-twice": on(lambda s: (s.bind((HOST4, 0)), s.bind((HOST4, 0)))),
    "listen-udp": on(lambda s: s.listen(), type_=socket.SOCK_DGRAM),
    "accept-not-listening": on(lambda s: s.accept()),
    "accept-udp": on(lambda s: s.accept(), type_=socket.SOCK_DGRAM),
    "recv-unconnected-tcp": on(lambda s: s.recv(1)),
    "send-unconnected-tcp": on(lambda s: s.send(b"x")),
    "send-unconnected-udp": on(lambda s: s.send(b"x"), type_=socket.SOCK_DGRAM),
    "sendto-on-connected-tcp": connected(lambda c, conn: c.sendto(b"x", (HOST4, 9))),
    "shutdown-unconnected": on(lambda s: s.shutdown(socket.SHUT_RDWR)),
    "shutdown-bad-how": connected(lambda c, conn: c.shutdown(5)),
    "shutdown-str-how": on(lambda s: s.shutdown("x")),
    "getpeername-unconnected": on(lambda s: s.getpeername()),
    "bind-empty-host": on(lambda s: s.bind(("", 0))),
    "bind-not-local": on(lambda s: s.bind(("192.0.2.1", 0))),
    "unix-connect-missing": on(lambda s: s.connect(UNIX_MISSING), family=socket.AF_UNIX),
    "unix-bind-missing-dir": on(lambda s: s.bind(UNIX_MISSING), family=socket.AF_UNIX),
    "unix-path-too-long": on(lambda s: s.bind("/tmp/" + "x" * 200), family=socket.AF_UNIX),
    "unix-path-too-long-bytes": on(lambda s: s.bind(b"/tmp/" + b"x" * 200), family=socket.AF_UNIX),
    "unix-bind-int": on(lambda s: s.bind(5), family=socket.AF_UNIX),
    "unix-bind-tuple": on(lambda s: s.bind(("127.0.0.1", 0)), family=socket.AF_UNIX),
    # ---- constructor
    "bad-family": lambda m: m.socket(12345).close(),
    "negative-family": lambda m: m.socket(-5).close(),
    "str-family": lambda m: m.socket("x").close(),
    "bad-type": lambda m: m.socket(m.AF_INET, 9999).close(),
    "bad-proto": lambda m: m.socket(m.AF_INET, m.SOCK_STREAM, 9999).close(),
    "udp-with-tcp-proto": lambda m: m.socket(m.AF_INET, m.SOCK_DGRAM, m.IPPROTO_TCP).close(),
    "fileno-negative": lambda m: m.socket(fileno=-1).close(),
    "fileno-str": lambda m: m.socket(fileno="3").close(),
    "fileno-not-open": lambda m: m.socket(fileno=987654).close(),
    "fileno-float": lambda m: m.socket(fileno=3.0).close(),
    "too-many-args": lambda m: m.socket(2, 1, 0, None, 5).close(),
    "unknown-kwarg": lambda m: m.socket(flavour=1).close(),
    # ---- AF_INET addresses
    "port-too-big": on(lambda s: s.bind((HOST4, 70000))),
    "port-negative": on(lambda s: s.bind((HOST4, -1))),
    "port-2**64": on(lambda s: s.bind((HOST4, 2**64))),
    "port-str": on(lambda s: s.bind((HOST4, "80"))),
    "port-float": on(lambda s: s.bind((HOST4, 0.5))),
    "port-none": on(lambda s: s.bind((HOST4, None))),
    "tuple-1": on(lambda s: s.bind((HOST4,))),
    "tuple-3": on(lambda s: s.bind((HOST4, 0, 0))),
    "list-address": on(lambda s: s.bind([HOST4, 0])),
    "str-address": on(lambda s: s.bind(HOST4)),
    "none-address": on(lambda s: s.bind(None)),
    "int-host": on(lambda s: s.bind((127, 0))),
    "none-host": on(lambda s: s.bind((None, 0))),
    "bytes-host": on(lambda s: (s.bind((b"127.0.0.1", 0)), s.getsockname()[0])),
    "bytearray-host": on(lambda s: (s.bind((bytearray(b"127.0.0.1"), 0)), s.getsockname()[0])),
    "nul-in-host": on(lambda s: s.bind(("127.0.0.1\x00", 0))),
    "nul-in-bytes-host": on(lambda s: s.bind((b"127.0.0.1\x00", 0))),
    "connect-port-too-big": on(lambda s: s.connect((HOST4, 65536))),
    "connect-tuple-1": on(lambda s: s.connect((HOST4,))),
    "connect_ex-bad-tuple": on(lambda s: s.connect_ex((HOST4,))),
    "connect_ex-port-too-big": on(lambda s: s.connect_ex((HOST4, 65536))),
    "sendto-port-too-big": on(lambda s: s.sendto(b"x", (HOST4, 70000)), type_=socket.SOCK_DGRAM),
    "sendto-bad-address": on(lambda s: s.sendto(b"x", HOST4), type_=socket.SOCK_DGRAM),
    "broadcast-name-bind": on(
        lambda s: (s.bind(("<broadcast>", 0)), s.getsockname()[0]), type_=socket.SOCK_DGRAM
    ),
    # ---- AF_INET6 addresses
    "inet6-tuple-1": on(lambda s: s.bind(("::1",)), family=socket.AF_INET6),
    "inet6-tuple-5": on(lambda s: s.bind(("::1", 0, 0, 0, 0)), family=socket.AF_INET6),
    "inet6-port-too-big": on(lambda s: s.bind(("::1", 70000)), family=socket.AF_INET6),
    "inet6-flowinfo-too-big": on(lambda s: s.bind(("::1", 0, 2**20, 0)), family=socket.AF_INET6),
    "inet6-flowinfo-negative": on(lambda s: s.bind(("::1", 0, -1, 0)), family=socket.AF_INET6),
    "inet6-bad-scope": on(lambda s: s.bind(("::1", 0, 0, 99999)), family=socket.AF_INET6),
    # ---- buffers and sizes
    "recv-negative": on(lambda s: s.recv(-1)),
    "recv-str": on(lambda s: s.recv("10")),
    "recv-float": on(lambda s: s.recv(1.5)),
    "recv-bad-flags": on(lambda s: s.recv(10, "x")),
    "recv-no-args": on(lambda s: s.recv()),
    "recvfrom-negative": on(lambda s: s.recvfrom(-1)),
    "recv_into-bytes": on(lambda s: s.recv_into(b"abcd")),
    "recv_into-too-small": on(lambda s: s.recv_into(bytearray(4), 10)),
    "recv_into-negative": on(lambda s: s.recv_into(bytearray(4), -1)),
    "recv_into-str": on(lambda s: s.recv_into("abcd")),
    "recvfrom_into-too-small": on(lambda s: s.recvfrom_into(bytearray(4), 10)),
    "recvfrom_into-negative": on(lambda s: s.recvfrom_into(bytearray(4), -1)),
    "recvfrom_into-bytes": on(lambda s: s.recvfrom_into(b"abcd")),
    "send-str": on(lambda s: s.send("hello")),
    "send-int": on(lambda s: s.send(5)),
    "send-none": on(lambda s: s.send(None)),
    "sendall-str": on(lambda s: s.sendall("hello")),
    "sendto-str": on(lambda s: s.sendto("hello", (HOST4, 9)), type_=socket.SOCK_DGRAM),
    "sendto-missing-address": on(lambda s: s.sendto(b"hello"), type_=socket.SOCK_DGRAM),
    "sendto-too-many-args": on(lambda s: s.sendto(b"x", 0, (HOST4, 9), 1), type_=socket.SOCK_DGRAM),
    "sendto-flags-str": on(lambda s: s.sendto(b"x", "0", (HOST4, 9)), type_=socket.SOCK_DGRAM),
    "datagram-too-long": on(lambda s: s.sendto(b"x" * 70000, (HOST4, 9)), type_=socket.SOCK_DGRAM),
    "send-str-connected": connected(lambda c, conn: c.send("hello")),
    "send-memoryview-ok": connected(lambda c, conn: (c.send(memoryview(b"hey")), conn.recv(3))),
    "send-noncontiguous": connected(lambda c, conn: c.send(memoryview(b"abcdef")[::2])),
    "send-array-ok": connected(
        lambda c, conn: (c.sendall(__import__("array").array("i", [1, 2])), conn.recv(8))
    ),
    "recv-zero": connected(lambda c, conn: c.recv(0)),
    "recv_into-zero-nbytes-uses-len": connected(
        lambda c, conn: (conn.sendall(b"abc"), c.recv_into(bytearray(8), 0))
    ),
    "bind-localhost-name": on(lambda s: (s.bind(("localhost", 0)), s.getsockname()[0])),
    "sendto-with-flags": on(
        lambda s: (
            s.bind((HOST4, 0)),
            s.sendto(b"abc", 0, s.getsockname()),
            s.recvfrom(9) == (b"abc", s.getsockname()),
        ),
        type_=socket.SOCK_DGRAM,
    ),
    "recv_into-noncontiguous": connected(
        lambda c, conn: (conn.sendall(b"abc"), c.recv_into(memoryview(bytearray(8))[::2]))
    ),
    "recv_into-readonly-view": on(lambda s: s.recv_into(memoryview(b"abcd"))),
    "recv_into-array": connected(
        lambda c, conn: (
            conn.sendall(b"\x01\x00\x00\x00"),
            c.recv_into(__import__("array").array("i", [0, 0])),
        )
    ),
    "recvfrom_into-memoryview-slice": on(
        lambda s: (
            s.bind((HOST4, 0)),
            s.sendto(b"abcdef", s.getsockname()),
            s.recvfrom_into(memoryview(bytearray(10))[2:5]) == (3, s.getsockname()),
        ),
        type_=socket.SOCK_DGRAM,
    ),
    "shutdown-rd-then-recv": connected(
        lambda c, conn: (c.shutdown(socket.SHUT_RD), c.recv(10), type(c.recv(10)))
    ),
    "recv-returns-bytes": connected(
        lambda c, conn: (
            conn.sendall(b"a"),
            type(c.recv(10)),
            conn.sendall(b"b"),
            type(c.recvfrom(10)[0]),
        )
    ),
    "detach-then-repr-tail": on(
        lambda s: (os.close(s.detach()), repr(s).split(" ", 1)[1], s.fileno())
    ),
    # ---- timeouts and modes
    "settimeout-negative": on(lambda s: s.settimeout(-1)),
    "settimeout-str": on(lambda s: s.settimeout("1")),
    "setblocking-str": on(lambda s: s.setblocking("x")),
    "setblocking-none": on(lambda s: s.setblocking(None)),
    "listen-negative": on(lambda s: (s.bind((HOST4, 0)), s.listen(-5))),
    "listen-str": on(lambda s: s.listen("5")),
    "makefile-bad-mode": on(lambda s: s.makefile("rx")),
    "makefile-text-buffering-0": on(lambda s: s.makefile("r", buffering=0)),
    # ---- names
    "gaierror-numeric-host": lambda m: m.getaddrinfo(
        "no-such-host.invalid", 80, flags=m.AI_NUMERICHOST
    ),
    "gaierror-service": lambda m: m.getaddrinfo(HOST4, "no-such-service-xyz"),
}

CLOSED_METHODS: dict[str, Callable[[Any], Any]] = {
    "bind": lambda s: s.bind((HOST4, 0)),
    "listen": lambda s: s.listen(),
    "accept": lambda s: s.accept(),
    "connect": lambda s: s.connect((HOST4, 9)),
    "connect_ex": lambda s: s.connect_ex((HOST4, 9)),
    "send": lambda s: s.send(b"x"),
    "sendall": lambda s: s.sendall(b"x"),
    "sendto": lambda s: s.sendto(b"x", (HOST4, 9)),
    "recv": lambda s: s.recv(1),
    "recv_into": lambda s: s.recv_into(bytearray(1)),
    "recvfrom": lambda s: s.recvfrom(1),
    "recvfrom_into": lambda s: s.recvfrom_into(bytearray(1)),
    "shutdown": lambda s: s.shutdown(socket.SHUT_RDWR),
    "getsockname": lambda s: s.getsockname(),
    "getpeername": lambda s: s.getpeername(),
    "setsockopt": lambda s: s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1),
    "getsockopt": lambda s: s.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR),
    "settimeout": lambda s: s.settimeout(1),
    "settimeout-none": lambda s: s.settimeout(None),
    "gettimeout": lambda s: s.gettimeout(),
    "setblocking": lambda s: s.setblocking(False),
    "getblocking": lambda s: s.getblocking(),
    "dup": lambda s: s.dup().close(),
    "detach": lambda s: s.detach(),
    "fileno": lambda s: s.fileno(),
    "get_inheritable": lambda s: s.get_inheritable(),
    "family": lambda s: (s.family, s.type, s.proto),
    "makefile": lambda s: s.makefile("rb").close(),
    "close": lambda s: s.close(),
}


@pytest.mark.parametrize("name", list(CASES), ids=list(CASES))
def test_error_parity(mod, name, tmp_path):
    assert_parity(CASES[name], mod)


def test_address_in_use_message():
    got = outcome(address_in_use, socket)
    assert got == ("raise", OSError, 98, "[Errno 98] Address already in use")


def test_refused_is_connection_refused_error():
    got = outcome(refused, socket)
    assert got == ("raise", ConnectionRefusedError, 111, "[Errno 111] Connection refused")


def test_port_range_message():
    got = outcome(on(lambda s: s.bind((HOST4, 70000))), socket)
    assert got == ("raise", OverflowError, None, "bind(): port must be 0-65535.")


@pytest.mark.parametrize("method", list(CLOSED_METHODS), ids=list(CLOSED_METHODS))
def test_use_after_close(mod, method):
    got = assert_parity(after_close(CLOSED_METHODS[method]), mod)
    assert_parity(after_close_dgram(CLOSED_METHODS[method]), mod)
    if method == "fileno":
        assert got == ("ok", -1)


def test_bad_descriptor_message():
    got = outcome(after_close(CLOSED_METHODS["recv"]), socket)
    assert got == ("raise", OSError, 9, "[Errno 9] Bad file descriptor")


def test_unix_bind_existing_path(mod, tmp_path):
    path = short_unix_path(tmp_path)

    def bind_twice(m):
        with m.socket(m.AF_UNIX) as a, m.socket(m.AF_UNIX) as b:
            a.bind(path)
            try:
                return b.bind(path)
            finally:
                os.unlink(path)

    assert_parity(bind_twice, mod)


def test_unix_path_with_nul_in_middle(mod, tmp_path):
    path = short_unix_path(tmp_path)

    def bind(m):
        with m.socket(m.AF_UNIX) as s:
            s.bind(path + "\0tail")
            name = s.getsockname()
            os.unlink(path)
            return name

    assert_parity(bind, mod)


def test_unix_path_exactly_max(mod):
    """sun_path holds 108 bytes: 108 without a terminator is accepted by the stdlib."""

    def bind(m, n):
        with m.socket(m.AF_UNIX) as s:
            return s.bind(b"\0" + b"x" * (n - 1))  # abstract: no file left behind

    for n in (107, 108, 109):
        assert_parity(lambda m, n=n: bind(m, n), mod)


fixture_ok = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@fixture_ok
@given(port=st.one_of(st.integers(-(2**70), -1), st.integers(65536, 2**70), st.just(0)))
def test_any_port_int(mod, port):
    assert_parity(on(lambda s: (s.bind((HOST4, port)), s.getsockname()[0])), mod)


@fixture_ok
@given(
    size=st.one_of(st.integers(-(2**70), -1), st.integers(0, 1 << 20), st.integers(2**63, 2**70)),
    flags=st.sampled_from([0, socket.MSG_DONTWAIT]),
)
def test_any_recv_size(mod, size, flags):
    """Negative, ordinary and past-ssize_t sizes (no multi-GiB buffers); data is waiting."""

    def run(m):
        a, b = m.socketpair()
        with a, b:
            b.sendall(b"abc")
            return a.recv(size, flags)

    assert_parity(run, mod)


@fixture_ok
@given(size=st.integers(0, 20), nbytes=st.integers(-3, 25))
def test_any_recv_into_sizes(mod, size, nbytes):
    def run(m):
        a, b = m.socketpair()
        with a, b:
            b.sendall(b"0123456789")
            buf = bytearray(size)
            n = a.recv_into(buf, nbytes)
            return n, bytes(buf)

    assert_parity(run, mod)
