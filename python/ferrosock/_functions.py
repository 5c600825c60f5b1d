"""Module-level functions of the stdlib's ``socket`` that create sockets, returning ferrosock's.

The stdlib writes these in Python on top of its socket class; these are ferrosock's versions on
top of :class:`ferrosock.socket`, with the stdlib's signatures and error behaviour.

Like the stdlib's, they look up ``socket``, ``getaddrinfo``, ``dup``, ... at call time, so a test
that replaces one (``mock.patch("ferrosock.socket")``) controls them. Called through
``ferrosock`` they use ferrosock's names; installed into the stdlib module by ``patch()``, the
stdlib module's (``mock.patch("socket.socket")`` then takes effect), unless the name was
replaced on ``ferrosock`` itself.
"""

from __future__ import annotations

import socket as _std
import sys
from typing import Any

from . import _native, _patch

__all__ = [
    "create_connection",
    "create_server",
    "fromfd",
    "socketpair",
    "has_dualstack_ipv6",
]

_GLOBAL_DEFAULT_TIMEOUT = _std._GLOBAL_DEFAULT_TIMEOUT  # type: ignore[attr-defined]
_PACKAGE = __name__.rpartition(".")[0]
# The names these functions look up, and ferrosock's own object for each (set by the package's
# __init__ once it has them all).
_LOOKED_UP = ("socket", "getaddrinfo", "dup", "has_dualstack_ipv6")
_OWN: dict[str, Any] = {}


def _remember_own() -> None:
    package = sys.modules[_PACKAGE]
    _OWN.update((name, getattr(package, name)) for name in _LOOKED_UP)


def _ns(name: str) -> Any:
    """The object `name` means for these functions now (see the module docstring)."""
    ours = getattr(sys.modules[_PACKAGE], name)
    if ours is not _OWN.get(name, ours) or not _patch.is_patched():
        return ours  # replaced on ferrosock itself, or ferrosock's functions are not installed
    return getattr(_std, name, ours)


def fromfd(fd: int, family: int, type: int, proto: int = 0) -> Any:
    """Create a socket object from a duplicate of the given file descriptor."""
    nfd = _ns("dup")(fd)
    return _ns("socket")(family, type, proto, nfd)


def socketpair(
    family: int | None = None, type: int = _std.SOCK_STREAM, proto: int = 0
) -> tuple[Any, Any]:
    """Create a pair of connected socket objects (AF_UNIX by default)."""
    if family is None:
        family = _std.AF_UNIX
    fd_a, fd_b = _native.socketpair_fds(family, type, proto)
    make = _ns("socket")
    try:
        a = make(family, type, proto, fd_a)
    except BaseException:
        _std.close(fd_a)
        _std.close(fd_b)
        raise
    try:
        b = make(family, type, proto, fd_b)
    except BaseException:
        a.close()
        _std.close(fd_b)
        raise
    return a, b


def create_connection(
    address: tuple[str, int],
    timeout: Any = _GLOBAL_DEFAULT_TIMEOUT,
    source_address: tuple[str, int] | None = None,
    *,
    all_errors: bool = False,
) -> Any:
    """Connect to ``address`` (host, port), trying every address the name resolves to."""
    host, port = address
    exceptions: list[OSError] = []
    make = _ns("socket")
    for res in _ns("getaddrinfo")(host, port, 0, _std.SOCK_STREAM):
        family, kind, proto, _canonname, sockaddr = res
        sock = None
        try:
            sock = make(family, kind, proto)
            if timeout is not _GLOBAL_DEFAULT_TIMEOUT:
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            exceptions.clear()
            return sock
        except OSError as exc:
            if not all_errors:
                exceptions.clear()
            exceptions.append(exc)
            if sock is not None:
                sock.close()
    if exceptions:
        try:
            if not all_errors:
                raise exceptions[0]
            raise ExceptionGroup("create_connection failed", exceptions)  # noqa: F821
        finally:
            exceptions.clear()
    raise OSError("getaddrinfo returns an empty list")


def has_dualstack_ipv6() -> bool:
    """Whether one AF_INET6 socket can accept both IPv4 and IPv6 connections.

    The stdlib's test, on a socket of this module's (it cannot call the stdlib's function: once
    ``patch()`` has installed this one there, that name is this function).
    """
    if not _std.has_ipv6 or not hasattr(_std, "IPPROTO_IPV6") or not hasattr(_std, "IPV6_V6ONLY"):
        return False
    try:
        with _ns("socket")(_std.AF_INET6, _std.SOCK_STREAM) as sock:
            sock.setsockopt(_std.IPPROTO_IPV6, _std.IPV6_V6ONLY, 0)
            return True
    except OSError:
        return False


def create_server(
    address: tuple[str, int],
    *,
    family: int = _std.AF_INET,
    backlog: int | None = None,
    reuse_port: bool = False,
    dualstack_ipv6: bool = False,
) -> Any:
    """Create a TCP socket bound to ``address`` and listening, as :func:`socket.create_server`."""
    if reuse_port and not hasattr(_std, "SO_REUSEPORT"):
        raise ValueError("SO_REUSEPORT not supported on this platform")
    if dualstack_ipv6:
        if not _ns("has_dualstack_ipv6")():
            raise ValueError("dualstack_ipv6 not supported on this platform")
        if family != _std.AF_INET6:
            raise ValueError("dualstack_ipv6 requires AF_INET6 family")
    sock = _ns("socket")(family, _std.SOCK_STREAM)
    try:
        # Like the stdlib: on POSIX a restarted server should not trip over TIME_WAIT.
        try:
            sock.setsockopt(_std.SOL_SOCKET, _std.SO_REUSEADDR, 1)
        except OSError:
            pass
        if reuse_port:
            sock.setsockopt(_std.SOL_SOCKET, _std.SO_REUSEPORT, 1)
        if _std.has_ipv6 and family == _std.AF_INET6:
            sock.setsockopt(_std.IPPROTO_IPV6, _std.IPV6_V6ONLY, 0 if dualstack_ipv6 else 1)
        try:
            sock.bind(address)
        except OSError as err:
            msg = f"{err.strerror} (while attempting to bind on address {address!r})"
            raise OSError(err.errno, msg) from None
        if backlog is None:
            sock.listen()
        else:
            sock.listen(backlog)
        return sock
    except OSError:
        sock.close()
        raise
