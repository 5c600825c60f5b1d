"""The lesson programs (ferrosock.lessons), each run as a real process on both backends."""

from __future__ import annotations

import ast
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import HOST4, PATIENCE, module_param, wait_proc_sleeping
from ferrosock import lessons
from ferrosock.demo import LessonServer, Ports, Transcript

LESSONS = Path(lessons.__file__).parent
PROGRAMS = [
    "tcp_hello_server",
    "tcp_hello_client",
    "reuse_server",
    "udp_hello_server",
    "udp_hello_client",
    "qq_chat_server",
    "qq_chat_client",
    "time_server",
    "time_client",
]
DEFAULT_PORTS = {"tcp": 8898, "reuse": 8898, "udp": 9000, "qq": 8081, "time": 9000}


@pytest.fixture(params=[module_param("std"), module_param("rust")])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


def free_port(kind: int) -> int:
    return Ports(None).take((kind,))[0]


def lesson(program: str, *args: str, typed: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", f"ferrosock.lessons.{program}", *args],
        input=typed,
        capture_output=True,
        text=True,
        timeout=PATIENCE * 2,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
    )


# --------------------------------------------------------------------------- the source


def imports_of(program: str) -> list[ast.ImportFrom]:
    tree = ast.parse((LESSONS / f"{program}.py").read_text(encoding="utf-8"))
    return [node for node in tree.body if isinstance(node, ast.ImportFrom)]


def test_reuse_server_imports_the_two_constants_by_name():
    names = {
        alias.name
        for node in imports_of("reuse_server")
        if node.module == "ferrosock.lessons.backend"
        for alias in node.names
    }
    assert names == {"SOL_SOCKET", "SO_REUSEADDR"}


def test_time_server_imports_star():
    assert any(
        node.module == "ferrosock.lessons.backend" and node.names[0].name == "*"
        for node in imports_of("time_server")
    )


@pytest.mark.parametrize("program", PROGRAMS)
def test_help(program):
    done = lesson(program, "--help")
    assert done.returncode == 0, done.stderr
    assert f"python -m ferrosock.lessons.{program}" in done.stdout
    port = DEFAULT_PORTS[program.split("_")[0]]
    assert "--backend {std,rust}" in done.stdout and f"default: {port}" in done.stdout


def test_bad_backend_is_refused():
    done = lesson("tcp_hello_client", "--backend", "go")
    assert done.returncode == 2 and "invalid choice: 'go'" in done.stderr


