"""Native clients for the native servers: blocking, GIL released, Ctrl-C interruptible.

Every call takes ``timeout=`` (seconds; None waits for ever) and raises ``socket.timeout`` when
it passes (the builtin ``TimeoutError`` from Python 3.10 on; its own ``OSError`` subclass on 3.9).
"""

from __future__ import annotations

from ._native import ChatClient, ChatError, echo, time_query

__all__ = ["ChatClient", "ChatError", "echo", "time_query"]
