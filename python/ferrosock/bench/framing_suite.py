"""The ``framing`` suite: messages/s through ferrosock.framing's send_msg/recv_msg against the
lesson's hand-written ``struct`` header and recv loop, both on stdlib sockets, sender and
receiver in two processes on different cores."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from typing import Callable

from ._results import Settings
from ._table import Table

NAME = "framing"
SUMMARY = "send_msg/recv_msg vs a hand-written struct + recv loop (64 B, 1 KiB, 64 KiB)"
PLACES_ITSELF = True

WORKLOADS = [(64, 200_000), (1024, 100_000), (64 * 1024, 10_000)]


def _peer(args: list[object], cpu: int | None) -> subprocess.Popen:
    command = [sys.executable, "-m", "ferrosock.bench._framing_peer", *map(str, args)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    if cpu is not None:
        os.sched_setaffinity(proc.pid, {cpu})
    return proc


def _rate(impl: str, size: int, count: int, cpus: tuple[int | None, int | None]) -> float:
    receiver = _peer(["recv", impl, 0, count, size], cpus[0])
    try:
        port = int(receiver.stdout.readline())
        sender = _peer(["send", impl, port, count, size], cpus[1])
        sender.wait(timeout=300)
        out, _ = receiver.communicate(timeout=300)
        return float(out.strip())
    finally:
        for proc in (receiver,):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        receiver.stdout.close()
        sender.stdout.close()


def run(settings: Settings, progress: Callable[[str], None]) -> list[Table]:
    cpus = (settings.placement.client, settings.placement.streaming)
    passes = 1 if settings.quick else settings.repeat
    scale = 10 if settings.quick else 1
    rates: dict[tuple[str, int], list[float]] = {}
    for p in range(passes):
        for size, count in WORKLOADS:
            for impl in ("ferrosock", "reader", "python"):
                progress(f"framing pass {p + 1}/{passes}: {impl}, {size} B")
                rates.setdefault((impl, size), []).append(_rate(impl, size, count // scale, cpus))
    table = Table(
        title=f"framing: messages/s received (median of {passes})",
        headers=[
            "message",
            "send_msg/recv_msg",
            "send_msg/FrameReader",
            "struct + recv loop",
            "recv_msg ratio",
            "FrameReader ratio",
        ],
    )
    for size, _ in WORKLOADS:
        ours = statistics.median(rates[("ferrosock", size)])
        buffered = statistics.median(rates[("reader", size)])
        theirs = statistics.median(rates[("python", size)])
        label = f"{size} B" if size < 1024 else f"{size // 1024} KiB"
        table.data.append({"size": size, "ferrosock": ours, "reader": buffered, "python": theirs})
        table.rows.append(
            [
                label,
                f"{ours:,.0f}",
                f"{buffered:,.0f}",
                f"{theirs:,.0f}",
                f"{ours / theirs:.2f}",
                f"{buffered / theirs:.2f}",
            ]
        )
        best = max(ours, buffered)
        table.notes.append(
            f"{label}: recv_msg {ours / theirs:.2f}x, FrameReader {buffered / theirs:.2f}x "
            f"the hand-written loop (target >= 2: {'met' if best >= 2 * theirs else 'NOT MET'})"
        )
    return [table]
