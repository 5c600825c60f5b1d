"""The ``echo`` suite: echo servers under ferrosock's native load generator.

Contenders, each its own process pinned to one core (the load generator, a tokio client in
this process, on the other): ferrosock's native EchoServer, its StreamServer with a trivial
Python handler, the plain tokio echo server from ``examples/tokio_echo.rs`` (the ceiling),
``socketserver.ThreadingTCPServer``, asyncio streams and Protocol servers (the Protocol one
also with the same Python handler), ``ferrosock.aio``, and uvloop's variants when uvloop is
installed. Trivial echo is kernel-bound, so besides requests/s the suite reads each server's
CPU time (utime/stime from /proc) and reports user CPU per request: the server's own cost.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

from ._machine import pinned
from ._results import Settings
from ._table import Table

NAME = "echo"
#: This suite pins its own processes (server and load generator on different cores).
PLACES_ITSELF = True
SUMMARY = "echo servers (native, tokio, asyncio, uvloop, socketserver) under the native load"

TICK = os.sysconf("SC_CLK_TCK")
REPO = Path(__file__).resolve().parents[3]

CONTENDERS = [
    ("tokio echo (ceiling)", "tokio"),
    ("ferrosock EchoServer", "ferrosock-echo"),
    ("ferrosock StreamServer + handler", "ferrosock-handler"),
    ("asyncio Protocol + handler", "asyncio-handler"),
    ("uvloop Protocol + handler", "uvloop-handler"),
    ("asyncio Protocol", "asyncio-protocol"),
    ("uvloop Protocol", "uvloop-protocol"),
    ("asyncio streams", "asyncio-streams"),
    ("uvloop streams", "uvloop-streams"),
    ("ferrosock.aio (asyncio)", "asyncio-ferrosock-aio"),
    ("ferrosock.aio (uvloop)", "uvloop-ferrosock-aio"),
    ("socketserver threads", "socketserver"),
]


def _have_uvloop() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


def _tokio_binary(progress: Callable[[str], None]) -> Path | None:
    binary = REPO / "target" / "release" / "examples" / "tokio_echo"
    cargo = shutil.which("cargo")
    if cargo and (REPO / "Cargo.toml").exists():
        progress("building examples/tokio_echo.rs (cargo build --release --example tokio_echo)")
        built = subprocess.run(
            [cargo, "build", "--release", "--example", "tokio_echo", "--quiet"],
            cwd=REPO,
            capture_output=True,
            text=True,
        )
        if built.returncode != 0:
            progress(f"tokio ceiling skipped: cargo failed: {built.stderr.strip()[-300:]}")
            return None
    return binary if binary.exists() else None


class ServerProcess:
    """A contender's server, started, ready (its port printed) and pinned."""

    def __init__(self, key: str, tokio: Path | None, cpu: int | None) -> None:
        if key == "tokio":
            assert tokio is not None
            command = [str(tokio), "--addr", "127.0.0.1:0", "--workers", "1"]
        else:
            command = [sys.executable, "-m", "ferrosock.bench._echo_servers", key]
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        if cpu is not None:
            os.sched_setaffinity(self.proc.pid, {cpu})
        line = self.proc.stdout.readline().strip()
        if not line:
            self.close()
            raise RuntimeError(f"{key} server did not start")
        self.port = int(line.rsplit(":", 1)[-1])

    def cpu_seconds(self) -> tuple[float, float]:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) / TICK, int(fields[12]) / TICK

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()


def _measure(
    server: ServerProcess, connections: int, size: int, duration: float
) -> dict[str, float]:
    from ferrosock import _native

    _native.load_test(
        "127.0.0.1",
        server.port,
        connections=connections,
        size=size,
        duration=min(0.3, duration),
        warmup=0.0,
    )
    user0, sys0 = server.cpu_seconds()
    report = _native.load_test(
        "127.0.0.1", server.port, connections=connections, size=size, duration=duration, warmup=0.0
    )
    user1, sys1 = server.cpu_seconds()
    requests = max(report["requests"], 1)
    report["user_us"] = (user1 - user0) / requests * 1e6
    report["sys_us"] = (sys1 - sys0) / requests * 1e6
    return report


