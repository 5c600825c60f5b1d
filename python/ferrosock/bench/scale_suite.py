"""The ``scale`` suite: ferrosock EchoServer, uvloop Protocol echo and plain tokio, side by side.

Each server runs in its own process (see ``_echo_contenders``); plain tokio is the
``examples/tokio_echo`` binary on a current-thread runtime with a 4 KiB read buffer per
connection, the footprint issue 10 measured. For each server, in this order:

1. **Memory per idle connection.** After a short warm-up (one busy connection), the server's
   VmRSS (``/proc/PID/status``) is read, ``idle`` connections (10,000 by default) are opened
   and left silent, and VmRSS is read again once the server has accepted all of them (its
   descriptor count in ``/proc/PID/fd`` says so): the growth over ``idle`` is the figure. Then
   they close, and VmRSS is read once more when the server has closed its ends: what it kept.
   Connections open non-blocking, in batches no larger than the listen backlog, each batch
   accepted before the next is dialled, so none waits out a SYN retry.
2. **Requests/s** with 1, 10, 100, 1,000 and 10,000 connections, every one busy (1 KiB
   request/response, the native load generator in this process).

The descriptor limit (RLIMIT_NOFILE) is raised to the hard limit in this process, which the
servers inherit; the suite says what it skipped when even that is too low.
"""

from __future__ import annotations

import errno
import os
import resource
import selectors
import socket
import time
from pathlib import Path
from typing import Callable

from ._echo_contenders import BACKLOG, HOST, Contender, ServerProcess
from ._results import Settings
from ._table import Table

NAME = "scale"
SUMMARY = (
    "ferrosock EchoServer, uvloop Protocol and tokio at 1 to 10,000 connections: req/s, and "
    "memory per idle connection at 10,000"
)
PLACES_ITSELF = True

STEPS = [1, 10, 100, 1_000, 10_000]
IDLE = 10_000
# Connections dialled before waiting for the server to accept them, well under the listen
# backlog: a burst of 512 SYNs overflowed the SYN queue of tokio's listener here (Linux 6.18,
# "Possible SYN flooding ... Sending cookies"), and an idle connection whose handshake ended
# in a cookie the kernel then dropped never reaches accept(); 128 at a time never did.
BATCH = min(BACKLOG, 1024) // 8
# Descriptors each process keeps besides its connections.
SPARE_FDS = 256
# Longest wait for a server to accept (or close) a batch of connections.
SETTLE_TIMEOUT = 30.0
# After the descriptor count says so, time for the server to finish what accept starts.
SETTLE_PAUSE = 0.3

FERROSOCK = "ferrosock-echo"
UVLOOP = "uvloop-protocol"
TOKIO = "tokio"
TOKIO_BUFFER = 4096
CONTENDERS = (
    Contender(FERROSOCK, "ferrosock EchoServer"),
    Contender(UVLOOP, "uvloop Protocol echo", "uvloop"),
    Contender(TOKIO, f"tokio echo, current-thread, {TOKIO_BUFFER // 1024} KiB buffer", "tokio"),
)
TOKIO_ARGS = ("--current-thread", "--buffer", str(TOKIO_BUFFER))


def raise_fd_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard one where allowed; returns the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        return hard
    except (ValueError, OSError):
        return soft


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def per_connection(before_kib: int, after_kib: int, n: int) -> float:
    """RSS growth per connection in KiB (never below 0: a shrinking RSS is not a gain)."""
    if n < 1:
        raise ValueError("n must be at least 1")
    return max(after_kib - before_kib, 0) / n


def _wait_fds(pid: int, target: int, what: str, *, up: bool) -> int:
    """Until ``pid`` holds at least (``up``) or at most ``target`` descriptors; returns them."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while True:
        fds = fd_count(pid)
        if (fds >= target) if up else (fds <= target):
            return fds
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"the server did not {what} within {SETTLE_TIMEOUT:g} s ({fds} descriptors, "
                f"{'at least' if up else 'at most'} {target} expected)"
            )
        time.sleep(0.01)


def settled_fds(pid: int) -> int:
    """``pid``'s descriptor count once it has not changed for SETTLE_PAUSE (a connection that
    just closed on the client side may still be open on the server's)."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    fds = fd_count(pid)
    while time.monotonic() < deadline:
        time.sleep(SETTLE_PAUSE)
        now = fd_count(pid)
        if now == fds:
            break
        fds = now
    return fds


