"""Every native server against stdlib-socket clients: what it answers, its log lines, its
lifecycle and its counters. (Bad input is in test_servers_bad_input.py, load in
test_servers_load.py.)"""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import Any, Callable

import pytest

servers = pytest.importorskip(
    "ferrosock.servers", reason="ferrosock.servers (the native servers) is not built yet"
)

HOST = "127.0.0.1"
PATIENCE = 5.0


# --------------------------------------------------------------------------- stdlib peers


def family_of(address: Any) -> int:
    return socket.AF_INET6 if ":" in address[0] else socket.AF_INET


def tcp_ask(address: Any, data: bytes, expect: int | None = None) -> bytes:
    """Send `data` on a fresh connection; read `expect` bytes (default len(data))."""
    want = len(data) if expect is None else expect
    with socket.create_connection(address[:2], timeout=PATIENCE) as s:
        s.sendall(data)
        return recv_at_least(s, want)


def recv_at_least(s: socket.socket, n: int) -> bytes:
    got = b""
    while len(got) < n:
        chunk = s.recv(65536)
        if not chunk:
            break
        got += chunk
    return got


def udp_ask(address: Any, data: bytes) -> bytes:
    with socket.socket(family_of(address), socket.SOCK_DGRAM) as s:
        s.settimeout(PATIENCE)
        s.sendto(data, address[:2])
        return s.recv(70_000)


def wait_until(condition: Callable[[], Any], what: str, timeout: float = PATIENCE) -> Any:
    """Poll `condition` (counters and log lines are updated just after the reply is sent)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def host_port(address: Any) -> str:
    """An IPv4 address as the servers' log lines show it."""
    return f"{address[0]}:{address[1]}"


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def process_threads() -> int:
    """Every thread of the process, Rust ones included (threading only sees Python's)."""
    return len(os.listdir("/proc/self/task"))


# --------------------------------------------------------------------------- echo and reply


def test_echo_tcp_answers_each_message_and_closes_after_the_clients_half_close():
    with servers.EchoServer((HOST, 0)) as srv:
        with socket.create_connection(srv.address, timeout=PATIENCE) as s:
            for message in (b"hello!", "你好".encode(), b"\x00\xff" * 1000):
                s.sendall(message)
                assert recv_at_least(s, len(message)) == message
            s.sendall(b"last words")
            s.shutdown(socket.SHUT_WR)
            assert recv_at_least(s, 1 << 20) == b"last words"  # then end-of-stream


@pytest.mark.parametrize("size", [0, 1, 1472, 9000, 65_507])
def test_echo_udp_returns_each_datagram_whole(size):
    payload = os.urandom(size)
    with servers.EchoServer((HOST, 0), kind="udp") as srv:
        assert udp_ask(srv.address, payload) == payload


def test_reply_server_answers_every_message_with_its_reply_and_logs_it():
    lines: list[str] = []
    with servers.ReplyServer((HOST, 0), reply=b"pong", log=lines.append) as srv:
        with socket.create_connection(srv.address, timeout=PATIENCE) as s:
            me = host_port(s.getsockname())
            s.sendall(b"hello!")
            assert recv_at_least(s, 4) == b"pong"
            wait_until(lambda: lines, "a log line")
            s.sendall(b"again")
            assert recv_at_least(s, 4) == b"pong"
        wait_until(lambda: len(lines) == 2, "two log lines")
    # the lesson's hello server prints the bytes object it got; ours says from whom, too
    assert lines == [f"{me}: b'hello!'", f"{me}: b'again'"]


def test_reply_server_over_udp_uses_the_lessons_default_reply():
    with servers.ReplyServer((HOST, 0), kind="udp") as srv:
        assert srv.kind == "udp"
        assert udp_ask(srv.address, b"hello") == b"hi"


# --------------------------------------------------------------------------- time

FORMATS = [
    "%Y-%m-%d %X",
    "%Y %m %d",  # the lesson's example
    "%a %A %b %B %c",
    "%x %X %p %I %l",
    "%j %U %W %w %u %G-W%V",
    "%Z %z %s",
    "%e|%-d|%_m|%05Y|%^a|%#b",
    "%Ey %EC %Od %OH",
    "%%literal%% %n%t%",
    "今天是 %Y年%m月%d日",
    "no directives at all",
]


