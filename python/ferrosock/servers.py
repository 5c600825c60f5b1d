"""Native servers: Rust on tokio, started, watched and stopped from Python.

Every server binds in its constructor (so ``OSError: [Errno 98] Address already in use``
raises at once; port 0 picks a free port), then::

    srv.start()          # returns at once; serves in the background
    srv.address          # the bound (host, port)
    srv.serve_forever()  # blocks, GIL released, until stop() or Ctrl-C
    srv.stop(timeout=5.0)
    srv.stats()          # connections, messages and bytes in/out, errors, uptime

or ``with EchoServer(("127.0.0.1", 0)) as srv: ...`` to start and stop around a block.

Options every server takes: ``reuse_address`` (default: on for TCP, so a restart does not trip
over TIME_WAIT; off for UDP, where it would let two servers share a port), ``backlog=128`` (TCP),
``max_connections`` (TCP: more clients wait in the backlog), ``idle_timeout`` (seconds a TCP
connection may stay silent), ``write_timeout`` (TCP: seconds a reply may make no progress, the
peer not reading it, before the connection is closed; default ``idle_timeout``, none without
it), ``keepalive`` (TCP, see below) and ``log`` (a callable given one line per request, as the
lesson's servers print them; ``stop()`` returns only after every line queued for a request, so
for every answered request, has been given to it, within its ``timeout``).

``write_timeout`` means "no progress for that long", not "the whole reply within it": a large
reply to a slow reader that keeps reading finishes. It bounds both a reply waiting for room in
the kernel's send buffer and bytes waiting there unacknowledged (``TCP_USER_TIMEOUT``), so a
peer that writes and never reads cannot hold a ``max_connections`` slot.

``keepalive`` (TCP servers; default ``True``) turns on ``SO_KEEPALIVE`` for every connection,
so a peer that vanished while idle is noticed even without ``idle_timeout``: ``True`` probes
after 60 s of silence, every 10 s, 5 times (a dead peer is closed after about 110 s; Linux's
own defaults would take over 2 hours); a number ``N`` is the idle seconds (probes every
``min(N, 10)`` s, 5 of them); ``(idle, interval, count)`` sets all three (whole seconds, at least
1); ``None`` or ``False`` turns it off. With ``write_timeout`` set too, Linux ends a connection
whose probes go unanswered once it has been silent for ``write_timeout`` and one probe failed.

The chat relay's protocol (UTF-8 text datagrams)::

    /join NAME      -> "ok: joined as NAME"       register NAME for your address
    @NAME text      -> "ok: delivered to NAME"    NAME receives "from YOU: text"
    /who            -> "users: a, b, c"
    /leave          -> "ok: bye"
    anything wrong  -> "error: <why>"             (unknown user, name taken or too long,
                                                   malformed command, not UTF-8, server full)

Registrations expire after ``idle_timeout`` seconds without activity (default 300).
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from . import _native
from ._native import ChatError

__all__ = [
    "ChatError",
    "ChatServer",
    "DatagramServer",
    "EchoServer",
    "FramedServer",
    "ReplyServer",
    "Server",
    "StreamServer",
    "TimeServer",
]

Address = Any
Handler = Callable[[bytes, Any], Optional[bytes]]


class Server:
    """Common lifecycle of the native servers (see the module docstring)."""

    _native: _native.Server

    def __init__(self, address: Address, behaviour: str, **options: Any) -> None:
        self._native = _native.Server(address, behaviour, **options)

    @property
    def address(self) -> Any:
        """The address the server is bound to."""
        return self._native.address

    @property
    def kind(self) -> str:
        """``"tcp"`` or ``"udp"``."""
        return self._native.kind

    @property
    def running(self) -> bool:
        return self._native.running

    def start(self) -> Server:
        """Start serving in the background and return at once."""
        self._native.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, let in-flight replies finish (up to ``timeout``), close all."""
        self._native.stop(timeout)

    def serve_forever(self) -> None:
        """Serve until :meth:`stop` or Ctrl-C (which stops the server, then propagates)."""
        self._native.serve_forever()

    def stats(self) -> dict[str, Any]:
        """Counters: connections_open/total, messages_in/out, bytes_in/out, errors, uptime."""
        return self._native.stats()

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "not running"
        return f"<{type(self).__name__} {self.kind} {self.address} {state}>"


