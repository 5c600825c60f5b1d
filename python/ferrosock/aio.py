"""asyncio on ferrosock: streams, datagrams, servers and the native clients, awaitable.

Streams are driven by the running loop's readiness callbacks, with the I/O and the framing in
Rust: when a connection is readable, one Rust call reads what is there into a buffer kept in
Rust, and ``await stream.recv()`` / ``recv_msg()`` take from it without leaving the loop's
thread (a tokio future per call would cost a thread hop each time; see the README's design
note). The one-shot clients (``time_query``, ``echo``, ``ChatClient``) are tokio futures bridged
with pyo3-async-runtimes. Everything works under the default loop, under uvloop, and in a
running loop such as Jupyter's (top-level ``await``)::

    stream = await aio.connect("127.0.0.1", 8898)
    await stream.send_msg(b"hello")
    reply = await stream.recv_msg()
    stream.close()
    await stream.wait_closed()
"""

from __future__ import annotations

import asyncio
import errno as _errno
import os
import socket as _std
from typing import Any, Awaitable, Callable

from . import _native
from ._native import AsyncChatClient, ChatError
from ._sockobj import socket as _socket
from .framing import DEFAULT_MAX_SIZE

__all__ = [
    "ChatClient",
    "ChatError",
    "Datagram",
    "Server",
    "Stream",
    "bind_udp",
    "connect",
    "echo",
    "start_server",
    "time_query",
]

#: Reading pauses while this much is buffered and unread (back-pressure on the peer).
HIGH_WATER = 1024 * 1024


class Stream:
    """A connected TCP (or AF_UNIX) stream driven by the running event loop."""

    def __init__(self, fd: int, peer: Any = None) -> None:
        self._loop = asyncio.get_running_loop()
        self._core = _native.StreamCore(fd)
        self._fd = fd
        self.peer = peer
        self._waiter: asyncio.Future[None] | None = None
        self._error: BaseException | None = None
        self._reading = False
        self._closed = False
        self._closed_event = asyncio.Event()
        self._resume_reading()

    # ---- readiness plumbing (runs on the loop's thread) ----

    def _resume_reading(self) -> None:
        if not self._reading and not self._closed and not self._core.at_eof:
            self._loop.add_reader(self._fd, self._on_readable)
            self._reading = True

    def _pause_reading(self) -> None:
        if self._reading:
            self._loop.remove_reader(self._fd)
            self._reading = False

    def _on_readable(self) -> None:
        try:
            n = self._core.fill()
        except OSError as exc:
            self._error = exc
            n = 0
        if n == 0:
            self._pause_reading()
        elif n > 0 and self._core.buffered >= HIGH_WATER:
            self._pause_reading()
        if n != -1:
            self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _wait_readable(self, what: str) -> None:
        if self._waiter is not None:
            raise RuntimeError(f"{what}() called while another task is already waiting to read")
        if self._closed:
            raise OSError(9, "Bad file descriptor")
        self._resume_reading()
        self._waiter = self._loop.create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def _raise_pending_error(self) -> None:
        if self._error is not None:
            raise self._error
        if self._closed:
            raise OSError(9, "Bad file descriptor")

    # ---- reading ----

    async def recv(self, n: int = 65536) -> bytes:
        """Up to ``n`` bytes (at least one); ``b""`` at end of stream."""
        while True:
            data = self._core.take(n)
            if data:
                if not self._reading:
                    self._resume_reading()
                return data
            self._raise_pending_error()
            if self._core.at_eof:
                return b""
            await self._wait_readable("recv")

    async def recv_exactly(self, n: int) -> bytes:
        """Exactly ``n`` bytes; IncompleteFrame if the stream ends first."""
        while True:
            data = self._core.take_exactly(n)
            if data is not None:
                self._resume_reading()
                return data
            self._raise_pending_error()
            await self._wait_readable("recv_exactly")

    async def recv_msg(self, header: str = "!I", max_size: int = DEFAULT_MAX_SIZE) -> bytes | None:
        """The next framed message (see :mod:`ferrosock.framing`); None at a clean end."""
        while True:
            data = self._core.take_msg(header, max_size)
            if data is not None:
                self._resume_reading()
                return data
            self._raise_pending_error()
            if self._core.at_eof:
                return None
            await self._wait_readable("recv_msg")

    # ---- writing ----

    async def _drain(self, rest: bytes) -> None:
        view = memoryview(rest)
        while view:
            sent = self._core.send(view)
            if sent:
                view = view[sent:]
                continue
            writable = self._loop.create_future()
            self._loop.add_writer(self._fd, writable.set_result, None)
            try:
                await writable
            finally:
                self._loop.remove_writer(self._fd)

    async def send(self, data: bytes) -> None:
        """Send all of ``data``."""
        if self._closed:
            raise OSError(9, "Bad file descriptor")
        sent = self._core.send(data)
        if sent < len(data):
            await self._drain(memoryview(data)[sent:].tobytes())

    async def send_msg(self, data: bytes, header: str = "!I") -> None:
        """Send ``data`` as one framed message."""
        if self._closed:
            raise OSError(9, "Bad file descriptor")
        rest = self._core.send_msg(data, header)
        if rest is not None:
            await self._drain(rest)

    def write_eof(self) -> None:
        """Half-close: tell the peer no more data is coming."""
        self._core.shutdown_write()

    # ---- closing ----

    def close(self) -> None:
        """Close the connection (idempotent). Pending reads raise OSError."""
        if self._closed:
            return
        self._pause_reading()
        self._closed = True
        try:
            self._core.close()
        finally:
            self._wake()
            self._closed_event.set()

    async def wait_closed(self) -> None:
        await self._closed_event.wait()

    @property
    def closed(self) -> bool:
        return self._closed

    async def __aenter__(self) -> Stream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
        await self.wait_closed()


