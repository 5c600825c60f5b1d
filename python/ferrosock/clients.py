"""Native clients for the native servers: blocking, GIL released, Ctrl-C interruptible.

Every call takes ``timeout=`` (seconds; None waits for ever) and raises ``socket.timeout`` when
it passes (the builtin ``TimeoutError`` from Python 3.10 on; its own ``OSError`` subclass on 3.9).

``echo(..., keepalive=)`` (TCP) takes what the servers' ``keepalive=`` takes: ``True`` (probes
after 60 s of silence, every 10 s, 5 of them: a vanished server is noticed in about 110 s), a
number of idle seconds, ``(idle, interval, count)``, or ``None``/``False`` (off). It is off by
default here, unlike on the servers and on ``aio.connect``: one request is bounded by its
``timeout`` (5 s by default), long before a first probe would go out, so the probes would cost
system calls for nothing. Turn it on with ``timeout=None``, or a timeout longer than the idle
time, so a server that vanishes mid-request is noticed instead of waited for. ``ChatClient``
speaks UDP: its own ``keepalive=`` (seconds) is how often it reminds the chat server it is
there, not TCP keepalive.
"""

from __future__ import annotations

from ._native import ChatClient, ChatError, echo, time_query

__all__ = ["ChatClient", "ChatError", "echo", "time_query"]
