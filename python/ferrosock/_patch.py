"""Make the stdlib ``socket`` module hand out ferrosock sockets, as gevent's monkey-patching does.

``patch()`` sets ferrosock's implementations as attributes of the ``socket`` module, so code
that did ``import socket`` long ago (socketserver, selectors, asyncio, http.client, a script
run by ``ferrosock run``) creates ferrosock sockets from then on. Only names the stdlib module
already has are replaced, and only where ferrosock's object is its own (constants, exception
and enum classes are the stdlib's and stay). ``unpatch()`` puts the originals back.
Sockets made before ``patch()`` stay what they are.

TLS: ``ssl.py`` subclasses ``socket.socket`` when it is first imported, so ``patch()`` imports it
(and :mod:`ferrosock.ssl`) before replacing anything: ``ssl.SSLSocket`` stays the stdlib's, and
``SSLContext.wrap_socket()`` returns a :class:`ferrosock.ssl.SSLSocket` for ferrosock sockets.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Iterator

# What a drop-in replaces first and foremost; patch() adds whatever else ferrosock reimplements.
CORE = (
    "socket",
    "SocketType",
    "create_connection",
    "create_server",
    "socketpair",
    "fromfd",
    "getdefaulttimeout",
    "setdefaulttimeout",
)

_lock = threading.Lock()
_originals: dict[str, object] = {}  # name -> the stdlib object, while patched


def replacements() -> dict[str, object]:
    """name -> ferrosock's object, for each stdlib name that ferrosock reimplements."""
    import ferrosock

    names = getattr(ferrosock, "__all__", None)
    if names is None:
        names = [n for n in dir(ferrosock) if not n.startswith("_")]
    found = {}
    for name in (*CORE, *names):
        ours = getattr(ferrosock, name, None)
        theirs = _originals.get(name, getattr(socket, name, None))
        if callable(ours) and theirs is not None and ours is not theirs:
            found[name] = ours
    return found


def patch() -> list[str]:
    """Replace the stdlib socket module's implementations with ferrosock's (idempotent).

    Returns the names that are now ferrosock's.
    """
    # Before any name is replaced: `class SSLSocket(socket)` must see the stdlib's class.
    import ssl  # noqa: F401

    import ferrosock.ssl  # noqa: F401  (installs SSLContext.sslsocket_class)

    with _lock:
        for name, ours in replacements().items():
            _originals.setdefault(name, getattr(socket, name))
            setattr(socket, name, ours)
        return sorted(_originals)


def unpatch() -> None:
    """Put the stdlib's own objects back (a no-op when not patched)."""
    with _lock:
        for name, original in _originals.items():
            setattr(socket, name, original)
        _originals.clear()


def is_patched() -> bool:
    return bool(_originals)


@contextlib.contextmanager
def patched() -> Iterator[list[str]]:
    """``with patched():`` the stdlib socket module is ferrosock's inside the block.

    Restores the previous state on exit: a block inside an already-patched program leaves
    the patch in place.
    """
    was_patched = is_patched()
    names = patch()
    try:
        yield names
    finally:
        if not was_patched:
            unpatch()
