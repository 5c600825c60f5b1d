"""Issue 10, part 4 on the clients: ``keepalive=`` on the native TCP clients.

The option is read back from the client's own socket while the request is in flight: a
stdlib server in this process accepts, finds the client's descriptor (the socket of this
process whose local address is the accepted connection's peer) and reads SO_KEEPALIVE,
TCP_KEEPIDLE, TCP_KEEPINTVL and TCP_KEEPCNT from it before it answers.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading

import netns
import pytest
from ferrosock import aio, clients

HOST = "127.0.0.1"


def find_local_socket(address: tuple[str, int]) -> int:
    """The descriptor in this process whose socket is bound to ``address``."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            if not os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                continue
            with socket.socket(fileno=os.dup(fd)) as s:
                if s.type == socket.SOCK_STREAM and s.getsockname() == address:
                    return fd
        except OSError:
            continue
    raise AssertionError(f"no socket of this process is bound to {address}")


class InspectingEchoServer:
    """Accepts one connection at a time, records the client socket's keepalive options, then
    echoes what it receives until the client closes."""

    def __init__(self) -> None:
        self.listener = socket.create_server((HOST, 0))
        self.listener.settimeout(10)
        self.address = self.listener.getsockname()
        self.seen: list[tuple[int, int | None, int | None, int | None]] = []
        self.failure: BaseException | None = None
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            while True:
                try:
                    conn, peer = self.listener.accept()
                except OSError:
                    return
                with conn:
                    conn.settimeout(10)
                    self.seen.append(netns.keepalive_of(find_local_socket(peer)))
                    while data := conn.recv(65536):
                        conn.sendall(data)
        except BaseException as exc:  # reported by the test
            self.failure = exc

    def close(self) -> None:
        self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept (close alone does not)
        self.listener.close()
        self.thread.join(10)
        if self.failure is not None:
            raise self.failure

    def __enter__(self) -> InspectingEchoServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


CASES = [
    (True, (1, 60, 10, 5)),
    (7, (1, 7, 7, 5)),
    (300.4, (1, 300, 10, 5)),
    ((3, 2, 4), (1, 3, 2, 4)),
    (False, netns.KEEPALIVE_OFF),
    (None, netns.KEEPALIVE_OFF),
]


@pytest.mark.parametrize(("keepalive", "expected"), CASES)
def test_echo_sets_keepalive_on_its_socket(keepalive, expected):
    with InspectingEchoServer() as srv:
        assert clients.echo(srv.address, b"ka", timeout=5, keepalive=keepalive) == b"ka"
    assert srv.seen == [expected]


@pytest.mark.parametrize(("keepalive", "expected"), CASES)
def test_aio_echo_and_connect_set_keepalive_on_their_sockets(keepalive, expected):
    async def main() -> None:
        assert await aio.echo(srv.address, b"ka", timeout=5, keepalive=keepalive) == b"ka"
        stream = await aio.connect(*srv.address, timeout=5, keepalive=keepalive)
        try:
            await stream.send(b"st")
            assert await asyncio.wait_for(stream.recv_exactly(2), 5) == b"st"
        finally:
            stream.close()
            await stream.wait_closed()

    with InspectingEchoServer() as srv:
        asyncio.run(main())
    assert srv.seen == [expected, expected]


def test_defaults_off_for_one_shot_echo_on_for_streams():
    async def main() -> None:
        assert await aio.echo(srv.address, b"d", timeout=5) == b"d"
        stream = await aio.connect(*srv.address)
        await stream.send(b"s")
        assert await asyncio.wait_for(stream.recv_exactly(1), 5) == b"s"  # inspected by now
        stream.close()
        await stream.wait_closed()

    with InspectingEchoServer() as srv:
        assert clients.echo(srv.address, b"d", timeout=5) == b"d"
        asyncio.run(main())
    assert srv.seen == [netns.KEEPALIVE_OFF, netns.KEEPALIVE_OFF, (1, 60, 10, 5)]


BAD_VALUES = [0, 0.5, -3, float("nan"), float("inf"), 2**2000, (1, 1, 0), (1, 0, 3)]
BAD_VALUES += [(1, 1, 128), (1, 1, -1), (1, 1, 2**70), (0.2, 1, 1)]
BAD_TYPES = ["yes", b"1", [1, 1, 1], (1, 2), (1, 2, 3, 4), (1, 1, 2.5), ("1", 1, 1), (True, 1, 1)]


def refusals(call) -> list[tuple[type, str]]:
    got = []
    for bad in BAD_VALUES + BAD_TYPES:
        with pytest.raises((ValueError, TypeError)) as info:
            call(bad)
        got.append((info.type, str(info.value)))
    return got