@pytest.mark.parametrize(("name", "module"), [("std", "socket"), ("rust", "ferrosock")])
def test_backend_module_is_the_chosen_socket_module(name, module):
    code = (
        "import sys\n"
        "from ferrosock.lessons import backend as socket\n"
        "from ferrosock.lessons.backend import SOL_SOCKET\n"
        f"assert socket is sys.modules[{module!r}], socket\n"
        "assert SOL_SOCKET == socket.SOL_SOCKET\n"
        "print(type(socket.socket()).__module__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code, "--backend", name],
        capture_output=True,
        text=True,
        timeout=PATIENCE * 2,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == module


# --------------------------------------------------------------------------- behaviour


def test_tcp_hello(backend):
    port = free_port(socket.SOCK_STREAM)
    server = LessonServer("tcp_hello_server", backend, port)
    try:
        assert server.wait_listening()
        client = lesson("tcp_hello_client", "--backend", backend, "--port", str(port))
        transcript = Transcript()
        server.finish(transcript, "server")
    finally:
        server.kill()
    assert (client.returncode, client.stdout, client.stderr) == (0, "b'hi'\n", "")
    assert not transcript.problems
    assert transcript.text().endswith("b'hello!'\n[exit status 0]\n")


def restart_attempt(program: str, backend: str, port: int) -> tuple[bool, str]:
    """Start a lesson 2 server; if it binds, serve the lesson's client. (bound?, its output)"""
    transcript = Transcript()
    server = LessonServer(program, backend, port)
    try:
        listening = server.wait_listening()
        if listening:
            client = lesson("tcp_hello_client", "--backend", backend, "--port", str(port))
            assert (client.returncode, client.stdout) == (0, "b'hi'\n"), client.stderr
        server.finish(transcript, program, expect_status=None)
    finally:
        server.kill()
    return listening, transcript.text()


@pytest.mark.parametrize("attempt", range(3))
def test_reuse_server_help_steps_show_the_failure_and_the_fix(backend, attempt):
    """Lesson 2 exactly as reuse_server --help tells it, with the lesson's own client, on
    fresh ports; every time (the client waits for the server to close first)."""
    plain_port, reuse_port = Ports(None).take((socket.SOCK_STREAM, socket.SOCK_STREAM))
    errno98 = "OSError: [Errno 98] Address already in use\n[exit status 1]\n"
    assert restart_attempt("tcp_hello_server", backend, plain_port)[0]  # step 1
    listening, text = restart_attempt("tcp_hello_server", backend, plain_port)  # step 2
    assert not listening and text.endswith(errno98)
    listening, text = restart_attempt("reuse_server", backend, plain_port)  # step 3: Linux rule
    assert not listening and text.endswith(errno98)
    assert restart_attempt("reuse_server", backend, reuse_port)[0]  # step 4
    listening, text = restart_attempt("reuse_server", backend, reuse_port)  # step 5: the fix
    assert listening and text.endswith("b'hello!'\n[exit status 0]\n"), text


def test_reuse_server_help_explains_the_linux_rule():
    text = lesson("reuse_server", "--help").stdout
    assert "AND the old one set SO_REUSEADDR" in text and "TIME_WAIT" in text


def test_udp_hello(backend):
    port = free_port(socket.SOCK_DGRAM)
    server = LessonServer("udp_hello_server", backend, port)
    try:
        assert server.wait_listening()
        client = lesson("udp_hello_client", "--backend", backend, "--port", str(port))
        transcript = Transcript()
        server.finish(transcript, "server")
    finally:
        server.kill()
    assert client.returncode == 0 and client.stdout == f"hi ('127.0.0.1', {port})\n"
    assert "hello\n[exit status 0]" in transcript.text()


class UDPPeer:
    """A stdlib UDP socket standing in for the other side of a lesson program."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(PATIENCE)
        self.sock.bind((HOST4, 0))
        self.port = self.sock.getsockname()[1]


def test_chat_client_sends_only_real_messages_to_known_contacts(backend):
    peer = UDPPeer()
    with peer.sock:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ferrosock.lessons.qq_chat_client",
                "--backend",
                backend,
                "--port",
                str(peer.port),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            typed = "张三\n小红\n\n   \n你好\nq\n老王\n再见\n"
            proc.stdin.write(typed.encode())
            proc.stdin.flush()  # left open: communicate() closes it once the replies are sent
            got = []
            for reply in ("你好呀", "拜拜"):
                msg, addr = peer.sock.recvfrom(1024)
                got.append(msg.decode())
                peer.sock.sendto(reply.encode(), addr)
            out, err = proc.communicate(timeout=PATIENCE)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert got == ["你好", "再见"]  # nothing for 张三, the empty and the blank message
    assert proc.returncode == 0, err
    text = out.decode()
    assert text.count("没有这个联系人") == 1
    assert "\033[1;33;44m你好呀\033[0m" in text and "\033[1;33;44m拜拜\033[0m" in text


@pytest.mark.parametrize("program", ["qq_chat_client", "time_client"])
def test_clients_end_cleanly_at_end_of_input(backend, program):
    done = lesson(program, "--backend", backend, "--port", "9", typed="")
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout.endswith(": \n")  # the prompt, then the newline that ends the line


def test_time_server_formats(backend):
    port = free_port(socket.SOCK_DGRAM)
    server = LessonServer("time_server", backend, port)
    try:
        assert server.wait_listening()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.settimeout(PATIENCE)
            client.sendto(b"", (HOST4, port))
            default = client.recv(1024).decode()
            client.sendto(b"%Y", (HOST4, port))
            year = client.recv(1024).decode()
        wait_proc_sleeping(Path(f"/proc/{server.proc.pid}/stat"))  # blocked in recvfrom
        transcript = Transcript()
        server.finish(transcript, "server", interrupt=True)
    finally:
        server.kill()
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", default)
    assert year in {time.strftime("%Y"), str(int(time.strftime("%Y")) - 1)}
    assert not transcript.problems, transcript.text()
    assert transcript.text().endswith("'%Y'\n\nserver stopped\n[exit status 0]\n")


def test_chat_server_stops_on_ctrl_c_and_on_end_of_input(backend):
    # Ctrl-C while blocked in recvfrom
    port = free_port(socket.SOCK_DGRAM)
    server = LessonServer("qq_chat_server", backend, port)
    try:
        assert server.wait_listening()
        wait_proc_sleeping(Path(f"/proc/{server.proc.pid}/stat"))
        transcript = Transcript()
        server.proc.send_signal(signal.SIGINT)
        server.finish(transcript, "server")
    finally:
        server.kill()
    assert not transcript.problems, transcript.text()
    assert transcript.text().endswith("\nserver stopped\n[exit status 0]\n")

    # no more replies to type: the operator's input ended
    peer = UDPPeer()
    server = LessonServer("qq_chat_server", backend, port)
    try:
        assert server.wait_listening()
        server.end_input()
        with peer.sock:
            peer.sock.sendto("在吗".encode(), (HOST4, port))
            transcript = Transcript()
            server.finish(transcript, "server")
    finally:
        server.kill()
    assert not transcript.problems, transcript.text()
    assert "在吗" in transcript.text()
    assert transcript.text().endswith("回复消息: \nserver stopped\n[exit status 0]\n")
