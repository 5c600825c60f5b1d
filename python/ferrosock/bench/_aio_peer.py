"""Both ends of the ``aio`` suite, one per process:
``python -m ferrosock.bench._aio_peer server|client IMPL LOOP [PORT CONNS ROUNDS SIZE]``.

IMPL is ``ferrosock`` (ferrosock.aio streams) or ``asyncio`` (asyncio streams); LOOP is
``asyncio`` or ``uvloop``. The server echoes fixed-size requests; the client runs CONNS
connections doing ROUNDS request/response each and prints the elapsed seconds.
"""

from __future__ import annotations

import asyncio
import sys
import time


async def aio_server(size: int) -> None:
    from ferrosock import aio

    async def echo(stream: aio.Stream) -> None:
        try:
            while True:
                await stream.send(await stream.recv_exactly(size))
        except EOFError:
            pass

    server = await aio.start_server(echo, "127.0.0.1", 0, backlog=1024)
    print(server.address[1], flush=True)
    await asyncio.Event().wait()


async def asyncio_server(size: int) -> None:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                writer.write(await reader.readexactly(size))
                await writer.drain()
        except asyncio.IncompleteReadError:
            writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


async def aio_client(port: int, rounds: int, size: int) -> None:
    from ferrosock import aio

    stream = await aio.connect("127.0.0.1", port)
    request = b"x" * size
    for _ in range(rounds):
        await stream.send(request)
        await stream.recv_exactly(size)
    stream.close()


async def asyncio_client(port: int, rounds: int, size: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = b"x" * size
    for _ in range(rounds):
        writer.write(request)
        await writer.drain()
        await reader.readexactly(size)
    writer.close()


async def clients(impl: str, port: int, conns: int, rounds: int, size: int) -> None:
    one = aio_client if impl == "ferrosock" else asyncio_client
    started = time.perf_counter()
    await asyncio.gather(*(one(port, rounds, size) for _ in range(conns)))
    print(time.perf_counter() - started, flush=True)


def main(argv: list[str]) -> None:
    role, impl, loop = argv[:3]
    runner = asyncio.run
    if loop == "uvloop":
        import uvloop

        runner = uvloop.run
    if role == "server":
        size = int(argv[3])
        runner(aio_server(size) if impl == "ferrosock" else asyncio_server(size))
    else:
        port, conns, rounds, size = map(int, argv[3:7])
        runner(clients(impl, port, conns, rounds, size))


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except KeyboardInterrupt:
        pass