def same_second(ask: Callable[[], str], fmt: str) -> tuple[str, str]:
    """(server's reply, time.strftime(fmt)) taken within one second; retried once if the
    clock ticked between them."""
    for _ in range(2):
        before = time.time()
        got = ask()
        after = time.time()
        if int(before) == int(after):
            return got, time.strftime(fmt, time.localtime(before))
    raise AssertionError("the second ticked twice in a row")


@pytest.mark.parametrize("fmt", FORMATS)
def test_time_server_formats_like_time_strftime(fmt):
    with servers.TimeServer((HOST, 0)) as srv:
        got, expected = same_second(lambda: udp_ask(srv.address, fmt.encode()).decode(), fmt)
    assert got == expected


def test_time_server_empty_datagram_means_the_lessons_default_and_is_logged():
    lines: list[str] = []
    with servers.TimeServer((HOST, 0), log=lines.append) as srv:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(PATIENCE)
            s.bind((HOST, 0))
            me = host_port(s.getsockname())
            got, expected = same_second(
                lambda: (s.sendto(b"", srv.address), s.recv(1024))[1].decode(), "%Y-%m-%d %X"
            )
            assert got == expected
            s.sendto(b"%H", srv.address)
            s.recv(1024)
        wait_until(lambda: len(lines) >= 2, "log lines")
    # as the lesson's time server prints them (the empty request shows the default format)
    assert lines[-1] == f"{me} asks for '%H'"
    assert f"{me} asks for '%Y-%m-%d %X'" in lines


# --------------------------------------------------------------------------- chat


class ChatPeer:
    """A stdlib UDP socket speaking the chat protocol."""

    def __init__(self, server: Any):
        self.server = server.address
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(PATIENCE)
        self.sock.bind((HOST, 0))

    def say(self, text: str | bytes) -> str:
        """Send one datagram and return the server's reply to it."""
        self.sock.sendto(text.encode() if isinstance(text, str) else text, self.server)
        return self.recv()

    def recv(self) -> str:
        return self.sock.recv(70_000).decode()

    def silent_for(self, seconds: float) -> bool:
        self.sock.settimeout(seconds)
        try:
            self.sock.recv(70_000)
        except socket.timeout:
            return True
        finally:
            self.sock.settimeout(PATIENCE)
        return False

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def chat_peers():
    made: list[ChatPeer] = []

    def make(server: Any) -> ChatPeer:
        made.append(ChatPeer(server))
        return made[-1]

    yield make
    for peer in made:
        peer.close()


def test_chat_whole_protocol_between_two_stdlib_clients(chat_peers):
    lines: list[str] = []
    with servers.ChatServer((HOST, 0), log=lines.append) as srv:
        ann, bob = chat_peers(srv), chat_peers(srv)
        assert ann.say("/who") == "error: join first with /join NAME"  # no list to strangers
        assert ann.say("/join ann") == "ok: joined as ann"
        assert bob.say("/join 小明") == "ok: joined as 小明"
        assert bob.say("/who") == "users: ann, 小明"

        assert ann.say("@小明 hello,  world ") == "ok: delivered to 小明"
        assert bob.recv() == "from ann: hello,  world "
        assert bob.say("@ann 你好") == "ok: delivered to ann"
        assert ann.recv() == "from 小明: 你好"
        assert ann.say("@ann note to self") == "ok: delivered to ann"
        assert ann.recv() == "from ann: note to self"

        assert ann.say("/join anna") == "ok: joined as anna"  # a second join renames
        assert bob.say("/who") == "users: anna, 小明"
        assert bob.say("@ann still there?") == "error: no such user ann"

        assert ann.say("/leave") == "ok: bye"
        assert bob.say("/who") == "users: 小明"
        assert bob.say("/leave") == "ok: bye"
        assert bob.say("/who") == "error: join first with /join NAME"
        assert ann.silent_for(0.05) and bob.silent_for(0.05)  # nothing unasked-for
    me = host_port(ann.sock.getsockname())
    assert f"{me}: '/join ann'" in lines


