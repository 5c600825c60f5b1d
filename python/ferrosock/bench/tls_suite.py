"""The ``tls`` suite: TLS 1.3 ping-pong and bulk transfer over loopback, stdlib vs ferrosock.

Each contender is a socket module and the ``SSLContext.wrap_socket`` of a stdlib context: the
stdlib's ``socket`` gives the stdlib's ``ssl.SSLSocket``; a ``ferrosock.socket``, once
``ferrosock.ssl`` is imported, gives a ``ferrosock.ssl.SSLSocket``. Both ends of a measurement
use the same contender, in two processes (the peer is ``_tls_peer``), and the benchmark checks
the type each end got, so the comparison cannot measure the stdlib twice.

- ping-pong: after the handshake (TLS 1.3, the default cipher, a throwaway self-signed
  certificate for ``localhost`` made with the ``openssl`` command), ``sendall`` 1 B or 1 KiB
  and ``recv`` until the whole echo is back, ``rounds`` times. Measured: the wall time and the
  CPU time of both processes (``time.process_time()`` in each, all threads) per round trip.
  The target is on CPU: TLS work is CPU work, and on loopback the wall time of a round trip is
  mostly the two processes waking each other.
- bulk: the peer ``sendall``s ``bulk_mib`` MiB in 1 MiB chunks, this side ``recv_into`` a
  preallocated buffer; the throughput from the request to the last byte, sampled
  ``BULK_PASSES`` times a repeat. The byte count and the content of the first and last reads
  are checked, so a broken transfer cannot look fast.

Processes are placed like the ``socket`` suite's (``settings.placement``: by default one
shared CPU for ping-pong, two for bulk), and the contenders take turns, sample after sample.
"""

from __future__ import annotations

import gc
import importlib
import shutil
import ssl
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

from ._machine import pinned
from ._results import CONTENDERS, FERROSOCK, LABELS, STDLIB, MiB, Settings
from ._table import Table
from ._tls_peer import (
    CLOSE,
    CPU,
    HOST,
    NAME_LEN,
    PATTERN,
    PING,
    SERVER_HOSTNAME,
    SOURCE,
    TYPE,
    TlsPeer,
    client_context,
    recv_exactly,
    request,
    type_name,
)
from .socket_suite import timed_round_trips

NAME = "tls"
SUMMARY = "TLS 1.3 ping-pong (1 B, 1 KiB) and bulk sendall/recv_into, stdlib ssl vs ferrosock.ssl"
# It pins itself (like the socket suite) and reports its own table: its targets are on CPU
# per round trip and on throughput, not on the wall time of the main table.
PLACES_ITSELF = True

# CPU per round trip may be at most 1.25x the stdlib's; bulk at least 0.9x as fast.
ROUND_TRIP_TARGET = 1.25
BULK_TARGET = 0.90
# A bulk transfer is short enough to be blurred by one hiccup of a shared machine: each
# repeat takes this many samples of it, all of them in the median.
BULK_PASSES = 5
RECV_BUFSIZE = 256 * 1024
WARMUP_ROUNDS = 1000
WARMUP_BYTES = 4 * MiB
CHECKED_BYTES = 4096

OPENSSL_MISSING = (
    "the tls suite needs the openssl command to make a throwaway certificate, and it is not "
    "installed; on Debian or Ubuntu: apt-get install openssl (or `make system-deps`)"
)
OPENSSL_REQ = [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-days",
    "2",
    "-subj",
    "/CN=localhost",
    "-addext",
    "subjectAltName=DNS:localhost,IP:127.0.0.1",
]


class TlsUnavailable(RuntimeError):
    """The suite cannot run here: no ``openssl`` command, or no ``ferrosock.ssl``."""


