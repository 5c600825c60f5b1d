"""A peer that is not Python: socat as the client of the native time and echo servers."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest
from ferrosock import servers

SOCAT = shutil.which("socat")
pytestmark = pytest.mark.skipif(SOCAT is None, reason="socat not installed (make system-deps)")
HOST = "127.0.0.1"


def socat(address: str, data: bytes) -> bytes:
    return subprocess.run(
        [SOCAT, "-t", "1", "-T", "5", "-", address],
        input=data,
        capture_output=True,
        timeout=20,
    ).stdout


def test_socat_asks_the_time_server():
    with servers.TimeServer((HOST, 0)) as srv:
        reply = socat(f"UDP4:{HOST}:{srv.address[1]}", b"%Y-%m-%d")
    assert reply.decode() == time.strftime("%Y-%m-%d")


def test_socat_talks_to_the_echo_servers():
    payload = "你好, socat\n".encode() * 1000
    with servers.EchoServer((HOST, 0)) as tcp:
        assert socat(f"TCP4:{HOST}:{tcp.address[1]}", payload) == payload
    with servers.EchoServer((HOST, 0), kind="udp") as udp:
        assert socat(f"UDP4:{HOST}:{udp.address[1]}", b"datagram") == b"datagram"