def test_chat_every_error_reply(chat_peers):
    with servers.ChatServer((HOST, 0), max_users=2, max_name=8) as srv:
        ann, bob, eve = chat_peers(srv), chat_peers(srv), chat_peers(srv)
        assert eve.say("@ann hi") == "error: join first with /join NAME"
        assert eve.say("/leave") == "error: not joined"
        assert ann.say("/join ann") == "ok: joined as ann"
        for bad in ("/join", "/join ", "/join a b", "/join @x", "/join /x", "/join a\tb"):
            assert eve.say(bad) == "error: invalid name", bad
        assert eve.say("/join abcdefghi") == "error: name too long (max 8 characters)"
        assert eve.say("/join ann") == "error: name taken"
        assert bob.say("/join bob") == "ok: joined as bob"
        assert eve.say("/join eve") == "error: server full (max 2 users)"
        assert ann.say("@nobody hi") == "error: no such user nobody"
        assert ann.say("@bob") == "error: malformed message (use @NAME text)"
        assert ann.say("@ hi") == "error: malformed message (use @NAME text)"
        assert ann.say("@bob    ") == "error: empty message"
        assert ann.say("hello") == "error: unknown command"
        assert ann.say("/dance") == "error: unknown command"
        assert ann.say(b"") == "error: empty datagram"
        assert ann.say(b"@bob \xff\xfe") == "error: not UTF-8"
        assert ann.say("@bob " + "x" * 60_000).startswith("error: message too long")
        # none of that reached bob, and the server still relays
        assert bob.silent_for(0.05)
        assert ann.say("@bob fine") == "ok: delivered to bob"
        assert bob.recv() == "from ann: fine"


def test_chat_registration_expires_after_idle_timeout(chat_peers):
    with servers.ChatServer((HOST, 0), idle_timeout=0.3) as srv:
        ann, bob = chat_peers(srv), chat_peers(srv)
        assert ann.say("/join ann") == "ok: joined as ann"
        assert bob.say("/join bob") == "ok: joined as bob"
        # bob's own /who keeps bob alive; ann says nothing and expires
        wait_until(lambda: bob.say("/who") == "users: bob", "ann to expire", timeout=3)
        assert bob.say("@ann hi") == "error: no such user ann"
        assert ann.say("@bob hi") == "error: join first with /join NAME"


# --------------------------------------------------------------------------- Python handlers


def test_stream_server_calls_the_handler_per_chunk_with_the_peer():
    calls: list[tuple[bytes, Any]] = []

    def handler(data: bytes, peer: Any) -> bytes | None:
        calls.append((data, peer))
        return None if data == b"quiet" else data.upper()

    with servers.StreamServer((HOST, 0), handler) as srv:
        with socket.create_connection(srv.address, timeout=PATIENCE) as s:
            s.sendall(b"abc")
            assert recv_at_least(s, 3) == b"ABC"
            s.sendall(b"quiet")  # no reply, and the connection stays open
            wait_until(lambda: len(calls) == 2, "the second call")
            s.sendall(b"xyz")
            assert recv_at_least(s, 3) == b"XYZ"
            me = s.getsockname()
    assert [data for data, _ in calls] == [b"abc", b"quiet", b"xyz"]
    assert all(peer == me for _, peer in calls)
    assert all(type(data) is bytes for data, _ in calls)


@pytest.mark.parametrize("host", [HOST, "::1"])
def test_datagram_server_calls_the_handler_per_datagram_with_the_peer(host):
    peers: list[Any] = []

    def handler(data: bytes, peer: Any) -> bytes | None:
        peers.append(peer)
        return None if data == b"quiet" else data[::-1]

    try:
        srv = servers.DatagramServer((host, 0), handler)
    except OSError as exc:
        pytest.skip(f"{host} is not available: {exc}")
    with srv, socket.socket(family_of(srv.address), socket.SOCK_DGRAM) as s:
        s.settimeout(PATIENCE)
        s.bind((host, 0))
        s.sendto(b"quiet", srv.address[:2])
        s.sendto(b"abc", srv.address[:2])
        assert s.recv(100) == b"cba"  # and nothing for "quiet"
        me = s.getsockname()
    # the peer is what the stdlib's recvfrom would give (a 4-tuple on IPv6)
    assert peers == [me, me]


