"""ferrosock.aio against asyncio's own streams, both directions, on the default loop and on
uvloop; many connections; cancellation and timeouts free their descriptors."""

from __future__ import annotations

import asyncio
import os
import socket
import struct

import netns
import pytest
from ferrosock import aio, framing, servers

HOST = "127.0.0.1"

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is a pinned test dependency
    uvloop = None

LOOPS = [
    "asyncio",
    pytest.param("uvloop", marks=pytest.mark.skipif(uvloop is None, reason="uvloop not installed")),
]


@pytest.fixture(params=LOOPS)
def run(request):
    """Run a coroutine on the chosen event loop."""

    def runner(coro):
        if request.param == "uvloop":
            loop = uvloop.new_event_loop()
        else:
            loop = asyncio.new_event_loop()
        try:
            return loop.run_until_complete(asyncio.wait_for(coro, 30))
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    return runner


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def asyncio_framed_echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readexactly(4)
            body = await reader.readexactly(struct.unpack("!I", head)[0])
            writer.write(struct.pack("!I", len(body)) + body[::-1])
            await writer.drain()
    except asyncio.IncompleteReadError:
        pass
    finally:
        writer.close()


def test_aio_client_against_asyncio_streams_server(run):
    async def main():
        server = await asyncio.start_server(asyncio_framed_echo, HOST, 0)
        port = server.sockets[0].getsockname()[1]
        async with server, await aio.connect(HOST, port) as stream:
            for message in [b"hello", b"", bytes(range(256)) * 1000]:
                await stream.send_msg(message)
                assert await stream.recv_msg() == message[::-1]
            await stream.send(struct.pack("!I", 3) + b"raw")
            assert await stream.recv_exactly(4) == struct.pack("!I", 3)
            assert await stream.recv_exactly(3) == b"war"

    run(main())


def test_asyncio_client_against_aio_server(run):
    async def handler(stream: aio.Stream) -> None:
        while (message := await stream.recv_msg()) is not None:
            await stream.send_msg(message.upper())

    async def main():
        async with await aio.start_server(handler, HOST, 0) as server:
            reader, writer = await asyncio.open_connection(*server.address)
            for message in [b"abc", b"x" * 200_000]:
                writer.write(struct.pack("!I", len(message)) + message)
                await writer.drain()
                head = await reader.readexactly(4)
                assert await reader.readexactly(struct.unpack("!I", head)[0]) == message.upper()
            writer.close()
            await writer.wait_closed()

    run(main())


def test_recv_returns_what_arrives_and_empty_at_eof(run):
    async def handler(stream: aio.Stream) -> None:
        await stream.send(b"part one|")
        await stream.send(b"part two")
        stream.write_eof()
        assert await stream.recv() == b""

    async def main():
        async with await aio.start_server(handler, HOST, 0) as server:
            async with await aio.connect(*server.address) as stream:
                got = b""
                while chunk := await stream.recv(4):
                    assert 1 <= len(chunk) <= 4
                    got += chunk
                assert got == b"part one|part two"
                stream.write_eof()

    run(main())


def test_truncated_and_oversize_frames(run):
    async def main():
        async def truncated(reader, writer):
            writer.write(struct.pack("!I", 10) + b"abc")
            await writer.drain()
            writer.close()

        async def oversize(reader, writer):
            writer.write(struct.pack("!I", 2**31))
            await writer.drain()
            await reader.read()
            writer.close()

        for serve, error in [
            (truncated, framing.IncompleteFrame),
            (oversize, framing.FrameTooLarge),
        ]:
            server = await asyncio.start_server(serve, HOST, 0)
            async with server, await aio.connect(*server.sockets[0].getsockname()[:2]) as stream:
                with pytest.raises(error):
                    await stream.recv_msg(max_size=1024)

    run(main())


def test_thousand_concurrent_connections(run):
    async def handler(stream: aio.Stream) -> None:
        while (message := await stream.recv_msg()) is not None:
            await stream.send_msg(message)

    async def client(address, i: int) -> None:
        async with await aio.connect(*address) as stream:
            for j in range(3):
                message = f"{i}:{j}".encode()
                await stream.send_msg(message)
                assert await stream.recv_msg() == message

    async def main():
        async with await aio.start_server(handler, HOST, 0, backlog=1024) as server:
            await asyncio.gather(*(client(server.address, i) for i in range(1000)))
            assert server.stats()["connections_total"] == 1000

    run(main())


