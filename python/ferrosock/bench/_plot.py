"""``--plot FILE.png``: one panel per suite of the run, each drawn for the comparison it exists
for, with human labels, one colour per family of servers (the stdlib, asyncio, uvloop,
ferrosock, tokio) and a legend. Needs matplotlib. Notebook 06 uses the same colours."""

from __future__ import annotations

from typing import Any, Callable

from ._results import WorkloadResult

#: One colour per family, the same in every panel and in notebook 06.
FAMILY_COLOURS = {
    "stdlib": "#4c72b0",
    "asyncio": "#55a868",
    "uvloop": "#8172b3",
    "ferrosock": "#c44e52",
    "tokio": "#4d4d4d",
}
FAMILY_LABELS = {
    "stdlib": "stdlib (socket, socketserver, the lesson's code)",
    "asyncio": "asyncio",
    "uvloop": "uvloop",
    "ferrosock": "ferrosock",
    "tokio": "plain tokio (the ceiling)",
}

#: The framing suite's keys, in words.
FRAMING_LABELS = {
    "receive/recv_msg": "framing.recv_msg",
    "receive/reader": "FrameReader (reads ahead)",
    "receive/python": "struct + recv loop (by hand)",
    "send/send_msg": "framing.send_msg",
    "send/python": "struct + sendall (by hand)",
}


def family(label: str) -> str:
    """Which family a contender's label belongs to."""
    text = label.lower()
    if "tokio" in text:
        return "tokio"
    if "uvloop" in text and "ferrosock" not in text:
        return "uvloop"
    if "asyncio" in text and "ferrosock" not in text:
        return "asyncio"
    if any(word in text for word in ("ferrosock", "native", "framing.", "framereader")):
        return "ferrosock"
    return "stdlib"


def _ranked(ax: Any, labels: list[str], values: list[float], xlabel: str, title: str) -> None:
    """Horizontal bars, one per contender, coloured by family, each with its value."""
    families = [family(label) for label in labels]
    bars = ax.barh(labels, values, color=[FAMILY_COLOURS[f] for f in families])
    ax.bar_label(bars, labels=[f"{v:,.0f}" for v in values], padding=3, fontsize=7)
    ax.invert_yaxis()
    ax.tick_params(axis="y", labelsize=8)
    ax.set_xlim(0, max(values) * 1.18)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_title(title, fontsize=9, loc="left")


def _against_stdlib(
    ax: Any,
    rows: list[dict[str, Any]],
    names: list[str],
    texts: list[str],
    *,
    xmax: float,
    headroom: float,
    xlabel: str,
    title: str,
    legend: tuple[str, str, str],
) -> None:
    """ferrosock's ratio next to the stdlib's 1, with each row's target mark and verdict."""
    ys = range(len(rows))
    ratios = [row["ratio"] for row in rows]
    ax.barh([y - 0.2 for y in ys], [1.0] * len(rows), 0.4, color=FAMILY_COLOURS["stdlib"])
    ax.barh([y + 0.2 for y in ys], ratios, 0.4, color=FAMILY_COLOURS["ferrosock"])
    for y, ratio, row, text in zip(ys, ratios, rows, texts):
        ax.plot([row["target"]] * 2, [y - 0.45, y + 0.45], color="black", linewidth=1.2)
        verdict = "target met" if row["met"] else "target missed"
        # right of both the bar and the target mark, so neither covers the words
        ax.text(
            max(ratio, row["target"]) + 0.03,
            y + 0.2,
            f"{text}: {verdict}",
            va="center",
            fontsize=7,
        )
    ax.set_yticks(list(ys), names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, max(xmax, max(ratios) * headroom))
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_title(title, fontsize=9, loc="left")
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    ax.legend(
        handles=[
            Patch(color=FAMILY_COLOURS["stdlib"], label=legend[0]),
            Patch(color=FAMILY_COLOURS["ferrosock"], label=legend[1]),
            Line2D([], [], color="black", label=legend[2]),
        ],
        fontsize=7,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
    )


def _socket(ax: Any, rows: list[dict[str, Any]]) -> None:
    """The drop-in's promise: ferrosock's time next to the stdlib's, per workload."""
    _against_stdlib(
        ax,
        rows,
        [row["workload"].split(" x")[0] for row in rows],
        [f"{row['ratio']:.2f}" for row in rows],
        xmax=1.6,
        headroom=1.45,
        xlabel="time, relative to the stdlib's (lower is better)",
        title="the drop-in: ferrosock against the stdlib socket module",
        legend=("stdlib (= 1)", "ferrosock", "target (at most)"),
    )


