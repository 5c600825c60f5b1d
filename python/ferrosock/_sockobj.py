"""The ``ferrosock.socket`` class: the Rust socket plus what the stdlib writes in Python.

CPython's ``socket.socket`` subclasses the C ``_socket.socket`` to add enum-typed properties,
``accept()`` returning a socket object, ``makefile()``, ``dup()``, ``__repr__`` and the
context-manager protocol. This module does the same on top of ``ferrosock._native.socket``,
so the system calls, timeouts, blocking and errors all live in Rust.
"""

from __future__ import annotations

import io
import os
import socket as _std
import struct as _struct
import warnings as _warnings
from typing import Any

from . import _native

__all__ = ["socket", "SocketType", "SocketIO"]

SocketType = _native.socket
SocketIO = _std.SocketIO

_AddressFamily = _std.AddressFamily
_SocketKind = _std.SocketKind


def _intenum_converter(value: int, enum_klass: type) -> Any:
    """Convert a numeric family value to an IntEnum member, leaving unknown values as ints."""
    try:
        return enum_klass(value)
    except ValueError:
        return value


class socket(_native.socket):
    """A socket object backed by Rust; the API of :class:`socket.socket`."""

    __slots__ = ["_io_refs", "_closed"]
    __module__ = "ferrosock"

    def __init__(
        self,
        family: int = -1,
        type: int = -1,
        proto: int = -1,
        fileno: int | None = None,
    ) -> None:
        if fileno is None:
            if family == -1:
                family = _std.AF_INET
            if type == -1:
                type = _std.SOCK_STREAM
            if proto == -1:
                proto = 0
        self._io_refs = 0
        self._closed = False
        _native.socket._init(self, family, type, proto, fileno)

    def __enter__(self) -> socket:
        return self

    def __exit__(self, *args: object) -> None:
        if not self._closed:
            self.close()

    def __repr__(self) -> str:
        closed = getattr(self, "_closed", False)
        cls = self.__class__
        s = (
            f"<{cls.__module__}.{cls.__qualname__}{' [closed]' if closed else ''}"
            f" fd={self.fileno()}, family={self.family!s}, type={self.type!s}, proto={self.proto}"
        )
        if not closed:
            try:
                laddr = self.getsockname()
                if laddr:
                    s += f", laddr={laddr}"
            except (OSError, AttributeError):
                pass
            try:
                raddr = self.getpeername()
                if raddr:
                    s += f", raddr={raddr}"
            except (OSError, AttributeError):
                pass
        return s + ">"

    def __getstate__(self) -> Any:
        raise TypeError(f"cannot pickle {self.__class__.__name__!r} object")

    def __del__(self) -> None:
        # CPython's socket finalizer: warn about, then close, a socket nobody closed; what the
        # close itself reports (EBADF for a descriptor closed behind its back) is ignored.
        if _native.socket.fileno(self) != -1:
            try:
                _warnings.warn(f"unclosed {self!r}", ResourceWarning, stacklevel=1, source=self)
            finally:
                try:
                    os.close(_native.socket.detach(self))
                except OSError:
                    pass

    def dup(self) -> socket:
        """Duplicate the socket: a new socket object on a duplicate of the descriptor."""
        fd = _native.dup(self.fileno())
        sock = self.__class__(self.family, self.type, self.proto, fileno=fd)
        sock.settimeout(self.gettimeout())
        return sock

    def accept(self) -> tuple[socket, Any]:
        """Wait for a connection; return ``(socket, address)``."""
        fd, addr = self._accept()
        sock = socket(self.family, self.type, self.proto, fileno=fd)
        # A listening socket with a timeout hands out blocking connections unless a default
        # timeout says otherwise (as the stdlib does).
        if _native.getdefaulttimeout() is None and self.gettimeout():
            sock.setblocking(True)
        return sock, addr

    def makefile(
        self,
        mode: str = "r",
        buffering: int | None = None,
        *,
        encoding: str | None = None,
        errors: str | None = None,
        newline: str | None = None,
    ) -> Any:
        """Return a file object reading/writing this socket (see :meth:`socket.socket.makefile`)."""
        if not set(mode) <= {"r", "w", "b"}:
            raise ValueError(f"invalid mode {mode!r} (only r, w, b allowed)")
        writing = "w" in mode
        reading = "r" in mode or not writing
        assert reading or writing
        binary = "b" in mode
        rawmode = ""
        if reading:
            rawmode += "r"
        if writing:
            rawmode += "w"
        raw = SocketIO(self, rawmode)
        self._io_refs += 1
        if buffering is None:
            buffering = -1
        if buffering < 0:
            buffering = io.DEFAULT_BUFFER_SIZE
        if buffering == 0:
            if not binary:
                raise ValueError("unbuffered streams must be binary")
            return raw
        buffer: io.BufferedIOBase
        if reading and writing:
            buffer = io.BufferedRWPair(raw, raw, buffering)
        elif reading:
            buffer = io.BufferedReader(raw, buffering)
        else:
            buffer = io.BufferedWriter(raw, buffering)
        if binary:
            return buffer
        if hasattr(io, "text_encoding"):  # 3.10+: honours -X warn_default_encoding
            encoding = io.text_encoding(encoding)
        text = io.TextIOWrapper(buffer, encoding, errors, newline)
        text.mode = mode  # type: ignore[misc]
        return text

    # The stdlib writes sendfile in Python over the public socket API (fileno, send,
    # gettimeout); those functions work unchanged on this class.
    sendfile = _std.socket.sendfile
    _sendfile_use_sendfile = _std.socket._sendfile_use_sendfile  # type: ignore[attr-defined]
    _sendfile_use_send = _std.socket._sendfile_use_send  # type: ignore[attr-defined]
    _check_sendfile_params = _std.socket._check_sendfile_params  # type: ignore[attr-defined]

    def sendmsg_afalg(
        self,
        msg: Any = (),
        *,
        op: int,
        iv: Any = None,
        assoclen: int | None = None,
        flags: int = 0,
    ) -> int:
        """Send to an AF_ALG (kernel crypto) socket: ``sendmsg`` with the ALG control messages."""
        ancdata = [(_std.SOL_ALG, _std.ALG_SET_OP, _struct.pack("I", op))]
        if iv is not None:
            iv = bytes(iv)
            ancdata.append((_std.SOL_ALG, _std.ALG_SET_IV, _struct.pack("I", len(iv)) + iv))
        if assoclen is not None:
            if assoclen < 0:
                raise TypeError("assoclen must be non-negative")
            ancdata.append((_std.SOL_ALG, _std.ALG_SET_AEAD_ASSOCLEN, _struct.pack("I", assoclen)))
        return self.sendmsg(msg, ancdata, flags)

    def _decref_socketios(self) -> None:
        if self._io_refs > 0:
            self._io_refs -= 1
        if self._closed:
            self.close()

    def _real_close(self) -> None:
        _native.socket.close(self)

    def close(self) -> None:
        """Close the socket (deferred while makefile() objects are still open)."""
        self._closed = True
        if self._io_refs <= 0:
            self._real_close()

    def detach(self) -> int:
        """Close the socket object without closing the descriptor, and return it."""
        self._closed = True
        return super().detach()

    @property
    def family(self) -> Any:  # type: ignore[override]
        """The address family, as an :class:`socket.AddressFamily` member."""
        return _intenum_converter(super().family, _AddressFamily)

    @property
    def type(self) -> Any:  # type: ignore[override]
        """The socket type, as a :class:`socket.SocketKind` member."""
        return _intenum_converter(super().type, _SocketKind)

    def get_inheritable(self) -> bool:
        return os.get_inheritable(self.fileno())

    def set_inheritable(self, inheritable: bool) -> None:
        os.set_inheritable(self.fileno(), inheritable)

    get_inheritable.__doc__ = "Get the inheritable flag of the socket"
    set_inheritable.__doc__ = "Set the inheritable flag of the socket"