def check() -> str | None:
    """Why this suite cannot run on this machine, or None; the command asks before any suite."""
    if shutil.which("openssl") is None:
        return OPENSSL_MISSING
    try:
        importlib.import_module("ferrosock.ssl")
    except ImportError as exc:
        return f"the tls suite needs ferrosock.ssl, which does not import: {exc}"
    return None


def make_certificate(directory: Path) -> tuple[str, str]:
    """A self-signed certificate and key for ``localhost``, made with ``openssl req``."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise TlsUnavailable(OPENSSL_MISSING)
    cert, key = directory / "cert.pem", directory / "key.pem"
    done = subprocess.run(
        [openssl, *OPENSSL_REQ, "-keyout", str(key), "-out", str(cert)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if done.returncode != 0:
        raise TlsUnavailable(
            f"openssl req failed with status {done.returncode}: {done.stderr.strip()}"
        )
    return str(cert), str(key)


@dataclass(frozen=True)
class Contender:
    """A socket module and the ``SSLSocket`` type a stdlib context's ``wrap_socket`` must
    return for one of its sockets."""

    key: str
    module: ModuleType
    ssl_socket: type

    @classmethod
    def load(cls, key: str) -> Contender:
        if key == FERROSOCK:
            ferrosock_ssl = importlib.import_module("ferrosock.ssl")
            return cls(key, importlib.import_module("ferrosock"), ferrosock_ssl.SSLSocket)
        return cls(key, importlib.import_module(key), ssl.SSLSocket)

    @property
    def expected(self) -> str:
        return f"{self.ssl_socket.__module__}.{self.ssl_socket.__qualname__}"

    def connect(self, ctx: ssl.SSLContext, port: int) -> Any:
        """A TLS connection to a peer, made with this module and checked to be the right kind."""
        sock = self.module.create_connection((HOST, port))
        try:
            sock.setsockopt(self.module.IPPROTO_TCP, self.module.TCP_NODELAY, 1)
            tls = ctx.wrap_socket(sock, server_hostname=SERVER_HOSTNAME)
        except BaseException:
            sock.close()
            raise
        if type(tls) is not self.ssl_socket:
            tls.close()
            raise AssertionError(
                f"{LABELS[self.key]} contender: wrap_socket returned {type_name(tls)}, "
                f"not {self.expected}"
            )
        return tls


def _on_connection(contender: Contender, ctx: ssl.SSLContext, port: int, work: Callable) -> Any:
    """``work(tls)`` on a fresh TLS connection to a peer, which is then told to close it."""
    tls = contender.connect(ctx, port)
    try:
        result = work(tls)
        tls.sendall(request(CLOSE))
    finally:
        tls.close()
    return result


def _check_peer(contender: Contender, tls: Any) -> tuple[str, str, str]:
    """The far end must be the contender's SSLSocket too; this end's type, version, cipher."""
    tls.sendall(request(TYPE))
    (length,) = NAME_LEN.unpack(recv_exactly(tls, NAME_LEN.size))
    far = recv_exactly(tls, length).decode()
    if far != contender.expected:
        raise AssertionError(
            f"{LABELS[contender.key]} contender: the peer's wrap_socket returned {far}, "
            f"not {contender.expected}"
        )
    version = tls.version() if hasattr(tls, "version") else None
    cipher = tls.cipher() if hasattr(tls, "cipher") else None
    return type_name(tls), str(version), str(cipher[0] if cipher else None)


def _peer_cpu(tls: Any) -> float:
    return CPU.unpack(recv_exactly(tls, CPU.size))[0]


def _ping_pong(tls: Any, size: int, rounds: int) -> tuple[float, float, float]:
    """Wall time of ``rounds`` round trips, and the CPU time of this process and the peer's."""
    tls.sendall(request(PING, size, rounds))
    elapsed, cpu = timed_round_trips(tls, size, rounds)
    return elapsed, cpu, _peer_cpu(tls)


def _expected(offset: int, n: int) -> bytes:
    start = offset % len(PATTERN)
    repeats = (start + n) // len(PATTERN) + 1
    return (PATTERN * repeats)[start : start + n]