def _tls(ax: Any, table: dict[str, Any]) -> None:
    """TLS: ferrosock.ssl against the stdlib's SSLSocket, each workload by its own measure."""
    rows = table["rows"]
    names, texts = [], []
    for row in rows:
        lower_better = row["target_is"] == "maximum"
        kind = "CPU/round trip" if lower_better else "throughput"
        names.append(f"{row['workload'].split(' x')[0]}\n({kind})")
        bound = "at most" if lower_better else "at least"
        texts.append(f"{row['ratio']:.2f} ({bound} {row['target']:.2f})")
    _against_stdlib(
        ax,
        rows,
        names,
        texts,
        xmax=1.8,
        headroom=1.6,
        xlabel="ferrosock relative to the stdlib's ssl.SSLSocket (= 1): CPU lower is better, "
        "throughput higher is better",
        title="TLS: ferrosock.ssl against the stdlib's SSLSocket",
        legend=("stdlib ssl (= 1)", "ferrosock.ssl", "target"),
    )


def _echo(ax: Any, table: dict[str, Any]) -> None:
    rows = [r for r in table["rows"] if r["size"] == min(x["size"] for x in table["rows"])]
    size = rows[0]["size"]
    _ranked(
        ax,
        [r["server"] for r in rows],
        [r["requests_per_sec"] for r in rows],
        f"requests/s, {size // 1024} KiB echo, {rows[0]['connections']} connections "
        "(higher is better)\nquick mode measures one short window per server: differences of "
        "10-20 % between the fast ones, the tokio ceiling's place too, are within its noise",
        "TCP echo servers: ferrosock's native servers against tokio, asyncio, uvloop, socketserver",
    )


def _udp(ax: Any, table: dict[str, Any]) -> None:
    rows = table["rows"]
    _ranked(
        ax,
        [r["server"] for r in rows],
        [r["requests_per_sec"] for r in rows],
        "requests/s, 16 UDP sockets, one datagram in flight each (higher is better)",
        "UDP: the lesson's time server on both modules, the native servers, asyncio, uvloop",
    )


def _aio(ax: Any, table: dict[str, Any]) -> None:
    rows = table["rows"]
    _ranked(
        ax,
        [r["contender"] for r in rows],
        [r["hundred"] for r in rows],
        "requests/s, 64 B request/response, 100 connections (higher is better)",
        "asyncio: ferrosock.aio streams against asyncio's own streams, on both loops",
    )


def _framing(ax: Any, table: dict[str, Any], side: str) -> None:
    rows = table["rows"]
    keys = [k for k in FRAMING_LABELS if k.startswith(side) and k in rows[0]]
    width = 0.8 / len(keys)
    for i, key in enumerate(keys):
        xs = [j + i * width for j in range(len(rows))]
        colour = FAMILY_COLOURS["stdlib" if key.endswith("python") else "ferrosock"]
        hatch = "//" if key.endswith("reader") else None
        ax.bar(
            xs,
            [row[key] for row in rows],
            width,
            color=colour,
            hatch=hatch,
            edgecolor="white",
            label=FRAMING_LABELS[key],
        )
    ax.set_xticks(
        [j + width * (len(keys) - 1) / 2 for j in range(len(rows))],
        [f"{row['size']:,} B messages" for row in rows],
        fontsize=8,
    )
    from matplotlib.ticker import FuncFormatter, NullFormatter

    if side == "receive":  # FrameReader is 10-20 times the others at small sizes
        ax.set_yscale("log")
        ax.yaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.tick_params(axis="y", labelsize=7)
    scale = " (log scale)" if side == "receive" else ""
    ax.set_ylabel(f"messages/s{scale}, higher is better", fontsize=8)
    what = "receiving" if side == "receive" else "sending"
    ax.set_title(
        f"framing, {what}: ferrosock.framing against the lesson's struct code",
        fontsize=9,
        loc="left",
    )
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))


SCALE_FAMILIES = {"ferrosock-echo": "ferrosock", "uvloop-protocol": "uvloop", "tokio": "tokio"}
SCALE_LABELS = {
    "ferrosock-echo": "ferrosock EchoServer",
    "uvloop-protocol": "uvloop Protocol echo",
    "tokio": "tokio, current-thread, 4 KiB buffer",
}


