"""The ``aio`` suite: request/response through ferrosock.aio and asyncio streams, on the
default loop and on uvloop, over 1 and 100 concurrent connections. Server and client are two
processes on different cores; both ends of a contender use the same streams and loop."""

from __future__ import annotations

import statistics
import subprocess
import sys
from typing import Any, Callable

from ._results import Settings
from ._table import Table

NAME = "aio"
SUMMARY = "ferrosock.aio vs asyncio streams (default loop and uvloop), 1 and 100 connections"
PLACES_ITSELF = True

SIZE = 64
CONTENDERS = [
    ("ferrosock.aio, asyncio loop", "ferrosock", "asyncio"),
    ("ferrosock.aio, uvloop", "ferrosock", "uvloop"),
    ("asyncio streams, asyncio loop", "asyncio", "asyncio"),
    ("asyncio streams, uvloop", "asyncio", "uvloop"),
]


def _have_uvloop() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


def _peer(*args: object, cpu: int | None) -> subprocess.Popen:
    command = [sys.executable, "-m", "ferrosock.bench._aio_peer", *map(str, args)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    if cpu is not None:
        import os

        os.sched_setaffinity(proc.pid, {cpu})
    return proc


def _one(impl: str, loop: str, conns: int, rounds: int, cpus: tuple[Any, Any]) -> float:
    server = _peer("server", impl, loop, SIZE, cpu=cpus[1])
    try:
        port = int(server.stdout.readline())
        client = _peer("client", impl, loop, port, conns, rounds, SIZE, cpu=cpus[0])
        out, _ = client.communicate(timeout=300)
        if client.returncode != 0:
            raise RuntimeError(f"{impl}/{loop} client failed")
        return conns * rounds / float(out.strip())
    finally:
        server.kill()
        server.wait()
        server.stdout.close()


def run(settings: Settings, progress: Callable[[str], None]) -> list[Table]:
    uv = _have_uvloop()
    contenders = [c for c in CONTENDERS if uv or c[2] != "uvloop"]
    placement = settings.placement
    cpus = (placement.client, placement.streaming)
    passes = 1 if settings.quick else settings.repeat
    shapes = [(1, 2_000 if settings.quick else 20_000), (100, 100 if settings.quick else 1_000)]
    rates: dict[tuple[str, int], list[float]] = {}
    for p in range(passes):
        for label, impl, loop in contenders:
            for conns, rounds in shapes:
                progress(f"aio pass {p + 1}/{passes}: {label}, {conns} connection(s)")
                rates.setdefault((label, conns), []).append(_one(impl, loop, conns, rounds, cpus))
    table = Table(
        title=f"aio: {SIZE}-byte request/response (requests/s, median of {passes})",
        headers=["contender", "1 connection", "100 connections", "x uvloop streams (100)"],
    )
    base = statistics.median(rates.get(("asyncio streams, uvloop", 100), [0.0])) or None
    for label, _, _ in contenders:
        one = statistics.median(rates[(label, 1)])
        many = statistics.median(rates[(label, 100)])
        table.data.append({"contender": label, "one": one, "hundred": many})
        table.rows.append(
            [label, f"{one:,.0f}", f"{many:,.0f}", f"{many / base:.2f}" if base else "-"]
        )
    if base:
        best_aio = max(statistics.median(rates[(c[0], 100)]) for c in contenders[:2])
        default_aio = statistics.median(rates[(contenders[0][0], 100)])
        table.notes.append(
            f"target: ferrosock.aio at least as fast as uvloop streams at 100 connections: "
            f"default loop {default_aio / base:.2f}x, best {best_aio / base:.2f}x "
            f"({'met' if default_aio >= base else 'NOT MET on the default loop'})"
        )
    else:
        table.notes.append("uvloop not installed: the uvloop contenders and the target are skipped")
    return [table]
