"""Issue 10: what an idle connection costs a server, and that the memory goes back after.

An EchoServer runs in a child interpreter of its own (two workers), so its resident memory
(VmRSS in /proc/PID/status) is its alone. We open 3,000 idle connections to it, 1,500 per
worker, and read its RSS before and after: it must grow by at most 4 KiB a connection (about
1.35 KiB when this was written; 10 KiB before the worker rework). Once they have all gone it
must come back to within a few MiB of where it started, giving back at least half of what
the crowd took: the workers hand freed memory back to the system after a crowd of 1,024 or
more has left (without that, glibc keeps it: with 1,000 a worker RSS stays where it rose).
"""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
import textwrap
import time

import pytest

pytest.importorskip("ferrosock.servers")

CONNECTIONS = 3000
PER_CONNECTION_LIMIT = 4 * 1024
BACK_WITHIN = 3 * 1024 * 1024

SERVER = textwrap.dedent(
    """
    import sys
    from ferrosock import runtime, servers

    runtime.configure(workers=2)
    srv = servers.EchoServer(("127.0.0.1", 0), backlog=4096).start()
    print(srv.address[1], flush=True)
    while line := sys.stdin.readline().strip():
        if line == "open":
            print(srv.stats()["connections_open"], flush=True)
    srv.stop()
    """
)


def rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS line")


@pytest.fixture
def enough_descriptors():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = CONNECTIONS + 200
    if soft >= need:
        yield
        return
    if hard != resource.RLIM_INFINITY and hard < need:
        pytest.skip(f"needs {need} descriptors, RLIMIT_NOFILE hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def ask(proc: subprocess.Popen, line: str) -> int:
    proc.stdin.write(line + "\n")
    proc.stdin.flush()
    return int(proc.stdout.readline())


def wait_open(proc: subprocess.Popen, n: int, limit: float = 10) -> None:
    deadline = time.monotonic() + limit
    while (got := ask(proc, "open")) != n:
        assert time.monotonic() < deadline, f"{got} connections open, expected {n}"
        time.sleep(0.05)


def echo(address, data: bytes) -> None:
    with socket.create_connection(address, timeout=5) as s:
        s.sendall(data)
        assert s.recv(len(data), socket.MSG_WAITALL) == data


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs /proc")
def test_idle_connections_cost_little_and_their_memory_comes_back(enough_descriptors):
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    conns: list[socket.socket] = []
    try:
        address = ("127.0.0.1", int(proc.stdout.readline()))
        # Warm up both workers (their read buffers, the runtime's lazy parts).
        for _ in range(4):
            echo(address, b"warm" * 1000)
        wait_open(proc, 0)
        time.sleep(0.3)
        before = rss(proc.pid)

        for _ in range(CONNECTIONS):
            conns.append(socket.create_connection(address, timeout=5))
        wait_open(proc, CONNECTIONS)
        time.sleep(0.3)
        crowd = rss(proc.pid)
        per_connection = (crowd - before) / CONNECTIONS
        # Still serving, with the crowd there.
        echo(address, b"still here")

        for c in conns:
            c.close()
        conns.clear()
        wait_open(proc, 0)
        time.sleep(0.3)
        after = rss(proc.pid)
    finally:
        for c in conns:
            c.close()
        proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        proc.stdout.close()
    report = (
        f"RSS {before / 2**20:.1f} MiB idle, {crowd / 2**20:.1f} MiB with {CONNECTIONS} "
        f"connections ({per_connection / 1024:.2f} KiB each), {after / 2**20:.1f} MiB after"
    )
    print(report)
    assert per_connection <= PER_CONNECTION_LIMIT, report
    assert after - before <= BACK_WITHIN, report
    assert after - before <= (crowd - before) / 2, report
    assert proc.returncode == 0
