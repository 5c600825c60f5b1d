"""Blocked calls and signals (lesson 6: servers are stopped with Ctrl-C), and the GIL.

Each scenario runs in a child process (`sys.executable`) so that a call that never returns,
or a GIL that is never released, fails the test instead of hanging the suite. The parent
waits until the child's main thread sleeps in the kernel before it signals.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import HOST4, PATIENCE, wait_proc_sleeping
from versions import TIMEOUT_TRACEBACK_NAME

CHILD = r"""
import json, signal, sys, socket as std
m = std if sys.argv[1] == "std" else __import__("ferrosock")
op, timeout, on_signal = sys.argv[2], sys.argv[3], sys.argv[4]
timeout = None if timeout == "none" else float(timeout)

class Custom(Exception):
    pass

handled = 0

def raising(signum, frame):
    raise Custom("raised by the handler")

def counting(signum, frame):
    global handled
    handled += 1
    print("HANDLED", flush=True)

if on_signal == "raise":
    signal.signal(signal.SIGUSR1, raising)
elif on_signal == "continue":
    signal.signal(signal.SIGUSR1, counting)

def say(tag, **info):
    print(tag, json.dumps(info), flush=True)

try:
    if op == "recvfrom":
        s = m.socket(m.AF_INET, m.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        s.settimeout(timeout)
        say("READY", port=s.getsockname()[1])
        data, addr = s.recvfrom(1024)
        result = data.decode()
    elif op == "accept":
        s = m.socket()
        s.bind(("127.0.0.1", 0))
        s.listen()
        s.settimeout(timeout)
        say("READY", port=s.getsockname()[1])
        conn, addr = s.accept()
        result = conn.recv(1024).decode()
    elif op == "recv":
        s = m.socket()
        s.bind(("127.0.0.1", 0))
        s.listen()
        say("LISTENING", port=s.getsockname()[1])
        conn, addr = s.accept()
        conn.settimeout(timeout)
        say("READY")
        result = conn.recv(1024).decode()
    elif op == "connect":
        # a full accept queue: the kernel drops the SYN and connect() blocks, on loopback
        srv = std.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(0)
        filler = std.create_connection(srv.getsockname(), timeout=5)
        c = m.socket()
        c.settimeout(timeout)
        say("READY")
        c.connect(srv.getsockname())
        result = "connected"
    elif op == "sendall":
        a, b = std.socketpair()
        c = m.socket(fileno=a.detach())
        c.settimeout(timeout)
        payload = b"x" * (256 << 20)
        say("READY")
        c.sendall(payload)
        result = "sent"
except Custom as exc:
    say("CUSTOM", message=str(exc))
    sys.exit(3)
say("RESULT", result=result, handled=handled)
"""


class Child:
    """A child process running CHILD, with line reads bounded in time."""

    def __init__(self, script: str, args: list[str], cwd: Path):
        self.proc = subprocess.Popen(
            [sys.executable, "-c", script, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
        )
        self._buf = b""

    def line(self, timeout: float = PATIENCE) -> tuple[str, dict]:
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([fd], [], [], max(0.0, left))
            if not ready:
                raise TimeoutError(f"child said nothing; stderr: {self.stderr_now()}")
            chunk = os.read(fd, 4096)
            if not chunk:
                raise EOFError(f"child exited; stderr: {self.stderr_now()}")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\n", 1)
        tag, _, info = raw.decode().partition(" ")
        return tag, json.loads(info) if info else {}

    def expect(self, tag: str) -> dict:
        got, info = self.line()
        assert got == tag, (got, info)
        return info

    def wait_blocked(self) -> None:
        """Until the child's main thread sleeps in the kernel (inside the blocking call)."""
        wait_proc_sleeping(Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/stat"))

    def stderr_now(self) -> str:
        if self.proc.poll() is None:
            return "(still running)"
        return self.proc.stderr.read().decode(errors="replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()
        self.proc.stderr.close()


@pytest.fixture
def child_factory(tmp_path):
    children = []

    def start(module: str, op: str, timeout: str = "none", on_signal: str = "default"):
        child = Child(CHILD, [module, op, timeout, on_signal], tmp_path)
        children.append(child)
        return child

    yield start
    for child in children:
        child.close()


@pytest.fixture
def module_name(mod):
    return "std" if mod is socket else "rust"


def bring_to_block(child: Child, op: str, peers: list) -> dict:
    """Read the child's READY (connecting to it first for `recv`); return READY's info."""
    if op == "recv":
        port = child.expect("LISTENING")["port"]
        peers.append(socket.create_connection((HOST4, port), timeout=PATIENCE))
    info = child.expect("READY")
    child.wait_blocked()
    return info


OPS = ["recvfrom", "accept", "recv", "connect", "sendall"]
TIMEOUTS = ["none", "30"]


@pytest.mark.parametrize("timeout", TIMEOUTS, ids=["blocking", "timeout"])
@pytest.mark.parametrize("op", OPS)
def test_ctrl_c_interrupts_blocked_call(child_factory, module_name, op, timeout):
    child = child_factory(module_name, op, timeout)
    peers: list = []
    try:
        bring_to_block(child, op, peers)
        sent = time.monotonic()
        child.proc.send_signal(signal.SIGINT)
        try:
            child.proc.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{op}: still blocked 1 s after SIGINT")
        elapsed = time.monotonic() - sent
        stderr = child.proc.stderr.read().decode()
        assert stderr.rstrip().endswith("KeyboardInterrupt"), stderr
        assert child.proc.returncode == -signal.SIGINT, (child.proc.returncode, stderr)
        assert elapsed < 1.0
    finally:
        for p in peers:
            p.close()


@pytest.mark.parametrize("timeout", TIMEOUTS, ids=["blocking", "timeout"])
@pytest.mark.parametrize("op", OPS)
def test_handler_exception_escapes_blocked_call(child_factory, module_name, op, timeout):
    child = child_factory(module_name, op, timeout, "raise")
    peers: list = []
    try:
        bring_to_block(child, op, peers)
        child.proc.send_signal(signal.SIGUSR1)
        assert child.expect("CUSTOM") == {"message": "raised by the handler"}
        assert child.proc.wait(timeout=PATIENCE) == 3
    finally:
        for p in peers:
            p.close()


def unblock(op: str, info: dict, peers: list) -> str:
    """Make the blocked call in the child complete; returns what it should report."""
    if op == "recvfrom":
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(b"after signal", (HOST4, info["port"]))
    elif op == "accept":
        c = socket.create_connection((HOST4, info["port"]), timeout=PATIENCE)
        peers.append(c)
        c.sendall(b"after signal")
    elif op == "recv":
        peers[0].sendall(b"after signal")
    return "after signal"


@pytest.mark.parametrize("timeout", TIMEOUTS, ids=["blocking", "timeout"])
@pytest.mark.parametrize("op", ["recvfrom", "accept", "recv"])
def test_handler_that_returns_lets_call_continue(child_factory, module_name, op, timeout):
    """PEP 475: the handler runs while the call is blocked, then the call is retried."""
    child = child_factory(module_name, op, timeout, "continue")
    peers: list = []
    try:
        info = bring_to_block(child, op, peers)
        for _ in range(2):
            child.proc.send_signal(signal.SIGUSR1)
            assert child.expect("HANDLED") == {}
            child.wait_blocked()  # blocked again, not returned
        expected = unblock(op, info, peers)
        assert child.expect("RESULT") == {"result": expected, "handled": 2}
        assert child.proc.wait(timeout=PATIENCE) == 0
    finally:
        for p in peers:
            p.close()


def test_timeout_still_counts_after_signal(child_factory, module_name):
    """A retried call keeps its deadline: it times out about when it would have."""
    child = child_factory(module_name, "recvfrom", "0.6", "continue")
    started = time.monotonic()
    bring_to_block(child, "recvfrom", [])
    child.proc.send_signal(signal.SIGUSR1)
    assert child.expect("HANDLED") == {}
    assert child.proc.wait(timeout=PATIENCE) == 1
    elapsed = time.monotonic() - started
    stderr = child.proc.stderr.read().decode()
    assert stderr.rstrip().endswith(f"{TIMEOUT_TRACEBACK_NAME}: timed out"), stderr
    assert elapsed < 0.6 + 1.5, elapsed  # did not restart the full timeout forever


GIL_CHILD = r"""
import json, sys, threading, time, socket as std
m = std if sys.argv[1] == "std" else __import__("ferrosock")

def wait_sleeping(tid):
    path = f"/proc/self/task/{tid}/stat"
    while open(path).read().rsplit(")", 1)[1].split()[0] != "S":
        time.sleep(0.005)

a, b = m.socketpair()
result = {}

def reader():
    result["data"] = a.recv(100)
    result["eof"] = a.recv(100)

t = threading.Thread(target=reader)
t.start()
while t.native_id is None:
    time.sleep(0.001)
wait_sleeping(t.native_id)
# the reader is blocked in recv: this thread must still run Python code
count, end = 0, time.monotonic() + 0.2
while time.monotonic() < end:
    count += 1
# and use the same socket object from here while the reader is blocked
name = a.getsockname()
a.settimeout(None)
blocking = a.getblocking()
b.sendall(b"wake up")
wait_sleeping(t.native_id)
a.shutdown(std.SHUT_RDWR)  # shutdown from another thread wakes the blocked reader
t.join(5)
assert not t.is_alive(), "reader still blocked after shutdown"
report = {"count": count, "data": result["data"].decode(), "eof": result["eof"].decode()}
report.update(name=name, blocking=blocking, eof_type=type(result["eof"]).__name__)
print(json.dumps(report), flush=True)
a.close()
b.close()
"""


def test_blocking_calls_release_the_gil(module_name, tmp_path):
    try:
        proc = subprocess.run(
            [sys.executable, "-c", GIL_CHILD, module_name],
            capture_output=True,
            text=True,
            timeout=10,
            cwd=tmp_path,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("hung: a thread blocked in recv() holds the GIL (or shutdown did not wake it)")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report.pop("count") > 1000
    assert report == {
        "data": "wake up",
        "eof": "",
        "eof_type": "bytes",
        "name": "",
        "blocking": True,
    }


SENDALL_CHILD = r"""
import signal, sys, socket as std
m = std if sys.argv[1] == "std" else __import__("ferrosock")
handled = 0

def counting(signum, frame):
    global handled
    handled += 1
    print("HANDLED", flush=True)

signal.signal(signal.SIGUSR1, counting)
c = m.create_connection(("127.0.0.1", int(sys.argv[2])))
c.settimeout(None if sys.argv[3] == "none" else float(sys.argv[3]))
payload = bytes(range(256)) * (32 << 10)  # 8 MiB, far more than the socket buffers
print("READY", flush=True)
c.sendall(payload)
c.close()
print("RESULT", '{"handled": %d}' % handled, flush=True)
"""


@pytest.mark.parametrize("timeout", TIMEOUTS, ids=["blocking", "timeout"])
def test_sendall_interrupted_by_signals_delivers_every_byte(module_name, tmp_path, timeout):
    """PEP 475 inside sendall: after each interruption it goes on from where it was."""
    expected = bytes(range(256)) * (32 << 10)
    with socket.socket() as srv:
        srv.bind((HOST4, 0))
        srv.listen()
        port = str(srv.getsockname()[1])
        child = Child(SENDALL_CHILD, [module_name, port, timeout], tmp_path)
        try:
            srv.settimeout(PATIENCE)
            conn, _ = srv.accept()
            with conn:
                conn.settimeout(PATIENCE)
                child.expect("READY")
                for _ in range(3):
                    child.wait_blocked()  # buffers full, sendall waiting
                    child.proc.send_signal(signal.SIGUSR1)
                    assert child.expect("HANDLED") == {}
                got = bytearray()
                while chunk := conn.recv(1 << 20):
                    got += chunk
            assert len(got) == len(expected)
            assert got == expected
            assert child.expect("RESULT") == {"handled": 3}
            assert child.proc.wait(timeout=PATIENCE) == 0
        finally:
            child.close()
