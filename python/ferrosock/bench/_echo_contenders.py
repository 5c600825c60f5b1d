"""The servers of the ``echo`` suite, one process each, and the handle the suite holds on one.

A Python contender runs as ``python -c _SERVER_MAIN KEY``: it listens on 127.0.0.1 port 0,
prints the port, and serves until killed, or until its stdin closes (the suite went away).
The tokio ceiling is the ``examples/tokio_echo`` binary, which prints ``listening on
HOST:PORT``. The three "+ handler" contenders call the same Python function per chunk read,
:func:`echo_handler`, so they differ only in what calls it.
"""

from __future__ import annotations

import asyncio
import os
import select
import socket
import socketserver
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

HOST = "127.0.0.1"
BACKLOG = 1024
RECV_BUFSIZE = 65536
# A server that prints no port in this long has failed to start.
START_TIMEOUT = 30.0


@dataclass(frozen=True)
class Contender:
    key: str
    label: str
    # None: always available; "tokio": the example binary; "uvloop": the uvloop package.
    needs: str | None = None


TOKIO = "tokio"
NATIVE_ECHO = "ferrosock-echo"
NATIVE_HANDLER = "ferrosock-handler"
# The EchoServer with an idle limit, whose timer is pushed back on every message: served for
# the instructions suite only (the echo suite's table has the plain one).
NATIVE_ECHO_IDLE = "ferrosock-echo-idle"
IDLE_TIMEOUT = 60.0
ASYNCIO_HANDLER = "asyncio-handler"
UVLOOP_HANDLER = "uvloop-handler"

# Table order: the ceiling, ours, then the Python servers, the handler trio together.
CONTENDERS = (
    Contender(TOKIO, "tokio echo (ceiling)", "tokio"),
    Contender(NATIVE_ECHO, "ferrosock EchoServer"),
    Contender(NATIVE_HANDLER, "ferrosock StreamServer + handler"),
    Contender(ASYNCIO_HANDLER, "asyncio Protocol + handler"),
    Contender(UVLOOP_HANDLER, "uvloop Protocol + handler", "uvloop"),
    Contender("asyncio-protocol", "asyncio Protocol"),
    Contender("uvloop-protocol", "uvloop Protocol", "uvloop"),
    Contender("asyncio-streams", "asyncio streams"),
    Contender("uvloop-streams", "uvloop streams", "uvloop"),
    Contender("socketserver", "socketserver ThreadingTCPServer"),
)
BY_KEY = {c.key: c for c in CONTENDERS}


def echo_handler(data: bytes, peer: Any) -> bytes | None:
    """The trivial handler: what ferrosock's StreamServer and the handler Protocols call."""
    return data


# --- the server side: runs in the contender's process ---------------------------------------


def _announce(port: int) -> None:
    print(port, flush=True)


def _exit_when_orphaned() -> None:
    # The suite holds our stdin; EOF means it closed us or died without killing us.
    def watch() -> None:
        sys.stdin.buffer.read()
        os._exit(0)

    threading.Thread(target=watch, name="orphan-watch", daemon=True).start()


def _serve_native(key: str) -> None:
    from ferrosock import runtime, servers

    # One core for the server, so one worker: more would only take turns on it.
    runtime.configure(workers=1)
    if key == NATIVE_ECHO:
        server: servers.Server = servers.EchoServer((HOST, 0), backlog=BACKLOG)
    elif key == NATIVE_ECHO_IDLE:
        server = servers.EchoServer((HOST, 0), backlog=BACKLOG, idle_timeout=IDLE_TIMEOUT)
    else:
        server = servers.StreamServer((HOST, 0), echo_handler, backlog=BACKLOG)
    # Bound and listening since construction: a connect made now waits in the backlog.
    _announce(server.address[1])
    server.serve_forever()


class _EchoRequestHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        conn = self.request
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while True:
                data = conn.recv(RECV_BUFSIZE)
                if not data:
                    return
                conn.sendall(data)
        except ConnectionError:
            # The load generator drops the connections it has a request in flight on.
            return


class _ThreadingServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    request_queue_size = BACKLOG


def _serve_socketserver() -> None:
    with _ThreadingServer((HOST, 0), _EchoRequestHandler) as server:
        _announce(server.server_address[1])
        server.serve_forever()


class _EchoProtocol(asyncio.Protocol):
    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)


