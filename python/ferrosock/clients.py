"""Native clients for the native servers: blocking, GIL released, Ctrl-C interruptible.

Every call takes ``timeout=`` (seconds; None waits for ever) and raises ``TimeoutError`` when
it passes.
"""

from __future__ import annotations

from ._native import ChatClient, ChatError, echo, time_query

__all__ = ["ChatClient", "ChatError", "echo", "time_query"]
