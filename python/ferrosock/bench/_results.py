"""What a benchmark run measures: its settings, and one workload's timings per contender."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

# The two contenders, by module name; both peers of a measurement run on the same one.
STDLIB = "socket"
FERROSOCK = "ferrosock"
CONTENDERS = (STDLIB, FERROSOCK)
LABELS = {STDLIB: "stdlib", FERROSOCK: "ferrosock"}

MiB = 1 << 20


@dataclass(frozen=True)
class Placement:
    """Which CPU each process runs on; None leaves it to the scheduler.

    ``lockstep`` is the peer's CPU for workloads where only one side runs at a time (a round
    trip), ``streaming`` for those where both run at once (bulk).
    """

    mode: str
    client: int | None = None
    lockstep: int | None = None
    streaming: int | None = None


@dataclass(frozen=True)
class Settings:
    """How big and how often, and where: the knobs every suite reads."""

    rounds: int
    bulk_mib: int
    repeat: int
    quick: bool
    placement: Placement
    # Whether --repeat was given: suites that are slow per repeat (instructions) run once
    # unless asked.
    repeat_given: bool = False


@dataclass
class WorkloadResult:
    """One workload: the time of every repeat, for each contender, in seconds.

    ``ops`` is the number of round trips timed (0 for a bulk transfer), ``nbytes`` the payload
    bytes moved one way, ``target`` the ratio (ferrosock time / stdlib time) not to exceed.
    """

    name: str
    ops: int
    nbytes: int
    target: float
    times: dict[str, list[float]] = field(default_factory=lambda: {c: [] for c in CONTENDERS})

    def median(self, contender: str) -> float:
        return statistics.median(self.times[contender])

    def spread(self, contender: str) -> float:
        """(max - min) / median over the repeats: how noisy this contender's timings were."""
        ts = self.times[contender]
        return (max(ts) - min(ts)) / statistics.median(ts)

    def per_op_us(self, contender: str) -> float | None:
        return self.median(contender) / self.ops * 1e6 if self.ops else None

    def mib_per_s(self, contender: str) -> float | None:
        return self.nbytes / MiB / self.median(contender) if not self.ops else None

    @property
    def ratio(self) -> float:
        """ferrosock's median time over the stdlib's: below 1 means ferrosock is faster."""
        return self.median(FERROSOCK) / self.median(STDLIB)

    @property
    def met(self) -> bool:
        return self.ratio <= self.target

    def to_json(self) -> dict[str, Any]:
        return {
            "workload": self.name,
            "round_trips": self.ops,
            "bytes": self.nbytes,
            "ratio": self.ratio,
            "ratio_meaning": "ferrosock time / stdlib time; lower is better for ferrosock",
            "target": self.target,
            "met": self.met,
            "contenders": {
                c: {
                    "times_s": self.times[c],
                    "median_s": self.median(c),
                    "spread": self.spread(c),
                    "per_round_trip_us": self.per_op_us(c),
                    "mib_per_s": self.mib_per_s(c),
                }
                for c in CONTENDERS
            },
        }
