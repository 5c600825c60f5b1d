"""The ``socket`` suite: TCP ping-pong and bulk transfer over loopback, stdlib vs ferrosock.

- ping-pong: ``sendall`` a request of 1 B or 1 KiB, ``recv`` until the whole echo is back,
  with TCP_NODELAY on both ends; the time of ``rounds`` round trips.
- bulk: the peer ``sendall``s ``bulk_mib`` MiB, this side ``recv_into`` a preallocated buffer
  until EOF; the time from the request to the last byte, sampled ``BULK_PASSES`` times a repeat.

Both ends of a measurement use the same module, in two processes, placed on CPUs by
``settings.placement`` (by default: one shared CPU for ping-pong, two for bulk; see
``_machine.placement``). The contenders take turns, sample after sample, so drift hits both
alike.
"""

from __future__ import annotations

import gc
import importlib
import time
from types import ModuleType
from typing import Any, Callable

from ._peer import ECHO, SOURCE, Peer, request
from ._results import CONTENDERS, LABELS, MiB, Settings, WorkloadResult

NAME = "socket"
SUMMARY = "TCP ping-pong (1 B, 1 KiB) and bulk sendall/recv_into over loopback"

# Round trips may cost at most 5% more than the stdlib's; bulk must be at least as fast.
ROUND_TRIP_TARGET = 1.05
BULK_TARGET = 1.00
# A bulk transfer lasts tens of ms, short enough to be blurred by one hiccup of a shared
# machine: each repeat takes this many samples of it, all of them in the median.
BULK_PASSES = 5
RECV_BUFSIZE = 256 * 1024
WARMUP_ROUNDS = 1000
WARMUP_BYTES = 4 * MiB


def timed_round_trips(sock: Any, size: int, rounds: int) -> tuple[float, float]:
    """Wall and CPU time of ``rounds`` echo round trips of ``size`` bytes on ``sock`` (a
    plain or a TLS socket: the socket and tls suites time the same loop)."""
    message = b"x" * size
    sendall = sock.sendall
    recv = sock.recv
    gc.disable()
    try:
        cpu = time.process_time()
        start = time.perf_counter()
        for _ in range(rounds):
            sendall(message)
            got = len(recv(size))
            while got < size:
                more = len(recv(size - got))
                if not more:
                    raise ConnectionError(f"echo ended after {got} of {size} bytes")
                got += more
        elapsed = time.perf_counter() - start
        return elapsed, time.process_time() - cpu
    finally:
        gc.enable()


def _ping_pong(sock: Any, size: int, rounds: int) -> float:
    return timed_round_trips(sock, size, rounds)[0]


def _bulk(peer: Peer, mod: ModuleType, nbytes: int, view: memoryview) -> float:
    with peer.connect(mod) as sock:
        recv_into = sock.recv_into
        got = 0
        gc.disable()
        try:
            start = time.perf_counter()
            sock.sendall(request(SOURCE, nbytes))
            while True:
                n = recv_into(view)
                if not n:
                    break
                got += n
            elapsed = time.perf_counter() - start
        finally:
            gc.enable()
    if got != nbytes:
        raise RuntimeError(f"bulk: received {got} bytes, expected {nbytes}")
    return elapsed


def _measure_ping_pong(peer: Peer, mod: ModuleType, size: int, rounds: int) -> float:
    with peer.connect(mod) as sock:
        sock.setsockopt(mod.IPPROTO_TCP, mod.TCP_NODELAY, 1)
        sock.sendall(request(ECHO))
        _ping_pong(sock, size, min(rounds, WARMUP_ROUNDS))
        return _ping_pong(sock, size, rounds)


def run(settings: Settings, progress: Callable[[str], None]) -> list[WorkloadResult]:
    rounds = settings.rounds
    nbytes = settings.bulk_mib * MiB
    view = memoryview(bytearray(RECV_BUFSIZE))
    modules = {c: importlib.import_module(c) for c in CONTENDERS}

    ping_1 = WorkloadResult(f"ping-pong 1 B x{rounds}", rounds, rounds, ROUND_TRIP_TARGET)
    ping_1k = WorkloadResult(f"ping-pong 1 KiB x{rounds}", rounds, rounds * 1024, ROUND_TRIP_TARGET)
    bulk = WorkloadResult(f"bulk {settings.bulk_mib} MiB", 0, nbytes, BULK_TARGET)
    lockstep, streaming = settings.placement.lockstep, settings.placement.streaming
    # (result, peer CPU, samples per repeat, measure)
    workloads: list[tuple[WorkloadResult, int | None, int, Callable[[Peer, ModuleType], float]]] = [
        (ping_1, lockstep, 1, lambda peer, mod: _measure_ping_pong(peer, mod, 1, rounds)),
        (ping_1k, lockstep, 1, lambda peer, mod: _measure_ping_pong(peer, mod, 1024, rounds)),
        (bulk, streaming, BULK_PASSES, lambda peer, mod: _bulk(peer, mod, nbytes, view)),
    ]

    peers: dict[str, Peer] = {}
    try:
        for c in CONTENDERS:
            peers[c] = Peer(c)
        for c in CONTENDERS:
            peers[c].pin(streaming)
            # First touch of the buffers and the code paths, outside any timing.
            _bulk(peers[c], modules[c], min(nbytes, WARMUP_BYTES), view)
        for r in range(settings.repeat):
            for result, peer_cpu, samples, measure in workloads:
                for _ in range(samples):
                    for c in CONTENDERS:
                        peers[c].pin(peer_cpu)
                        elapsed = measure(peers[c], modules[c])
                        result.times[c].append(elapsed)
                        progress(
                            f"[{NAME} {r + 1}/{settings.repeat}] {result.name:<24} "
                            f"{LABELS[c]:<9} {elapsed:8.3f} s"
                        )
    finally:
        for peer in peers.values():
            peer.close()
    return [ping_1, ping_1k, bulk]
