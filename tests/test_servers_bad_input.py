"""Misbehaving peers and handlers: the servers answer the next well-behaved client, and say
what went wrong on the `ferrosock.servers` logger."""

from __future__ import annotations

import logging
import os
import socket
import struct
import time
from typing import Any, Callable

import pytest

servers = pytest.importorskip(
    "ferrosock.servers", reason="ferrosock.servers (the native servers) is not built yet"
)

HOST = "127.0.0.1"
PATIENCE = 5.0
MAX_DATAGRAM = 65_507  # the largest UDP payload over IPv4


def udp_ask(address: Any, data: bytes) -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(PATIENCE)
        s.sendto(data, address)
        return s.recv(70_000)


def tcp_ask(address: Any, data: bytes, expect: int) -> bytes:
    with socket.create_connection(address, timeout=PATIENCE) as s:
        s.sendall(data)
        got = b""
        while len(got) < expect:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
        return got


def reset(s: socket.socket) -> None:
    """Close with an RST instead of a FIN."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def wait_until(condition: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + PATIENCE
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)
    return value


# --------------------------------------------------------------------------- time server

TIME_JUNK = {
    "not-utf8": b"\xff\xfe%Y",
    "nul": b"%Y\x00%m",
    "expands-past-a-datagram": b"%c" * 4000,
    "random-max-size": os.urandom(MAX_DATAGRAM),
}


@pytest.mark.parametrize("junk", sorted(TIME_JUNK))
def test_time_server_answers_junk_with_an_error_and_goes_on(junk):
    with servers.TimeServer((HOST, 0)) as srv:
        reply = udp_ask(srv.address, TIME_JUNK[junk])
        if junk != "random-max-size":  # random bytes may, rarely, be valid UTF-8
            assert reply.startswith(b"error:"), reply[:80]
        assert len(reply) <= MAX_DATAGRAM
        assert udp_ask(srv.address, b"%Y").decode() == time.strftime("%Y")


def test_time_server_edge_sizes():
    with servers.TimeServer((HOST, 0)) as srv:
        assert len(udp_ask(srv.address, b"").decode()) == len(time.strftime("%Y-%m-%d %X"))
        text = b"a" * MAX_DATAGRAM  # no directive: the reply is the text itself, just fits
        assert udp_ask(srv.address, text) == text
        assert udp_ask(srv.address, b"%") == b"%"  # as glibc's strftime leaves a lone %


# --------------------------------------------------------------------------- chat server


def test_chat_server_answers_junk_with_errors_and_goes_on():
    with servers.ChatServer((HOST, 0)) as srv:
        with (
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as ann,
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as bob,
        ):
            for s in (ann, bob):
                s.settimeout(PATIENCE)

            def say(s: socket.socket, data: bytes) -> bytes:
                s.sendto(data, srv.address)
                return s.recv(70_000)

            assert say(ann, b"/join ann") == b"ok: joined as ann"
            assert say(bob, b"/join bob") == b"ok: joined as bob"
            for junk in (
                b"",
                b"\xff" * 100,
                b"/join \xff\xfe",
                b"@bob \xc3",  # a UTF-8 sequence cut short
                os.urandom(MAX_DATAGRAM),
                b"@bob " + b"y" * (MAX_DATAGRAM - 5),
                b"/join " + "名".encode() * 20_000,
                b"\x00" * 10,
            ):
                assert say(ann, junk).startswith(b"error: "), junk[:20]
            assert say(ann, b"@bob still here") == b"ok: delivered to bob"
            assert bob.recv(100) == b"from ann: still here"  # and nothing before it


# --------------------------------------------------------------------------- RST mid-request

TCP_SERVERS = {
    "echo": lambda: servers.EchoServer((HOST, 0)),
    "reply": lambda: servers.ReplyServer((HOST, 0), reply=b"hi"),
    "handler": lambda: servers.StreamServer((HOST, 0), lambda data, peer: data),
}


@pytest.mark.parametrize("which", sorted(TCP_SERVERS))
def test_tcp_servers_survive_a_reset_mid_request(which):
    with TCP_SERVERS[which]() as srv:
        # RST with half a request sent
        s = socket.create_connection(srv.address, timeout=PATIENCE)
        s.sendall(b"half a requ")
        reset(s)
        # RST while the server is still writing: a big request, never read
        s = socket.create_connection(srv.address, timeout=PATIENCE)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.settimeout(0.5)
        try:
            s.sendall(b"z" * (4 << 20))
        except socket.timeout:
            pass  # the server stopped reading: its writes back to us are blocked
        reset(s)
        # RST right after connecting
        reset(socket.create_connection(srv.address, timeout=PATIENCE))
        for _ in range(3):
            expected = b"hi" if which == "reply" else b"ping!"
            assert tcp_ask(srv.address, b"ping!", len(expected)) == expected
        wait_until(lambda: srv.stats()["connections_open"] == 0, "the reset connections to go")


def test_tcp_server_survives_many_idle_connections():
    with servers.EchoServer((HOST, 0)) as srv:
        idle = [socket.create_connection(srv.address, timeout=PATIENCE) for _ in range(200)]
        try:
            assert tcp_ask(srv.address, b"served", 6) == b"served"
        finally:
            for s in idle:
                s.close()


# --------------------------------------------------------------------------- bad handlers


def bad_handler(data: bytes, peer: Any) -> Any:
    if data == b"raise":
        raise RuntimeError("handler bug")
    if data == b"str":
        return "a str, not bytes"
    if data == b"int":
        return 42
    return data


def error_messages(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r for r in caplog.records if r.name == "ferrosock.servers" and r.levelno >= logging.ERROR
    ]


def test_stream_server_handler_errors_are_logged_and_the_server_goes_on(caplog):
    caplog.set_level(logging.ERROR, logger="ferrosock.servers")
    with servers.StreamServer((HOST, 0), bad_handler) as srv:
        for bad in (b"raise", b"str", b"int"):
            with socket.create_connection(srv.address, timeout=PATIENCE) as s:
                s.sendall(bad)
                assert s.recv(100) == b""  # that connection is closed, with no reply
            assert tcp_ask(srv.address, b"good", 4) == b"good"
        wait_until(lambda: len(error_messages(caplog)) >= 3, "three error records")
    records = error_messages(caplog)
    raised = [r for r in records if "handler bug" in r.getMessage()]
    assert raised and raised[0].exc_info is not None  # with the handler's traceback
    assert any("returned str" in r.getMessage() for r in records)
    assert any("returned int" in r.getMessage() for r in records)


def test_datagram_server_handler_errors_are_logged_and_the_server_goes_on(caplog):
    caplog.set_level(logging.ERROR, logger="ferrosock.servers")
    with servers.DatagramServer((HOST, 0), bad_handler) as srv:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.2)
            for bad in (b"raise", b"str", b"int"):
                s.sendto(bad, srv.address)
                with pytest.raises(socket.timeout):
                    s.recv(100)  # no reply to a failed call
        assert udp_ask(srv.address, b"good") == b"good"
        assert srv.stats()["errors"] >= 3
    messages = " ".join(r.getMessage() for r in error_messages(caplog))
    assert "handler bug" in messages
    assert "returned str" in messages


def test_a_log_callable_that_raises_is_logged_and_the_server_goes_on(caplog):
    def log(line: str) -> None:
        raise ValueError("log bug")

    caplog.set_level(logging.ERROR, logger="ferrosock.servers")
    with servers.TimeServer((HOST, 0), log=log) as srv:
        for _ in range(3):
            assert udp_ask(srv.address, b"%Y").decode() == time.strftime("%Y")
        wait_until(lambda: error_messages(caplog), "the log callable's error on the logger")
    assert "log bug" in " ".join(r.getMessage() for r in error_messages(caplog))
