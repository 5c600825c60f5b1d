"""`python -m ferrosock demo`: every lesson pair, four ways, compared with std/std."""

from __future__ import annotations

import io
import random
import re
import socket
import subprocess
import sys
import time

import pytest
from conftest import HOST4, ferrosock
from ferrosock import demo

needs_rust = pytest.mark.skipif(ferrosock is None, reason="ferrosock is not built yet")
PORTS_PER_RUN = 4 * sum(len(pair.kinds) for pair in demo.PAIRS)


def run_demo(*args: str) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "ferrosock", "demo", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=90,
    )
    return done, time.monotonic() - started


@needs_rust
def test_demo_all_runs_identical():
    done, seconds = run_demo("--quiet")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"all {4 * len(demo.PAIRS)} runs behave the same" in done.stdout
    for pair in demo.PAIRS:
        assert re.search(
            rf"^{re.escape(pair.title)} +std/std +\(the reference\)", done.stdout, re.M
        )
    assert done.stdout.count("identical") == 3 * len(demo.PAIRS)
    assert seconds < 40


@needs_rust
def test_demo_runs_every_lesson_program():
    """Every program of the lessons' table is played by the demo, with what it shows."""
    from ferrosock import lessons

    programs = set(re.findall(r"^(\w+_(?:server|client)) +\d+ ", lessons.__doc__, re.M))
    assert len(programs) == 17
    done, _ = run_demo()
    assert done.returncode == 0, done.stdout + done.stderr
    shown = set(re.findall(r"(?:server|client): (\w+_(?:server|client))", done.stdout))
    assert shown == programs
    out = done.stdout
    assert "sends glued together" in out and "6 messages, each exactly as sent" in out
    assert "saved received/lesson.txt" in out and "over the limit of" in out
    assert "refused: the server refused our answer" in out


def free_port_base() -> int:
    """A base below the ephemeral range whose next PORTS_PER_RUN ports are free for TCP and UDP."""
    for _ in range(50):
        base = random.randrange(20000, 30000 - PORTS_PER_RUN)
        held = []
        try:
            for port in range(base, base + PORTS_PER_RUN):
                for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                    s = socket.socket(socket.AF_INET, kind)
                    held.append(s)
                    s.bind((HOST4, port))
            return base
        except OSError:
            continue
        finally:
            for s in held:
                s.close()
    pytest.skip("no run of free ports found")


@needs_rust
def test_demo_with_port_base_shows_the_lessons():
    base = free_port_base()
    done, _ = run_demo("--port-base", str(base))
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert f"TCP server listening on 127.0.0.1:{base}\n" in out  # the first pair, the base
    ports = {int(p) for p in re.findall(r"listening on 127\.0\.0\.1:(\d+)", out)}
    assert ports and all(base <= p < base + PORTS_PER_RUN for p in ports)
    # lesson 2, shown: the plain restart fails at bind, the SO_REUSEADDR one serves again
    plain = out.index("2. server: tcp_hello_server again, at once, on the same port")
    rule = out.index("3. server: reuse_server on that port: the old socket did not set it")
    reuse = out.index("5. server: reuse_server again, at once, on the same port")
    assert "OSError: [Errno 98] Address already in use" in out[plain:rule]
    assert "OSError: [Errno 98] Address already in use" in out[rule:reuse]
    assert "TCP server (SO_REUSEADDR) listening on" in out[reuse:]
    assert "server stopped\n    [exit status 0]" in out  # the looping servers, after Ctrl-C


def test_busy_port_base_is_reported():
    with socket.socket() as holder:
        holder.bind((HOST4, 0))
        done, _ = run_demo("--quiet", "--port-base", str(holder.getsockname()[1]))
    assert done.returncode == 2
    assert "is busy" in done.stdout and "--port-base" in done.stdout


def test_normalising():
    assert demo.without_ports("on 127.0.0.1:8898\nhi ('127.0.0.1', 9000)\n[127.0.0.1:5]") == (
        "on 127.0.0.1:PORT\nhi ('127.0.0.1', PORT)\n[127.0.0.1:PORT]"
    )
    text = "2026-11-25 06:41:04\n2026 11 25\n06:41\n[exit status 0]\n127.0.0.1:4000 asks"
    assert demo.without_clock(text) == (
        "####-##-## ##:##:##\n#### ## ##\n##:##\n[exit status 0]\n127.0.0.1:PORT asks"
    )


def test_a_difference_fails_the_demo(monkeypatch):
    def play(run: demo.Run) -> None:
        said = "hi" if run.client_backend == "std" else "ho"
        run.transcript.add("client: fake", f"{said} from 127.0.0.1:{run.ports[0]}\n", 0)

    monkeypatch.setattr(
        demo, "PAIRS", (demo.Pair("fake", "no processes", play, (socket.SOCK_DGRAM,)),)
    )
    out = io.StringIO()
    assert demo.demo(out=out) == 1
    report = out.getvalue()
    rows = re.findall(r"^ *(?:fake)? +(\S+/\S+) +(.+?) +\d+\.\d\d s$", report, re.M)
    assert rows == [
        ("std/std", "(the reference)"),
        ("std/rust", "DIFFERENT"),
        ("rust/std", "identical"),
        ("rust/rust", "DIFFERENT"),
    ]
    assert "-hi from 127.0.0.1:PORT\n+ho from 127.0.0.1:PORT" in report
    assert "2 of 4 runs differ or had problems" in report
