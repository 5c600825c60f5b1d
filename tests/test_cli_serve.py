"""`python -m ferrosock serve ...` and the client commands `time`, `echo`, `chat`, run as a user
runs them: subprocesses, stdlib (and socat) peers, Ctrl-C and SIGTERM."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip(
    "ferrosock.servers", reason="ferrosock.servers (the native servers) is not built yet"
)

PY = [sys.executable, "-m", "ferrosock"]
HOST = "127.0.0.1"
PATIENCE = 10.0
SOCAT = shutil.which("socat")
NC = shutil.which("nc") or shutil.which("ncat") or shutil.which("netcat")
SIGNALS = [pytest.param(signal.SIGINT, id="SIGINT"), pytest.param(signal.SIGTERM, id="SIGTERM")]


class Served:
    """A `ferrosock serve ...` subprocess, ready once it printed its `listening on` line."""

    def __init__(self, *args: str):
        self.proc = subprocess.Popen(
            [*PY, "serve", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.ready_line = self.proc.stdout.readline()
        if "listening on" not in self.ready_line:
            self.proc.kill()
            _, err = self.proc.communicate()
            raise AssertionError(f"not ready: {self.ready_line!r}\n{err}")
        self.port = int(self.ready_line.rsplit(":", 1)[1])

    def stop(self, sig: int = signal.SIGINT) -> tuple[int, str, str]:
        """Send `sig`; (exit status, the rest of stdout, stderr)."""
        self.proc.send_signal(sig)
        try:
            out, err = self.proc.communicate(timeout=PATIENCE)
        finally:
            self.kill()
        return self.proc.returncode, out, err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


def assert_clean_stop(served: Served, sig: int) -> str:
    status, out, err = served.stop(sig)
    assert status == 0, err
    assert "Traceback" not in err, err
    assert out.rstrip().endswith("server stopped"), out
    return out


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """For the lesson's programs, which print the port they were asked for, not the bound one."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def udp_ask(port: int, data: bytes) -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(PATIENCE)
        s.sendto(data, (HOST, port))
        return s.recv(70_000)


