"""The native servers against stdlib-socket clients: behaviour, lifecycle, stats, bad input."""

from __future__ import annotations

import logging
import os
import socket
import struct
import threading
import time

import pytest
from ferrosock import clients, servers

HOST = "127.0.0.1"


def tcp_roundtrip(address, data: bytes, *, expect: int | None = None) -> bytes:
    with socket.create_connection(address, timeout=5) as s:
        s.sendall(data)
        want = len(data) if expect is None else expect
        got = b""
        while len(got) < want:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
        return got


def udp_roundtrip(address, data: bytes) -> bytes:
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.sendto(data, address)
        return s.recv(70_000)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


# ---- behaviour --------------------------------------------------------------------------------


def test_echo_tcp_and_udp_with_stdlib_clients():
    with servers.EchoServer((HOST, 0)) as srv:
        assert tcp_roundtrip(srv.address, b"hello!") == b"hello!"
        big = os.urandom(3 * 1024 * 1024)
        assert tcp_roundtrip(srv.address, big) == big
    with servers.EchoServer((HOST, 0), kind="udp") as srv:
        assert udp_roundtrip(srv.address, b"dgram") == b"dgram"
        assert udp_roundtrip(srv.address, b"") == b""


def test_echo_on_ipv6_loopback():
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        srv = servers.EchoServer(("::1", 0))
    except OSError as exc:
        pytest.skip(f"::1 unavailable: {exc}")
    with srv:
        assert srv.address[0] == "::1"
        assert tcp_roundtrip(srv.address[:2], b"v6") == b"v6"


def test_reply_server_is_the_lessons_hello_server_for_many_clients():
    lines: list[str] = []
    with servers.ReplyServer((HOST, 0), log=lines.append) as srv:
        for _ in range(3):
            assert tcp_roundtrip(srv.address, b"hello!", expect=2) == b"hi"
        assert (
            udp_roundtrip(servers.ReplyServer((HOST, 0), kind="udp").start().address, b"x") == b"hi"
        )
    deadline = time.monotonic() + 5
    while len(lines) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(lines) == 3 and all(line.endswith("b'hello!'") for line in lines)


def test_time_server_default_and_error_replies():
    with servers.TimeServer((HOST, 0)) as srv:
        reply = udp_roundtrip(srv.address, b"").decode()
        assert time.strptime(reply, "%Y-%m-%d %H:%M:%S")
        assert udp_roundtrip(srv.address, b"\xff\xfe").startswith(b"error:")
        assert udp_roundtrip(srv.address, b"a\0b").startswith(b"error:")
        huge = udp_roundtrip(srv.address, b"%Y" * 30_000)
        assert huge.startswith(b"error:") or len(huge) <= 65_507
        assert udp_roundtrip(srv.address, b"%") == b"%"


def test_chat_server_protocol_with_stdlib_clients():
    with servers.ChatServer((HOST, 0), max_users=2) as srv:
        a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with a, b, c:
            for s in (a, b, c):
                s.settimeout(5)

            def say(s, text: bytes) -> bytes:
                s.sendto(text, srv.address)
                return s.recv(65536)

            assert say(a, "/join 小明".encode()) == "ok: joined as 小明".encode()
            assert say(b, b"/join bob") == b"ok: joined as bob"
            assert say(c, b"/join carol") == b"error: server full (max 2 users)"
            assert say(c, b"/join bob") == b"error: name taken"
            assert say(c, b"@bob hi") == b"error: join first with /join NAME"
            assert say(a, b"@bob hello") == b"ok: delivered to bob"
            assert b.recv(65536) == "from 小明: hello".encode()
            assert say(c, b"/who") == b"error: join first with /join NAME"
            assert say(b, b"/who") == "users: bob, 小明".encode()
            assert say(a, b"@nobody x") == b"error: no such user nobody"
            assert say(a, b"\xff") == b"error: not UTF-8"
            assert say(a, b"") == b"error: empty datagram"
            assert say(a, b"/dance") == b"error: unknown command"
            assert say(a, b"/join " + b"x" * 40) == b"error: name too long (max 32 characters)"
            assert say(b, b"/leave") == b"ok: bye"


def test_python_handler_servers():
    with servers.StreamServer((HOST, 0), lambda data, peer: data.upper()) as srv:
        assert tcp_roundtrip(srv.address, b"shout") == b"SHOUT"
    peers = []

    def reverse(data, peer):
        peers.append(peer)
        return None if data == b"quiet" else data[::-1]

    with servers.DatagramServer((HOST, 0), reverse) as srv:
        assert udp_roundtrip(srv.address, b"abc") == b"cba"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.2)
            s.sendto(b"quiet", srv.address)
            with pytest.raises(socket.timeout):
                s.recv(10)
    assert peers[0][0] == HOST


