"""The UDP servers of the ``udp`` suite, one per process:
``python -m ferrosock.bench._udp_servers NAME``; each prints its port, then serves until killed.
(The lesson's time server runs as ``ferrosock.lessons.time_server`` itself.)"""

from __future__ import annotations

import asyncio
import sys
import time

DEFAULT = "%Y-%m-%d %X"


class TimeProtocol(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: object) -> None:
        try:
            reply = time.strftime(data.decode() or DEFAULT).encode()
        except (UnicodeDecodeError, ValueError) as exc:
            reply = f"error: {exc}".encode()
        self.transport.sendto(reply, addr)  # type: ignore[attr-defined]


class EchoProtocol(TimeProtocol):
    def datagram_received(self, data: bytes, addr: object) -> None:
        self.transport.sendto(data, addr)  # type: ignore[attr-defined]


async def serve(protocol: type[asyncio.DatagramProtocol]) -> None:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(protocol, local_addr=("127.0.0.1", 0))
    print(transport.get_extra_info("sockname")[1], flush=True)
    await asyncio.Event().wait()


def native(kind: str) -> None:
    from ferrosock import runtime, servers

    runtime.configure(workers=1)
    if kind == "time":
        srv = servers.TimeServer(("127.0.0.1", 0))
    else:
        srv = servers.EchoServer(("127.0.0.1", 0), kind="udp")
    print(srv.address[1], flush=True)
    srv.serve_forever()


def main(name: str) -> None:
    if name.startswith("native-"):
        native(name.split("-", 1)[1])
        return
    loop_name, kind = name.split("-", 1)
    protocol = TimeProtocol if kind == "time" else EchoProtocol
    if loop_name == "uvloop":
        import uvloop

        uvloop.run(serve(protocol))
    else:
        asyncio.run(serve(protocol))


if __name__ == "__main__":
    try:
        main(sys.argv[1])
    except KeyboardInterrupt:
        pass
