"""The echo servers the ``echo`` suite measures, one per process:
``python -m ferrosock.bench._echo_servers NAME``. Each prints its port, then serves until killed.

A "handler" variant calls the same trivial Python function per message that ferrosock's
StreamServer calls, so the Python-handler contenders do the same work.
"""

from __future__ import annotations

import asyncio
import socketserver
import sys


def handler(data: bytes, peer: object) -> bytes:
    return data


def announce(port: int) -> None:
    print(port, flush=True)


def ferrosock_server(kind: str) -> None:
    from ferrosock import runtime, servers

    runtime.configure(workers=1)
    if kind == "echo":
        srv = servers.EchoServer(("127.0.0.1", 0), backlog=1024)
    else:
        srv = servers.StreamServer(("127.0.0.1", 0), handler, backlog=1024)
    announce(srv.address[1])
    srv.serve_forever()


def socketserver_server() -> None:
    class Echo(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            while data := self.request.recv(65536):
                self.request.sendall(data)

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True
        request_queue_size = 1024

    with Server(("127.0.0.1", 0), Echo) as srv:
        announce(srv.server_address[1])
        srv.serve_forever()


class EchoProtocol(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)  # type: ignore[attr-defined]


class HandlerProtocol(EchoProtocol):
    def data_received(self, data: bytes) -> None:
        reply = handler(data, None)
        if reply is not None:
            self.transport.write(reply)  # type: ignore[attr-defined]


async def asyncio_server(style: str) -> None:
    loop = asyncio.get_running_loop()
    if style == "streams":

        async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
            writer.close()

        server = await asyncio.start_server(echo, "127.0.0.1", 0, backlog=1024)
    else:
        factory = EchoProtocol if style == "protocol" else HandlerProtocol
        server = await loop.create_server(factory, "127.0.0.1", 0, backlog=1024)
    announce(server.sockets[0].getsockname()[1])
    async with server:
        await server.serve_forever()


async def aio_server() -> None:
    from ferrosock import aio

    async def echo(stream: aio.Stream) -> None:
        while data := await stream.recv():
            await stream.send(data)

    server = await aio.start_server(echo, "127.0.0.1", 0, backlog=1024)
    announce(server.address[1])
    await asyncio.Event().wait()


def main(name: str) -> None:
    if name in ("ferrosock-echo", "ferrosock-handler"):
        ferrosock_server(name.split("-")[1])
    elif name == "socketserver":
        socketserver_server()
    else:
        loop_name, style = name.split("-", 1)
        if loop_name == "uvloop":
            import uvloop

            runner = uvloop.run
        else:
            runner = asyncio.run
        runner(aio_server() if style == "ferrosock-aio" else asyncio_server(style))


if __name__ == "__main__":
    try:
        main(sys.argv[1])
    except KeyboardInterrupt:
        pass
