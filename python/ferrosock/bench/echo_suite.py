"""The ``echo`` suite: echo servers driven by ferrosock's native load generator.

The load generator (``_native.load_test``: N connections, each sending S bytes and waiting for
them back, for D seconds) runs in this process; each server runs in its own (see
``_echo_contenders``): the native EchoServer, a StreamServer with a trivial Python handler,
the plain tokio server from ``examples/tokio_echo.rs`` (the ceiling), ``socketserver``'s
ThreadingTCPServer, asyncio's streams and Protocol servers (the Protocol one also calling the
same handler as the StreamServer), and uvloop's when it is installed.

With two CPUs or more, the server runs on one and the load generator on another. On two cores
the load generator runs out of CPU before a fast server does, and trivial echo is kernel-bound
(most of a server's CPU is system time), so requests/s barely separates the fast contenders.
The suite therefore also reads each server's CPU time (utime and stime from /proc/PID/stat)
around every measured window: user CPU per request is the server's own cost. It also reads
how much of the two pinned CPUs went to other processes: a window disturbed by a neighbour is
measured again, and the table shows what was left.

Workloads: 1, 10 and 100 KiB; 16 connections (the headline) and 1. Passes are interleaved
(pass 1 runs every contender once, then pass 2 ...), and the table shows medians.
"""

from __future__ import annotations

import functools
import gzip
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Callable

from ._cpu_time import TICKS_PER_SECOND, cpu_busy_ticks, process_ticks
from ._echo_contenders import (
    CONTENDERS,
    HOST,
    Contender,
    ServerProcess,
    pin_threads,
    unpin_threads,
)
from ._echo_report import NOISY, Cell, EchoTable, Sample
from ._results import Settings

NAME = "echo"
SUMMARY = (
    "echo servers (native, StreamServer + handler, tokio, socketserver, asyncio, uvloop) under "
    "the native load generator: req/s, latency, CPU per request"
)
# Server and load generator go on CPUs of this suite's choosing, not the socket suite's.
PLACES_ITSELF = True

SIZES = (1024, 10 * 1024, 100 * 1024)
CONNECTIONS = (16, 1)  # the first is the headline
# Seconds per measured window at 16 connections; 1 connection (latency) gets half. The user
# CPU split is sampled per clock tick, so the headline windows are the long ones.
DEFAULT_DURATION = 2.0
QUICK_DURATION = 1.0
# Before each measured window, to get the connections and the server's code paths warm.
WARMUP = 0.2
REQUEST_TIMEOUT = 2.0
# A disturbed window (see _echo_report.NOISY) is measured again, this many times at most
# (except with --quick).
NOISY_RETRIES = 2
# Overrides the duration of each measured window (the test suite uses a fraction of a second).
DURATION_ENV = "FERROSOCK_BENCH_ECHO_DURATION"

REPO = Path(__file__).resolve().parents[3]
TOKIO_EXAMPLE = REPO / "examples" / "tokio_echo.rs"


def _tokio_binary() -> Path:
    """Where cargo puts the example: under $CARGO_TARGET_DIR when it is set, as cargo does."""
    target = os.environ.get("CARGO_TARGET_DIR")
    return (Path(target) if target else REPO / "target") / "release" / "examples" / "tokio_echo"


TOKIO_BUILD = ["cargo", "build", "--release", "--example", "tokio_echo", "--quiet"]
TOKIO_BUILD_TIMEOUT = 900


def _durations(settings: Settings, connections: tuple[int, ...]) -> dict[int, float]:
    chosen = getattr(settings, "duration", None) or os.environ.get(DURATION_ENV)
    if chosen:
        headline = float(chosen)
    else:
        headline = QUICK_DURATION if settings.quick else DEFAULT_DURATION
    return {n: headline if n == CONNECTIONS[0] else headline / 2 for n in connections}


def _uvloop_missing() -> str | None:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "not installed"
    return None