def run(settings: Settings, progress: Callable[[str], None]) -> list[Any]:
    from ferrosock import runtime

    if not runtime.running():
        runtime.configure(workers=1)
    uv = _have_uvloop()
    tokio = _tokio_binary(progress)
    contenders = [
        (label, key)
        for label, key in CONTENDERS
        if (key != "tokio" or tokio is not None) and (uv or not key.startswith("uvloop"))
    ]
    if settings.quick:
        sizes, conns, passes, duration = [1024], [16], 1, 0.5
    else:
        sizes, conns, passes, duration = (
            [1024, 10 * 1024, 100 * 1024],
            [1, 16],
            settings.repeat,
            1.0,
        )
    server_cpu = settings.placement.streaming
    samples: dict[tuple[str, int, int], list[dict[str, float]]] = {}
    with pinned(settings.placement.client):
        for p in range(passes):
            for label, key in contenders:
                server = ServerProcess(key, tokio, server_cpu)
                try:
                    for size in sizes:
                        for n in conns:
                            progress(f"echo pass {p + 1}/{passes}: {label}, {n} conn, {size} B")
                            samples.setdefault((key, size, n), []).append(
                                _measure(server, n, size, duration)
                            )
                finally:
                    server.close()
    return [
        _table(contenders, sizes, conns, samples, uv, tokio is not None, n) for n in conns[::-1]
    ]


def _median(reports: list[dict[str, float]], field: str) -> float:
    return statistics.median(r[field] for r in reports)


def _table(contenders, sizes, conns, samples, uv: bool, has_tokio: bool, n: int) -> Table:
    table = Table(
        title=f"echo, {n} connection{'s' if n > 1 else ''} (medians)",
        headers=[
            "server",
            "size",
            "req/s",
            "x best",
            "x tokio",
            "p50 µs",
            "p99 µs",
            "user µs/req",
            "sys µs/req",
        ],
    )
    for size in sizes:
        best = max(_median(samples[(k, size, n)], "requests_per_sec") for _, k in contenders)
        ceiling = _median(samples[("tokio", size, n)], "requests_per_sec") if has_tokio else 0
        for label, key in contenders:
            reports = samples[(key, size, n)]
            rps = _median(reports, "requests_per_sec")
            row = {
                "server": label,
                "size": size,
                "connections": n,
                "requests_per_sec": rps,
                "p50_us": _median(reports, "p50_us"),
                "p99_us": _median(reports, "p99_us"),
                "user_us": _median(reports, "user_us"),
                "sys_us": _median(reports, "sys_us"),
                "errors": sum(r["errors"] + r["timeouts"] for r in reports),
            }
            table.data.append(row)
            table.rows.append(
                [
                    label,
                    f"{size // 1024} KiB",
                    f"{rps:,.0f}",
                    f"{rps / best:.2f}",
                    f"{rps / ceiling:.2f}" if ceiling else "-",
                    f"{row['p50_us']:.0f}",
                    f"{row['p99_us']:.0f}",
                    f"{row['user_us']:.2f}",
                    f"{row['sys_us']:.2f}",
                ]
            )
    table.notes.extend(_verdicts(table.data, sizes, n, has_tokio))
    if not uv:
        table.notes.append("uvloop contenders skipped: uvloop is not installed")
    return table


def _verdicts(data: list[dict[str, Any]], sizes: list[int], n: int, has_tokio: bool) -> list[str]:
    by = {(r["server"], r["size"]): r for r in data}
    notes = []
    for size in sizes:
        native = by[("ferrosock EchoServer", size)]
        handler = by[("ferrosock StreamServer + handler", size)]
        rivals = by.get(("asyncio Protocol + handler", size))
        label = f"{size // 1024} KiB, {n} conn"
        if has_tokio:
            tokio = by[("tokio echo (ceiling)", size)]
            ratio = native["requests_per_sec"] / tokio["requests_per_sec"]
            cpu = native["user_us"] / tokio["user_us"] if tokio["user_us"] else float("nan")
            notes.append(
                f"{label}: native EchoServer req/s {ratio:.2f}x tokio (target >= 0.9: "
                f"{'met' if ratio >= 0.9 else 'NOT MET'}); user CPU/req {cpu:.2f}x tokio "
                f"(target <= 1.1: {'met' if cpu <= 1.1 else 'NOT MET'})"
            )
        if rivals:
            ratio = handler["requests_per_sec"] / rivals["requests_per_sec"]
            notes.append(
                f"{label}: StreamServer + handler {ratio:.2f}x asyncio Protocol + handler "
                f"(target > 1: {'met' if ratio > 1 else 'NOT MET'})"
            )
    return notes
