"""A text progress bar on stderr, redrawn in place, for the file transfer lessons."""

from __future__ import annotations

import sys
from typing import TextIO

WIDTH = 30


def human_size(n: float) -> str:
    """1.5 MiB, 200.0 KiB, 12 B."""
    for unit in ("B", "KiB", "MiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


class ProgressBar:
    """Call it with (done, total) as bytes move; it redraws only when the bar changes."""

    def __init__(self, label: str, stream: TextIO | None = None):
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self._drawn: tuple[int, int] | None = None

    def __call__(self, done: int, total: int) -> None:
        percent = 100 if total == 0 else done * 100 // total
        if (percent, done == total) == self._drawn:
            return
        self._drawn = (percent, done == total)
        filled = WIDTH * percent // 100
        bar = "#" * filled + "-" * (WIDTH - filled)
        end = "\n" if done == total else ""
        self.stream.write(
            f"\r{self.label} [{bar}] {percent:3d}%  {human_size(done)} / {human_size(total)}{end}"
        )
        self.stream.flush()

    def interrupted(self) -> None:
        """End the bar's line when the transfer stopped half-way."""
        if self._drawn is not None and not self._drawn[1]:
            self.stream.write("\n")
            self.stream.flush()