def _tokio_binary_fresh(binary: Path) -> bool:
    # The example uses tokio alone, none of the library: cargo would rebuild the whole
    # extension first whenever src/ changed, so a binary newer than its inputs is kept.
    if not binary.exists():
        return False
    built = binary.stat().st_mtime
    inputs = [TOKIO_EXAMPLE, REPO / "Cargo.toml", REPO / "Cargo.lock"]
    return all(not p.exists() or p.stat().st_mtime <= built for p in inputs)


def _tokio_ceiling(progress: Callable[[str], None]) -> tuple[Path | None, str | None]:
    """The tokio example binary, built when needed, or None and why it is skipped."""
    if not TOKIO_EXAMPLE.exists():
        return None, "examples/tokio_echo.rs is not in this checkout"
    binary = _tokio_binary()
    if _tokio_binary_fresh(binary):
        return binary, None
    cargo = shutil.which("cargo")
    if cargo is None:
        return None, "cargo is not installed, so examples/tokio_echo.rs cannot be built"
    progress(f"[{NAME}] building the tokio ceiling: {' '.join(TOKIO_BUILD)}")
    try:
        built = subprocess.run(
            [cargo, *TOKIO_BUILD[1:]],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=TOKIO_BUILD_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        return None, f"cargo build took over {TOKIO_BUILD_TIMEOUT} s"
    if built.returncode != 0:
        last = built.stderr.strip().splitlines()[-1:] or ["no output"]
        return None, f"cargo build failed: {last[0]}"
    if not binary.exists():
        return None, f"cargo build made no {binary}"
    return binary, None


def _available(
    progress: Callable[[str], None],
) -> tuple[list[Contender], dict[str, str], Path | None]:
    uvloop_missing = _uvloop_missing()
    tokio, tokio_missing = _tokio_ceiling(progress)
    skipped: dict[str, str] = {}
    for c in CONTENDERS:
        why = {"tokio": tokio_missing, "uvloop": uvloop_missing}.get(c.needs or "")
        if why:
            skipped[c.key] = why
    return [c for c in CONTENDERS if c.key not in skipped], skipped, tokio


def _measure(
    server: ServerProcess, connections: int, size: int, duration: float, cpus: set[int]
) -> Sample:
    from ferrosock import _native

    def load(seconds: float) -> dict:
        return dict(
            _native.load_test(
                HOST,
                server.port,
                connections=connections,
                size=size,
                duration=seconds,
                warmup=0.0,
                timeout=REQUEST_TIMEOUT,
            )
        )

    # A window of its own rather than load_test's warm-up, which would fall inside the CPU
    # readings below.
    load(WARMUP)
    me = os.getpid()
    user0, sys0 = process_ticks(server.pid)
    mine0, busy0 = sum(process_ticks(me)), cpu_busy_ticks(cpus)
    start = time.monotonic()
    report = load(duration)
    elapsed = time.monotonic() - start
    user1, sys1 = process_ticks(server.pid)
    mine1, busy1 = sum(process_ticks(me)), cpu_busy_ticks(cpus)
    other = None
    if cpus:
        # What the pinned CPUs did besides serving and generating load: other processes.
        busy = sum(busy1[c] - busy0[c] for c in cpus)
        ours = (user1 - user0) + (sys1 - sys0) + (mine1 - mine0)
        other = max(busy - ours, 0) / (elapsed * TICKS_PER_SECOND)
    return Sample(report, user1 - user0, sys1 - sys0, other)


def _steady_sample(
    server: ServerProcess,
    connections: int,
    size: int,
    duration: float,
    cpus: set[int],
    show: Callable[[Sample], None],
    retries: int,
) -> Sample:
    """A window in which other processes left the pinned CPUs alone, or the least disturbed."""
    samples = []
    for _ in range(1 + retries):
        sample = _measure(server, connections, size, duration, cpus)
        show(sample)
        samples.append(sample)
        if sample.other_cpu is None or sample.other_cpu <= NOISY:
            break
    return min(samples, key=lambda s: s.other_cpu or 0.0)


def run(settings: Settings, progress: Callable[[str], None]) -> list[EchoTable]:
    from ferrosock import runtime

    sizes: tuple[int, ...]
    connections: tuple[int, ...]
    if settings.quick:
        sizes, connections, passes = SIZES[:1], CONNECTIONS[:1], 1
    else:
        sizes, connections, passes = SIZES, CONNECTIONS, settings.repeat
    durations = _durations(settings, connections)
    # --quick promises a quick run, so it takes a disturbed window as it comes.
    retries = 0 if settings.quick else NOISY_RETRIES
    contenders, skipped, tokio = _available(progress)
    for key, why in skipped.items():
        progress(f"[{NAME}] skipping {key}: {why}")

    # auto and split: load generator on the first CPU, servers on the second; same: both on
    # the first; none: unpinned. The load generator's runtime threads go with this process.
    placement = settings.placement
    client_cpu, server_cpu = placement.client, placement.streaming
    if client_cpu is not None and not runtime.running():
        # One CPU for the load generator: more workers would only take turns on it.
        runtime.configure(workers=1)

    per_pass = len(sizes) * sum(d + WARMUP for d in durations.values())
    estimate = passes * len(contenders) * (per_pass + 0.3)
    progress(
        f"[{NAME}] {len(contenders)} servers x {len(sizes)} sizes x connections "
        f"{'/'.join(map(str, connections))} x {passes} pass(es): about {estimate:.0f} s"
    )
    workloads = [(size, n) for size in sizes for n in connections]
    cells = {(c.key, size, n): Cell(c.key, size, n) for c in contenders for size, n in workloads}
    cpus = {c for c in (client_cpu, server_cpu) if c is not None}
    pid = os.getpid()
    before = pin_threads(pid, client_cpu)
    try:
        for p in range(passes):
            # Each pass starts one contender later, so none is always first after a pause.
            order = contenders[p % len(contenders) :] + contenders[: p % len(contenders)]
            for contender in order:
                with ServerProcess(contender, server_cpu, tokio) as server:
                    for size, n in workloads:
                        where = f"{contender.label:<32} {size // 1024:>3} KiB x{n:<2}"
                        show = functools.partial(_show, progress, f"[{NAME} {p + 1}] {where}")
                        sample = _steady_sample(server, n, size, durations[n], cpus, show, retries)
                        cells[(contender.key, size, n)].samples.append(sample)
    finally:
        unpin_threads(pid, before)

    sample_hz = _kernel_hz(TICKS_PER_SECOND)
    return [
        EchoTable(
            connections=n,
            cells={(k, size): cell for (k, size, m), cell in cells.items() if m == n},
            keys=[c.key for c in contenders],
            sizes=list(sizes),
            tick=TICKS_PER_SECOND,
            sample_hz=sample_hz,
            skipped=skipped,
            headline=n == CONNECTIONS[0],
            passes=passes,
            duration=durations[n],
            placement=_placement_note(client_cpu, server_cpu),
        )
        for n in connections
    ]


def _kernel_hz(default: int) -> int:
    """The scheduler tick rate (CONFIG_HZ), at which the user/system split is sampled."""
    try:
        with gzip.open("/proc/config.gz", "rt", encoding="ascii") as f:
            for line in f:
                if line.startswith("CONFIG_HZ="):
                    return int(line.split("=", 1)[1])
    except (OSError, ValueError):
        pass
    return default


def _placement_note(client_cpu: int | None, server_cpu: int | None) -> str:
    if client_cpu is None and server_cpu is None:
        return "not pinned"
    return f"load generator on CPU {client_cpu}, each server on CPU {server_cpu}"


def _show(progress: Callable[[str], None], prefix: str, sample: Sample) -> None:
    report = sample.report
    requests = max(report["requests"], 1)
    user = sample.user_ticks / TICKS_PER_SECOND / requests * 1e6
    system = sample.sys_ticks / TICKS_PER_SECOND / requests * 1e6
    failures = report["errors"] + report["timeouts"]
    other = "" if sample.other_cpu is None else f"  other {sample.other_cpu:4.0%}"
    progress(
        f"{prefix} {report['requests_per_sec']:>9,.0f} req/s  p50 {report['p50_us']:>5.0f} "
        f"p99 {report['p99_us']:>6.0f} µs  user {user:5.2f} sys {system:5.2f} µs/req"
        + other
        + (f"  {failures} failed" if failures else "")
    )
