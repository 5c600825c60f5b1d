"""ferrosock: Python's ``socket`` module on Rust (PyO3, socket2, tokio).

``import ferrosock as socket`` and a program written for the stdlib runs on Rust-backed
sockets: the same classes of exceptions with the same errno and message, the same timeouts and
blocking rules, Ctrl-C working while blocked. Constants, exception classes and name-resolution
helpers are the stdlib's own objects, so values, enums and ``except socket.timeout`` all agree.
"""

from __future__ import annotations

import socket as _std

# From the stdlib itself: its exception classes (so `except socket.timeout` catches ferrosock's
# timeouts), its enums, and its name-resolution and conversion helpers (pure functions of the
# platform, with no socket object involved).
from socket import (
    CMSG_LEN,
    CMSG_SPACE,
    AddressFamily,
    AddressInfo,
    MsgFlag,
    SocketKind,
    close,
    error,
    gaierror,
    getaddrinfo,
    getfqdn,
    gethostbyaddr,
    gethostbyname,
    gethostbyname_ex,
    gethostname,
    getnameinfo,
    getprotobyname,
    getservbyname,
    getservbyport,
    has_ipv6,
    herror,
    htonl,
    htons,
    if_indextoname,
    if_nameindex,
    if_nametoindex,
    inet_aton,
    inet_ntoa,
    inet_ntop,
    inet_pton,
    ntohl,
    ntohs,
    recv_fds,
    send_fds,
    sethostname,
    timeout,
)

from . import _functions, _native, _ssl_hook
from ._functions import create_connection, create_server, fromfd, has_dualstack_ipv6, socketpair
from ._native import dup, getdefaulttimeout, setdefaulttimeout
from ._patch import is_patched as is_patched
from ._patch import patch as patch
from ._patch import patched as patched
from ._patch import unpatch as unpatch
from ._sockobj import SocketIO, SocketType, socket

__version__: str = _native.__version__

_functions._remember_own()

# TLS: SSLContext.wrap_socket() of a ferrosock socket gives a ferrosock.ssl.SSLSocket, whether
# `ssl` is imported before or after ferrosock (without importing it for programs that don't).
_ssl_hook.arm()

# Every constant of the platform's socket module (AF_*, SOCK_*, SOL_*, SO_*, IPPROTO_*, TCP_*,
# SHUT_*, MSG_*, ...), as the stdlib's own objects: enum members where the stdlib has them.
_CONSTANTS = {
    name: value
    for name, value in vars(_std).items()
    if name[:1].isupper() and isinstance(value, (int, str))
}
globals().update(_CONSTANTS)

__all__ = [
    "socket",
    "SocketType",
    "SocketIO",
    "CMSG_LEN",
    "CMSG_SPACE",
    "AddressFamily",
    "AddressInfo",
    "MsgFlag",
    "SocketKind",
    "error",
    "gaierror",
    "herror",
    "timeout",
    "create_connection",
    "create_server",
    "fromfd",
    "socketpair",
    "dup",
    "close",
    "getdefaulttimeout",
    "setdefaulttimeout",
    "has_dualstack_ipv6",
    "has_ipv6",
    "getaddrinfo",
    "getfqdn",
    "gethostbyaddr",
    "gethostbyname",
    "gethostbyname_ex",
    "gethostname",
    "getnameinfo",
    "getprotobyname",
    "getservbyname",
    "getservbyport",
    "htonl",
    "htons",
    "ntohl",
    "ntohs",
    "if_indextoname",
    "if_nameindex",
    "if_nametoindex",
    "inet_aton",
    "inet_ntoa",
    "inet_ntop",
    "inet_pton",
    "sethostname",
    "send_fds",
    "recv_fds",
    *sorted(_CONSTANTS),
]