async def _connect(loop: asyncio.AbstractEventLoop, sock: _socket, address: Any) -> None:
    """A non-blocking connect completed through the loop's writer callback (the same on every
    loop implementation, unlike loop.sock_connect with a non-stdlib socket)."""
    err = sock.connect_ex(address)
    if err in (0, _errno.EISCONN):
        return
    if err not in (_errno.EINPROGRESS, _errno.EAGAIN, _errno.EINTR):
        raise OSError(err, os.strerror(err))
    writable = loop.create_future()
    loop.add_writer(sock.fileno(), writable.set_result, None)
    try:
        await writable
    finally:
        loop.remove_writer(sock.fileno())
    err = sock.getsockopt(_std.SOL_SOCKET, _std.SO_ERROR)
    if err:
        raise OSError(err, os.strerror(err))


async def connect(
    host: str,
    port: int,
    *,
    timeout: float | None = None,
    keepalive: bool | float | tuple[float, float, int] | None = True,
) -> Stream:
    """Open a TCP connection to ``(host, port)``; ``timeout`` bounds the connect only.

    ``keepalive`` is the servers' option (see ``ferrosock.servers``): ``True`` (the default)
    probes after 60 s of silence, every 10 s, 5 times, so a server that vanished while the
    stream waits in ``recv`` is noticed in about 110 s (``recv`` raises ``TimeoutError``)
    instead of never; a number is the idle seconds, ``(idle, interval, count)`` sets all three,
    ``None``/``False`` turns it off. On by default because a stream lives long and its reads
    have no timeout, unlike the one-shot ``echo`` whose ``timeout`` already bounds it.
    """
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=_std.SOCK_STREAM)
    last: OSError | None = None
    for family, kind, proto, _, address in infos:
        sock = _socket(family, kind, proto)
        try:
            sock.setblocking(False)
            sock.setsockopt(_std.IPPROTO_TCP, _std.TCP_NODELAY, 1)
            _native.set_keepalive(sock.fileno(), keepalive)
            await asyncio.wait_for(_connect(loop, sock, address), timeout)
            peer = sock.getpeername()
            return Stream(sock.detach(), peer)
        except OSError as exc:
            last = exc
        finally:
            sock.close()
    raise last if last is not None else OSError("getaddrinfo returned no address")


Handler = Callable[[Stream], Awaitable[Any]]