def test_cancellation_and_timeouts_free_descriptors(run):
    async def silent(stream: aio.Stream) -> None:
        await stream.recv()

    async def main():
        async with await aio.start_server(silent, HOST, 0) as server:
            before = open_fds()
            for _ in range(20):
                stream = await aio.connect(*server.address)
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(stream.recv_msg(), 0.01)
                task = asyncio.ensure_future(stream.recv())
                await asyncio.sleep(0)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                stream.close()
                await stream.wait_closed()
            # The server side of each connection closes once its handler sees EOF.
            for _ in range(100):
                if open_fds() <= before:
                    break
                await asyncio.sleep(0.01)
            assert open_fds() <= before

    run(main())


def test_second_reader_is_refused(run):
    async def main():
        async with await aio.start_server(lambda s: s.recv(), HOST, 0) as server:
            async with await aio.connect(*server.address) as stream:
                first = asyncio.ensure_future(stream.recv())
                await asyncio.sleep(0)
                with pytest.raises(RuntimeError, match="already waiting"):
                    await stream.recv()
                first.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await first

    run(main())


def test_datagrams(run):
    async def main():
        async with await aio.bind_udp() as a, await aio.bind_udp() as b:
            await a.sendto(b"", b.address)
            await a.sendto(b"ping", b.address)
            assert await b.recvfrom() == (b"", a.address)
            assert await b.recvfrom() == (b"ping", a.address)

    run(main())


def test_native_clients_as_tokio_futures(run):
    async def main():
        with servers.EchoServer((HOST, 0)) as tcp, servers.EchoServer((HOST, 0), kind="udp") as udp:
            assert await aio.echo(tcp.address, b"tcp") == b"tcp"
            assert await aio.echo(udp.address, b"udp", kind="udp") == b"udp"
            results = await asyncio.gather(*(aio.echo(tcp.address, bytes([i])) for i in range(50)))
            assert results == [bytes([i]) for i in range(50)]
        with servers.TimeServer((HOST, 0)) as ts:
            assert len(await aio.time_query(ts.address, "%Y")) == 4
            with pytest.raises(ValueError):
                await aio.time_query(ts.address, "a\0b")
        with servers.ChatServer((HOST, 0)) as chat:
            async with await aio.ChatClient.connect(chat.address, "ann") as ann:
                async with await aio.ChatClient.connect(chat.address, "bob") as bob:
                    await ann.send("bob", "你好")
                    assert await bob.recv(timeout=5) == ("ann", "你好")
                    assert await bob.who() == ["ann", "bob"]
                    with pytest.raises(aio.ChatError, match="no such user"):
                        await bob.send("carol", "hi")

    run(main())


def test_native_client_timeout_and_cancellation(run):
    async def main():
        async with await aio.bind_udp() as silent:
            with pytest.raises(TimeoutError):
                await aio.time_query(silent.address, timeout=0.05)
            task = asyncio.ensure_future(aio.echo(silent.address, b"x", kind="udp", timeout=None))
            await asyncio.sleep(0.01)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(
                    aio.echo(silent.address, b"x", kind="udp", timeout=None), 0.05
                )

    run(main())


# ---- start_server(keepalive=...): the servers' option, on every accepted connection ----


def accepted_socket(local, peer) -> int:
    """The descriptor of this process whose TCP socket is bound to ``local``, connected to
    ``peer``: the server's end of a connection (the listener has no peer)."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            if not os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                continue
            with socket.socket(fileno=os.dup(fd)) as s:
                if s.type == socket.SOCK_STREAM and (s.getsockname(), s.getpeername()) == (
                    local,
                    peer,
                ):
                    return fd
        except OSError:
            continue
    raise AssertionError(f"no socket of this process connects {local} to {peer}")


async def accepted_keepalive(**options) -> list[tuple[int, int | None, int | None, int | None]]:
    """Start a server with ``options``, connect twice, read the accepted sockets' options."""

    async def handler(stream: aio.Stream) -> None:
        await stream.send(b"!")  # accepted: the server's socket exists
        await stream.recv()

    seen = []
    async with await aio.start_server(handler, HOST, 0, **options) as server:
        for _ in range(2):
            reader, writer = await asyncio.open_connection(*server.address)
            assert await asyncio.wait_for(reader.readexactly(1), 5) == b"!"
            fd = accepted_socket(server.address, writer.get_extra_info("sockname"))
            seen.append(netns.keepalive_of(fd))
            writer.close()
            await writer.wait_closed()
    return seen


KEEPALIVE_CASES = [
    (True, (1, 60, 10, 5)),
    (7, (1, 7, 7, 5)),
    (300.4, (1, 300, 10, 5)),
    ((3, 2, 4), (1, 3, 2, 4)),
    (False, netns.KEEPALIVE_OFF),
    (None, netns.KEEPALIVE_OFF),
]


