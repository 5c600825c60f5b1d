"""The ``udp`` suite: UDP time and echo servers under the native load generator in UDP mode.

Contenders: the native TimeServer and UDP EchoServer, the lesson's Python time server on the
stdlib and on ferrosock (``ferrosock.lessons.time_server``), and asyncio's DatagramProtocol
time and echo servers (and uvloop's when installed). Each server is its own process on one core,
the load generator on the other. Time servers get the lesson's default format as every request
(any reply counts); echo servers get verified echoes.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
from typing import Callable

from ._results import Settings
from ._table import Table

NAME = "udp"
SUMMARY = "UDP time and echo servers: native, the lesson's (stdlib and ferrosock), asyncio, uvloop"
PLACES_ITSELF = True

FORMAT = b"%Y-%m-%d %X"
# (label, how to start it, what it answers)
CONTENDERS = [
    ("native TimeServer", ["-m", "ferrosock.bench._udp_servers", "native-time"], "time"),
    (
        "lesson time_server (stdlib)",
        ["-m", "ferrosock.lessons.time_server", "--backend", "std", "--port", "0"],
        "time",
    ),
    (
        "lesson time_server (ferrosock)",
        ["-m", "ferrosock.lessons.time_server", "--backend", "rust", "--port", "0"],
        "time",
    ),
    (
        "asyncio DatagramProtocol time",
        ["-m", "ferrosock.bench._udp_servers", "asyncio-time"],
        "time",
    ),
    ("uvloop DatagramProtocol time", ["-m", "ferrosock.bench._udp_servers", "uvloop-time"], "time"),
    ("native UDP EchoServer", ["-m", "ferrosock.bench._udp_servers", "native-echo"], "echo"),
    (
        "asyncio DatagramProtocol echo",
        ["-m", "ferrosock.bench._udp_servers", "asyncio-echo"],
        "echo",
    ),
    ("uvloop DatagramProtocol echo", ["-m", "ferrosock.bench._udp_servers", "uvloop-echo"], "echo"),
]


def _have_uvloop() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


class Server:
    def __init__(self, args: list[str], cpu: int | None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        if cpu is not None:
            os.sched_setaffinity(self.proc.pid, {cpu})
        line = self.proc.stdout.readline().strip()
        self.port = int(line.rsplit(":", 1)[-1])
        # The lesson's server prints every request: keep its pipe drained.
        self.drain = threading.Thread(target=self.proc.stdout.read, daemon=True)
        self.drain.start()

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self.drain.join(5)
        self.proc.stdout.close()


def run(settings: Settings, progress: Callable[[str], None]) -> list[Table]:
    from ferrosock import _native, runtime

    from ._machine import pinned

    if not runtime.running():
        runtime.configure(workers=1)
    uv = _have_uvloop()
    contenders = [c for c in CONTENDERS if uv or not c[0].startswith("uvloop")]
    passes = 1 if settings.quick else settings.repeat
    duration = 0.5 if settings.quick else 1.0
    rates: dict[str, list[dict[str, float]]] = {}
    with pinned(settings.placement.client):
        for p in range(passes):
            for label, args, answers in contenders:
                progress(f"udp pass {p + 1}/{passes}: {label}")
                server = Server(args, settings.placement.streaming)
                try:
                    request = FORMAT if answers == "time" else None
                    size = len(FORMAT) if request else 64
                    kwargs = dict(mode="udp", connections=16, size=size, timeout=0.5)
                    _native.load_test(
                        "127.0.0.1",
                        server.port,
                        duration=0.2,
                        warmup=0.0,
                        request=request,
                        **kwargs,
                    )
                    report = _native.load_test(
                        "127.0.0.1",
                        server.port,
                        duration=duration,
                        warmup=0.0,
                        request=request,
                        **kwargs,
                    )
                    rates.setdefault(label, []).append(report)
                finally:
                    server.close()
    table = Table(
        title=f"udp: 16 sockets, one datagram in flight each (median of {passes})",
        headers=["server", "req/s", "x best", "p50 µs", "p99 µs", "lost"],
    )
    medians = {k: statistics.median(r["requests_per_sec"] for r in v) for k, v in rates.items()}
    best = max(medians.values())
    for label, _, _ in contenders:
        reports = rates[label]
        table.data.append({"server": label, "requests_per_sec": medians[label]})
        table.rows.append(
            [
                label,
                f"{medians[label]:,.0f}",
                f"{medians[label] / best:.2f}",
                f"{statistics.median(r['p50_us'] for r in reports):.0f}",
                f"{statistics.median(r['p99_us'] for r in reports):.0f}",
                f"{sum(r['timeouts'] + r['errors'] for r in reports)}",
            ]
        )
    native = medians["native TimeServer"]
    lesson = medians["lesson time_server (stdlib)"]
    table.notes.append(f"native TimeServer: {native / lesson:.1f}x the lesson's Python time server")
    return [table]