def _recv_all(s: socket.socket, n: int) -> bytes:
    # MSG_WAITALL does not wait on a socket with a timeout (its descriptor is non-blocking):
    # loop, as the lesson's own struct client does.
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        assert chunk, f"connection closed after {len(data)} of {n} bytes"
        data += chunk
    return data


def test_framed_server_with_hand_written_struct_client():
    with servers.FramedServer((HOST, 0), lambda m, p: m[::-1]) as srv:
        with socket.create_connection(srv.address, timeout=5) as s:
            for message in [b"abc", b"", b"z" * 100_000]:
                s.sendall(struct.pack("!I", len(message)) + message)
                (n,) = struct.unpack("!I", _recv_all(s, 4))
                assert n == len(message)
                assert _recv_all(s, n) == message[::-1]


# ---- lifecycle --------------------------------------------------------------------------------


def test_constructor_binds_and_raises_address_in_use():
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        with pytest.raises(OSError) as info:
            servers.EchoServer(taken.getsockname(), reuse_address=False)
    assert info.value.errno == 98
    assert str(info.value) == "[Errno 98] Address already in use"


def test_start_twice_and_restart_after_stop_are_errors():
    srv = servers.EchoServer((HOST, 0)).start()
    try:
        with pytest.raises(RuntimeError, match="already running"):
            srv.start()
    finally:
        srv.stop()
    with pytest.raises(RuntimeError, match="stopped"):
        srv.start()
    srv.stop()  # idempotent


def test_stop_with_connected_clients_returns_within_timeout():
    srv = servers.EchoServer((HOST, 0)).start()
    idle = [socket.create_connection(srv.address) for _ in range(5)]
    try:
        assert tcp_roundtrip(srv.address, b"x") == b"x"
        started = time.monotonic()
        srv.stop(timeout=2.0)
        assert time.monotonic() - started < 2.5
        for s in idle:
            s.settimeout(5)
            assert s.recv(10) == b""  # the server closed every connection
    finally:
        for s in idle:
            s.close()


def test_port_can_be_bound_again_right_after_stop():
    srv = servers.EchoServer((HOST, 0)).start()
    address = srv.address
    tcp_roundtrip(address, b"x")
    srv.stop()
    again = servers.EchoServer(address).start()
    try:
        assert tcp_roundtrip(address, b"again") == b"again"
    finally:
        again.stop()


def test_fifty_start_stop_cycles_leak_no_descriptors_or_threads():
    with servers.EchoServer((HOST, 0)) as warm:  # the runtime's own threads start here
        tcp_roundtrip(warm.address, b"x")
    fds, threads = open_fds(), threading.active_count()
    for i in range(50):
        kind = "tcp" if i % 2 else "udp"
        srv = servers.EchoServer(
            (HOST, 0), kind=kind, log=(lambda line: None) if i % 5 == 0 else None
        )
        srv.start()
        if kind == "tcp":
            assert tcp_roundtrip(srv.address, b"c") == b"c"
        else:
            assert udp_roundtrip(srv.address, b"c") == b"c"
        srv.stop()
        del srv
    time.sleep(0.1)
    assert open_fds() <= fds
    assert threading.active_count() <= threads


def test_serve_forever_returns_when_stopped_from_another_thread():
    srv = servers.EchoServer((HOST, 0))
    threading.Timer(0.2, srv.stop).start()
    started = time.monotonic()
    srv.serve_forever()
    assert time.monotonic() - started < 5
    assert not srv.running


def test_stats_count_connections_messages_and_bytes():
    with servers.EchoServer((HOST, 0)) as srv:
        for _ in range(3):
            tcp_roundtrip(srv.address, b"12345")
        deadline = time.monotonic() + 5
        while srv.stats()["connections_open"] and time.monotonic() < deadline:
            time.sleep(0.01)
        stats = srv.stats()
    assert stats["connections_total"] == 3
    assert stats["connections_open"] == 0
    assert stats["bytes_in"] == stats["bytes_out"] == 15
    assert stats["messages_in"] == stats["messages_out"] == 3
    assert stats["errors"] == 0
    assert stats["uptime"] > 0


def test_idle_timeout_and_max_connections():
    with servers.EchoServer((HOST, 0), idle_timeout=0.2) as srv:
        with socket.create_connection(srv.address, timeout=5) as s:
            assert s.recv(10) == b""  # closed after 0.2 s of silence
    with servers.EchoServer((HOST, 0), max_connections=1) as srv:
        first = socket.create_connection(srv.address, timeout=5)
        with first:
            first.sendall(b"1")
            assert first.recv(1) == b"1"
            with socket.create_connection(srv.address, timeout=0.3) as second:
                second.sendall(b"2")
                with pytest.raises(socket.timeout):
                    second.recv(1)  # waits in the backlog while the first is connected
        assert tcp_roundtrip(srv.address, b"3") == b"3"


