"""CPU time from /proc, in clock ticks: a process's (all its threads), and a CPU's busy time.

The ``echo`` suite charges each server the user and system time it used in a window, and
checks how much of its two pinned CPUs went to other processes meanwhile: on a shared
machine, a neighbour that gets a time slice on either CPU stalls requests for milliseconds.
"""

from __future__ import annotations

import os

TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
# /proc/stat's per-CPU fields: user nice system idle iowait irq softirq steal ...
_IDLE_FIELDS = (3, 4)
_BUSY_FIELDS = 8


def process_ticks(pid: int) -> tuple[int, int]:
    """User and system time of the whole process so far (all its threads, live or ended)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        stat = f.read()
    # Fields 14 and 15; counted after the command name, which may hold spaces.
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[11]), int(fields[12])


def cpu_busy_ticks(cpus: set[int]) -> dict[int, int]:
    """Time each CPU spent on anything but idling (steal included: the hypervisor's share)."""
    busy = {}
    with open("/proc/stat", encoding="ascii") as f:
        for line in f:
            name, _, rest = line.partition(" ")
            if not name.startswith("cpu") or name == "cpu":
                continue
            cpu = int(name[3:])
            if cpu in cpus:
                values = [int(v) for v in rest.split()[:_BUSY_FIELDS]]
                busy[cpu] = sum(v for i, v in enumerate(values) if i not in _IDLE_FIELDS)
    return busy