def udp_ask_until_up(port: int, data: bytes) -> bytes:
    """A lesson program prints its line right after bind, so it is ready; but retry once in
    case the first datagram raced the bind."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.2)
            s.sendto(data, (HOST, port))
            try:
                return s.recv(70_000)
            except (socket.timeout, ConnectionRefusedError):
                continue
    raise AssertionError("no answer")


def tcp_ask(port: int, data: bytes, expect: int) -> bytes:
    with socket.create_connection((HOST, port), timeout=PATIENCE) as s:
        s.sendall(data)
        got = b""
        while len(got) < expect and (chunk := s.recv(65536)):
            got += chunk
        return got


def command(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*PY, *args], input=stdin, capture_output=True, text=True, timeout=PATIENCE * 2
    )


# --------------------------------------------------------------------------- serve, rust


def ask(server: str, kind: str, port: int) -> tuple[bytes, bytes, str]:
    """One request to a served server: (what came back, what should, what it should log)."""
    if server == "echo":
        data = "你好 echo".encode()
        got = tcp_ask(port, data, len(data)) if kind == "tcp" else udp_ask(port, data)
        return got, data, repr(data.decode())  # UTF-8 beyond ASCII is logged as text
    if server == "reply":
        got = tcp_ask(port, b"hello!", 2) if kind == "tcp" else udp_ask(port, b"hello!")
        return got, b"hi", "b'hello!'"
    if server == "time":
        return udp_ask(port, b"%Y"), time.strftime("%Y").encode(), "asks for '%Y'"
    return udp_ask(port, b"/join ann"), b"ok: joined as ann", "'/join ann'"


RUST_CASES = [
    ("echo", "tcp"),
    ("echo", "udp"),
    ("reply", "tcp"),
    ("reply", "udp"),
    ("time", "udp"),
    ("chat", "udp"),
]


@pytest.mark.parametrize("sig", SIGNALS)
@pytest.mark.parametrize(("server", "kind"), RUST_CASES, ids=[f"{s}-{k}" for s, k in RUST_CASES])
def test_serve_rust_answers_logs_and_stops_cleanly(server, kind, sig):
    options = ["--kind", kind] if server in ("echo", "reply") else []
    served = Served(server, "--port", "0", *options)
    try:
        assert served.ready_line.rstrip().endswith(f"listening on {HOST}:{served.port}")
        got, expected, logged = ask(server, kind, served.port)
        assert got == expected
    finally:
        out = assert_clean_stop(served, sig)
    assert logged in out, out


def test_serve_quiet_prints_only_the_ready_and_stopped_lines():
    served = Served("time", "--port", "0", "--quiet")
    assert len(udp_ask(served.port, b"%Y")) == 4
    out = assert_clean_stop(served, signal.SIGINT)
    assert out.strip() == "server stopped"


def test_serve_ipv6_loopback():
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    served = Served("echo", "--host", "::1", "--port", "0", "--quiet")
    try:
        with socket.create_connection(("::1", served.port), timeout=PATIENCE) as s:
            s.sendall(b"v6")
            assert s.recv(10) == b"v6"
    finally:
        _, _, err = served.stop()
    assert "warning" not in err


# --------------------------------------------------------------------------- serve, std


@pytest.mark.parametrize("sig", SIGNALS)
@pytest.mark.parametrize("kind", ["tcp", "udp"])
def test_serve_std_echo(kind, sig):
    served = Served("echo", "--backend", "std", "--kind", kind, "--port", "0")
    got, expected, logged = ask("echo", kind, served.port)
    assert got == expected
    out = assert_clean_stop(served, sig)
    assert logged in out


@pytest.mark.parametrize("sig", SIGNALS)
def test_serve_std_time_runs_the_lessons_time_server(sig):
    port = free_port(socket.SOCK_DGRAM)
    served = Served("time", "--backend", "std", "--port", str(port))
    assert udp_ask_until_up(port, b"%Y").decode() == time.strftime("%Y")
    out = assert_clean_stop(served, sig)
    assert "asks for '%Y'" in out


@pytest.mark.parametrize("sig", SIGNALS)
@pytest.mark.parametrize("kind", ["tcp", "udp"])
def test_serve_std_reply_stops_cleanly_before_any_client(kind, sig):
    """The lesson's hello server waits in accept/recvfrom: Ctrl-C there is a clean stop."""
    port = free_port(socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM)
    served = Served("reply", "--backend", "std", "--kind", kind, "--port", str(port))
    assert_clean_stop(served, sig)


def test_serve_std_reply_answers_like_the_lesson():
    port = free_port()
    served = Served("reply", "--backend", "std", "--port", str(port))
    try:
        assert tcp_ask(port, b"hello!", 2) == b"hi"
        out, err = served.proc.communicate(timeout=PATIENCE)  # one client, as the lesson
    finally:
        served.kill()
    assert served.proc.returncode == 0, err
    assert "b'hello!'" in out


@pytest.mark.parametrize("server", ["time", "reply"])
def test_serve_std_ready_line_shows_the_bound_port(server):
    """`--port 0` binds a free port: the ready line must say which, or nobody can connect."""
    served = Served(server, "--backend", "std", "--port", "0")
    try:
        assert served.port != 0, served.ready_line
    finally:
        served.stop()


def test_serve_std_chat_is_refused_with_a_reason():
    result = command("serve", "chat", "--backend", "std", "--port", "0")
    assert result.returncode == 2
    assert "interactive" in result.stderr and "Traceback" not in result.stderr


# --------------------------------------------------------------------------- serve, errors


