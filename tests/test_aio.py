"""ferrosock.aio against asyncio's own streams, both directions, on the default loop and on
uvloop; many connections; cancellation and timeouts free their descriptors."""

from __future__ import annotations

import asyncio
import os
import struct

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
