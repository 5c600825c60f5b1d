"""The tokio runtime behind ferrosock's native servers and clients.

One runtime per process, started on first use with one worker thread per core. Size it
before that with :func:`configure`; it shuts down by itself at interpreter exit. A forked
child gets a fresh runtime on its first use.
"""

from __future__ import annotations

import atexit

from . import _native

__all__ = ["configure", "workers", "running", "shutdown"]


def configure(workers: int | None = None) -> None:
    """Set the number of worker threads (None: one per core). Call before first use.

    It sizes both runtimes: the servers' workers (one current-thread tokio runtime per
    thread, connections handed out in turn) and the multi-thread runtime of the async
    clients and the load generator.
    """
    _native.runtime_configure(workers)


def workers() -> int:
    """Worker threads of the running runtimes, or of the next ones to start."""
    return _native.runtime_workers()


def running() -> bool:
    """Whether the runtime has started in this process."""
    return _native.runtime_running()


def shutdown(timeout: float = 1.0) -> None:
    """Stop the runtime, giving running tasks ``timeout`` seconds. It restarts on next use."""
    _native.runtime_shutdown(timeout)


atexit.register(shutdown)