@pytest.mark.parametrize(
    "args",
    [
        ("echo",),
        ("reply", "--kind", "udp"),
        ("time",),
        ("echo", "--backend", "std"),
        ("reply", "--backend", "std"),
        ("time", "--backend", "std"),
    ],
    ids=lambda a: "-".join(a),
)
def test_serve_on_a_port_in_use_is_one_clear_line(args):
    udp = "udp" in args or "time" in args
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))  # without SO_REUSEADDR: nobody may share it
        if not udp:
            s.listen()
        result = command("serve", *args, "--port", str(s.getsockname()[1]))
    assert result.returncode == 1, result.stdout
    assert "Address already in use" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_serve_rejects_a_port_out_of_range_as_a_usage_error():
    result = command("serve", "echo", "--port", "70000")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_serve_on_loopback_does_not_warn(host):
    if host == "::1" and not socket.has_ipv6:
        pytest.skip("no IPv6")
    served = Served("reply", "--host", host, "--port", "0", "--quiet")
    family = socket.AF_INET6 if host == "::1" else socket.AF_INET
    with socket.socket(family) as s:
        s.settimeout(PATIENCE)
        s.connect((HOST if host == "localhost" else host, served.port))
        s.sendall(b"hello!")
        assert s.recv(10) == b"hi"
    _, _, err = served.stop()
    assert err == ""


@pytest.mark.parametrize("sig", SIGNALS)
@pytest.mark.parametrize("backend", ["rust", "std"])
def test_a_signal_right_after_the_ready_line_is_a_clean_stop(backend, sig):
    """A user (or a supervisor) may stop the server as soon as it says it is listening."""
    for _ in range(5):
        served = Served("echo", "--backend", backend, "--port", "0", "--quiet")
        assert_clean_stop(served, sig)


def test_serve_on_every_interface_warns_once():
    served = Served("echo", "--host", "0.0.0.0", "--port", "0", "--quiet")
    try:
        assert tcp_ask(served.port, b"only loopback traffic", 21) == b"only loopback traffic"
    finally:
        status, _, err = served.stop(signal.SIGTERM)
    assert status == 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning:") and "0.0.0.0" in lines[0], err


# --------------------------------------------------------------------------- client commands


@pytest.fixture
def time_port():
    served = Served("time", "--port", "0", "--quiet")
    yield served.port
    served.stop()


@pytest.fixture(params=["tcp", "udp"])
def echo_server(request):
    served = Served("echo", "--kind", request.param, "--port", "0", "--quiet")
    yield request.param, served.port
    served.stop()


def test_time_command(time_port):
    for fmt in ("%Y %m %d", "%H:%M"):
        for _ in range(2):  # retried once if the minute ticked
            result = command("time", "--port", str(time_port), fmt)
            if result.stdout.strip() == time.strftime(fmt):
                break
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == time.strftime(fmt)
    default = command("time", "--port", str(time_port))
    assert len(default.stdout.strip()) == len(time.strftime("%Y-%m-%d %X"))


def test_echo_command(echo_server):
    kind, port = echo_server
    result = command("echo", "--kind", kind, "--port", str(port), "你好, ferrosock")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "你好, ferrosock\n"


def test_client_commands_fail_in_one_line_when_nobody_answers():
    port = free_port(socket.SOCK_DGRAM)
    for args in (
        ("time", "--port", str(port), "--timeout", "0.3"),
        ("echo", "--kind", "udp", "--port", str(port), "--timeout", "0.3", "x"),
        ("echo", "--port", str(free_port()), "x"),
    ):
        result = command(*args)
        assert result.returncode == 1, args
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.fixture
def chat_port():
    served = Served("chat", "--port", "0", "--quiet")
    yield served.port
    served.stop()


def wait_sleeping(pid: int) -> None:
    """Poll until the main thread of `pid` sleeps in the kernel."""
    stat = Path(f"/proc/{pid}/task/{pid}/stat")
    deadline = time.monotonic() + PATIENCE
    while stat.read_text().rsplit(")", 1)[1].split()[0] != "S":
        assert time.monotonic() < deadline, "it never blocked"
        time.sleep(0.005)