class _HandlerProtocol(asyncio.Protocol):
    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.peer = transport.get_extra_info("peername")

    def data_received(self, data: bytes) -> None:
        reply = echo_handler(data, self.peer)
        if reply is not None:
            self.transport.write(reply)


async def _echo_stream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            data = await reader.read(RECV_BUFSIZE)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def _serve_asyncio(style: str) -> None:
    loop = asyncio.get_running_loop()
    if style == "streams":
        server = await asyncio.start_server(_echo_stream, HOST, 0, backlog=BACKLOG)
    else:
        factory = _HandlerProtocol if style == "handler" else _EchoProtocol
        server = await loop.create_server(factory, HOST, 0, backlog=BACKLOG)
    _announce(server.sockets[0].getsockname()[1])
    async with server:
        await server.serve_forever()


def _event_loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop]:
    if name == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    return asyncio.new_event_loop


def serve(key: str) -> int:
    """Serve as contender ``key`` until killed."""
    if (key not in BY_KEY and key != NATIVE_ECHO_IDLE) or key == TOKIO:
        print(f"unknown echo contender {key!r}", file=sys.stderr)
        return 2
    _exit_when_orphaned()
    if key in (NATIVE_ECHO, NATIVE_ECHO_IDLE, NATIVE_HANDLER):
        _serve_native(key)
    elif key == "socketserver":
        _serve_socketserver()
    else:
        loop_name, style = key.split("-", 1)
        loop = _event_loop_factory(loop_name)()
        asyncio.set_event_loop(loop)
        loop.run_until_complete(_serve_asyncio(style))
    return 0


def main() -> int:
    try:
        return serve(sys.argv[1])
    except KeyboardInterrupt:
        return 130


# Not ``-m``: the package imports this module, and runpy warns (as in ``_peer``).
_SERVER_MAIN = "import sys; from ferrosock.bench._echo_contenders import main; sys.exit(main())"


# --- the suite's side -------------------------------------------------------------------------


def _threads(pid: int) -> list[int]:
    return [int(tid) for tid in os.listdir(f"/proc/{pid}/task")]


def pin_threads(pid: int, cpu: int | None) -> dict[int, set[int]]:
    """Put every thread of ``pid`` on ``cpu``; returns what each had, for :func:`unpin_threads`.

    ``sched_setaffinity(pid)`` moves one thread only, and a runtime's worker threads already
    exist by the time a server says it is ready. Threads started later inherit the CPU of the
    thread that starts them.
    """
    before: dict[int, set[int]] = {}
    if cpu is None:
        return before
    for tid in _threads(pid):
        try:
            before[tid] = os.sched_getaffinity(tid)
            os.sched_setaffinity(tid, {cpu})
        except ProcessLookupError:  # the thread ended meanwhile
            continue
    return before


def unpin_threads(pid: int, before: dict[int, set[int]]) -> None:
    """Give back the CPUs :func:`pin_threads` took; threads born since get the main thread's."""
    if pid not in before:
        return
    for tid in _threads(pid):
        try:
            os.sched_setaffinity(tid, before.get(tid, before[pid]))
        except ProcessLookupError:
            continue


class ServerProcess:
    """A contender's server: started, ready (port printed), all of its threads on ``cpu``."""

    def __init__(
        self,
        contender: Contender,
        cpu: int | None,
        tokio_binary: Path | None,
        tokio_args: tuple[str, ...] = ("--workers", "1"),
    ) -> None:
        if contender.key == TOKIO:
            if tokio_binary is None:
                raise ValueError("the tokio contender needs the example binary")
            cmd = [str(tokio_binary), "--addr", f"{HOST}:0", *tokio_args]
        else:
            cmd = [sys.executable, "-c", _SERVER_MAIN, contender.key]
        self.contender = contender
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        try:
            self.port = self._read_port()
            pin_threads(self._proc.pid, cpu)
        except BaseException:
            self.close()
            raise

    def _read_port(self) -> int:
        assert self._proc.stdout is not None
        ready, _, _ = select.select([self._proc.stdout], [], [], START_TIMEOUT)
        line = self._proc.stdout.readline().decode() if ready else ""
        if not line.strip():
            raise RuntimeError(f"{self.contender.label}: the server did not start")
        # "PORT" from the Python servers, "listening on HOST:PORT" from the tokio one.
        return int(line.strip().rsplit(":", 1)[-1])

    @property
    def pid(self) -> int:
        return self._proc.pid

    def close(self) -> None:
        proc = self._proc
        if proc.stdin is not None:
            proc.stdin.close()
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
