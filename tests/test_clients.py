"""The native clients against stdlib-socket servers written here (and ChatClient against the
native ChatServer): what goes on the wire, what comes back, timeouts, Ctrl-C."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any, Callable

import pytest

servers = pytest.importorskip(
    "ferrosock.servers", reason="ferrosock.servers (the native servers) is not built yet"
)
from ferrosock import clients  # noqa: E402 - after the skip

HOST = "127.0.0.1"
PATIENCE = 5.0


class Peer:
    """A stdlib server socket whose `script(sock)` runs in a thread; join() re-raises."""

    def __init__(self, kind: str, script: Callable[[socket.socket], Any]):
        stream = kind == "tcp"
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM if stream else 2)
        self.sock.bind((HOST, 0))
        if stream:
            self.sock.listen()
        self.sock.settimeout(PATIENCE)
        self.address = self.sock.getsockname()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(script,), daemon=True)
        self.thread.start()

    def _run(self, script: Callable[[socket.socket], Any]) -> None:
        try:
            script(self.sock)
        except BaseException as exc:  # noqa: BLE001 - re-raised by join()
            self.error = exc

    def join(self) -> None:
        self.thread.join(PATIENCE)
        self.sock.close()
        assert not self.thread.is_alive(), "the stdlib peer hung"
        if self.error is not None:
            raise self.error

    def __enter__(self) -> Peer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.join()


# --------------------------------------------------------------------------- time_query


def test_time_query_sends_the_format_as_one_utf8_datagram():
    seen: list[bytes] = []

    def server(sock: socket.socket) -> None:
        for _ in range(2):
            data, peer = sock.recvfrom(1024)
            seen.append(data)
            sock.sendto("答: ".encode() + data, peer)

    with Peer("udp", server) as peer:
        assert clients.time_query(peer.address, "%Y年") == "答: %Y年"
        assert clients.time_query(peer.address) == "答: "
    assert seen == ["%Y年".encode(), b""]  # no format: an empty datagram, as the lesson's


def test_time_query_ignores_datagrams_from_other_addresses():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as impostor:
        impostor.bind((HOST, 0))

        def server(sock: socket.socket) -> None:
            data, peer = sock.recvfrom(1024)
            impostor.sendto(b"forged", peer)
            time.sleep(0.05)
            sock.sendto(b"genuine", peer)

        with Peer("udp", server) as peer:
            assert clients.time_query(peer.address, "%Y") == "genuine"


def test_time_query_rejects_a_reply_that_is_not_utf8():
    def server(sock: socket.socket) -> None:
        _, peer = sock.recvfrom(1024)
        sock.sendto(b"\xff\xfe", peer)

    with Peer("udp", server) as peer:
        with pytest.raises(ValueError):
            clients.time_query(peer.address, "%Y")


def test_time_query_against_the_native_time_server():
    with servers.TimeServer((HOST, 0)) as srv:
        assert clients.time_query(srv.address, "%Y") == time.strftime("%Y")
        assert clients.time_query(srv.address, "\xff%").startswith("\xff")  # valid UTF-8 text
        with pytest.raises(ValueError, match="embedded null character"):  # as time.strftime
            clients.time_query(srv.address, "a\0b")


# --------------------------------------------------------------------------- echo


def test_echo_tcp_waits_for_the_whole_echo_in_pieces():
    def server(sock: socket.socket) -> None:
        conn, _ = sock.accept()
        with conn:
            data = b""
            while len(data) < 8:
                data += conn.recv(100)
            for piece in (data[:2], data[2:5], data[5:]):
                conn.sendall(piece)
                time.sleep(0.05)

    with Peer("tcp", server) as peer:
        assert clients.echo(peer.address, b"abcdefgh") == b"abcdefgh"


def test_echo_tcp_large_payload():
    payload = bytes(range(256)) * 8192  # 2 MiB: more than the socket buffers hold

    def server(sock: socket.socket) -> None:
        conn, _ = sock.accept()
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data)

    with Peer("tcp", server) as peer:
        assert clients.echo(peer.address, payload) == payload


def test_echo_udp_against_a_stdlib_server():
    def server(sock: socket.socket) -> None:
        data, peer = sock.recvfrom(70_000)
        sock.sendto(data, peer)

    with Peer("udp", server) as peer:
        assert clients.echo(peer.address, b"x" * 60_000, kind="udp") == b"x" * 60_000


def test_echo_tcp_server_closing_early_is_a_connection_error():
    def server(sock: socket.socket) -> None:
        conn, _ = sock.accept()
        with conn:
            conn.recv(100)
            conn.sendall(b"ab")

    with Peer("tcp", server) as peer:
        with pytest.raises(ConnectionError):
            clients.echo(peer.address, b"abcdefgh")


def test_echo_refused():
    with socket.socket() as s:
        s.bind((HOST, 0))
        free = s.getsockname()
    with pytest.raises(ConnectionRefusedError) as info:
        clients.echo(free, b"x")
    assert info.value.errno == 111


# --------------------------------------------------------------------------- timeouts


def timed(call: Callable[[], Any]) -> float:
    started = time.monotonic()
    with pytest.raises(socket.timeout):
        call()
    return time.monotonic() - started


def test_timeouts_raise_timeout_error_on_time():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent_udp:
        silent_udp.bind((HOST, 0))
        udp = silent_udp.getsockname()
        assert 0.2 <= timed(lambda: clients.time_query(udp, timeout=0.2)) < 1.5
        assert 0.2 <= timed(lambda: clients.echo(udp, b"x", kind="udp", timeout=0.2)) < 1.5
        assert 0.2 <= timed(lambda: clients.ChatClient(udp, "ann", timeout=0.2)) < 1.5
    with socket.socket() as silent_tcp:  # accepts (the backlog does) but never answers
        silent_tcp.bind((HOST, 0))
        silent_tcp.listen()
        tcp = silent_tcp.getsockname()
        assert 0.2 <= timed(lambda: clients.echo(tcp, b"x", timeout=0.2)) < 1.5
    assert issubclass(socket.timeout, OSError)


# --------------------------------------------------------------------------- ChatClient


def test_chat_client_wire_format_against_a_stdlib_relay():
    seen: list[bytes] = []

    def relay(sock: socket.socket) -> None:
        while True:
            data, peer = sock.recvfrom(1024)
            seen.append(data)
            if data == b"/join ann":
                sock.sendto(b"ok: joined as ann", peer)
            elif data == b"@bob hi there":
                sock.sendto(b"from bob: early bird", peer)  # a delivery before the answer
                sock.sendto(b"ok: delivered to bob", peer)
            elif data == b"@bob x":
                sock.sendto(b"error: no such user bob", peer)
            elif data == b"/who":
                sock.sendto(b"users: ann, bob", peer)
            elif data == b"/leave":
                sock.sendto(b"ok: bye", peer)
                return

    with Peer("udp", relay) as peer:
        with clients.ChatClient(peer.address, "ann") as ann:
            assert ann.name == "ann"
            ann.send("bob", "hi there")
            assert ann.who() == ["ann", "bob"]
            with pytest.raises(clients.ChatError, match="no such user bob"):
                ann.send("bob", "x")
            assert ann.recv(timeout=PATIENCE) == ("bob", "early bird")  # kept, not lost
    assert seen == [b"/join ann", b"@bob hi there", b"/who", b"@bob x", b"/leave"]


def test_chat_client_against_the_native_server_keeps_deliveries_in_order():
    with servers.ChatServer((HOST, 0)) as srv:
        with (
            clients.ChatClient(srv.address, "ann") as ann,
            clients.ChatClient(srv.address, "小明") as bob,
        ):
            for i in range(20):
                bob.send("ann", f"m{i} 你好")
            assert ann.who() == ["ann", "小明"]  # deliveries arrive while who() waits
            ann.send("小明", "back\nwith a newline")
            assert [ann.recv(timeout=PATIENCE) for _ in range(20)] == [
                ("小明", f"m{i} 你好") for i in range(20)
            ]
            assert bob.recv(timeout=PATIENCE) == ("ann", "back\nwith a newline")
            with pytest.raises(socket.timeout):
                ann.recv(timeout=0.05)
            with pytest.raises(clients.ChatError, match="name taken"):
                clients.ChatClient(srv.address, "ann")
        # closing leaves the chat
        with clients.ChatClient(srv.address, "carol") as carol:
            assert carol.who() == ["carol"]


def test_chat_error_is_one_class_and_an_exception():
    assert servers.ChatError is clients.ChatError
    assert issubclass(clients.ChatError, Exception)


def test_chat_client_close_is_idempotent():
    with servers.ChatServer((HOST, 0)) as srv:
        ann = clients.ChatClient(srv.address, "ann")
        ann.close()
        ann.close()
        with pytest.raises(OSError):
            ann.send("ann", "after close")


# --------------------------------------------------------------------------- Ctrl-C

BLOCKED_CALLS = {
    "echo-tcp": """
        silent = socket.socket(); silent.bind(("127.0.0.1", 0)); silent.listen()
        call = lambda: clients.echo(silent.getsockname(), b"x", timeout=None)
    """,
    "echo-udp": """
        silent = socket.socket(type=socket.SOCK_DGRAM); silent.bind(("127.0.0.1", 0))
        call = lambda: clients.echo(silent.getsockname(), b"x", kind="udp", timeout=None)
    """,
    "time_query": """
        silent = socket.socket(type=socket.SOCK_DGRAM); silent.bind(("127.0.0.1", 0))
        call = lambda: clients.time_query(silent.getsockname(), timeout=None)
    """,
    "chat-recv": """
        srv = servers.ChatServer(("127.0.0.1", 0)).start()
        ann = clients.ChatClient(srv.address, "ann")
        call = lambda: ann.recv(timeout=None)
    """,
}


def wait_sleeping(pid: int, timeout: float = PATIENCE) -> None:
    """Poll until the main thread of `pid` sleeps in the kernel (blocked in the call)."""
    stat = Path(f"/proc/{pid}/task/{pid}/stat")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stat.read_text().rsplit(")", 1)[1].split()[0] == "S":
            return
        time.sleep(0.005)
    raise AssertionError("the child never blocked")


@pytest.mark.parametrize("name", sorted(BLOCKED_CALLS))
def test_ctrl_c_interrupts_a_blocked_client_within_a_second(name):
    code = "import socket\nfrom ferrosock import clients, servers\n"
    code += textwrap.dedent(BLOCKED_CALLS[name])
    code += "print('ready', flush=True)\ncall()\n"
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline() == "ready\n", proc.stderr.read()
        wait_sleeping(proc.pid)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=PATIENCE)
        elapsed = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert elapsed < 1.0, f"{elapsed:.2f} s to react to SIGINT"
    assert err.rstrip().endswith("KeyboardInterrupt"), err
    assert proc.returncode == -signal.SIGINT  # how python ends on an uncaught Ctrl-C