def start_chat(port: int, name: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [*PY, "chat", "--port", str(port), "--name", name],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().startswith(f"joined as {name}")
    return proc


def test_chat_command_sends_receives_and_ends_on_eof(chat_port):
    bob = start_chat(chat_port, "bob")
    try:
        ann = command(
            "chat",
            "--port",
            str(chat_port),
            "--name",
            "ann",
            stdin="@bob hello bob\n/who\n@nobody hi\nnonsense\n",  # then EOF, no /quit
        )
        assert ann.returncode == 0, ann.stderr
        assert "users: ann, bob" in ann.stdout
        assert "error: no such user nobody" in ann.stdout
        assert bob.stdout.readline().strip() == "ann: hello bob"
        bob.communicate(timeout=PATIENCE)  # closes its stdin: EOF
        assert bob.returncode == 0
    finally:
        if bob.poll() is None:
            bob.kill()
            bob.communicate()


def test_chat_command_with_a_taken_name_fails_in_one_line(chat_port):
    bob = start_chat(chat_port, "bob")
    try:
        result = command("chat", "--port", str(chat_port), "--name", "bob", stdin="")
        assert result.returncode == 1
        assert "name taken" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    finally:
        bob.communicate("/quit\n", timeout=PATIENCE)


def test_chat_command_ctrl_c_leaves_cleanly(chat_port):
    bob = start_chat(chat_port, "bob")
    try:
        wait_sleeping(bob.pid)  # waiting for a line on stdin
        bob.send_signal(signal.SIGINT)
        _, err = bob.communicate(timeout=PATIENCE)
    finally:
        if bob.poll() is None:
            bob.kill()
            bob.communicate()
    assert "Traceback" not in err, err
    assert bob.returncode in (0, 130, -signal.SIGINT)
    # and it left the chat: the name is free again
    again = start_chat(chat_port, "bob")
    again.communicate("/quit\n", timeout=PATIENCE)


# --------------------------------------------------------------------------- non-Python peers


def peer_tool(tool: str | None, name: str) -> str:
    if tool is None:
        pytest.skip(f"{name} is not installed")
    return tool


def test_socat_asks_the_served_time_server(time_port):
    socat = peer_tool(SOCAT, "socat")
    out = subprocess.run(
        [socat, "-t", "1", "-T", "5", "-", f"UDP4:{HOST}:{time_port}"],
        input=b"%Y-%m-%d",
        capture_output=True,
        timeout=PATIENCE,
    ).stdout
    assert out.decode() == time.strftime("%Y-%m-%d")


def test_socat_talks_to_the_served_echo_server(echo_server):
    socat = peer_tool(SOCAT, "socat")
    kind, port = echo_server
    payload = b"socat says hi\n" * (200 if kind == "tcp" else 1)
    out = subprocess.run(
        [socat, "-t", "1", "-T", "5", "-", f"{kind.upper()}4:{HOST}:{port}"],
        input=payload,
        capture_output=True,
        timeout=PATIENCE,
    ).stdout
    assert out == payload


def test_nc_talks_to_the_served_echo_and_time_servers(time_port):
    nc = peer_tool(NC, "nc (netcat)")
    served = Served("echo", "--port", "0", "--quiet")
    try:
        out = subprocess.run(
            [nc, "-q", "1", "-w", "5", HOST, str(served.port)],
            input=b"nc was here\n",
            capture_output=True,
            timeout=PATIENCE,
        ).stdout
        assert out == b"nc was here\n"
    finally:
        served.stop()
    out = subprocess.run(
        # No -q for UDP: openbsd nc then quits at end of input without waiting for the reply.
        [nc, "-u", "-w", "1", HOST, str(time_port)],
        input=b"%Y",
        capture_output=True,
        timeout=PATIENCE,
    ).stdout
    assert out.decode().startswith(time.strftime("%Y"))