def test_a_blocking_handler_does_not_stall_other_servers_or_connections():
    """With blocking=True, a handler that sleeps must not freeze the other connections, nor
    another server in the same process. (Without it the handler runs inline on the worker that
    read the data, like an asyncio Protocol's data_received on the loop, and a handler that
    sleeps holds up what that worker drives: the documented price of the fast path.)"""
    blocking = True

    def handler(data: bytes, peer: Any) -> bytes:
        if data == b"slow":
            time.sleep(1.5)
        return data

    slow = servers.StreamServer((HOST, 0), handler, blocking=blocking)
    with slow, servers.EchoServer((HOST, 0)) as echo:
        with socket.create_connection(slow.address, timeout=PATIENCE) as other:
            for _ in range(3):  # a stall depends on which worker runs what: try a few times
                other.sendall(b"warm")
                assert recv_at_least(other, 4) == b"warm"
                with socket.create_connection(slow.address, timeout=PATIENCE) as busy:
                    busy.sendall(b"slow")
                    time.sleep(0.1)  # let the handler start sleeping
                    started = time.monotonic()
                    other.sendall(b"connected client")
                    assert recv_at_least(other, 16) == b"connected client"
                    assert tcp_ask(slow.address, b"new client") == b"new client"
                    assert tcp_ask(echo.address, b"other server") == b"other server"
                    elapsed = time.monotonic() - started
                    assert recv_at_least(busy, 4) == b"slow"
                assert elapsed < 0.75, f"stalled {elapsed:.2f} s behind a sleeping handler"


# --------------------------------------------------------------------------- lifecycle


def test_lifecycle_start_running_stop_and_the_context_manager():
    srv = servers.EchoServer((HOST, 0))
    assert not srv.running
    assert srv.address[0] == HOST and srv.address[1] != 0  # bound by the constructor
    assert srv.start() is srv
    assert srv.running
    with pytest.raises(RuntimeError):
        srv.start()
    srv.stop()
    assert not srv.running
    srv.stop()  # idempotent
    with pytest.raises(RuntimeError):
        srv.start()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(srv.address, timeout=PATIENCE).close()

    with servers.TimeServer((HOST, 0)) as srv:
        assert srv.running
        address = srv.address
        assert len(udp_ask(address, b"%Y")) == 4
    assert not srv.running


def test_stop_before_start_and_on_error_inside_the_with_block():
    never = servers.ChatServer((HOST, 0))
    never.stop()
    assert not never.running
    with pytest.raises(LookupError):
        with servers.EchoServer((HOST, 0)) as srv:
            raise LookupError("inside the block")
    assert not srv.running


def test_serve_forever_on_a_started_server_waits_for_stop_from_another_thread():
    srv = servers.EchoServer((HOST, 0)).start()
    stopper = threading.Timer(0.2, srv.stop)
    stopper.start()
    started = time.monotonic()
    srv.serve_forever()
    stopper.join()
    assert time.monotonic() - started < PATIENCE
    assert not srv.running


@pytest.mark.parametrize("make", ["echo", "reply", "handler"])
def test_stop_with_connected_clients_returns_within_its_timeout_and_closes_them(make):
    factories = {
        "echo": lambda: servers.EchoServer((HOST, 0)),
        "reply": lambda: servers.ReplyServer((HOST, 0)),
        "handler": lambda: servers.StreamServer((HOST, 0), lambda data, peer: data),
    }
    srv = factories[make]().start()
    connected = [socket.create_connection(srv.address, timeout=PATIENCE) for _ in range(10)]
    try:
        connected[0].sendall(b"x")
        assert connected[0].recv(10)
        wait_until(lambda: srv.stats()["connections_open"] == 10, "10 open connections")
        started = time.monotonic()
        srv.stop(timeout=1.0)
        assert time.monotonic() - started < 1.5
        for s in connected:
            assert s.recv(10) == b""  # closed by the server
    finally:
        for s in connected:
            s.close()


def test_stop_lets_an_in_flight_reply_finish():
    def handler(data: bytes, peer: Any) -> bytes:
        time.sleep(0.3)
        return b"done: " + data

    srv = servers.StreamServer((HOST, 0), handler).start()
    with socket.create_connection(srv.address, timeout=PATIENCE) as s:
        s.sendall(b"job")
        time.sleep(0.1)  # the handler is running
        srv.stop(timeout=5.0)
        assert recv_at_least(s, 9) == b"done: job"


