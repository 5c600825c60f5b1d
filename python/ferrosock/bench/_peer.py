"""The far end of a benchmark connection: a process that echoes or streams with one module.

:class:`Peer` starts one with ``--module socket|ferrosock``. It listens on
127.0.0.1 port 0, prints the port, then serves one connection at a time. Each connection opens
with a header, ``!cQ``: a mode byte and a number.

- ``E``: echo whatever arrives until EOF (the ping-pong workloads);
- ``S``: send that many bytes with ``sendall``, then close (the bulk workload);
- ``Q``: exit.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import socket as _std
import struct
import subprocess
import sys
from types import ModuleType
from typing import Any, Callable

HEADER = struct.Struct("!cQ")
ECHO = b"E"
SOURCE = b"S"
QUIT = b"Q"

HOST = "127.0.0.1"
SEND_CHUNK = 1 << 20
ECHO_BUFSIZE = 65536


def request(mode: bytes, arg: int = 0) -> bytes:
    """The header that opens a connection to a peer: what to do, and how much."""
    return HEADER.pack(mode, arg)


# A peer whose benchmark vanished (killed without sending QUIT) exits after this long idle.
IDLE_TIMEOUT = 300.0


def _recv_exactly(conn: Any, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise ConnectionError(f"peer: connection closed after {len(data)} of {n} bytes")
        data += chunk
    return data


def _echo(conn: Any) -> None:
    recv = conn.recv
    sendall = conn.sendall
    while True:
        data = recv(ECHO_BUFSIZE)
        if not data:
            return
        sendall(data)


def _source(conn: Any, nbytes: int) -> None:
    chunk = memoryview(bytes(SEND_CHUNK))
    sendall = conn.sendall
    left = nbytes
    while left >= SEND_CHUNK:
        sendall(chunk)
        left -= SEND_CHUNK
    if left:
        sendall(chunk[:left])


def accept_forever(mod: ModuleType, handle: Callable[[Any], bool]) -> int:
    """Listen on a free loopback port (printed, once listening), and ``handle(conn)`` each
    connection, blocking, until it returns False (0) or nobody connects for IDLE_TIMEOUT (1)."""
    with mod.socket(mod.AF_INET, mod.SOCK_STREAM) as listener:
        listener.bind((HOST, 0))
        listener.listen(8)
        listener.settimeout(IDLE_TIMEOUT)
        # Printed after listen(): once the benchmark reads it, a connect succeeds at once.
        print(listener.getsockname()[1], flush=True)
        while True:
            try:
                conn, _ = listener.accept()
            except mod.timeout:
                return 1
            with conn:
                conn.setblocking(True)
                if not handle(conn):
                    return 0


def serve(mod: ModuleType) -> int:
    def handle(conn: Any) -> bool:
        mode, arg = HEADER.unpack(_recv_exactly(conn, HEADER.size))
        if mode == QUIT:
            return False
        if mode == ECHO:
            conn.setsockopt(mod.IPPROTO_TCP, mod.TCP_NODELAY, 1)
            _echo(conn)
        elif mode == SOURCE:
            _source(conn, arg)
        else:
            raise ValueError(f"peer: unknown mode {mode!r}")
        return True

    return accept_forever(mod, handle)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ferrosock.bench._peer")
    parser.add_argument("--module", choices=["socket", "ferrosock"], required=True)
    args = parser.parse_args(argv)
    # Same as the benchmark's own side: no collector pauses inside a timed loop.
    gc.disable()
    return serve(importlib.import_module(args.module))


# Not ``-m ferrosock.bench._peer``: the package imports this module, and runpy warns.
_PEER_MAIN = "import sys; from ferrosock.bench._peer import main; sys.exit(main())"


class Peer:
    """A running peer process for one contender module; ``close()`` stops it."""

    def __init__(self, module: str) -> None:
        cmd = [sys.executable, "-c", _PEER_MAIN, "--module", module]
        self.module = module
        self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line.strip():
            code = self._proc.wait()
            raise RuntimeError(f"the {module} peer exited with status {code} before listening")
        self.port = int(line)

    def pin(self, cpu: int | None) -> None:
        """Move the peer to one CPU (None: leave it where it is)."""
        if cpu is not None:
            os.sched_setaffinity(self._proc.pid, {cpu})

    def connect(self, mod: ModuleType) -> Any:
        """A connection to this peer, made with ``mod``; send a :func:`request` first."""
        return mod.create_connection((HOST, self.port))

    def close(self) -> None:
        if self._proc.poll() is None:
            try:
                with _std.create_connection((HOST, self.port), timeout=5) as s:
                    s.sendall(request(QUIT))
                self._proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self._proc.kill()
                self._proc.wait()
        assert self._proc.stdout is not None
        self._proc.stdout.close()

    def __enter__(self) -> Peer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__":
    sys.exit(main())
