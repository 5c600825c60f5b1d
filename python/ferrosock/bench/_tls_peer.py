"""The far end of a ``tls`` benchmark connection: a TLS server on one contender's module.

:class:`TlsPeer` starts one with ``--module socket|ferrosock`` and a certificate and key. It
listens on 127.0.0.1 port 0 with that module's ``socket``, prints the port, then serves one
connection at a time: accept, ``SSLContext.wrap_socket(conn, server_side=True)`` (TLS 1.3),
then commands over TLS, each a header ``!cQQ`` (a mode byte and two numbers):

- ``T``: reply with the qualified name of the type ``wrap_socket`` returned, length-prefixed
  (the benchmark checks it: ferrosock's contender must not be the stdlib's ``SSLSocket``);
- ``P size count``: echo ``size * count`` bytes as they arrive (``recv`` + ``sendall``), then
  send this process's CPU time over the echo as ``!d`` seconds (the ping-pong workloads);
- ``S nbytes``: ``sendall`` that many bytes of :data:`PATTERN` in 1 MiB chunks, then the CPU
  time of that as ``!d`` (the bulk workload);
- ``C``: close this connection; ``Q``: exit.

With ``--module ferrosock``, ``ferrosock.ssl`` is imported first, so the stdlib context's
``wrap_socket`` hands a ferrosock socket to ferrosock's TLS.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import socket as _std
import ssl
import struct
import subprocess
import sys
import time
from types import ModuleType
from typing import Any

from ._peer import HOST, accept_forever

HEADER = struct.Struct("!cQQ")
CPU = struct.Struct("!d")
NAME_LEN = struct.Struct("!H")
TYPE = b"T"
PING = b"P"
SOURCE = b"S"
CLOSE = b"C"
QUIT = b"Q"

SERVER_HOSTNAME = "localhost"
SEND_CHUNK = 1 << 20
ECHO_BUFSIZE = 65536
# Byte i of a bulk transfer is i % 256, so the receiver can check any piece of it cheaply.
PATTERN = bytes(range(256))


def request(mode: bytes, a: int = 0, b: int = 0) -> bytes:
    """A command to a peer: what to do, and how much."""
    return HEADER.pack(mode, a, b)


def server_context(cert: str, key: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(cert, key)
    return ctx


def client_context(cert: str) -> ssl.SSLContext:
    """Verifies the peer's self-signed certificate and its name, ``localhost``."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_verify_locations(cert)
    return ctx


def type_name(obj: Any) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def recv_exactly(conn: Any, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise ConnectionError(f"tls peer: connection closed after {len(data)} of {n} bytes")
        data += chunk
    return data


def _echo(conn: Any, nbytes: int) -> float:
    recv = conn.recv
    sendall = conn.sendall
    left = nbytes
    start = time.process_time()
    while left:
        data = recv(ECHO_BUFSIZE)
        if not data:
            raise ConnectionError(f"tls peer: echo ended {left} bytes short")
        sendall(data)
        left -= len(data)
    return time.process_time() - start


def _source(conn: Any, nbytes: int) -> float:
    chunk = memoryview(PATTERN * (SEND_CHUNK // len(PATTERN)))
    sendall = conn.sendall
    left = nbytes
    start = time.process_time()
    while left >= SEND_CHUNK:
        sendall(chunk)
        left -= SEND_CHUNK
    if left:
        sendall(chunk[:left])
    return time.process_time() - start


def _session(tls: Any) -> bool:
    """Serve one TLS connection's commands; False once told to quit."""
    while True:
        header = tls.recv(HEADER.size)
        if not header:
            return True
        if len(header) < HEADER.size:
            header += recv_exactly(tls, HEADER.size - len(header))
        mode, a, b = HEADER.unpack(header)
        if mode == TYPE:
            name = type_name(tls).encode()
            tls.sendall(NAME_LEN.pack(len(name)) + name)
        elif mode == PING:
            tls.sendall(CPU.pack(_echo(tls, a * b)))
        elif mode == SOURCE:
            tls.sendall(CPU.pack(_source(tls, a)))
        elif mode == CLOSE:
            return True
        elif mode == QUIT:
            return False
        else:
            raise ValueError(f"tls peer: unknown mode {mode!r}")


def serve(mod: ModuleType, ctx: ssl.SSLContext) -> int:
    def handle(conn: Any) -> bool:
        conn.setsockopt(mod.IPPROTO_TCP, mod.TCP_NODELAY, 1)
        with ctx.wrap_socket(conn, server_side=True) as tls:
            return _session(tls)

    return accept_forever(mod, handle)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ferrosock.bench._tls_peer")
    parser.add_argument("--module", choices=["socket", "ferrosock"], required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    args = parser.parse_args(argv)
    if args.module == "ferrosock":
        importlib.import_module("ferrosock.ssl")
    # Same as the benchmark's own side: no collector pauses inside a timed loop.
    gc.disable()
    return serve(importlib.import_module(args.module), server_context(args.cert, args.key))


# Not ``-m ferrosock.bench._tls_peer``: the package imports this module, and runpy warns.
_PEER_MAIN = "import sys; from ferrosock.bench._tls_peer import main; sys.exit(main())"


class TlsPeer:
    """A running TLS peer process for one contender module; ``close()`` stops it."""

    def __init__(self, module: str, cert: str, key: str) -> None:
        cmd = [sys.executable, "-c", _PEER_MAIN, "--module", module, "--cert", cert, "--key", key]
        self.module = module
        self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line.strip():
            code = self._proc.wait()
            self._proc.stdout.close()
            raise RuntimeError(f"the {module} TLS peer exited with status {code} before listening")
        self.port = int(line)

    def pin(self, cpu: int | None) -> None:
        """Move the peer to one CPU (None: leave it where it is)."""
        if cpu is not None:
            os.sched_setaffinity(self._proc.pid, {cpu})

    def close(self, ctx: ssl.SSLContext | None = None) -> None:
        """Tell the peer to quit (over TLS, with ``ctx``, the stdlib's), or kill it."""
        if self._proc.poll() is None:
            try:
                if ctx is None:
                    raise OSError("no client context")
                with _std.create_connection((HOST, self.port), timeout=5) as raw:
                    with ctx.wrap_socket(raw, server_hostname=SERVER_HOSTNAME) as tls:
                        tls.sendall(request(QUIT))
                self._proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self._proc.kill()
                self._proc.wait()
        assert self._proc.stdout is not None
        self._proc.stdout.close()