def _bulk(tls: Any, nbytes: int, view: memoryview) -> tuple[float, float, float]:
    """Wall time of receiving ``nbytes`` into ``view``, and the CPU time of this process and
    the peer's."""
    recv_into = tls.recv_into
    size = len(view)
    got = n = 0
    first = b""
    gc.disable()
    try:
        cpu = time.process_time()
        start = time.perf_counter()
        tls.sendall(request(SOURCE, nbytes))
        while got < nbytes:
            left = nbytes - got
            n = recv_into(view, left if left < size else size)
            if not n:
                raise ConnectionError(f"bulk: connection closed after {got} of {nbytes} bytes")
            if not got:
                first = bytes(view[: min(n, CHECKED_BYTES)])
            got += n
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu
    finally:
        gc.enable()
    if got != nbytes:
        raise RuntimeError(f"bulk: received {got} bytes, expected {nbytes}")
    if first != _expected(0, len(first)) or view[:n] != _expected(nbytes - n, n):
        raise RuntimeError("bulk: the bytes received are not the bytes sent")
    return elapsed, cpu, _peer_cpu(tls)


@dataclass
class Workload:
    """One workload's samples per contender, in seconds: wall time, and the CPU time of both
    processes (``cpu``), of which ``peer_cpu`` is the peer's."""

    name: str
    ops: int
    nbytes: int
    target: float
    wall: dict[str, list[float]] = field(default_factory=lambda: {c: [] for c in CONTENDERS})
    cpu: dict[str, list[float]] = field(default_factory=lambda: {c: [] for c in CONTENDERS})
    peer_cpu: dict[str, list[float]] = field(default_factory=lambda: {c: [] for c in CONTENDERS})

    @property
    def bulk(self) -> bool:
        return not self.ops

    def per_op_us(self, samples: list[float]) -> float:
        return statistics.median(samples) / self.ops * 1e6

    def mib_per_s(self, contender: str) -> float:
        return self.nbytes / MiB / statistics.median(self.wall[contender])

    def measured(self, contender: str) -> list[float]:
        """The samples the verdict is on: CPU for round trips, wall time for bulk."""
        return self.wall[contender] if self.bulk else self.cpu[contender]

    def spread(self, contender: str) -> float:
        samples = self.measured(contender)
        return (max(samples) - min(samples)) / statistics.median(samples)

    @property
    def ratio(self) -> float:
        """Ferrosock over the stdlib: CPU per round trip (lower is better), or throughput
        (higher is better)."""
        ferro = statistics.median(self.measured(FERROSOCK))
        std = statistics.median(self.measured(STDLIB))
        return std / ferro if self.bulk else ferro / std

    @property
    def met(self) -> bool:
        return self.ratio >= self.target if self.bulk else self.ratio <= self.target

    def cells(self, contender: str) -> list[str]:
        if self.bulk:
            return [
                f"{self.mib_per_s(contender):.0f} MiB/s",
                f"{statistics.median(self.wall[contender]):.3f} s",
            ]
        return [
            f"{self.per_op_us(self.cpu[contender]):.2f} µs/rt",
            f"{self.per_op_us(self.wall[contender]):.2f} µs/rt",
        ]

    def row(self) -> list[str]:
        return [
            self.name,
            *(cell for c in CONTENDERS for cell in self.cells(c)),
            f"{self.ratio:.3f}",
            f"{'>=' if self.bulk else '<='} {self.target:.2f}",
            "met" if self.met else "NOT MET",
            f"{max(self.spread(c) for c in CONTENDERS):.1%}",
        ]

    def to_json(self, types: dict[str, str]) -> dict[str, Any]:
        def numbers(c: str) -> dict[str, Any]:
            return {
                "ssl_socket": types[c],
                "wall_s": self.wall[c],
                "cpu_s": self.cpu[c],
                "peer_cpu_s": self.peer_cpu[c],
                "median_wall_s": statistics.median(self.wall[c]),
                "median_cpu_s": statistics.median(self.cpu[c]),
                "spread": self.spread(c),
                "cpu_per_round_trip_us": None if self.bulk else self.per_op_us(self.cpu[c]),
                "wall_per_round_trip_us": None if self.bulk else self.per_op_us(self.wall[c]),
                "mib_per_s": self.mib_per_s(c) if self.bulk else None,
            }

        return {
            "workload": self.name,
            "ratio": self.ratio,
            "ratio_meaning": (
                "ferrosock throughput / stdlib throughput; higher is better for ferrosock"
                if self.bulk
                else "ferrosock CPU per round trip / stdlib's; lower is better for ferrosock"
            ),
            "target": self.target,
            "target_is": "minimum" if self.bulk else "maximum",
            "met": self.met,
            "round_trips": self.ops,
            "bytes": self.nbytes,
            "contenders": {c: numbers(c) for c in CONTENDERS},
        }


