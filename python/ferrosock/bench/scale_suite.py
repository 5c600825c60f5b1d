"""The ``scale`` suite: the native EchoServer with 1 to 10,000 concurrent connections.

At each step: requests/s with every connection busy (1 KiB request/response), and the server's
resident memory per idle connection (VmRSS before and after opening that many idle
connections). The descriptor limit is raised to the hard limit where allowed; the suite says
which steps it had to skip when it was not enough.
"""

from __future__ import annotations

import resource
import socket
import subprocess
import sys
from pathlib import Path
from typing import Callable

from ._results import Settings
from ._table import Table

NAME = "scale"
SUMMARY = "native EchoServer at 1, 10, 100, 1,000 and 10,000 connections: req/s, memory per idle"
PLACES_ITSELF = True

STEPS = [1, 10, 100, 1_000, 10_000]
SERVER = """
import resource, sys
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
from ferrosock import runtime, servers
runtime.configure(workers=1)
srv = servers.EchoServer(("127.0.0.1", 0), backlog=4096)
print(srv.address[1], flush=True)
srv.serve_forever()
"""


def _raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        return hard
    except (ValueError, OSError):
        return soft


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def run(settings: Settings, progress: Callable[[str], None]) -> list[Table]:
    from ferrosock import _native, runtime

    from ._machine import pinned

    if not runtime.running():
        runtime.configure(workers=1)
    limit = _raise_fd_limit()
    # Each process holds one descriptor per connection, plus a few of its own.
    steps = [n for n in STEPS if n + 256 <= limit]
    skipped = [n for n in STEPS if n not in steps]
    duration = 0.5 if settings.quick else 1.0
    server = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
    table = Table(
        title="scale: native EchoServer, 1 KiB request/response on every connection",
        headers=["connections", "req/s", "x best", "p99 µs", "RSS per idle connection"],
    )
    try:
        if settings.placement.streaming is not None:
            import os

            os.sched_setaffinity(server.pid, {settings.placement.streaming})
        port = int(server.stdout.readline())
        results = []
        with pinned(settings.placement.client):
            for n in steps:
                progress(f"scale: {n} connections")
                report = _native.load_test(
                    "127.0.0.1",
                    port,
                    connections=n,
                    size=1024,
                    duration=duration,
                    warmup=0.2,
                    timeout=5.0,
                )
                before = _rss_kib(server.pid)
                idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
                try:
                    after = _rss_kib(server.pid)
                finally:
                    for s in idle:
                        s.close()
                per_conn = max(after - before, 0) / n
                results.append((n, report, per_conn))
        best = max(r["requests_per_sec"] for _, r, _ in results)
        for n, report, per_conn in results:
            rps = report["requests_per_sec"]
            table.data.append(
                {"connections": n, "requests_per_sec": rps, "rss_kib_per_idle": per_conn}
            )
            table.rows.append(
                [
                    f"{n:,}",
                    f"{rps:,.0f}",
                    f"{rps / best:.2f}",
                    f"{report['p99_us']:,.0f}",
                    f"{per_conn:.1f} KiB",
                ]
            )
        at_1000 = next((r["requests_per_sec"] for n, r, _ in results if n == 1_000), None)
        if at_1000 is not None:
            table.notes.append(
                f"1,000 connections: {at_1000 / best:.2f}x the best step (target >= "
                f"0.8: {'met' if at_1000 >= 0.8 * best else 'NOT MET'})"
            )
        worst = max(p for _, _, p in results)
        table.notes.append(
            f"RSS per idle connection at most {worst:.1f} KiB (target <= 16 KiB: "
            f"{'met' if worst <= 16 else 'NOT MET'})"
        )
        if skipped:
            table.notes.append(f"skipped {skipped}: the descriptor limit is {limit}")
    finally:
        server.kill()
        server.wait()
        server.stdout.close()
    return [table]