def _scale(ax: Any, table: dict[str, Any]) -> None:
    rows = table["rows"]
    labels = [f"{r['connections']:,}" for r in rows]
    # Every server of the run side by side; a document from before the suite measured more
    # than the native EchoServer has only its requests_per_sec.
    keys = list(rows[0].get("servers", {})) or ["ferrosock-echo"]
    width = 0.8 / len(keys)
    best = 1.0
    for k, key in enumerate(keys):
        values = [
            r["servers"][key]["requests_per_sec"] if "servers" in r else r["requests_per_sec"]
            for r in rows
        ]
        best = max(best, *values)
        xs = [i - 0.4 + width * (k + 0.5) for i in range(len(rows))]
        family = SCALE_FAMILIES.get(key, "ferrosock")
        ax.bar(xs, values, width, color=FAMILY_COLOURS[family], label=SCALE_LABELS.get(key, key))
    ax.set_xticks(range(len(rows)), labels)
    ax.set_xlabel("connections, every one busy (1 KiB request/response)", fontsize=8)
    ax.set_ylabel("requests/s", fontsize=8)
    ax.set_ylim(0, best * 1.2)
    ax.set_title(
        "scale: ferrosock EchoServer, uvloop Protocol and tokio from 1 to 10,000 connections",
        fontsize=9,
        loc="left",
    )
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))


def _panels(document: dict[str, Any]) -> list[tuple[float, Callable[[Any], None]]]:
    """(height in inches, draw) for each panel the document has data for."""
    panels: list[tuple[float, Callable[[Any], None]]] = []
    socket_rows = document.get("suites", {}).get("socket")
    if socket_rows:
        panels.append((0.5 + 0.45 * len(socket_rows), lambda ax: _socket(ax, socket_rows)))
    tables = document.get("tables", {})
    for tls in tables.get("tls", [])[:1]:
        panels.append((0.6 + 0.5 * len(tls["rows"]), lambda ax, t=tls: _tls(ax, t)))
    for echo in tables.get("echo", [])[:1]:
        count = len({r["server"] for r in echo["rows"]})
        panels.append((0.8 + 0.28 * count, lambda ax, t=echo: _echo(ax, t)))
    for udp in tables.get("udp", [])[:1]:
        panels.append((0.8 + 0.28 * len(udp["rows"]), lambda ax, t=udp: _udp(ax, t)))
    for aio in tables.get("aio", [])[:1]:
        panels.append((0.8 + 0.3 * len(aio["rows"]), lambda ax, t=aio: _aio(ax, t)))
    for framing in tables.get("framing", [])[:1]:
        panels.append((2.4, lambda ax, t=framing: _framing(ax, t, "receive")))
        panels.append((2.4, lambda ax, t=framing: _framing(ax, t, "send")))
    for scale in tables.get("scale", [])[:1]:
        panels.append((2.4, lambda ax, t=scale: _scale(ax, t)))
    return panels


def draw(path: str, document: dict[str, Any]) -> None:
    """Draw a document in the --json layout (``suites`` and ``tables``) to a PNG."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise SystemExit(f"--plot needs matplotlib ({exc}); pip install matplotlib") from None
    panels = _panels(document)
    if not panels:
        raise SystemExit("--plot: nothing to plot")
    fig, axes = plt.subplots(
        len(panels),
        1,
        figsize=(10, sum(h for h, _ in panels) + 0.6),
        gridspec_kw={"height_ratios": [h for h, _ in panels]},
        squeeze=False,
        layout="constrained",
    )
    for ax, (_, draw_panel) in zip(axes[:, 0], panels):
        draw_panel(ax)
    from matplotlib.patches import Patch

    fig.legend(
        handles=[Patch(color=FAMILY_COLOURS[f], label=FAMILY_LABELS[f]) for f in FAMILY_COLOURS],
        loc="outside lower center",
        ncol=3,
        fontsize=8,
        title="colours: one per family",
        title_fontsize=8,
    )
    machine = document.get("machine", {})
    fig.suptitle(
        "python -m ferrosock.bench --quick: rough numbers from short runs"
        + (f" ({machine.get('cores')} cores, {machine.get('python', '')})" if machine else ""),
        fontsize=10,
    )
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot(path: str, results: dict[str, list[WorkloadResult]], tables: dict[str, list[Any]]) -> None:
    """The run's results, as --json would write them, drawn to ``path``."""
    document = {
        "suites": {suite: [w.to_json() for w in workloads] for suite, workloads in results.items()},
        "tables": {suite: [t.to_dict() for t in ts] for suite, ts in tables.items()},
    }
    draw(path, document)