class TlsTable(Table):
    """The suite's table; in markdown, aligned like the socket suite's, with ≤ and ≥."""

    def markdown(self) -> str:
        lines = super().markdown().replace("| <= ", "| ≤ ").replace("| >= ", "| ≥ ").split("\n")
        # Workload left, the verdict centred, numbers right.
        aligns = ["---"] + ["---:"] * (len(self.headers) - 3) + [":---:", "---:"]
        lines[3] = "|" + "|".join(aligns) + "|"
        return "\n".join(lines)


def _table(settings: Settings, workloads: list[Workload], session: dict[str, Any]) -> Table:
    headers = ["workload"]
    for c in CONTENDERS:
        headers += [LABELS[c], f"{LABELS[c]} wall"]
    headers += ["ratio", "target", "verdict", "spread"]
    table = TlsTable(
        title=(
            f"tls: TLS 1.3 over loopback, stdlib ssl.SSLSocket vs ferrosock.ssl.SSLSocket "
            f"({settings.repeat} repeat(s), median shown)"
        ),
        headers=headers,
    )
    for w in workloads:
        table.rows.append(w.row())
        table.data.append(w.to_json(session["ssl_socket"]))
    pings = [w for w in workloads if not w.bulk]
    bulks = [w for w in workloads if w.bulk]
    table.notes.append(
        "ping-pong: stdlib/ferrosock = CPU per round trip of both processes, wall = wall time "
        "per round trip; ratio = ferrosock CPU / stdlib CPU (below 1.00 ferrosock uses less)."
    )
    table.notes.append(
        "bulk: stdlib/ferrosock = throughput, wall = time of the transfer; ratio = ferrosock "
        "throughput / stdlib throughput (above 1.00 ferrosock is faster)."
    )
    table.notes.append(
        "spread = (highest - lowest) / median of the measured samples, the noisier contender."
    )
    table.notes.append(
        "target: CPU per round trip at most "
        f"{ROUND_TRIP_TARGET:.2f}x the stdlib's: "
        + ", ".join(f"{w.name.split(' x')[0]} {w.ratio:.3f}x" for w in pings)
        + f" ({'met' if all(w.met for w in pings) else 'not met'})"
    )
    for w in bulks:
        table.notes.append(
            f"target: {w.name} at least {BULK_TARGET:.2f}x the stdlib's throughput: "
            f"{w.ratio:.3f}x ({'met' if w.met else 'not met'})"
        )
        # Not the target, but steadier than throughput when the machine is shared.
        per_mib = {c: statistics.median(w.cpu[c]) / (w.nbytes / MiB) * 1e3 for c in CONTENDERS}
        table.notes.append(
            f"{w.name}, CPU of both processes: "
            + ", ".join(f"{LABELS[c]} {per_mib[c]:.2f} ms/MiB" for c in CONTENDERS)
            + f" (ferrosock / stdlib {per_mib[FERROSOCK] / per_mib[STDLIB]:.2f})"
        )
    table.notes.append(
        "negotiated: "
        + "; ".join(
            f"{LABELS[c]} {session['ssl_socket'][c]}, {session['version'][c]} "
            f"{session['cipher'][c]}"
            for c in CONTENDERS
        )
    )
    return table