def _dial_batch(port: int, n: int) -> list[socket.socket]:
    """``n`` connections, dialled at once without blocking, each connected when returned."""
    pending: list[socket.socket] = []
    sel = selectors.DefaultSelector()
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            pending.append(s)
            s.setblocking(False)
            err = s.connect_ex((HOST, port))
            if err == errno.EINPROGRESS:
                sel.register(s, selectors.EVENT_WRITE)
            elif err:
                raise OSError(err, os.strerror(err))
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while sel.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"connects to port {port} took over {SETTLE_TIMEOUT:g} s")
            for key, _ in sel.select(left):
                s = key.fileobj  # type: ignore[assignment]
                sel.unregister(s)
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    raise OSError(err, os.strerror(err))
        return pending
    except BaseException:
        for s in pending:
            s.close()
        raise
    finally:
        sel.close()


def idle_footprint(pid: int, port: int, n: int) -> dict[str, float]:
    """VmRSS before, with ``n`` idle connections and after they closed, in KiB."""
    base_fds = settled_fds(pid)
    before = rss_kib(pid)
    idle: list[socket.socket] = []
    try:
        while len(idle) < n:
            idle.extend(_dial_batch(port, min(BATCH, n - len(idle))))
            _wait_fds(pid, base_fds + len(idle), f"accept {len(idle)} connections", up=True)
        time.sleep(SETTLE_PAUSE)
        held = rss_kib(pid)
    finally:
        for s in idle:
            s.close()
    _wait_fds(pid, base_fds, f"close {n} connections", up=False)
    time.sleep(SETTLE_PAUSE)
    after = rss_kib(pid)
    return {
        "baseline_kib": before,
        "held_kib": held,
        "closed_kib": after,
        "per_idle_kib": per_connection(before, held, n),
        "kept_kib": after - before,
    }


def _load(port: int, n: int, duration: float) -> dict:
    from ferrosock import _native

    return dict(
        _native.load_test(
            HOST, port, connections=n, size=1024, duration=duration, warmup=0.2, timeout=5.0
        )
    )


def _available(
    progress: Callable[[str], None],
) -> tuple[list[Contender], dict[str, str], Path | None]:
    from .echo_suite import _tokio_ceiling, _uvloop_missing

    tokio, tokio_missing = _tokio_ceiling(progress)
    uvloop_missing = _uvloop_missing()
    skipped = {}
    for c in CONTENDERS:
        why = {"tokio": tokio_missing, "uvloop": uvloop_missing}.get(c.needs or "")
        if why:
            skipped[c.key] = why
    return [c for c in CONTENDERS if c.key not in skipped], skipped, tokio


def run(
    settings: Settings,
    progress: Callable[[str], None],
    steps: list[int] | None = None,
    idle: int | None = None,
) -> list[Table]:
    from ferrosock import runtime

    from ._machine import pinned

    if not runtime.running():
        runtime.configure(workers=1)
    limit = raise_fd_limit()
    wanted = steps or STEPS
    # Each process holds one descriptor per connection, plus a few of its own.
    chosen_steps = [n for n in wanted if n + SPARE_FDS <= limit]
    skipped_steps = [n for n in wanted if n not in chosen_steps]
    n_idle = min(idle or IDLE, limit - SPARE_FDS)
    duration = 0.5 if settings.quick else 1.0
    contenders, skipped, tokio = _available(progress)
    for key, why in skipped.items():
        progress(f"[{NAME}] skipping {key}: {why}")

    footprints: dict[str, dict[str, float]] = {}
    rates: dict[str, dict[int, dict]] = {}
    with pinned(settings.placement.client):
        for contender in contenders:
            with ServerProcess(
                contender, settings.placement.streaming, tokio, tokio_args=TOKIO_ARGS
            ) as server:
                _load(server.port, 1, 0.2)
                progress(f"[{NAME}] {contender.label}: {n_idle:,} idle connections")
                footprints[contender.key] = idle_footprint(server.pid, server.port, n_idle)
                rates[contender.key] = {}
                for n in chosen_steps:
                    progress(f"[{NAME}] {contender.label}: {n:,} busy connections")
                    rates[contender.key][n] = _load(server.port, n, duration)
    notes = []
    if skipped_steps:
        notes.append(f"skipped {skipped_steps} connections: the descriptor limit is {limit}")
    if n_idle < (idle or IDLE):
        notes.append(f"idle connections cut to {n_idle:,}: the descriptor limit is {limit}")
    notes.extend(f"{c.label}: skipped ({skipped[c.key]})" for c in CONTENDERS if c.key in skipped)
    return [
        rate_table(contenders, rates, chosen_steps, duration, notes),
        memory_table(contenders, footprints, n_idle, notes),
    ]


