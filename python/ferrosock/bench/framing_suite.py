"""The ``framing`` suite: messages/s through ferrosock.framing against the lesson's
hand-written ``struct`` header and recv loop, both on stdlib sockets, sender and receiver in
two processes on different cores. Each end is measured on its own: receiving (the sender
streams pre-framed data in large writes) with ``recv_msg``, a ``FrameReader`` and the Python
loop; sending (the receiver just drains bytes) with ``send_msg`` and ``sendall(pack + body)``.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from typing import Callable

from ._results import Settings
from ._table import Table

NAME = "framing"
SUMMARY = "send_msg / recv_msg / FrameReader vs a hand-written struct + recv loop"
PLACES_ITSELF = True

WORKLOADS = [(64, 200_000), (1024, 100_000), (64 * 1024, 10_000)]
RECEIVE = ["recv_msg", "reader", "python"]
SEND = ["send_msg", "python"]


def _peer(args: list[object], cpu: int | None) -> subprocess.Popen:
    command = [sys.executable, "-m", "ferrosock.bench._framing_peer", *map(str, args)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    if cpu is not None:
        os.sched_setaffinity(proc.pid, {cpu})
    return proc


def _rate(side: str, impl: str, size: int, count: int, cpus: tuple) -> float:
    receiver = _peer(["recv", side, impl, 0, count, size], cpus[0])
    sender = None
    try:
        port = int(receiver.stdout.readline())
        sender = _peer(["send", side, impl, port, count, size], cpus[1])
        out, _ = receiver.communicate(timeout=300)
        sender.wait(timeout=60)
        return float(out.strip())
    finally:
        for proc in (receiver, sender):
            if proc is not None:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                proc.stdout.close()


def _label(size: int) -> str:
    return f"{size} B" if size < 1024 else f"{size // 1024} KiB"


def run(settings: Settings, progress: Callable[[str], None]) -> list[Table]:
    cpus = (settings.placement.client, settings.placement.streaming)
    passes = 1 if settings.quick else settings.repeat
    scale = 10 if settings.quick else 1
    rates: dict[tuple[str, str, int], list[float]] = {}
    for p in range(passes):
        for size, count in WORKLOADS:
            for side, impls in (("receive", RECEIVE), ("send", SEND)):
                for impl in impls:
                    progress(f"framing pass {p + 1}/{passes}: {side} {impl}, {_label(size)}")
                    rate = _rate(side, impl, size, count // scale, cpus)
                    rates.setdefault((side, impl, size), []).append(rate)
    med = {key: statistics.median(values) for key, values in rates.items()}
    table = Table(
        title=f"framing: messages/s (median of {passes}); ratios to the struct + recv loop",
        headers=[
            "message",
            "recv_msg",
            "FrameReader",
            "Python recv loop",
            "send_msg",
            "Python sendall",
        ],
    )
    for size, _ in WORKLOADS:
        py_recv = med[("receive", "python", size)]
        py_send = med[("send", "python", size)]

        def cell(side: str, impl: str, base: float, size: int = size) -> str:
            rate = med[(side, impl, size)]
            return f"{rate:,.0f} ({rate / base:.2f}x)"

        table.rows.append(
            [
                _label(size),
                cell("receive", "recv_msg", py_recv),
                cell("receive", "reader", py_recv),
                f"{py_recv:,.0f}",
                cell("send", "send_msg", py_send),
                f"{py_send:,.0f}",
            ]
        )
        table.data.append(
            {
                "size": size,
                **{
                    f"{s}/{i}": med[(s, i, size)]
                    for s, i, _ in [
                        (side, impl, size)
                        for side, impls in (("receive", RECEIVE), ("send", SEND))
                        for impl in impls
                    ]
                },
            }
        )
        best = max(med[("receive", "recv_msg", size)], med[("receive", "reader", size)])
        table.notes.append(
            f"{_label(size)}: receiving {best / py_recv:.2f}x the Python loop at best, sending "
            f"{med[('send', 'send_msg', size)] / py_send:.2f}x (target >= 2: "
            f"{'met' if best >= 2 * py_recv else 'NOT MET'} for receiving)"
        )
    return [table]