@pytest.mark.parametrize("kind", ["echo", "handler"])
def test_idle_timeout_counts_from_the_last_message(kind):
    """A connection that keeps talking outlives its idle limit many times over (the timer set
    at the first message fires and moves on to the newest deadline), and once silent it is
    closed no sooner than the limit after its last message."""
    limit = 0.3
    if kind == "echo":
        srv = servers.EchoServer((HOST, 0), idle_timeout=limit)
    else:
        srv = servers.StreamServer((HOST, 0), lambda data, peer: data, idle_timeout=limit)
    with srv, socket.create_connection(srv.address, timeout=5) as s:
        started = time.monotonic()
        for i in range(12):  # 1.2 s of talk, a message every 0.1 s
            s.sendall(b"%02d" % i)
            assert s.recv(2) == b"%02d" % i
            time.sleep(0.1)
        assert time.monotonic() - started > 3 * limit
        s.sendall(b"ok")
        assert s.recv(2) == b"ok"
        last = time.monotonic()
        assert s.recv(1) == b""  # closed once silent
        silent = time.monotonic() - last
        assert limit - 0.01 <= silent < 3.0, silent
        assert srv.stats()["errors"] == 0


def test_bad_arguments():
    with pytest.raises(ValueError, match="kind"):
        servers.EchoServer((HOST, 0), kind="sctp")
    with pytest.raises(TypeError, match="callable"):
        servers.StreamServer((HOST, 0), handler=42)
    with pytest.raises(OverflowError, match="port must be 0-65535"):
        servers.EchoServer((HOST, 70000))
    with pytest.raises(ValueError, match="idle_timeout"):
        servers.EchoServer((HOST, 0), idle_timeout=-1)


# ---- misbehaving peers and handlers ---------------------------------------------------------


def test_server_survives_rst_mid_request_and_bad_handlers(caplog):
    def handler(data, peer):
        if data == b"raise":
            raise RuntimeError("handler bug")
        if data == b"str":
            return "not bytes"
        return data

    with caplog.at_level(logging.ERROR, logger="ferrosock.servers"):
        with servers.StreamServer((HOST, 0), handler) as srv:
            rst = socket.create_connection(srv.address)
            rst.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            rst.sendall(b"half a req")
            rst.close()  # RST
            for bad in (b"raise", b"str"):
                with socket.create_connection(srv.address, timeout=5) as s:
                    s.sendall(bad)
                    assert s.recv(10) == b""  # only this connection is closed
            assert tcp_roundtrip(srv.address, b"still fine") == b"still fine"
            assert srv.stats()["errors"] >= 2
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "handler bug" in messages
    assert "returned str" in messages


def test_udp_servers_survive_garbage_and_maximal_datagrams():
    with servers.TimeServer((HOST, 0)) as ts, servers.ChatServer((HOST, 0)) as chat:
        for address in (ts.address, chat.address):
            for junk in (b"", b"\xff" * 100, os.urandom(65_507)):
                reply = udp_roundtrip(address, junk)
                assert reply.startswith(b"error:") or address == ts.address
        assert len(clients.time_query(ts.address, "%Y")) == 4


# ---- the native clients -------------------------------------------------------------------------


def test_native_clients_against_stdlib_servers():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind((HOST, 0))

        def answer():
            data, peer = udp.recvfrom(1024)
            udp.sendto(b"stdlib says " + data, peer)

        t = threading.Thread(target=answer)
        t.start()
        assert clients.time_query(udp.getsockname(), "%Y") == "stdlib says %Y"
        t.join()

    with socket.socket() as listener:
        listener.bind((HOST, 0))
        listener.listen()

        def echo_once():
            conn, _ = listener.accept()
            with conn:
                conn.sendall(conn.recv(1024))

        t = threading.Thread(target=echo_once)
        t.start()
        assert clients.echo(listener.getsockname(), b"to stdlib") == b"to stdlib"
        t.join()


def test_native_client_timeouts_and_errors():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind((HOST, 0))
        started = time.monotonic()
        with pytest.raises(socket.timeout):
            clients.time_query(silent.getsockname(), timeout=0.2)
        assert time.monotonic() - started < 2
    with socket.socket() as s:
        s.bind((HOST, 0))
        port = s.getsockname()[1]
    with pytest.raises(ConnectionRefusedError):
        clients.echo((HOST, port), b"x")


def test_chat_client_end_to_end():
    with servers.ChatServer((HOST, 0)) as srv:
        with (
            clients.ChatClient(srv.address, "ann") as ann,
            clients.ChatClient(srv.address, "bob") as bob,
        ):
            ann.send("bob", "hello bob")
            assert bob.recv(timeout=5) == ("ann", "hello bob")
            assert ann.who() == ["ann", "bob"]
            with pytest.raises(clients.ChatError, match="no such user"):
                ann.send("nobody", "x")
            with pytest.raises(socket.timeout):
                ann.recv(timeout=0.1)
        with pytest.raises(ValueError, match="invalid name"):
            clients.ChatClient(srv.address, "two words")