def _x(a: float | None, b: float | None) -> str:
    return "-" if a is None or not b else f"{a / b:.2f}"


def _failures(report: dict) -> int:
    return int(report["errors"] + report["timeouts"])


def _rate_cell(rps: float, failed: int) -> str:
    return f"{rps:,.0f}" + (f" ({failed} failed)" if failed else "")


def rate_table(
    contenders: list[Contender],
    rates: dict[str, dict[int, dict]],
    steps: list[int],
    duration: float,
    notes: list[str],
) -> Table:
    table = Table(
        title=(
            f"scale: req/s with every connection busy (1 KiB request/response, {duration:g} s "
            "per step)"
        ),
        headers=["connections"]
        + [f"{c.label} req/s" for c in contenders]
        + ["ferrosock x uvloop", "ferrosock x tokio"],
    )
    for n in steps:
        rps = {c.key: rates[c.key][n]["requests_per_sec"] for c in contenders}
        failed = {c.key: _failures(rates[c.key][n]) for c in contenders}
        table.rows.append(
            [f"{n:,}"]
            + [_rate_cell(rps[c.key], failed[c.key]) for c in contenders]
            + [_x(rps.get(FERROSOCK), rps.get(UVLOOP)), _x(rps.get(FERROSOCK), rps.get(TOKIO))]
        )
        table.data.append(
            {
                "connections": n,
                # The native EchoServer's, as before: what the --plot panel draws.
                "requests_per_sec": rps.get(FERROSOCK, 0.0),
                "servers": {
                    c.key: {
                        "requests_per_sec": rps[c.key],
                        "p99_us": rates[c.key][n]["p99_us"],
                        "errors_and_timeouts": failed[c.key],
                    }
                    for c in contenders
                },
            }
        )
    table.notes.extend(notes)
    return table


def memory_table(
    contenders: list[Contender], footprints: dict[str, dict[str, float]], n: int, notes: list[str]
) -> Table:
    table = Table(
        title=f"scale: server memory (VmRSS) per idle connection, {n:,} idle connections",
        headers=[
            "server",
            "baseline",
            f"with {n:,} idle",
            "per idle connection",
            "x uvloop",
            "after they closed",
            "kept",
        ],
    )
    uvloop = footprints.get(UVLOOP, {}).get("per_idle_kib")
    for c in contenders:
        f = footprints[c.key]
        table.rows.append(
            [
                c.label,
                f"{f['baseline_kib'] / 1024:,.1f} MiB",
                f"{f['held_kib'] / 1024:,.1f} MiB",
                f"{f['per_idle_kib']:.2f} KiB",
                _x(f["per_idle_kib"], uvloop),
                f"{f['closed_kib'] / 1024:,.1f} MiB",
                f"{f['kept_kib']:+,.0f} KiB",
            ]
        )
        table.data.append({"server": c.label, "key": c.key, "idle_connections": n, **f})
    table.notes.append(target_line(footprints.get(FERROSOCK, {}).get("per_idle_kib"), uvloop))
    table.notes.append(
        "kept: VmRSS after the connections closed minus the baseline (an allocator may keep "
        "freed memory; the issue asks for the baseline again)."
    )
    table.notes.extend(notes)
    return table


def target_line(ferrosock: float | None, uvloop: float | None) -> str:
    """The footprint target, marked met / NOT MET (or why it could not be judged)."""
    head = "target: ferrosock EchoServer memory per idle connection <= uvloop Protocol's: "
    if ferrosock is None or uvloop is None:
        return head + "not measured"
    verdict = "met" if ferrosock <= uvloop else "NOT MET"
    return head + f"{ferrosock:.2f} vs {uvloop:.2f} KiB: {verdict}"
