"""What the command line says when it is used wrongly, and `run` behaving as `python` does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PATIENCE, ferrosock

pytestmark = pytest.mark.skipif(ferrosock is None, reason="ferrosock is not built")

PY = [sys.executable, "-m", "ferrosock"]


def ferrosock_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*PY, *args], capture_output=True, text=True, timeout=PATIENCE * 2, cwd=cwd
    )


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


@pytest.mark.parametrize("command", ["serve", "time", "echo", "chat"])
def test_a_port_that_is_not_a_number(command):
    extra = {"echo": ["hi"], "chat": ["--name", "ann"]}.get(command, [])
    done = ferrosock_cli(command, "--port", "abc", *extra)
    assert done.returncode == 2
    assert last_line(done.stderr).endswith("argument --port: a port is a number 0-65535, not 'abc'")
    assert "_port" not in done.stderr


@pytest.mark.parametrize("server", ["chat", "time"])
def test_udp_only_servers_refuse_kind_tcp(server):
    done = ferrosock_cli("serve", server, "--kind", "tcp", "--port", "0")
    assert done.returncode == 2
    assert done.stderr == f"error: the {server} server is UDP only (leave out --kind tcp)\n"


def test_a_host_that_does_not_resolve_is_one_line_without_a_warning():
    done = ferrosock_cli("serve", "echo", "--host", "nosuchhost.invalid", "--port", "0")
    assert done.returncode == 1
    assert "warning" not in done.stderr
    assert done.stderr.startswith("cannot serve on nosuchhost.invalid:0: [Errno")
    assert len(done.stderr.splitlines()) == 1


def test_run_without_a_script_says_what_to_give():
    done = ferrosock_cli("run")
    assert done.returncode == 2
    assert "required" not in done.stderr
    assert last_line(done.stderr) == (
        "ferrosock run: error: give a script to run: ferrosock run SCRIPT [ARGS...], "
        "or ferrosock run -m MODULE"
    )


PROBE = "import socket, sys\nprint(repr(sys.argv))\nprint(__name__, socket.socket.__module__)\n"


def test_run_keeps_argv0_as_typed(tmp_path):
    (tmp_path / "probe.py").write_text(PROBE, encoding="utf-8")
    ours = ferrosock_cli("run", "probe.py", "a", "--b", cwd=tmp_path)
    python = subprocess.run(
        [sys.executable, "probe.py", "a", "--b"],
        capture_output=True,
        text=True,
        timeout=PATIENCE,
        cwd=tmp_path,
    )
    assert ours.returncode == 0, ours.stderr
    assert (
        ours.stdout.splitlines()[0] == python.stdout.splitlines()[0] == "['probe.py', 'a', '--b']"
    )
    assert ours.stdout.splitlines()[1] == "__main__ ferrosock"  # patched


def test_run_dash_m_runs_a_module_as_python_dash_m_does(tmp_path):
    (tmp_path / "probe_module.py").write_text(PROBE, encoding="utf-8")
    ours = ferrosock_cli("run", "-m", "probe_module", "x", "--y", cwd=tmp_path)
    python = subprocess.run(
        [sys.executable, "-m", "probe_module", "x", "--y"],
        capture_output=True,
        text=True,
        timeout=PATIENCE,
        cwd=tmp_path,
    )
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout.splitlines()[0] == python.stdout.splitlines()[0]
    assert ours.stdout.splitlines()[0] == repr([str(tmp_path / "probe_module.py"), "x", "--y"])
    assert ours.stdout.splitlines()[1] == "__main__ ferrosock"


def test_run_dash_m_an_unknown_module_is_pythons_message(tmp_path):
    done = ferrosock_cli("run", "-m", "no_such_module_here", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr == f"{sys.executable}: No module named no_such_module_here\n"


def test_run_dash_m_http_server_serves(tmp_path):
    """The issue's own example: `ferrosock run -m http.server` on ferrosock sockets."""
    (tmp_path / "hello.txt").write_text("hello from http.server", encoding="utf-8")
    proc = subprocess.Popen(
        [*PY, "run", "-m", "http.server", "0", "--bind", "127.0.0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    try:
        line = proc.stdout.readline()  # "Serving HTTP on 127.0.0.1 port N (...) ..."
        port = int(line.split(" port ")[1].split()[0])
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{port}/hello.txt", timeout=PATIENCE) as r:
            assert r.read() == b"hello from http.server"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=PATIENCE)


@pytest.mark.parametrize("backend", ["rust", "std"])
def test_serve_ends_the_ctrl_c_line_before_server_stopped(backend):
    proc = subprocess.Popen(
        [*PY, "serve", "echo", "--backend", backend, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert "listening on" in proc.stdout.readline()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=PATIENCE)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert out == "\nserver stopped\n"  # the terminal's ^C, then a line of its own


def test_serve_and_the_lessons_default_to_the_same_backend():
    from ferrosock.lessons._options import chosen_backend

    serve_help = ferrosock_cli("serve", "--help").stdout
    assert "rust: ferrosock's native (tokio) server (default" in " ".join(serve_help.split())
    assert chosen_backend([]) == "rust"
    lesson_help = subprocess.run(
        [sys.executable, "-m", "ferrosock.lessons.tcp_hello_client", "--help"],
        capture_output=True,
        text=True,
        timeout=PATIENCE,
    ).stdout
    assert "rust: ferrosock (the default" in " ".join(lesson_help.split())