def test_bad_values_raise_clear_errors_before_anything_is_sent():
    # Nothing listens on port 1: the option is refused before any connection is tried.
    address = (HOST, 1)
    blocking = refusals(lambda bad: clients.echo(address, b"x", keepalive=bad))
    assert [t for t, _ in blocking] == [ValueError] * len(BAD_VALUES) + [TypeError] * len(BAD_TYPES)
    for _, message in blocking:
        assert "keepalive" in message
    assert blocking[0][1] == "keepalive idle time must be a number of seconds from 1 up"
    assert blocking[BAD_VALUES.index((1, 1, 0))][1] == "keepalive count must be from 1 to 127"
    assert blocking[BAD_VALUES.index((1, 0, 3))][1] == (
        "keepalive interval must be a number of seconds from 1 up"
    )
    # The same messages from the asyncio clients, and for UDP (validated, then unused).
    assert refusals(lambda bad: aio.echo(address, b"x", keepalive=bad)) == blocking
    assert refusals(lambda bad: clients.echo(address, b"x", kind="udp", keepalive=bad)) == blocking

    async def connect(bad):
        stream = await aio.connect(*address, keepalive=bad)
        stream.close()

    assert refusals(lambda bad: asyncio.run(connect(bad))) == blocking


def test_udp_echo_takes_the_option_and_ignores_it():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind((HOST, 0))
        udp.settimeout(5)

        def answer() -> None:
            data, peer = udp.recvfrom(100)
            udp.sendto(data, peer)

        t = threading.Thread(target=answer)
        t.start()
        try:
            assert clients.echo(udp.getsockname(), b"u", kind="udp", keepalive=(1, 1, 1)) == b"u"
        finally:
            t.join(10)


VANISHING_SERVER_SCRIPT = """
import asyncio, errno, socket, threading, time
from ferrosock import aio, clients

server = socket.create_server((VANISHING, 0))   # the server that will vanish
accepted = []

def accept_forever():
    while True:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        accepted.append(conn)            # never answers, never closes

threading.Thread(target=accept_forever, daemon=True).start()
address = server.getsockname()

def outcome(exc):
    return "ETIMEDOUT" if getattr(exc, "errno", None) == errno.ETIMEDOUT else repr(exc)

def blocking_echo(results):
    began = time.monotonic()
    try:
        clients.echo(address, b"x", timeout=None, keepalive=(1, 1, 2))
        results["echo"] = ("answered", 0.0)
    except OSError as exc:
        results["echo"] = (outcome(exc), time.monotonic() - began)

async def stream_recv(keepalive, limit):
    stream = await aio.connect(*address, timeout=5, keepalive=keepalive)
    began = time.monotonic()
    try:
        await asyncio.wait_for(stream.recv(), limit)
        return ("answered", 0.0)
    except OSError as exc:  # asyncio.TimeoutError is an OSError too (3.11+): no errno
        if exc.errno is None and isinstance(exc, asyncio.TimeoutError):
            return ("still waiting", time.monotonic() - began)
        return (outcome(exc), time.monotonic() - began)
    except asyncio.TimeoutError:  # before 3.11, not an OSError
        return ("still waiting", time.monotonic() - began)
    finally:
        stream.close()

async def main():
    results = {}
    t = threading.Thread(target=blocking_echo, args=(results,))
    on = asyncio.ensure_future(stream_recv((1, 1, 2), 15))
    off = asyncio.ensure_future(stream_recv(False, 6))
    t.start()
    while len(accepted) < 3:
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.3)   # the echo request is in the server's buffer, unanswered
    blackhole()  # the server vanishes
    results["stream"] = await on
    results["stream off"] = await off
    await asyncio.get_running_loop().run_in_executor(None, t.join, 20)
    return results

for name, (what, after) in sorted(asyncio.run(main()).items()):
    print(name.replace(" ", "_"), what.replace(" ", "_"), f"{after:.2f}")
server.close()
"""


def test_keepalive_notices_a_server_whose_traffic_is_dropped():
    run = netns.run(VANISHING_SERVER_SCRIPT, timeout=40)
    results = {
        name: (what, float(after))
        for name, what, after in (line.split() for line in run.stdout.splitlines())
    }
    # idle 1 s + 2 probes 1 s apart: about 3 s; generous bounds.
    assert results["echo"][0] == "ETIMEDOUT", results
    assert 1.5 < results["echo"][1] < 15, results
    assert results["stream"][0] == "ETIMEDOUT", results
    assert 1.5 < results["stream"][1] < 15, results
    # Without keepalive the stream never notices: still waiting when we stop looking.
    assert results["stream_off"][0] == "still_waiting", results