def run(settings: Settings, progress: Callable[[str], None]) -> list[Table]:
    problem = check()
    if problem:
        raise TlsUnavailable(problem)
    rounds = settings.rounds
    nbytes = settings.bulk_mib * MiB
    view = memoryview(bytearray(RECV_BUFSIZE))
    contenders = {c: Contender.load(c) for c in CONTENDERS}

    ping_1 = Workload(f"ping-pong 1 B x{rounds}", rounds, rounds, ROUND_TRIP_TARGET)
    ping_1k = Workload(f"ping-pong 1 KiB x{rounds}", rounds, rounds * 1024, ROUND_TRIP_TARGET)
    bulk = Workload(f"bulk {settings.bulk_mib} MiB", 0, nbytes, BULK_TARGET)
    lockstep, streaming = settings.placement.lockstep, settings.placement.streaming

    def ping(size: int) -> Callable[[Any], tuple[float, float, float]]:
        def measure(tls: Any) -> tuple[float, float, float]:
            _ping_pong(tls, size, min(rounds, WARMUP_ROUNDS))
            return _ping_pong(tls, size, rounds)

        return measure

    # (result, peer CPU, samples per repeat, measure on a fresh connection)
    workloads: list[
        tuple[Workload, int | None, int, Callable[[Any], tuple[float, float, float]]]
    ] = [
        (ping_1, lockstep, 1, ping(1)),
        (ping_1k, lockstep, 1, ping(1024)),
        (bulk, streaming, BULK_PASSES, lambda tls: _bulk(tls, nbytes, view)),
    ]
    session: dict[str, dict[str, str]] = {"ssl_socket": {}, "version": {}, "cipher": {}}

    with tempfile.TemporaryDirectory(prefix="ferrosock-bench-tls-") as tmp:
        cert, key = make_certificate(Path(tmp))
        ctx = client_context(cert)
        peers: dict[str, TlsPeer] = {}
        try:
            with pinned(settings.placement.client):
                for c in CONTENDERS:
                    peers[c] = TlsPeer(c, cert, key)
                for c in CONTENDERS:
                    peers[c].pin(streaming)
                    port = peers[c].port
                    names = _on_connection(
                        contenders[c], ctx, port, partial(_check_peer, contenders[c])
                    )
                    for item, value in zip(("ssl_socket", "version", "cipher"), names):
                        session[item][c] = value
                    # First touch of the buffers and the code paths, outside any timing.
                    warmup = partial(_bulk, nbytes=min(nbytes, WARMUP_BYTES), view=view)
                    _on_connection(contenders[c], ctx, port, warmup)
                for r in range(settings.repeat):
                    for result, peer_at, samples, measure in workloads:
                        for _ in range(samples):
                            for c in CONTENDERS:
                                peers[c].pin(peer_at)
                                elapsed, own_cpu, peer_cpu = _on_connection(
                                    contenders[c], ctx, peers[c].port, measure
                                )
                                cpu = own_cpu + peer_cpu
                                result.wall[c].append(elapsed)
                                result.cpu[c].append(cpu)
                                result.peer_cpu[c].append(peer_cpu)
                                progress(
                                    f"[{NAME} {r + 1}/{settings.repeat}] {result.name:<24} "
                                    f"{LABELS[c]:<9} {elapsed:8.3f} s, CPU {cpu:8.3f} s"
                                )
        finally:
            for peer in peers.values():
                peer.close(ctx)
    return [_table(settings, [ping_1, ping_1k, bulk], session)]
