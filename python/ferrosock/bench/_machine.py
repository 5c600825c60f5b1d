"""The machine a benchmark runs on, and which CPUs its two processes are pinned to."""

from __future__ import annotations

import contextlib
import os
import platform
from typing import Any, Iterator

from ._results import Placement


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _usable_cpus() -> list[int]:
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def describe() -> dict[str, Any]:
    """Cores, CPU model, Python and ferrosock versions, and the load when the run started."""
    import ferrosock

    return {
        "cores": os.cpu_count(),
        "usable_cpus": _usable_cpus(),
        "cpu_model": _cpu_model(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "ferrosock": ferrosock.__version__,
        "loadavg": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


PIN_MODES = ("auto", "split", "same", "none")


def placement(mode: str) -> Placement:
    """Where the benchmark and its peer run, for a ``--pin`` mode.

    - ``split``: benchmark and peer on two different CPUs, for every workload;
    - ``same``: both on one CPU, for every workload;
    - ``auto``: ``same`` for lockstep workloads, ``split`` for streaming ones. A round trip
      keeps one process busy at a time, and crossing CPUs adds a wake-up of the other CPU to
      each leg; on a VM that wake-up (a hypervisor IPI, tens of µs) dwarfs and blurs the cost
      of the socket calls themselves. A bulk transfer needs both CPUs to run at once;
    - ``none``: leave it all to the scheduler.

    With fewer than two usable CPUs (or no ``sched_setaffinity``) nothing is pinned.
    """
    cpus = _usable_cpus()
    if mode == "none" or len(cpus) < 2 or not hasattr(os, "sched_setaffinity"):
        return Placement("none")
    first, second = cpus[0], cpus[1]
    if mode == "split":
        return Placement(mode, first, second, second)
    if mode == "same":
        return Placement(mode, first, first, first)
    return Placement(mode, first, first, second)


@contextlib.contextmanager
def pinned(cpu: int | None) -> Iterator[None]:
    """Run this process on one CPU for the duration, then give back the CPUs it had."""
    if cpu is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)
