"""``--plot FILE.png``: one bar chart per table of the run (matplotlib, if installed)."""

from __future__ import annotations

from typing import Any

from ._results import FERROSOCK, STDLIB, WorkloadResult

# Which number to draw for a row, in order of preference; size and counts are never it.
PREFERRED = ("requests_per_sec", "hundred", "receive/reader", "ferrosock")
NOT_VALUES = ("size", "connections", "errors")


def _series(rows: list[dict[str, Any]]) -> tuple[str, list[str], list[float]]:
    """The label and the throughput-like number of each row."""
    if not rows:
        return "", [], []
    first = rows[0]
    numeric = [
        k
        for k, v in first.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in NOT_VALUES
    ]
    value_key = next((k for k in PREFERRED if k in numeric), numeric[0] if numeric else "")
    labels = []
    for row in rows:
        name = next((str(v) for v in row.values() if isinstance(v, str)), "")
        extra = [
            f"{row[k]} B" if k == "size" else f"{row[k]} conn" for k in NOT_VALUES[:2] if k in row
        ]
        labels.append(", ".join([name, *extra]) if name else ", ".join(extra))
    return value_key, labels, [float(row.get(value_key, 0)) for row in rows]


def plot(path: str, results: dict[str, list[WorkloadResult]], tables: dict[str, list[Any]]) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise SystemExit(f"--plot needs matplotlib ({exc}); pip install matplotlib") from None
    charts: list[tuple[str, str, list[str], list[float]]] = []
    for suite, workloads in results.items():
        labels = [w.name for w in workloads]
        ratios = [w.median(FERROSOCK) / w.median(STDLIB) for w in workloads]
        charts.append((f"{suite}: ferrosock time / stdlib time", "ratio", labels, ratios))
    for suite_tables in tables.values():
        for table in suite_tables:
            document = table.to_dict()
            key, labels, values = _series(document.get("rows", []))
            if values:
                charts.append((document.get("title", ""), key, labels, values))
    if not charts:
        raise SystemExit("--plot: nothing to plot")
    fig, axes = plt.subplots(
        len(charts),
        1,
        figsize=(11, 1.2 + 0.32 * sum(len(c[2]) for c in charts) + 1.3 * len(charts)),
        squeeze=False,
    )
    for ax, (title, key, labels, values) in zip(axes[:, 0], charts):
        ax.barh(range(len(values)), values, color="#c05a28")
        ax.set_yticks(range(len(values)), labels, fontsize=7)
        ax.invert_yaxis()
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(key, fontsize=8)
        if key == "ratio":
            ax.axvline(1.0, color="black", linewidth=0.8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
