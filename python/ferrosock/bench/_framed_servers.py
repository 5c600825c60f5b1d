"""Length-prefixed servers calling the echo suite's handler once per whole message.

``python -c _SERVER_MAIN KEY`` with KEY ``ferrosock-framed`` (the native FramedServer) or
``uvloop-framed`` / ``asyncio-framed`` (a Protocol that cuts the stream into ``!I``-prefixed
messages, calls :func:`~ferrosock.bench._echo_contenders.echo_handler` on each and frames the
reply the same way). Each prints its port, then serves until killed or until its stdin closes.
"""

from __future__ import annotations

import asyncio
import struct
import sys
from typing import Any

from ._echo_contenders import HOST, _announce, _event_loop_factory, _exit_when_orphaned
from ._echo_contenders import echo_handler as handler

HEADER = struct.Struct("!I")
BACKLOG = 1024
MAX_SIZE = 64 * 1024 * 1024
KEYS = ("ferrosock-framed", "uvloop-framed", "asyncio-framed")


class FramedProtocol(asyncio.Protocol):
    """What FramedServer does, written the way an asyncio user would."""

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.peer = transport.get_extra_info("peername")
        self.buffer = bytearray()

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        while len(buffer) >= HEADER.size:
            (size,) = HEADER.unpack_from(buffer)
            if size > MAX_SIZE:
                self.transport.close()
                return
            end = HEADER.size + size
            if len(buffer) < end:
                return
            message = bytes(buffer[HEADER.size : end])
            del buffer[:end]
            reply = handler(message, self.peer)
            if reply is not None:
                self.transport.write(HEADER.pack(len(reply)) + reply)


async def _serve_protocol() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(FramedProtocol, HOST, 0, backlog=BACKLOG)
    _announce(server.sockets[0].getsockname()[1])
    async with server:
        await server.serve_forever()


def serve(key: str) -> int:
    if key not in KEYS:
        print(f"unknown framed server {key!r}", file=sys.stderr)
        return 2
    _exit_when_orphaned()
    if key == "ferrosock-framed":
        from ferrosock import runtime, servers

        runtime.configure(workers=1)
        native = servers.FramedServer((HOST, 0), handler, backlog=BACKLOG)
        _announce(native.address[1])
        native.serve_forever()
        return 0
    loop = _event_loop_factory(key.split("-", 1)[0])()
    asyncio.set_event_loop(loop)
    loop.run_until_complete(_serve_protocol())
    return 0


def main() -> int:
    try:
        return serve(sys.argv[1])
    except KeyboardInterrupt:
        return 130


_SERVER_MAIN = "import sys; from ferrosock.bench._framed_servers import main; sys.exit(main())"
