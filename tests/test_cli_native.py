"""`ferrosock serve ...` and the client commands, as a user runs them."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

PY = [sys.executable, "-m", "ferrosock"]


def start_server(*args: str) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(
        [*PY, "serve", *args, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    assert "listening on" in line, (line, proc.stderr.read() if proc.poll() is not None else "")
    return proc, int(line.rsplit(":", 1)[1])


def stop(proc: subprocess.Popen, sig: int) -> tuple[str, str]:
    proc.send_signal(sig)
    try:
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    return out, err


def client(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*PY, *args], capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_time_server_and_client(sig):
    proc, port = start_server("time")
    result = client("time", "--port", str(port), "%Y")
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.strip()) == 4
    out, _ = stop(proc, sig)
    assert "asks for '%Y'" in out
    assert out.rstrip().endswith("server stopped")


@pytest.mark.parametrize("kind", ["tcp", "udp"])
def test_echo_server_and_client(kind):
    proc, port = start_server("echo", "--kind", kind, "--quiet")
    result = client("echo", "--port", str(port), "--kind", kind, "你好 echo")
    assert result.stdout.strip() == "你好 echo", result.stderr
    out, _ = stop(proc, signal.SIGINT)
    assert "你好" not in out  # --quiet


def test_chat_between_two_command_line_clients():
    proc, port = start_server("chat", "--quiet")
    try:
        bob = subprocess.Popen(
            [*PY, "chat", "--port", str(port), "--name", "bob"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert bob.stdout.readline().startswith("joined as bob")
        client_input = "@bob hello bob\n/who\n/quit\n"
        ann = subprocess.run(
            [*PY, "chat", "--port", str(port), "--name", "ann"],
            input=client_input,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert "users: ann, bob" in ann.stdout, ann.stderr
        assert bob.stdout.readline().strip() == "ann: hello bob"
        bob.communicate("/quit\n", timeout=10)
        assert bob.returncode == 0
    finally:
        stop(proc, signal.SIGINT)


def test_std_backend_runs_the_lessons_echo_and_refuses_chat():
    proc, port = start_server("echo", "--backend", "std")
    assert client("echo", "--port", str(port), "via std").stdout.strip() == "via std"
    out, _ = stop(proc, signal.SIGINT)
    assert "b'via std'" in out
    refused = client("serve", "chat", "--backend", "std", "--port", "0")
    assert refused.returncode == 2
    assert "qq_chat_server" in refused.stderr


def test_non_loopback_host_warns():
    proc = subprocess.Popen(
        [*PY, "serve", "echo", "--host", "0.0.0.0", "--port", "0", "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert "listening on 0.0.0.0:" in proc.stdout.readline()
    _, err = stop(proc, signal.SIGTERM)
    assert err.count("warning: binding 0.0.0.0") == 1


def test_client_errors_are_one_clear_line():
    result = client("time", "--port", "1", "--timeout", "1")
    assert result.returncode == 1
    assert result.stderr.startswith("error: ")
    assert len(result.stderr.strip().splitlines()) == 1


def test_chat_client_escapes_control_characters_from_other_users():
    from ferrosock._cli_native import _printable

    assert _printable("hi \x1b[2J\x07 there") == "hi \\x1b[2J\\x07 there"
    assert _printable("你好, 小明") == "你好, 小明"
