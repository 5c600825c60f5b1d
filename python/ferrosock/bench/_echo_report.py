"""What the ``echo`` suite measured, and how it is shown: one table per connection count.

A table answers ``text()``, ``markdown()`` and ``to_dict()``, which is all
``python -m ferrosock.bench`` asks of a suite that places its own processes.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any

from ._echo_contenders import ASYNCIO_HANDLER, NATIVE_ECHO, NATIVE_HANDLER, TOKIO, UVLOOP_HANDLER
from ._echo_contenders import BY_KEY as CONTENDERS_BY_KEY

# A window in which other processes took more than this share of a CPU is disturbed: their
# time slices stall requests for milliseconds.
NOISY = 0.05
RPS_TARGET = 0.9  # native EchoServer req/s, at least this times tokio's
USER_CPU_TARGET = 1.1  # native EchoServer user CPU per request, at most this times tokio's


@dataclass
class Sample:
    """One measurement window: the load generator's report and the server's CPU ticks in it."""

    report: dict[str, Any]
    user_ticks: int
    sys_ticks: int
    # Share of one CPU that the pinned CPUs gave to other processes (None: not pinned).
    other_cpu: float | None = None


@dataclass
class Cell:
    """Every pass of one contender on one workload (size, connections)."""

    key: str
    size: int
    connections: int
    samples: list[Sample] = field(default_factory=list)

    @property
    def clean(self) -> list[Sample]:
        """The windows no other process disturbed (all of them when nothing was pinned)."""
        return [s for s in self.samples if s.other_cpu is None or s.other_cpu <= NOISY]

    @property
    def used(self) -> list[Sample]:
        """What the table shows: the clean windows, or all of them if none was clean."""
        return self.clean or self.samples

    def median(self, name: str) -> float:
        return statistics.median(s.report[name] for s in self.used)

    @property
    def rps(self) -> float:
        return self.median("requests_per_sec")

    def cpu_us_per_request(self, tick: int) -> tuple[float | None, float | None]:
        """User and system µs per request, pooled over the windows in :attr:`used`.

        Pooled, not a median: unless the kernel has precise (VIRT_CPU_ACCOUNTING_GEN)
        accounting, it splits a task's CPU time into user and system by the mode it finds the
        task in at each scheduler tick, and a window holds only tens of user-mode samples.
        """
        requests = sum(s.report["requests"] for s in self.used)
        if not requests:
            return None, None
        user = sum(s.user_ticks for s in self.used)
        system = sum(s.sys_ticks for s in self.used)
        return user / tick / requests * 1e6, system / tick / requests * 1e6

    @property
    def user_ticks(self) -> int:
        return sum(s.user_ticks for s in self.used)

    @property
    def failures(self) -> int:
        return sum(s.report["errors"] + s.report["timeouts"] for s in self.samples)


def _ratio(a: float | None, b: float | None) -> float | None:
    """a / b, or None (shown as "-", and null in JSON) when either is missing or b is 0."""
    return a / b if a is not None and b else None


def _num(value: float | None, spec: str = ".2f") -> str:
    return "-" if value is None else format(value, spec)


def _size(size: int) -> str:
    return f"{size // 1024} KiB" if size % 1024 == 0 else f"{size} B"


HEADERS = [
    "server",
    "size",
    "req/s",
    "x fastest",
    "x tokio",
    "x uvloop",
    "p50 µs",
    "p99 µs",
    "user µs/req",
    "sys µs/req",
    "user x tokio",
    "clean",
]
# Each server's uvloop counterpart: the same job on uvloop's loop ("x uvloop" column).
UVLOOP_COUNTERPART = {
    NATIVE_ECHO: "uvloop-protocol",
    NATIVE_HANDLER: UVLOOP_HANDLER,
    ASYNCIO_HANDLER: UVLOOP_HANDLER,
    "asyncio-protocol": "uvloop-protocol",
    "asyncio-streams": "uvloop-streams",
}
HANDLER_TARGET = "StreamServer + handler ahead of uvloop Protocol + same handler"
# Columns after the first two hold numbers, right-aligned.
TEXT_COLUMNS = 2


@dataclass
class EchoTable:
    """One connection count: every contender on every size, and the target verdicts."""

    connections: int
    cells: dict[tuple[str, int], Cell]
    keys: list[str]
    sizes: list[int]
    tick: int
    # How often the kernel samples user vs system mode (its CONFIG_HZ), for the error bars.
    sample_hz: int
    skipped: dict[str, str]
    headline: bool
    passes: int
    duration: float
    placement: str

    @property
    def title(self) -> str:
        plural = "s" if self.connections > 1 else ""
        role = "headline" if self.headline else "latency"
        return (
            f"echo, {self.connections} connection{plural} ({role}): {self.passes} pass(es) x "
            f"{self.duration:g} s, medians of the clean windows; {self.placement}"
        )

    def _rows(self) -> list[dict[str, Any]]:
        rows = []
        for size in self.sizes:
            cells = [self.cells[(key, size)] for key in self.keys]
            fastest = max(c.rps for c in cells)
            tokio = self.cells.get((TOKIO, size))
            tokio_user = tokio.cpu_us_per_request(self.tick)[0] if tokio else None
            for cell in cells:
                user, system = cell.cpu_us_per_request(self.tick)
                rival = self.cells.get((UVLOOP_COUNTERPART.get(cell.key, ""), size))
                rows.append(
                    {
                        "server": CONTENDERS_BY_KEY[cell.key].label,
                        "key": cell.key,
                        "size": size,
                        "connections": self.connections,
                        "requests_per_sec": cell.rps,
                        "x_fastest": _ratio(cell.rps, fastest),
                        "x_tokio": _ratio(cell.rps, tokio.rps if tokio else None),
                        "x_uvloop": _ratio(cell.rps, rival.rps if rival else None),
                        "p50_us": cell.median("p50_us"),
                        "p99_us": cell.median("p99_us"),
                        "user_us_per_request": user,
                        "sys_us_per_request": system,
                        "user_x_tokio": _ratio(user, tokio_user),
                        "user_ticks": cell.user_ticks,
                        "clean_windows": len(cell.clean),
                        "errors_and_timeouts": cell.failures,
                        "passes": [
                            {
                                **s.report,
                                "user_ticks": s.user_ticks,
                                "sys_ticks": s.sys_ticks,
                                "other_cpu": s.other_cpu,
                            }
                            for s in cell.samples
                        ],
                    }
                )
        return rows

    def _cells_text(self) -> list[list[str]]:
        return [
            [
                r["server"],
                _size(r["size"]),
                f"{r['requests_per_sec']:,.0f}",
                _num(r["x_fastest"]),
                _num(r["x_tokio"]),
                _num(r["x_uvloop"]),
                _num(r["p50_us"], ".0f"),
                _num(r["p99_us"], ".0f"),
                _num(r["user_us_per_request"]),
                _num(r["sys_us_per_request"]),
                _num(r["user_x_tokio"]),
                f"{r['clean_windows']}/{len(r['passes'])}",
            ]
            for r in self._rows()
        ]

    def verdicts(self) -> list[dict[str, Any]]:
        """The issue's targets, per size; only the headline table (16 connections) has them."""
        if not self.headline:
            return []
        out = []
        for size in self.sizes:
            label = f"{_size(size)}, {self.connections} conn"
            native = self.cells[(NATIVE_ECHO, size)]
            tokio = self.cells.get((TOKIO, size))
            if tokio is None:
                why = self.skipped.get(TOKIO, "not measured")
                for what in ("req/s", "user CPU/request"):
                    out.append(_verdict(label, f"native EchoServer {what} vs tokio", None, why))
            else:
                ratio = native.rps / tokio.rps
                out.append(
                    _verdict(
                        label,
                        f"native EchoServer req/s >= {RPS_TARGET}x tokio",
                        ratio >= RPS_TARGET,
                        f"{ratio:.2f}x",
                    )
                )
                native_user = native.cpu_us_per_request(self.tick)[0]
                tokio_user = tokio.cpu_us_per_request(self.tick)[0]
                native_n, tokio_n = self._user_samples(native), self._user_samples(tokio)
                user_ratio = _ratio(native_user, tokio_user)
                out.append(
                    _verdict(
                        label,
                        f"native EchoServer user CPU/request <= {USER_CPU_TARGET}x tokio",
                        None if user_ratio is None else user_ratio <= USER_CPU_TARGET,
                        f"{_num(user_ratio)}x ({_num(native_user)} vs {_num(tokio_user)} µs/req, "
                        f"{native_n} vs {tokio_n} user-mode samples: ratio +/- about "
                        f"{_sampling_error(native_n, tokio_n)})",
                    )
                )
            handler = self.cells[(NATIVE_HANDLER, size)]
            rival = self.cells[(ASYNCIO_HANDLER, size)]
            ratio = handler.rps / rival.rps
            out.append(
                _verdict(
                    label,
                    "StreamServer + handler ahead of asyncio Protocol + same handler",
                    ratio > 1.0,
                    f"{ratio:.2f}x",
                )
            )
            aim = self.cells.get((UVLOOP_HANDLER, size))
            if aim is None:
                why = self.skipped.get(UVLOOP_HANDLER, "not measured")
                out.append(_verdict(label, HANDLER_TARGET, None, why))
            else:
                ratio = handler.rps / aim.rps
                out.append(
                    _verdict(label, HANDLER_TARGET, ratio > 1.0, f"{ratio:.3f}x", words=MET_WORDS)
                )
        at_sizes = [v for v in out if v["target"] == HANDLER_TARGET]
        if at_sizes:
            states = [v["met"] for v in at_sizes]
            met = None if None in states else all(states)
            detail = ", ".join(f"{v['workload'].split(',')[0]} {v['detail']}" for v in at_sizes)
            out.append(_verdict("every size", HANDLER_TARGET, met, detail, words=MET_WORDS))
        return out

    def _user_samples(self, cell: Cell) -> int:
        return round(cell.user_ticks / self.tick * self.sample_hz)

    def notes(self) -> list[str]:
        notes = [
            "x fastest, x tokio, x uvloop: req/s over the fastest server's, the tokio ceiling's "
            "and the same server's on uvloop (EchoServer: uvloop Protocol; StreamServer + "
            "handler: uvloop Protocol + handler) on the same size; user x tokio: user CPU per "
            "request over tokio's (lower is better).",
            "user/sys µs/req: the server process's utime/stime (/proc/PID/stat) in the measured "
            "windows over the requests completed in them, pooled over the windows shown.",
            f"clean: windows in which other processes took at most {NOISY:.0%} of a pinned "
            "CPU (a neighbour's time slice stalls requests for milliseconds); a disturbed "
            "window is measured again, twice at most, and a row shows its clean windows only, "
            "or all of them (unreliable) when none was clean.",
        ]
        notes.extend(
            f"{CONTENDERS_BY_KEY[k].label}: skipped ({why})" for k, why in self.skipped.items()
        )
        failed = [r for r in self._rows() if r["errors_and_timeouts"]]
        notes.extend(
            f"{r['server']}, {_size(r['size'])}: {r['errors_and_timeouts']} errors/timeouts"
            for r in failed
        )
        return notes

    def text(self) -> str:
        rows = self._cells_text()
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(HEADERS)]

        def line(cells: list[str]) -> str:
            return "  ".join(
                c.ljust(w) if i < TEXT_COLUMNS else c.rjust(w)
                for i, (c, w) in enumerate(zip(cells, widths))
            ).rstrip()

        out = [self.title, line(HEADERS), "  ".join("-" * w for w in widths)]
        previous = None
        for row in rows:
            if previous is not None and row[1] != previous:
                out.append("")
            previous = row[1]
            out.append(line(row))
        out.extend(v["line"] for v in self.verdicts())
        out.extend(self.notes())
        return "\n".join(out)

    def markdown(self) -> str:
        out = [f"**{self.title}**", "", "| " + " | ".join(HEADERS) + " |"]
        out.append("|" + "|".join(["---"] * TEXT_COLUMNS + ["---:"] * (len(HEADERS) - 2)) + "|")
        out.extend("| " + " | ".join(row) + " |" for row in self._cells_text())
        out.append("")
        out.extend(f"- {v['line']}" for v in self.verdicts())
        out.extend(f"- _{note}_" for note in self.notes())
        return "\n".join(out)

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "connections": self.connections,
            "headline": self.headline,
            "passes": self.passes,
            "duration_s": self.duration,
            "placement": self.placement,
            "clock_ticks_per_s": self.tick,
            "kernel_sample_hz": self.sample_hz,
            "contenders": {k: CONTENDERS_BY_KEY[k].label for k in self.keys},
            "skipped": self.skipped,
            "rows": self._rows(),
            "verdicts": self.verdicts(),
            "notes": self.notes(),
        }


def _sampling_error(a: int, b: int) -> str:
    # n samples in user mode are about sqrt(n) either way, and the relative errors of a
    # ratio's two counts add in quadrature.
    if not a or not b:
        return "100%"
    return f"{math.sqrt(1 / a + 1 / b):.0%}"


MET_WORDS = ("met", "NOT MET")


def _verdict(
    label: str,
    target: str,
    met: bool | None,
    detail: str,
    words: tuple[str, str] = ("ok", "NOT MET"),
) -> dict[str, Any]:
    state = "n/a" if met is None else words[0] if met else words[1]
    return {
        "workload": label,
        "target": target,
        "met": met,
        "detail": detail,
        "line": f"{label}: {target}: {state}, {detail}",
    }