class Server:
    """A TCP server whose connections are :class:`Stream` objects handed to ``handler``."""

    def __init__(self, listener: _socket, handler: Handler) -> None:
        self._loop = asyncio.get_running_loop()
        self._listener = listener
        self._handler = handler
        self._tasks: set[asyncio.Task[Any]] = set()
        self._streams: set[Stream] = set()
        self._closed = False
        self._stats = {"connections_open": 0, "connections_total": 0, "errors": 0}
        self.address = listener.getsockname()
        self._loop.add_reader(listener.fileno(), self._on_acceptable)

    def _on_acceptable(self) -> None:
        try:
            accepted = _native.accept_ready(self._listener.fileno())
        except OSError:
            self._stats["errors"] += 1
            return
        for fd, peer in accepted:
            stream = Stream(fd, peer)
            self._streams.add(stream)
            self._stats["connections_total"] += 1
            self._stats["connections_open"] += 1
            task = self._loop.create_task(self._serve(stream))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _serve(self, stream: Stream) -> None:
        try:
            await self._handler(stream)
        except asyncio.CancelledError:
            raise
        except Exception:
            # A handler whose stream was closed by close() is not at fault.
            if not self._closed:
                self._stats["errors"] += 1
                self._loop.call_exception_handler(
                    {"message": "ferrosock.aio handler failed", "exception": _current_exception()}
                )
        finally:
            stream.close()
            self._streams.discard(stream)
            self._stats["connections_open"] -= 1

    def close(self) -> None:
        """Stop accepting and close every connection; handlers see their streams closed."""
        if self._closed:
            return
        self._closed = True
        self._loop.remove_reader(self._listener.fileno())
        self._listener.close()
        for stream in list(self._streams):
            stream.close()

    async def wait_closed(self) -> None:
        """Wait for the handlers of closed connections to finish."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def is_serving(self) -> bool:
        return not self._closed

    def stats(self) -> dict[str, int]:
        return dict(self._stats)

    async def __aenter__(self) -> Server:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
        await self.wait_closed()


def _current_exception() -> BaseException | None:
    import sys

    return sys.exc_info()[1]


async def start_server(
    handler: Handler,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    backlog: int = 128,
    keepalive: bool | float | tuple[float, float, int] | None = True,
) -> Server:
    """Serve ``handler(stream)`` for each connection to ``(host, port)``; returns the Server.

    ``keepalive`` is the native servers' option (see ``ferrosock.servers``), set on every
    accepted connection: ``True`` (the default, as for the servers) probes after 60 s of
    silence, every 10 s, 5 times, so a peer that vanished while its handler waits in ``recv``
    is noticed in about 110 s (``recv`` raises ``TimeoutError``) instead of never; a number is
    the idle seconds, ``(idle, interval, count)`` sets all three, ``None``/``False`` turns it
    off. A bad value raises the servers' ``ValueError``/``TypeError`` before anything is bound.
    """
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=_std.SOCK_STREAM, flags=_std.AI_PASSIVE)
    family, kind, proto, _, address = infos[0]
    listener = _socket(family, kind, proto)
    try:
        # Set on the listener, validated as every keepalive= is: Linux copies SO_KEEPALIVE and
        # TCP_KEEPIDLE/INTVL/CNT to each connection it accepts, so none costs a system call.
        _native.set_keepalive(listener.fileno(), keepalive)
        listener.setsockopt(_std.SOL_SOCKET, _std.SO_REUSEADDR, 1)
        listener.bind(address)
        listener.listen(backlog)
        listener.setblocking(False)
    except BaseException:
        listener.close()
        raise
    return Server(listener, handler)


class Datagram:
    """A UDP socket driven by the running loop: ``await sendto()``, ``await recvfrom()``."""

    def __init__(self, sock: _socket) -> None:
        self._loop = asyncio.get_running_loop()
        self._sock = sock
        self.address = sock.getsockname()

    async def _wait(self, add: Callable[..., None], remove: Callable[[int], object]) -> None:
        ready = self._loop.create_future()
        add(self._sock.fileno(), ready.set_result, None)
        try:
            await ready
        finally:
            remove(self._sock.fileno())

    async def sendto(self, data: bytes, address: Any) -> int:
        while True:
            try:
                return self._sock.sendto(data, address)
            except BlockingIOError:
                await self._wait(self._loop.add_writer, self._loop.remove_writer)

    async def recvfrom(self, bufsize: int = 65536) -> tuple[bytes, Any]:
        while True:
            try:
                return self._sock.recvfrom(bufsize)
            except BlockingIOError:
                await self._wait(self._loop.add_reader, self._loop.remove_reader)

    def close(self) -> None:
        self._sock.close()

    async def __aenter__(self) -> Datagram:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


async def bind_udp(address: tuple[str, int] = ("127.0.0.1", 0)) -> Datagram:
    """A UDP socket bound to ``address``."""
    family = _std.AF_INET6 if ":" in address[0] else _std.AF_INET
    sock = _socket(family, _std.SOCK_DGRAM)
    try:
        sock.bind(address)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return Datagram(sock)


def time_query(address: Any, fmt: str = "", *, timeout: float | None = 5.0) -> Awaitable[str]:
    """Ask a time server for the time in ``fmt`` (a tokio future)."""
    return _native.aio_time_query(address, fmt, timeout=timeout)


def echo(
    address: Any,
    data: bytes,
    *,
    kind: str = "tcp",
    timeout: float | None = 5.0,
    keepalive: bool | float | tuple[float, float, int] | None = False,
) -> Awaitable[bytes]:
    """Send ``data`` to an echo server and return what comes back (a tokio future).

    ``keepalive`` (TCP) is off by default, as for ``ferrosock.clients.echo``: ``timeout``
    bounds the request; turn it on when waiting without one.
    """
    return _native.aio_echo(address, bytes(data), kind=kind, timeout=timeout, keepalive=keepalive)


class ChatClient:
    """An async chat user: ``client = await aio.ChatClient.connect(address, name)``."""

    def __init__(self, native: AsyncChatClient) -> None:
        self._native = native

    @classmethod
    async def connect(cls, address: Any, name: str, *, timeout: float | None = 5.0) -> ChatClient:
        return cls(await AsyncChatClient.connect(address, name, timeout=timeout))

    @property
    def name(self) -> str:
        return self._native.name

    async def send(self, to: str, text: str) -> None:
        await self._native.send(to, text)

    async def who(self) -> list[str]:
        return await self._native.who()

    async def recv(self, timeout: float | None = None) -> tuple[str, str]:
        return await self._native.recv(timeout)

    async def close(self) -> None:
        await self._native.close()

    async def __aenter__(self) -> ChatClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