@pytest.mark.parametrize(("keepalive", "expected"), KEEPALIVE_CASES)
def test_start_server_sets_keepalive_on_accepted_connections(run, keepalive, expected):
    assert run(accepted_keepalive(keepalive=keepalive)) == [expected, expected]


def test_start_server_keepalive_defaults_on_as_the_servers_do(run):
    assert run(accepted_keepalive()) == [(1, 60, 10, 5)] * 2
    # The native servers' default, read back the same way.
    with servers.EchoServer((HOST, 0)) as srv:
        with socket.create_connection(srv.address, timeout=5) as c:
            c.sendall(b"x")
            assert c.recv(1) == b"x"  # accepted and configured by now
            # The server's end lives in this process too: find it by its addresses.
            native = netns.keepalive_of(accepted_socket(srv.address, c.getsockname()))
    assert native == (1, 60, 10, 5)


KEEPALIVE_BAD = [0, 0.5, -3, float("nan"), float("inf"), 2**2000, (1, 1, 0), (1, 0, 3)]
KEEPALIVE_BAD += [(1, 1, 128), (1, 1, -1), (0.2, 1, 1), "yes", b"1", [1, 1, 1], (1, 2)]
KEEPALIVE_BAD += [(1, 2, 3, 4), (1, 1, 2.5), ("1", 1, 1), (True, 1, 1)]


def refusals(call) -> list[tuple[type, str]]:
    got = []
    for bad in KEEPALIVE_BAD:
        with pytest.raises((ValueError, TypeError)) as info:
            call(bad)
        got.append((info.type, str(info.value)))
    return got


def test_start_server_refuses_bad_keepalive_as_the_servers_do(run):
    def native(bad):
        servers.EchoServer((HOST, 0), keepalive=bad).stop()

    async def start(bad):
        server = await aio.start_server(lambda s: s.recv(), HOST, 0, keepalive=bad)
        server.close()

    before = open_fds()
    got = refusals(lambda bad: run(start(bad)))
    assert open_fds() == before  # refused before anything was bound
    assert got == refusals(native)
    assert got[0] == (ValueError, "keepalive idle time must be a number of seconds from 1 up")
    assert (
        TypeError,
        "keepalive must be True, False, None, a number of seconds or an "
        "(idle, interval, count) tuple, not str",
    ) in got


VANISHING_PEER_SCRIPT = """
import asyncio, errno, socket, time
from ferrosock import aio

async def serve(keepalive, limit, results, name):
    async def handler(stream):
        began = time.monotonic()
        try:
            await asyncio.wait_for(stream.recv(), limit)
            results[name] = ("answered", 0.0)
        except (OSError, asyncio.TimeoutError) as exc:
            # wait_for's limit has no errno (asyncio.TimeoutError is TimeoutError from 3.11,
            # which an OSError with errno ETIMEDOUT also is).
            if getattr(exc, "errno", None) == errno.ETIMEDOUT:
                what = "ETIMEDOUT"
            elif isinstance(exc, asyncio.TimeoutError):
                what = "still_waiting"
            else:
                what = repr(exc).replace(" ", "")
            results[name] = (what, time.monotonic() - began)

    return await aio.start_server(handler, "127.0.0.1", 0, keepalive=keepalive)

async def main():
    results = {}
    on = await serve((1, 1, 2), 15, results, "on")
    off = await serve(False, 6, results, "off")
    peers = []
    for server in (on, off):
        c = socket.socket()
        c.bind((VANISHING, 0))        # the peer that will vanish
        c.setblocking(False)
        await asyncio.get_running_loop().sock_connect(c, server.address)
        peers.append(c)
    while on.stats()["connections_open"] + off.stats()["connections_open"] < 2:
        await asyncio.sleep(0.02)
    blackhole()  # the peer vanishes
    while len(results) < 2:
        await asyncio.sleep(0.05)
    for server in (on, off):
        server.close()
        await server.wait_closed()
    for c in peers:
        c.close()
    return results

for name, (what, after) in sorted(asyncio.run(main()).items()):
    print(name, what, f"{after:.2f}")
"""


def test_start_server_keepalive_notices_a_peer_whose_traffic_is_dropped():
    run = netns.run(VANISHING_PEER_SCRIPT, timeout=30)
    results = {
        name: (what, float(after))
        for name, what, after in (line.split() for line in run.stdout.splitlines())
    }
    # idle 1 s + 2 probes 1 s apart: about 3 s; generous bounds.
    assert results["on"][0] == "ETIMEDOUT", results
    assert 1.5 < results["on"][1] < 15, results
    # Without keepalive the handler never notices: still waiting when we stop looking.
    assert results["off"][0] == "still_waiting", results