def test_rebinding_the_port_right_after_stop_with_connections_open():
    srv = servers.EchoServer((HOST, 0)).start()
    address = srv.address
    held = [socket.create_connection(address, timeout=PATIENCE) for _ in range(3)]
    try:
        for s in held:
            s.sendall(b"x")
            assert s.recv(1) == b"x"
        srv.stop()  # the server closes first: its side of each connection is in TIME_WAIT
        with servers.EchoServer(address) as again:
            assert tcp_ask(again.address, b"again") == b"again"
    finally:
        for s in held:
            s.close()


def test_constructor_raises_address_in_use_for_tcp_and_udp_without_reuse():
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        with pytest.raises(OSError) as info:
            servers.ReplyServer(taken.getsockname(), reuse_address=False)
        assert info.value.errno == 98
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind((HOST, 0))
        for make in (servers.TimeServer, servers.ChatServer):
            with pytest.raises(OSError) as info:
                make(taken.getsockname(), reuse_address=False)
            assert info.value.errno == 98
            assert str(info.value) == "[Errno 98] Address already in use"


def test_a_second_udp_server_on_a_port_in_use_raises_address_in_use():
    """With the default reuse_address=True, Linux lets a second SO_REUSEADDR UDP socket
    bind the same port, and it silently takes the datagrams: running `ferrosock serve time`
    twice must fail the second time, as a TCP server does. (SO_REUSEADDR buys UDP nothing:
    there is no TIME_WAIT.)"""
    with servers.TimeServer((HOST, 0)) as first:
        with pytest.raises(OSError) as info:
            servers.TimeServer(first.address)
    assert info.value.errno == 98


def test_fifty_start_stop_cycles_of_every_server_leak_no_descriptors_or_threads():
    def cycle(i: int) -> None:
        which = i % 6
        if which == 0:
            srv = servers.EchoServer((HOST, 0), kind="udp")
        elif which == 1:
            srv = servers.ReplyServer((HOST, 0), log=lambda line: None)
        elif which == 2:
            srv = servers.TimeServer((HOST, 0), log=lambda line: None)
        elif which == 3:
            srv = servers.ChatServer((HOST, 0))
        elif which == 4:
            srv = servers.StreamServer((HOST, 0), lambda data, peer: data)
        else:
            srv = servers.DatagramServer((HOST, 0), lambda data, peer: data)
        with srv:
            if srv.kind == "tcp":
                assert tcp_ask(srv.address, b"c", expect=1)
            else:
                assert udp_ask(srv.address, b"/who" if which == 3 else b"%Y")

    for i in range(6):  # warm up: the runtime and its worker threads start here
        cycle(i)
    fds, threads = open_fds(), process_threads()
    for i in range(50):
        cycle(i)
    # log threads end when their server is gone: allow them a moment
    wait_until(lambda: process_threads() <= threads, f"threads back to {threads}")
    assert open_fds() <= fds


# --------------------------------------------------------------------------- stats


def test_stats_keys_and_tcp_counters():
    with servers.EchoServer((HOST, 0)) as srv:
        stats = srv.stats()
        assert set(stats) >= {
            "connections_open",
            "connections_total",
            "messages_in",
            "messages_out",
            "bytes_in",
            "bytes_out",
            "errors",
            "uptime",
        }
        held = [socket.create_connection(srv.address, timeout=PATIENCE) for _ in range(4)]
        try:
            for s in held:
                s.sendall(b"abcd")
                assert recv_at_least(s, 4) == b"abcd"
            wait_until(lambda: srv.stats()["connections_open"] == 4, "4 open connections")
        finally:
            for s in held:
                s.close()
        wait_until(lambda: srv.stats()["connections_open"] == 0, "connections to close")
        stats = srv.stats()
    assert stats["connections_total"] == 4
    assert stats["messages_in"] == stats["messages_out"] == 4
    assert stats["bytes_in"] == stats["bytes_out"] == 16
    assert stats["errors"] == 0


def test_stats_udp_counters_include_error_replies():
    with servers.TimeServer((HOST, 0)) as srv:
        four = udp_ask(srv.address, b"%Y")
        error = udp_ask(srv.address, b"\xff")
        assert error.startswith(b"error:")
        wait_until(lambda: srv.stats()["messages_out"] == 2, "both replies counted")
        stats = srv.stats()
    assert stats["messages_in"] == 2
    assert stats["bytes_in"] == 3
    assert stats["bytes_out"] == len(four) + len(error)
    assert stats["connections_total"] == stats["connections_open"] == 0
    assert stats["uptime"] > 0
