"""Counting a server's instructions with valgrind's callgrind, and the arithmetic on the counts.

A server runs as ``valgrind --tool=callgrind --callgrind-out-file=FILE CMD...``; callgrind counts
every user-space instruction the process executes (event ``Ir``, all threads together) and writes
the total to FILE when the process ends, whether it exits or dies of SIGTERM, and to FILE.1,
FILE.2 ... each time ``callgrind_control --dump`` asks (each dump holds what was counted since
the previous one, or since ``--zero``). Two counts that differ only in how many requests they
cover give the cost of one request as the difference of the counts over the difference of the
requests: whatever else both include cancels.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

INSTALL_HINT = "install it with `apt-get install valgrind` (Debian/Ubuntu) or your system's package"


def valgrind() -> str | None:
    """The valgrind command, or None when it is not installed."""
    return shutil.which("valgrind")


def control() -> str | None:
    """The callgrind_control command (valgrind's package has it), or None."""
    return shutil.which("callgrind_control")


def missing() -> str | None:
    """Why instructions cannot be counted here, or None."""
    if valgrind() is None:
        return f"valgrind is not installed: {INSTALL_HINT}"
    return None


def command(out_file: Path, argv: list[str]) -> list[str]:
    """``argv`` under callgrind, writing its counts to ``out_file``.

    No cache or branch simulation (instructions only, the fastest mode), and no per-line
    detail: only the total is read.
    """
    tool = valgrind()
    if tool is None:
        raise FileNotFoundError(missing())
    return [
        tool,
        "--tool=callgrind",
        f"--callgrind-out-file={out_file}",
        "--dump-line=no",
        "--compress-strings=yes",
        *argv,
    ]


def total_instructions(text: str) -> int:
    """The ``Ir`` total of one callgrind output file (its ``summary:`` or ``totals:`` line)."""
    for line in text.splitlines():
        if line.startswith(("summary:", "totals:")):
            fields = line.split()
            if len(fields) >= 2 and fields[1].isdigit():
                return int(fields[1])
    raise ValueError("no summary: or totals: line in the callgrind output")


def read_total(out_file: Path) -> int:
    """The ``Ir`` total of ``out_file``, and of the per-process files a fork would have added."""
    files = sorted(out_file.parent.glob(out_file.name + "*"))
    if not files:
        raise FileNotFoundError(f"callgrind wrote no {out_file}")
    return sum(total_instructions(f.read_text(errors="replace")) for f in files)


@dataclass(frozen=True)
class Pair:
    """Two runs of one server: ``short`` requests, then ``long`` requests, and their totals."""

    short_requests: int
    short_ir: int
    long_requests: int
    long_ir: int

    @property
    def per_request(self) -> float:
        """(Ir(long) - Ir(short)) / (long - short): what one more request costs."""
        extra = self.long_requests - self.short_requests
        if extra <= 0:
            raise ValueError("the long run must serve more requests than the short one")
        return (self.long_ir - self.short_ir) / extra

    @property
    def fixed(self) -> float:
        """What start-up and shutdown cost: the short run's total minus its requests."""
        return self.short_ir - self.per_request * self.short_requests


def ratio(a: float | None, b: float | None) -> float | None:
    """a / b, or None when either is missing or b is not positive."""
    if a is None or b is None or b <= 0:
        return None
    return a / b


def verdict(value: float | None, limit: float, *, strictly: bool = False) -> str:
    """``met`` when ``value`` is at most ``limit`` (below it, with ``strictly``), else NOT MET.

    A value that could not be measured is neither: ``not measured``.
    """
    if value is None:
        return "not measured"
    ok = value < limit if strictly else value <= limit
    return "met" if ok else "NOT MET"


def spread(values: list[float]) -> float:
    """How far repeated figures disagree: (max - min) / min, 0 for fewer than two."""
    if len(values) < 2 or min(values) <= 0:
        return 0.0
    return (max(values) - min(values)) / min(values)