class EchoServer(Server):
    """Sends back every byte (TCP) or every datagram (UDP) it receives."""

    def __init__(self, address: Address, kind: str = "tcp", **options: Any) -> None:
        super().__init__(address, "echo", kind=kind, **options)


class ReplyServer(Server):
    """The lesson's hello server for any number of clients: answers each message with ``reply``."""

    def __init__(
        self, address: Address, reply: bytes = b"hi", kind: str = "tcp", **options: Any
    ) -> None:
        super().__init__(address, "reply", kind=kind, reply=bytes(reply), **options)


class TimeServer(Server):
    """The lesson's UDP time server: each datagram is a ``time.strftime`` format.

    An empty datagram means ``'%Y-%m-%d %X'``. The reply is the local time formatted exactly as
    ``time.strftime`` formats it here (glibc's flags, widths and ``E``/``O`` modifiers included,
    in the time zone ``TZ`` names); a format that is not UTF-8, holds a NUL or would not fit in
    one datagram gets a reply starting ``error:``.
    """

    def __init__(self, address: Address, **options: Any) -> None:
        super().__init__(address, "time", **options)


class ChatServer(Server):
    """A UDP chat relay: the lesson's QQ chat for many users (protocol in the module docstring)."""

    def __init__(
        self,
        address: Address,
        *,
        max_users: int = 1024,
        idle_timeout: float = 300.0,
        max_name: int = 32,
        **options: Any,
    ) -> None:
        super().__init__(
            address,
            "chat",
            max_users=max_users,
            idle_timeout=idle_timeout,
            max_name=max_name,
            **options,
        )


class StreamServer(Server):
    """``socketserver`` with the I/O in Rust: ``handler(data, peer)`` runs for each chunk read.

    Its return value (bytes, or None for no reply) is written back. A handler that raises or
    returns anything else is logged on the ``ferrosock.servers`` logger and that connection is
    closed; the others go on.

    The handler runs on the tokio worker that read the data, like an asyncio Protocol's
    ``data_received`` on the loop: fast, but while it runs that worker serves nothing else.
    Pass ``blocking=True`` if the handler may block (sleep, file or network I/O): each call
    then runs on tokio's blocking threads while the worker goes on serving its other
    connections, at the cost of a copy and two thread wake-ups per message.
    """

    def __init__(
        self, address: Address, handler: Handler, *, blocking: bool = False, **options: Any
    ) -> None:
        super().__init__(
            address, "handler", kind="tcp", handler=handler, blocking=blocking, **options
        )


class DatagramServer(Server):
    """Like :class:`StreamServer` for UDP: ``handler(data, peer)`` runs for each datagram
    (``blocking=True`` as there)."""

    def __init__(
        self, address: Address, handler: Handler, *, blocking: bool = False, **options: Any
    ) -> None:
        super().__init__(
            address, "handler", kind="udp", handler=handler, blocking=blocking, **options
        )


class FramedServer(Server):
    """Like :class:`StreamServer`, but ``handler(message, peer)`` gets whole messages.

    Messages are length-prefixed as :mod:`ferrosock.framing` writes them (``header="!I"``, the
    lesson's ``struct.pack('!I', n)``); replies go back framed the same way. A length over
    ``max_size`` gets one framed ``error: ...`` reply, then the connection is closed.
    """

    def __init__(
        self,
        address: Address,
        handler: Handler,
        header: str = "!I",
        max_size: int = 64 * 1024 * 1024,
        *,
        blocking: bool = False,
        **options: Any,
    ) -> None:
        super().__init__(
            address,
            "framed",
            handler=handler,
            header=header,
            max_size=max_size,
            blocking=blocking,
            **options,
        )
