"""How a run is shown: a plain-text table, a markdown table for the README, a JSON document."""

from __future__ import annotations

import json
from typing import Any

from ._results import CONTENDERS, FERROSOCK, LABELS, STDLIB, Settings, WorkloadResult

RATIO_NOTE = (
    "ratio = ferrosock median time / stdlib median time: below 1.00 ferrosock is faster, "
    "above 1.00 slower."
)


def machine_line(machine: dict[str, Any]) -> str:
    load = machine["loadavg"]
    return (
        f"machine: {machine['cores']} cores ({machine['cpu_model']}), {machine['python']}, "
        f"ferrosock {machine['ferrosock']}, {machine['platform']}"
        + (f", load {load[0]:.2f}" if load else "")
    )


def _cpu(cpu: int | None) -> str:
    return "any CPU" if cpu is None else f"CPU {cpu}"


def settings_line(settings: Settings) -> str:
    p = settings.placement
    if p.mode == "none":
        where = "not pinned"
    elif p.lockstep == p.streaming:
        where = f"benchmark on {_cpu(p.client)}, peer on {_cpu(p.lockstep)}"
    else:
        where = (
            f"benchmark on {_cpu(p.client)}; peer on {_cpu(p.lockstep)} for round trips, "
            f"{_cpu(p.streaming)} for bulk"
        )
    return (
        f"{settings.repeat} repeat(s), median shown; contenders interleaved; "
        f"--pin {p.mode}: {where}" + (" (--quick)" if settings.quick else "")
    )


def _time(result: WorkloadResult, contender: str) -> str:
    return f"{result.median(contender):.3f} s"


def _rate(result: WorkloadResult, contender: str) -> str:
    per_op = result.per_op_us(contender)
    if per_op is not None:
        return f"{per_op:.2f} µs/rt"
    return f"{result.mib_per_s(contender):.0f} MiB/s"


def _verdict(result: WorkloadResult) -> str:
    return "ok" if result.met else "SLOWER"


def _rows(results: dict[str, list[WorkloadResult]]) -> list[list[str]]:
    rows = []
    for suite, workloads in results.items():
        for r in workloads:
            rows.append(
                [
                    suite,
                    r.name,
                    *(x for c in CONTENDERS for x in (_time(r, c), _rate(r, c))),
                    f"{r.ratio:.3f}",
                    f"<= {r.target:.2f}",
                    _verdict(r),
                    f"{max(r.spread(c) for c in CONTENDERS):.1%}",
                ]
            )
    return rows


def _header() -> list[str]:
    return [
        "suite",
        "workload",
        *(x for c in CONTENDERS for x in (LABELS[c], f"{LABELS[c]} rate")),
        "ratio",
        "target",
        "",
        "spread",
    ]


def text_table(results: dict[str, list[WorkloadResult]]) -> str:
    table = [_header(), *_rows(results)]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines = []
    for n, row in enumerate(table):
        cells = [
            cell.ljust(w) if i < 2 or i == len(row) - 2 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths))
        ]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append(RATIO_NOTE)
    lines.append("spread = (slowest - fastest) / median over the repeats, the noisier contender.")
    return "\n".join(lines)


def markdown_table(results: dict[str, list[WorkloadResult]]) -> str:
    header = _header()
    header[-2] = "met"
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---", "---"] + ["---:"] * (len(header) - 4) + [":---:", "---:"]) + "|",
    ]
    for row in _rows(results):
        row[-3] = row[-3].replace("<=", "≤")
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    lines.append(f"_{RATIO_NOTE}_")
    return "\n".join(lines)


def to_json(
    machine: dict[str, Any],
    settings: Settings,
    results: dict[str, list[WorkloadResult]],
    command: list[str] | None = None,
) -> str:
    doc = {
        "command": command,
        "machine": machine,
        "settings": {
            "rounds": settings.rounds,
            "bulk_mib": settings.bulk_mib,
            "repeat": settings.repeat,
            "quick": settings.quick,
            "pin": settings.placement.mode,
            "benchmark_cpu": settings.placement.client,
            "peer_cpu_round_trip": settings.placement.lockstep,
            "peer_cpu_bulk": settings.placement.streaming,
        },
        "contenders": {STDLIB: LABELS[STDLIB], FERROSOCK: LABELS[FERROSOCK]},
        "suites": {suite: [r.to_json() for r in workloads] for suite, workloads in results.items()},
    }
    return json.dumps(doc, indent=2)
