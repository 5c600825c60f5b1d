"""The ``instructions`` suite: user-space instructions per request, counted by callgrind.

Each server runs under ``valgrind --tool=callgrind`` (event ``Ir``: every user-space
instruction, all threads), driven over one TCP connection (UDP: one socket) by a client in
this process, which is not under valgrind. After a warm-up the suite zeroes the server's counts
(``callgrind_control --zero``), makes ``short`` round trips, dumps the counts (``--dump``),
makes ``long`` more and dumps again, three times over (once with ``--quick``). A pair's figure
is (Ir(long stretch) - Ir(short stretch)) / (long - short): start-up and imports are never
counted, and what a zero or a dump costs cancels; the table shows the median of the pairs and
how far they spread. Most servers repeat within 1 %; one whose own background work (a thread
waking on a timer, a GIL hand-over) lands in some stretches and not others spreads more, and
the median outvotes a burst that hits one stretch.

callgrind_control reaches a server blocked in ``epoll_wait`` through vgdb, which uses ptrace.
Where that is forbidden (some containers), the suite falls back to two whole runs per server,
serving ``short`` and ``long`` round trips, and takes the difference of their totals: start-up
cancels too, but it varies by a few million instructions between runs of a Python server, so
that figure is noisier, and the table says which method it used.

Every server ends the same way: the Python ones exit when their stdin closes, and the tokio
example dies of SIGTERM, after which callgrind still writes its counts (valgrind runs the tool's
exit for a fatal signal). Python servers get ``PYTHONHASHSEED=0``.

Unlike time, the count hardly moves when the machine is busy: it is the figure to decide
designs by. The suite is not part of the default run (``python -m ferrosock.bench``): it needs
valgrind and runs each server about 50 times slower.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import _callgrind
from ._callgrind import Pair, ratio, spread, verdict
from ._echo_contenders import _SERVER_MAIN as ECHO_MAIN
from ._framed_servers import _SERVER_MAIN as FRAMED_MAIN
from ._framed_servers import HEADER
from ._results import Settings
from ._table import Table

NAME = "instructions"
SUMMARY = (
    "instructions per request under valgrind's callgrind (tokio, ferrosock, uvloop); needs "
    "valgrind; not in the default run"
)
PLACES_ITSELF = True
# Asked for by name only: `python -m ferrosock.bench` with no suite leaves it out.
IN_DEFAULT_RUN = False
# Without valgrind the suite is skipped with a message, not the whole command stopped.
SKIP_WHEN_UNAVAILABLE = True

HOST = "127.0.0.1"
SIZE = 1024
# Round trips in the short and the long run (the long one serves `extra` more).
COUNTS = (1_000, 3_000)
QUICK_COUNTS = (500, 1_500)
# Pairs of stretches per run (one run per server): the table shows their median.
STRETCHES = 3
QUICK_STRETCHES = 1
ECHO_TARGET = 1.1  # native EchoServer, at most this times current-thread tokio
# Comma-separated contender keys: measure only those (the tests use one).
ONLY_ENV = "FERROSOCK_BENCH_INSTRUCTIONS_SERVERS"
# Round trips before the counting starts: the connection and the code paths warm.
WARMUP = 200
# The two ways of counting (see the module docstring).
DUMPS = "one run, zeroed and dumped"
RUNS = "two runs"
CONTROL_TIMEOUT = 60.0
# A server under callgrind that prints no port in this long has failed to start.
START_TIMEOUT = 120.0
REQUEST_TIMEOUT = 30.0
EXIT_TIMEOUT = 120.0
TIME_REQUEST = b"%Y-%m-%d %X"


@dataclass(frozen=True)
class Contender:
    key: str
    label: str
    # "tokio" (the example binary) or "python"; which client drives it: echo, framed, time.
    runs: str
    argv: tuple[str, ...]
    client: str = "echo"
    # The uvloop server doing the same job, for the "fewer than uvloop" target.
    counterpart: str | None = None
    needs_uvloop: bool = False


def _python(main: str, key: str) -> tuple[str, ...]:
    return ("-c", main, key)


CONTENDERS = (
    Contender("tokio-current-thread", "tokio echo, current-thread", "tokio", ("--current-thread",)),
    Contender("tokio-2-workers", "tokio echo, 2-worker multi-thread", "tokio", ("--workers", "2")),
    Contender(
        "ferrosock-echo",
        "ferrosock EchoServer",
        "python",
        _python(ECHO_MAIN, "ferrosock-echo"),
        counterpart="uvloop-protocol",
    ),
    Contender(
        "ferrosock-echo-idle",
        "ferrosock EchoServer, idle_timeout=60",
        "python",
        _python(ECHO_MAIN, "ferrosock-echo-idle"),
        counterpart="uvloop-protocol",
    ),
    Contender(
        "ferrosock-handler",
        "ferrosock StreamServer + handler",
        "python",
        _python(ECHO_MAIN, "ferrosock-handler"),
        counterpart="uvloop-handler",
    ),
    Contender(
        "ferrosock-framed",
        "ferrosock FramedServer + handler",
        "python",
        _python(FRAMED_MAIN, "ferrosock-framed"),
        client="framed",
        counterpart="uvloop-framed",
    ),
    Contender(
        "ferrosock-time",
        "ferrosock TimeServer (UDP)",
        "python",
        ("-m", "ferrosock.bench._udp_servers", "native-time"),
        client="time",
        counterpart="uvloop-time",
    ),
    Contender(
        "uvloop-protocol",
        "uvloop Protocol echo",
        "python",
        _python(ECHO_MAIN, "uvloop-protocol"),
        needs_uvloop=True,
    ),
    Contender(
        "uvloop-handler",
        "uvloop Protocol + handler",
        "python",
        _python(ECHO_MAIN, "uvloop-handler"),
        needs_uvloop=True,
    ),
    Contender(
        "uvloop-framed",
        "uvloop framed Protocol + handler",
        "python",
        _python(FRAMED_MAIN, "uvloop-framed"),
        client="framed",
        needs_uvloop=True,
    ),
    Contender(
        "uvloop-time",
        "uvloop DatagramProtocol time (UDP)",
        "python",
        ("-m", "ferrosock.bench._udp_servers", "uvloop-time"),
        client="time",
        needs_uvloop=True,
    ),
)
BY_KEY = {c.key: c for c in CONTENDERS}
BASELINE = "tokio-current-thread"


def check() -> str | None:
    """Why the suite cannot run here (valgrind missing), or None."""
    return _callgrind.missing()


# --- the client: plain blocking sockets in this process, not under valgrind ----------------


class Client:
    """One TCP connection (UDP: one connected socket) doing round trips, one at a time."""

    def __init__(self, kind: str, port: int) -> None:
        self.kind = kind
        if kind == "time":
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.settimeout(REQUEST_TIMEOUT)
            self.sock.connect((HOST, port))
            self.request = TIME_REQUEST
        else:
            self.sock = socket.create_connection((HOST, port), timeout=REQUEST_TIMEOUT)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            body = b"x" * SIZE
            self.request = HEADER.pack(SIZE) + body if kind == "framed" else body

    def round_trips(self, n: int) -> None:
        """``n`` requests, each answered before the next is sent."""
        sock, request = self.sock, self.request
        for _ in range(n):
            if self.kind == "time":
                sock.send(request)
                sock.recv(65536)
                continue
            sock.sendall(request)
            left = len(request)
            while left:
                chunk = sock.recv(min(left, 65536))
                if not chunk:
                    raise ConnectionError("the server closed the connection mid-reply")
                left -= len(chunk)

    def close(self) -> None:
        self.sock.close()


# --- runs under callgrind -------------------------------------------------------------------


class ControlFailed(RuntimeError):
    """callgrind_control could not reach the server (vgdb needs ptrace)."""


def _argv(contender: Contender, tokio: Path | None) -> list[str]:
    if contender.runs == "tokio":
        if tokio is None:
            raise ValueError("the tokio contenders need the example binary")
        return [str(tokio), "--addr", f"{HOST}:0", *contender.argv]
    return [sys.executable, *contender.argv]


class Run:
    """One server process under callgrind, with a client connected to it."""

    def __init__(self, contender: Contender, tokio: Path | None, out: Path) -> None:
        self.contender, self.out = contender, out
        self.log = out.with_suffix(".log")
        env = dict(os.environ, PYTHONHASHSEED="0")
        with open(self.log, "wb") as stderr:
            self.proc = subprocess.Popen(
                _callgrind.command(out, _argv(contender, tokio)),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                env=env,
            )
        try:
            self.client = Client(contender.client, self._read_port())
        except BaseException:
            self.stop()
            raise

    def _read_port(self) -> int:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], START_TIMEOUT)
        line = self.proc.stdout.readline().decode() if ready else ""
        if not line.strip():
            tail = self.log.read_text(errors="replace").strip().splitlines()[-3:]
            raise RuntimeError(f"{self.contender.label}: did not start under callgrind: {tail}")
        # "PORT" from the Python servers, "listening on HOST:PORT" from the tokio one.
        return int(line.strip().rsplit(":", 1)[-1])

    def control(self, action: str) -> None:
        """``zero`` or ``dump`` the server's counts, and wait until it has."""
        try:
            done = subprocess.run(
                [_callgrind.control(), f"--{action}", str(self.proc.pid)],
                capture_output=True,
                text=True,
                timeout=CONTROL_TIMEOUT,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ControlFailed(f"callgrind_control --{action}: {exc}") from exc
        if done.returncode != 0 or "OK" not in done.stdout:
            why = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise ControlFailed(f"callgrind_control --{action}: {why[0]}")

    def stop(self) -> None:
        client = getattr(self, "client", None)
        if client is not None:
            client.close()
            # The server handles the close before it is told to go: runs end alike.
            time.sleep(0.2)
        _stop(self.proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    # Python servers exit (os._exit) when stdin closes; tokio's example takes SIGTERM.
    if proc.stdin is not None:
        proc.stdin.close()
    try:
        proc.wait(timeout=1.0)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def measure_dumps(
    contender: Contender,
    counts: tuple[int, int],
    tokio: Path | None,
    workdir: Path,
    stretches: int = 1,
) -> list[Pair]:
    """One run: warm up, zero the counts, then ``stretches`` times: ``short`` round trips,
    dump, ``long`` round trips, dump.

    Each dump holds what was counted since the previous zero or dump; a pair's difference over
    ``long - short`` leaves out what a zero or dump itself costs. Several pairs in one run
    show (and their median outvotes) a burst of work that lands in one stretch only.
    """
    short, long = counts
    out = workdir / f"{contender.key}.callgrind"
    run = Run(contender, tokio, out)
    try:
        run.client.round_trips(WARMUP)
        run.control("zero")
        for _ in range(stretches):
            for n in counts:
                run.client.round_trips(n)
                run.control("dump")
    finally:
        run.stop()
    dumps = [
        _callgrind.total_instructions(Path(f"{out}.{i}").read_text(errors="replace"))
        for i in range(1, 2 * stretches + 1)
    ]
    return [Pair(short, dumps[2 * i], long, dumps[2 * i + 1]) for i in range(stretches)]


def measure_runs(
    contender: Contender, counts: tuple[int, int], tokio: Path | None, workdir: Path
) -> Pair:
    """Two whole runs, ``short`` and ``long`` round trips: start-up and shutdown cancel.

    The fallback when callgrind_control cannot reach a server: a server's start-up varies
    by a few million instructions between runs, so this is the noisier figure.
    """
    totals = []
    for n in counts:
        out = workdir / f"{contender.key}.{n}.callgrind"
        run = Run(contender, tokio, out)
        try:
            run.client.round_trips(WARMUP + n)
        finally:
            run.stop()
        totals.append(_callgrind.read_total(out))
    return Pair(counts[0], totals[0], counts[1], totals[1])


def measure(
    contender: Contender,
    counts: tuple[int, int],
    tokio: Path | None,
    progress: Callable[[str], None] = lambda _: None,
    method: str = DUMPS,
    stretches: int = 1,
) -> list[Pair]:
    """Instructions of ``counts`` round trips of one contender, by ``method``: ``stretches``
    pairs from one run (two whole runs, one pair, with RUNS)."""
    progress(
        f"[{NAME}] {contender.label}: {stretches} x ({counts[0]:,} + {counts[1]:,}) requests "
        f"({method})"
    )
    with tempfile.TemporaryDirectory(prefix="ferrosock-callgrind-") as tmp:
        if method == DUMPS:
            return measure_dumps(contender, counts, tokio, Path(tmp), stretches)
        return [measure_runs(contender, counts, tokio, Path(tmp))]


# --- the table -----------------------------------------------------------------------------


def _selected(only: str | None) -> list[Contender]:
    if not only:
        return list(CONTENDERS)
    keys = [k.strip() for k in only.split(",") if k.strip()]
    unknown = [k for k in keys if k not in BY_KEY]
    if unknown:
        raise ValueError(f"{ONLY_ENV}: unknown server(s) {unknown}; known: {', '.join(BY_KEY)}")
    return [BY_KEY[k] for k in keys]


def _uvloop_missing() -> str | None:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "uvloop is not installed"
    return None


def run(
    settings: Settings,
    progress: Callable[[str], None],
    keys: list[str] | None = None,
) -> list[Table]:
    from .echo_suite import _tokio_ceiling

    problem = check()
    if problem:
        return [skipped_table(problem)]
    counts = QUICK_COUNTS if settings.quick else COUNTS
    stretches = QUICK_STRETCHES if settings.quick else STRETCHES
    chosen = _selected(",".join(keys) if keys else os.environ.get(ONLY_ENV))
    skipped: dict[str, str] = {}
    tokio: Path | None = None
    if any(c.runs == "tokio" for c in chosen):
        tokio, why = _tokio_ceiling(progress)
        if why:
            skipped.update({c.key: why for c in chosen if c.runs == "tokio"})
    uvloop_missing = _uvloop_missing()
    if uvloop_missing:
        skipped.update({c.key: uvloop_missing for c in chosen if c.needs_uvloop})
    repeats = settings.repeat if getattr(settings, "repeat_given", False) else 1
    pairs: dict[str, list[Pair]] = {c.key: [] for c in chosen if c.key not in skipped}
    method = DUMPS if _callgrind.control() else RUNS
    fallback = None if method == DUMPS else "callgrind_control is not installed"
    # Interleaved, like the echo suite: repeat r measures every contender once.
    for _ in range(repeats):
        for contender in chosen:
            if contender.key not in pairs:
                continue
            try:
                found = measure(contender, counts, tokio, progress, method, stretches)
            except ControlFailed as exc:
                # Not for this server alone: vgdb cannot reach any (no ptrace, say).
                method, fallback = RUNS, str(exc)
                progress(f"[{NAME}] {exc}: counting whole runs instead")
                found = measure(contender, counts, tokio, progress, method)
            pairs[contender.key].extend(found)
    table = build_table(chosen, pairs, skipped, counts, method)
    if fallback:
        table.notes.append(f"counted as two whole runs per server: {fallback}")
    return [table]


def skipped_table(why: str) -> Table:
    table = Table(title=f"{NAME}: skipped", headers=["server", "instr/request"])
    table.notes.append(f"{NAME}: skipped: {why}")
    return table


def build_table(
    chosen: list[Contender],
    pairs: dict[str, list[Pair]],
    skipped: dict[str, str],
    counts: tuple[int, int],
    method: str = DUMPS,
) -> Table:
    """Rows of instructions per request, the ratios, and the issue's targets marked."""
    short, long = counts
    repeats = max((len(p) for p in pairs.values()), default=1)
    what = "stretch" if method == DUMPS else "run"
    table = Table(
        title=(
            f"{NAME}: user-space instructions per {SIZE // 1024} KiB request, callgrind Ir: "
            f"(Ir of a {long:,}-request {what} - Ir of a {short:,}-request {what}) / "
            f"{long - short:,}, {method}" + (f"; median of {repeats} pairs" if repeats > 1 else "")
        ),
        headers=["server", "instr/request", "x tokio current-thread", "vs uvloop", "x uvloop"]
        + (["spread"] if repeats > 1 else []),
    )
    per = {
        key: statistics.median(p.per_request for p in runs) for key, runs in pairs.items() if runs
    }
    base = per.get(BASELINE)
    for contender in chosen:
        if contender.key not in per:
            continue
        value = per[contender.key]
        runs = pairs[contender.key]
        rival = contender.counterpart
        x_rival = ratio(value, per.get(rival)) if rival else None
        x_base = ratio(value, base)
        table.rows.append(
            [
                contender.label,
                f"{value:,.0f}",
                "-" if x_base is None else f"{x_base:.2f}",
                BY_KEY[rival].label if rival else "-",
                "-" if x_rival is None else f"{x_rival:.2f}",
            ]
            + ([f"{spread([p.per_request for p in runs]):.1%}"] if repeats > 1 else [])
        )
        table.data.append(
            {
                "server": contender.label,
                "key": contender.key,
                "instructions_per_request": value,
                "lowest": min(p.per_request for p in runs),
                "highest": max(p.per_request for p in runs),
                "x_tokio_current_thread": x_base,
                "counterpart": rival,
                "x_counterpart": x_rival,
                "pairs": [
                    {
                        "short_requests": p.short_requests,
                        "short_ir": p.short_ir,
                        "long_requests": p.long_requests,
                        "long_ir": p.long_ir,
                        "instructions_per_request": p.per_request,
                    }
                    for p in runs
                ],
            }
        )
    table.notes.extend(targets(per))
    table.notes.extend(f"{BY_KEY[k].label}: skipped ({why})" for k, why in skipped.items())
    table.notes.append(
        "Ir counts every user-space instruction of the server process (all threads); kernel "
        "work (the system calls themselves) is not in it. The client runs outside valgrind."
    )
    return table


def targets(per: dict[str, float]) -> list[str]:
    """The issue's targets, one line each, marked met / NOT MET (or why not measured)."""
    lines = []
    echo, base = per.get("ferrosock-echo"), per.get(BASELINE)
    if echo is not None or base is not None:
        x = ratio(echo, base)
        shown = "-" if x is None else f"{x:.2f}x"
        lines.append(
            f"target: ferrosock EchoServer <= {ECHO_TARGET}x current-thread tokio: {shown}: "
            f"{verdict(x, ECHO_TARGET)}"
        )
    for contender in CONTENDERS:
        rival = contender.counterpart
        if rival is None or (contender.key not in per and rival not in per):
            continue
        x = ratio(per.get(contender.key), per.get(rival))
        shown = "-" if x is None else f"{x:.2f}x"
        lines.append(
            f"target: {contender.label} fewer instructions than {BY_KEY[rival].label}: "
            f"{shown}: {verdict(x, 1.0, strictly=True)}"
        )
    return lines
