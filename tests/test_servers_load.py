"""Load: 200 clients at once, 100 requests each, written with asyncio over stdlib sockets (one
thread, so the clients are not the bottleneck's excuse), against the echo (TCP and UDP), time
and Python-handler servers. Every reply must be correct and none lost; UDP may retry on a
timeout, never accept a wrong reply. (test_native_load.py does the same with threads.)"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Awaitable, Callable

import pytest

servers = pytest.importorskip(
    "ferrosock.servers", reason="ferrosock.servers (the native servers) is not built yet"
)

HOST = "127.0.0.1"
CLIENTS = 200
REQUESTS = 100
UDP_WAIT = 1.0  # seconds before a UDP request is sent again
UDP_TRIES = 10


def run_clients(client: Callable[[int], Awaitable[None]]) -> None:
    """Run `client(i)` for every i at once; fail with the first few errors."""

    async def main() -> list[Any]:
        return await asyncio.gather(*(client(i) for i in range(CLIENTS)), return_exceptions=True)

    results = asyncio.run(asyncio.wait_for(main(), timeout=60))
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, f"{len(errors)} clients failed, e.g. {errors[:3]!r}"


async def tcp_client(address: Any, i: int, expected: Callable[[bytes], bytes]) -> None:
    reader, writer = await asyncio.open_connection(*address)
    try:
        for j in range(REQUESTS):
            request = f"{i:03d}:{j:03d};".encode()
            writer.write(request)
            await writer.drain()
            want = expected(request)
            assert await reader.readexactly(len(want)) == want
    finally:
        writer.close()
        await writer.wait_closed()


class UdpClient(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.replies: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.replies.put_nowait(data)


async def udp_client(
    address: Any, i: int, request_of: Callable[[int, int], bytes], check: Callable
) -> None:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(UdpClient, remote_addr=address)
    try:
        for j in range(REQUESTS):
            request = request_of(i, j)
            for _ in range(UDP_TRIES):
                transport.sendto(request)
                try:
                    while True:  # skip late replies to earlier (retried) requests
                        reply = await asyncio.wait_for(protocol.replies.get(), UDP_WAIT)
                        if check(request, reply):
                            break
                except asyncio.TimeoutError:
                    continue
                break
            else:
                raise AssertionError(f"no correct reply to {request!r}")
    finally:
        transport.close()


def test_echo_tcp_200_clients():
    with servers.EchoServer((HOST, 0), backlog=512) as srv:
        run_clients(lambda i: tcp_client(srv.address, i, lambda request: request))
        stats = srv.stats()
    assert stats["connections_total"] == CLIENTS
    assert stats["bytes_in"] == stats["bytes_out"] == CLIENTS * REQUESTS * 8


def test_python_handler_stream_server_200_clients():
    def handler(data: bytes, peer: Any) -> bytes:
        return data.upper().replace(b";", b"!")  # requests may arrive glued: keep it per byte

    with servers.StreamServer((HOST, 0), handler, backlog=512) as srv:
        run_clients(lambda i: tcp_client(srv.address, i, lambda r: r.upper().replace(b";", b"!")))


def echo_request(i: int, j: int) -> bytes:
    return f"{i:03d}:{j:03d}".encode()


def test_echo_udp_200_clients():
    with servers.EchoServer((HOST, 0), kind="udp") as srv:
        run_clients(lambda i: udp_client(srv.address, i, echo_request, lambda req, rep: rep == req))


def test_datagram_server_200_clients():
    with servers.DatagramServer((HOST, 0), lambda data, peer: data[::-1]) as srv:
        run_clients(
            lambda i: udp_client(srv.address, i, echo_request, lambda req, rep: rep == req[::-1])
        )


def test_time_server_200_clients():
    def request_of(i: int, j: int) -> bytes:
        return f"{i}/{j} %Y-%m-%d".encode()

    def check(request: bytes, reply: bytes) -> bool:
        prefix = request.split(b" ")[0] + b" "
        if not reply.startswith(prefix):
            return False  # a late reply to an earlier request
        # around midnight the date may change between the server's clock and ours
        today = {time.strftime("%Y-%m-%d", time.localtime(time.time() + d)) for d in (-2, 0)}
        assert reply[len(prefix) :].decode() in today, reply
        return True

    with servers.TimeServer((HOST, 0)) as srv:
        run_clients(lambda i: udp_client(srv.address, i, request_of, check))
        assert srv.stats()["messages_in"] >= CLIENTS * REQUESTS
