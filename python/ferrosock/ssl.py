"""TLS on ferrosock sockets: :class:`SSLSocket`, the stdlib's ``ssl.SSLSocket`` over Rust I/O.

The stdlib's ``ssl.SSLSocket`` hands its descriptor to OpenSSL, which reads and writes the
socket itself, so ``_ssl`` accepts nothing but a real ``_socket.socket``. This module keeps the
stdlib's OpenSSL as the TLS engine but drives it the way ``ssl.SSLObject`` and asyncio's
``sslproto`` do: through a pair of ``ssl.MemoryBIO`` buffers (``SSLContext._wrap_bio``), with
the encrypted bytes moved by ferrosock's socket methods (Rust, GIL released). The user's
``SSLContext`` therefore applies unchanged (certificates, verification, ``check_hostname``,
SNI callback, ALPN, ciphers, versions, keylog, sessions), and every error is raised by the
same ``_ssl`` code as with the stdlib: the same ``SSLError`` subclass, message, ``reason``,
``library`` and ``verify_code``.

Importing this module (``ferrosock.patch()`` does) installs :class:`SSLSocket` as
``ssl.SSLContext.sslsocket_class``: ``wrap_socket()`` then returns a ferrosock ``SSLSocket`` for
a ferrosock socket and the stdlib's ``ssl.SSLSocket`` for a stdlib one.

Reads from the socket stop at TLS record boundaries, as OpenSSL's own reads do (it asks for a
record header, then for that record's body): nothing is read ahead of what the TLS engine has
asked for, so ``select()`` on the descriptor together with :meth:`SSLSocket.pending` tells
whether a read would block, exactly as with the stdlib, and after :meth:`SSLSocket.unwrap`
the bytes that follow the peer's ``close_notify`` are still in the socket.
"""

from __future__ import annotations

import _ssl
import contextlib
import errno as _errno
import functools
import socket as _std
import ssl as _stdssl
from typing import Any, Iterator

from . import _native
from ._sockobj import socket

__all__ = ["SSLSocket", "install", "uninstall"]

_StdSSLSocket = _stdssl.SSLSocket
_SSLError = _stdssl.SSLError
_WantRead = _stdssl.SSLWantReadError
_WantWrite = _stdssl.SSLWantWriteError
_MemoryBIO = _stdssl.MemoryBIO

# Unbound method of the Rust socket, bypassing SSLSocket's overrides.
_raw_gettimeout = _native.socket.gettimeout

# How much plaintext one SSL_write is given at a time: large writes are encrypted and sent in
# pieces of this size (four records), so the receiver starts decrypting while the rest is
# encrypted, and a 100 MiB sendall never holds 100 MiB of ciphertext in memory.
_WRITE_CHUNK = 64 * 1024
_HANDSHAKE_TIMEOUT = "The handshake operation timed out"  # prefixed with _ssl.c's location
_READ_TIMEOUT = "The read operation timed out"
_WRITE_TIMEOUT = "The write operation timed out"


@functools.cache
def _error_location(op: str) -> str:
    """The ``(_ssl.c:NNNN)`` that ``_ssl`` puts in errors raised by method ``op``.

    ``_ssl`` names its call site in every message; the stdlib raises ``SSLWantWriteError`` from
    a socket that cannot take more data, which a memory BIO never reports, so ferrosock builds
    that error itself with the location ``_ssl`` would have given it.
    """
    ctx = _stdssl.SSLContext(_stdssl.PROTOCOL_TLS_CLIENT)
    obj = ctx._wrap_bio(_MemoryBIO(), _MemoryBIO(), False, "localhost")  # type: ignore[attr-defined]
    try:
        if op == "write":
            obj.write(b"x")
        elif op == "read":
            obj.read(1)
        else:
            getattr(obj, op)()
    except _SSLError as exc:
        text = str(exc.args[1])
        start = text.rfind(" (")
        return text[start + 1 :] if start >= 0 else ""
    return ""


def _ssl_error(cls: type, code: int, text: str, reason: Any = None, library: Any = None) -> Any:
    """An ``SSLError`` built the way ``_ssl`` builds its own: args and the two attributes."""
    err = cls(code, text)
    err.reason = reason
    err.library = library
    return err


@contextlib.contextmanager
def _stdlib_client_probe(timeout: float | None = None) -> Iterator[tuple[Any, Any]]:
    """(the stdlib's ``_ssl`` client object, its peer) on a real socketpair, for learning what
    this ``_ssl`` does with a socket where a memory BIO cannot show it."""
    import _socket

    class _Probe(_socket.socket):  # weakly referenceable, as _ssl needs
        pass

    a, b = (_Probe(fileno=fd.detach()) for fd in _socket.socketpair())
    try:
        a.settimeout(timeout)
        ctx = _stdssl.SSLContext(_stdssl.PROTOCOL_TLS_CLIENT)
        yield ctx._wrap_socket(a, False, "localhost"), b  # type: ignore[attr-defined]
    finally:
        a.close()
        b.close()


_PEER_GONE = (_errno.EPIPE, _errno.ECONNRESET)


@functools.cache
def _socket_errors_are_eof() -> bool:
    """Whether this ``_ssl`` reports a failed socket read or write as ``SSLEOFError``.

    CPython 3.10 to 3.12 call OpenSSL's ``SSL_read_ex``/``SSL_write_ex``, whose failure
    returns 0, and take that 0 for an EOF: a read or write whose system call fails raises
    ``SSLEOFError('EOF occurred in violation of protocol')``; 3.9 and 3.13 raise the system
    call's ``OSError``, and so do ``do_handshake`` and ``unwrap`` everywhere. Learnt once,
    from a real stdlib write (which starts a handshake) to a closed peer.
    """
    with _stdlib_client_probe() as (obj, peer):
        peer.close()
        try:
            obj.write(b"x")
        except _stdssl.SSLEOFError:
            return True
        except OSError:
            pass
    return False


def _socket_failure(exc: OSError, op: str) -> OSError:
    """What the stdlib raises when the socket under TLS operation ``op`` fails with ``exc``."""
    if op not in ("read", "write") or exc.errno is None:
        return exc
    if isinstance(exc, (_SSLError, _std.timeout, BlockingIOError)):
        return exc
    if not _socket_errors_are_eof():
        return exc
    text = f"EOF occurred in violation of protocol {_error_location(op)}"
    return _ssl_error(_stdssl.SSLEOFError, _ssl.SSL_ERROR_EOF, text)  # type: ignore[no-any-return]


def _bad_length() -> _SSLError:
    """OpenSSL's refusal of a write shorter than the one it still has pending."""
    text = f"[SSL: BAD_LENGTH] bad length {_error_location('write')}"
    return _ssl_error(_SSLError, _ssl.SSL_ERROR_SSL, text, "BAD_LENGTH", "SSL")  # type: ignore[no-any-return]


@functools.cache
def _handshake_timeout_message() -> str:
    """``_ssl``'s handshake timeout message, which starts with its own ``_ssl.c:NNNN: ``.

    Learnt once, from a real stdlib handshake on a socketpair with a timeout too short to wait.
    """
    with _stdlib_client_probe(timeout=1e-9) as (obj, _peer):
        try:
            obj.do_handshake()
        except _std.timeout as exc:
            return str(exc)
    return _HANDSHAKE_TIMEOUT


def _want_write(op: str) -> _WantWrite:
    text = f"The operation did not complete (write) {_error_location(op)}"
    return _ssl_error(_WantWrite, _ssl.SSL_ERROR_WANT_WRITE, text)  # type: ignore[no-any-return]


class SSLSocket(socket):
    """A TLS connection over a ferrosock socket, with the API of :class:`ssl.SSLSocket`.

    Instances come from ``SSLContext.wrap_socket(sock)`` with ``sock`` a ferrosock socket. The
    class is a subclass of :class:`ferrosock.socket`; ``isinstance(s, ssl.SSLSocket)`` holds and
    ``repr()`` reads ``<ssl.SSLSocket ...>``, as for the stdlib's, so code that checks for a
    TLS socket treats it as one.
    """

    __module__ = "ferrosock.ssl"

    # Set in _create (no public constructor); declared here for readers and type checkers.
    _context: Any
    _session: Any
    _sslobj: Any
    _connected: bool
    server_side: bool
    server_hostname: str | None
    do_handshake_on_connect: bool
    suppress_ragged_eofs: bool

    def __init__(self, *args: object, **kwargs: object) -> None:
        raise TypeError(
            f"{self.__class__.__name__} does not have a public "
            f"constructor. Instances are returned by "
            f"SSLContext.wrap_socket()."
        )

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # type: ignore[override]
        # isinstance(s, ssl.SSLSocket) falls back to __class__ when the type itself is not a
        # subclass: code that asks "is this a TLS socket?" (ftplib, asyncio, urllib3) gets yes.
        cls = type(self)
        return _StdSSLSocket if cls is SSLSocket else cls

    @classmethod
    def _create(
        cls,
        sock: Any,
        server_side: bool = False,
        do_handshake_on_connect: bool = True,
        suppress_ragged_eofs: bool = True,
        server_hostname: Any = None,
        context: Any = None,
        session: Any = None,
    ) -> Any:
        if not isinstance(sock, socket):
            # A stdlib socket: the stdlib's own SSLSocket, exactly as without ferrosock.
            return _StdSSLSocket._create(
                sock=sock,
                server_side=server_side,
                do_handshake_on_connect=do_handshake_on_connect,
                suppress_ragged_eofs=suppress_ragged_eofs,
                server_hostname=server_hostname,
                context=context,
                session=session,
            )
        if cls is not SSLSocket and not issubclass(cls, SSLSocket):
            cls = SSLSocket
        # From here on, ssl.SSLSocket._create, with the TLS object made over memory BIOs.
        if sock.getsockopt(_std.SOL_SOCKET, _std.SO_TYPE) != _std.SOCK_STREAM:
            raise NotImplementedError("only stream sockets are supported")
        if server_side:
            if server_hostname:
                raise ValueError("server_hostname can only be specified in client mode")
            if session is not None:
                raise ValueError("session can only be specified in client mode")
        if context.check_hostname and not server_hostname:
            raise ValueError("check_hostname requires server_hostname")

        sock_timeout = sock.gettimeout()
        kwargs = dict(family=sock.family, type=sock.type, proto=sock.proto, fileno=sock.fileno())
        self = cls.__new__(cls, **kwargs)
        socket.__init__(self, **kwargs)
        sock.detach()
        # The descriptor is this object's from here: every failure below closes it (Python
        # 3.13's ssl.py does the same; earlier versions leave it to the garbage collector).
        try:
            self._context = context
            self._session = session
            self._closed = False
            self._sslobj = None
            self._incoming = None
            self._outgoing = None
            self._steady = False
            self.server_side = server_side
            self.server_hostname = context._encode_hostname(server_hostname)
            self.do_handshake_on_connect = do_handshake_on_connect
            self.suppress_ragged_eofs = suppress_ragged_eofs

            # See if we are connected
            try:
                self.getpeername()
            except OSError as e:
                if e.errno != _errno.ENOTCONN:
                    raise
                connected = False
                blocking = self.getblocking()
                self.setblocking(False)
                try:
                    # Data sent before the handshake on a socket that is not connected would
                    # otherwise look as if it came through TLS (the stdlib's check).
                    notconn_pre_handshake_data = socket.recv(self, 1)
                except OSError as e:
                    if e.errno not in (_errno.ENOTCONN, _errno.EINVAL):
                        raise
                    notconn_pre_handshake_data = b""
                self.setblocking(blocking)
                if notconn_pre_handshake_data:
                    reason = "Closed before TLS handshake with data in recv buffer."
                    notconn_pre_handshake_data_error = _ssl_error(
                        _SSLError, e.errno, reason, reason
                    )
                    try:
                        raise notconn_pre_handshake_data_error
                    finally:
                        notconn_pre_handshake_data_error = None  # type: ignore[assignment]
            else:
                connected = True

            self.settimeout(sock_timeout)  # Must come after setblocking() calls.
            self._connected = connected
            if connected:
                self._sslobj = self._new_sslobj()
                if do_handshake_on_connect:
                    timeout = self.gettimeout()
                    if timeout == 0.0:
                        raise ValueError(
                            "do_handshake_on_connect should not be specified for non-blocking "
                            "sockets"
                        )
                    self.do_handshake()
        except BaseException:
            try:
                self.close()
            except OSError:
                pass
            raise
        return self

    def _new_sslobj(self) -> Any:
        """The TLS engine: the context's ``_ssl`` object over two memory BIOs."""
        self._incoming = _MemoryBIO()
        self._outgoing = _MemoryBIO()
        # Moves the ciphertext (Rust): reads stop at record boundaries, see the module's doc.
        self._channel = _native.TlsChannel(self._incoming, self._outgoing)
        self._unsent_len = 0  # the plaintext length a pending non-blocking write() reports
        self._failed_write: int | None = None  # the length of a write the socket refused
        self._steady = False
        return self._context._wrap_bio(
            self._incoming,
            self._outgoing,
            self.server_side,
            self.server_hostname,
            owner=self,
            session=self._session,
        )

    # -- running TLS operations over the socket -------------------------------------------

    @staticmethod
    def _timeout_error(msg: str) -> OSError:
        if msg is _HANDSHAKE_TIMEOUT:
            msg = _handshake_timeout_message()
        return _std.timeout(msg)

    def _io(self, op: Any, args: tuple, op_name: str, msg: str, prefill: bool = False) -> Any:
        """Run a TLS operation (a method of the ``_ssl`` object) to completion.

        The stdlib's ``_ssl`` loop over memory BIOs: when the engine wants to read, send what it
        wrote and read the next piece of a record from the socket. Blocking and timed sockets
        run the loop in Rust (one deadline for the whole operation, as ``_ssl`` has);
        non-blocking ones here, raising the engine's own ``SSLWantReadError``.
        """
        timeout = _raw_gettimeout(self)
        if timeout != 0:
            try:
                keep_going = self._writes_on_its_own(op_name)
                return self._channel.run(self, op, args, prefill, keep_going)
            except _SSLError:
                raise
            except _std.timeout:
                raise self._timeout_error(msg) from None
            except OSError as exc:
                if op_name == "write" and self._channel.unsent:
                    self._failed_write = memoryview(args[0]).nbytes
                raise _socket_failure(exc, op_name) from None
        return self._io_nonblocking(op, args, op_name, prefill)

    def _writes_on_its_own(self, op_name: str) -> bool:
        """Whether what the engine writes during this operation is its own (session tickets,
        which OpenSSL stops sending without an error when the peer has gone)."""
        return op_name == "read" or (op_name == "do_handshake" and self.server_side)

    def _io_nonblocking(self, op: Any, args: tuple, op_name: str, prefill: bool) -> Any:
        channel = self._channel
        incoming = self._incoming
        try:
            if channel.unsent and not channel.flush(self, 0) and op_name != "read":
                raise _want_write(op_name)
            if prefill and not incoming.pending and not incoming.eof and not op.__self__.pending():
                channel.fill(self, 0)
        except _SSLError:
            raise
        except OSError as exc:
            raise _socket_failure(exc, op_name) from None
        while True:
            try:
                result = op(*args)
            except _WantRead:
                try:
                    try:
                        if not channel.flush(self, 0):
                            raise _want_write(op_name) from None
                    except _SSLError:
                        raise
                    except OSError as exc:
                        if not (exc.errno in _PEER_GONE and self._writes_on_its_own(op_name)):
                            raise
                        channel.discard_unsent()  # session tickets for a departed peer
                    if incoming.eof or not channel.fill(self, 0):
                        raise
                except _SSLError:
                    raise
                except OSError as exc:
                    raise _socket_failure(exc, op_name) from None
                continue
            except _SSLError:
                try:  # the alert OpenSSL queued before failing, as its own socket would send
                    channel.flush(self, 0)
                except OSError:
                    channel.discard_unsent()
                raise
            try:
                if not channel.flush(self, 0) and op_name != "read":
                    raise _want_write(op_name)
            except _SSLError:
                raise
            except OSError as exc:
                if op_name == "write":
                    self._failed_write = memoryview(args[0]).nbytes
                elif exc.errno in _PEER_GONE and self._writes_on_its_own(op_name):
                    channel.discard_unsent()  # session tickets for a departed peer
                    return result
                raise _socket_failure(exc, op_name) from None
            return result

    def _flush_pending(self) -> bool:
        """Send ciphertext a previous write left (non-blocking retry, refused write)."""
        timeout = _raw_gettimeout(self)
        ns = -1 if timeout is None else int(timeout * 1e9)
        try:
            return self._channel.flush(self, ns)  # type: ignore[no-any-return]
        except _SSLError:
            raise
        except _std.timeout:
            raise self._timeout_error(_WRITE_TIMEOUT) from None
        except OSError as exc:
            raise _socket_failure(exc, "write") from None

    # -- the ssl.SSLSocket API -----------------------------------------------------------------

    def read(self, len: int = 1024, buffer: Any = None) -> Any:
        """Read up to LEN bytes and return them.
        Return zero-length string on EOF."""
        self._checkClosed()
        sslobj = self._sslobj
        if sslobj is None:
            raise ValueError("Read on closed or unwrapped SSL socket.")
        args = (len,) if buffer is None else (len, buffer)
        try:
            prefill = self._steady and len > 0
            result = self._io(sslobj.read, args, "read", _READ_TIMEOUT, prefill)
        except _SSLError as x:
            self._steady = False
            if x.args[0] == _stdssl.SSL_ERROR_EOF and self.suppress_ragged_eofs:
                if buffer is not None:
                    return 0
                else:
                    return b""
            else:
                raise
        if not result and len > 0:
            # The peer's close_notify: from now on the engine answers without reading, and
            # what follows in the socket (after an unwrap) is not TLS.
            self._steady = False
        return result

    def write(self, data: Any) -> int:
        """Write DATA to the underlying SSL channel.  Returns
        number of bytes of DATA actually transmitted."""
        self._checkClosed()
        if self._sslobj is None:
            raise ValueError("Write on closed or unwrapped SSL socket.")
        return self._write(data)

    def _write(self, data: Any) -> int:
        sslobj = self._sslobj
        if self._unsent_len:
            # A non-blocking write() that raised SSLWantWriteError is being retried: its data
            # is encrypted already (OpenSSL's own write retry works the same way).
            done = self._unsent_len
            if not self._flush_pending():
                raise _want_write("write")
            self._unsent_len = 0
            return done
        if type(data) is bytes:
            size = len(data)
        else:
            with memoryview(data) as view:
                size = view.nbytes
        if self._failed_write is not None:
            return self._retry_failed_write(size)
        if size <= _WRITE_CHUNK:
            return self._write_chunk(sslobj, data, size)
        with memoryview(data) as view, view.cast("B") as flat:
            if _raw_gettimeout(self) == 0:
                # Non-blocking: one chunk; send() may report less than it was given.
                return self._write_chunk(sslobj, flat[:_WRITE_CHUNK], _WRITE_CHUNK)
            for start in range(0, size, _WRITE_CHUNK):
                self._io(
                    sslobj.write, (flat[start : start + _WRITE_CHUNK],), "write", _WRITE_TIMEOUT
                )
        return size

    def _retry_failed_write(self, size: int) -> int:
        """A write after one whose ciphertext the socket refused, as OpenSSL treats it.

        OpenSSL keeps the refused record and expects the same write again: a shorter one is
        ``BAD_LENGTH``; otherwise the record is sent again (and fails again if the peer is gone).
        """
        pending = self._failed_write
        assert pending is not None
        if size < pending:
            raise _bad_length()
        if not self._flush_pending():
            raise _want_write("write")
        self._failed_write = None
        return pending

    def _write_chunk(self, sslobj: Any, data: Any, size: int) -> int:
        try:
            return self._io(sslobj.write, (data,), "write", _WRITE_TIMEOUT)
        except _WantWrite:
            if self._channel.unsent:
                self._unsent_len = size
            raise

    def send(self, data: Any, flags: int = 0) -> int:
        self._checkClosed()
        if self._sslobj is not None:
            if flags != 0:
                raise ValueError(
                    f"non-zero flags not allowed in calls to send() on {self.__class__}"
                )
            return self._write(data)
        else:
            return super().send(data, flags)

    def sendto(self, data: Any, flags_or_addr: Any, addr: Any = None) -> int:
        self._checkClosed()
        if self._sslobj is not None:
            raise ValueError(f"sendto not allowed on instances of {self.__class__}")
        elif addr is None:
            return super().sendto(data, flags_or_addr)
        else:
            return super().sendto(data, flags_or_addr, addr)

    def sendall(self, data: Any, flags: int = 0) -> None:
        self._checkClosed()
        if self._sslobj is not None:
            if flags != 0:
                raise ValueError(
                    f"non-zero flags not allowed in calls to sendall() on {self.__class__}"
                )
            if type(data) is bytes and len(data) <= _WRITE_CHUNK:
                # The common case, in one step: the stdlib loops over send() for partial
                # writes, which a blocking SSL_write of a chunk never makes.
                count = self._write(data)
                if count == len(data):
                    return None
                data = data[count:]
            count = 0
            with memoryview(data) as view, view.cast("B") as byte_view:
                amount = len(byte_view)
                while count < amount:
                    v = self.send(byte_view[count:])
                    count += v
        else:
            return super().sendall(data, flags)

    def sendfile(self, file: Any, offset: int = 0, count: int | None = None) -> int:
        """Send a file, possibly by using os.sendfile() if this is a
        clear-text socket.  Return the total number of bytes sent.
        """
        if self._sslobj is not None:
            return self._sendfile_use_send(file, offset, count)
        else:
            return super().sendfile(file, offset, count)

    def recv(self, buflen: int = 1024, flags: int = 0) -> bytes:
        self._checkClosed()
        if self._sslobj is not None:
            if flags != 0:
                raise ValueError(
                    f"non-zero flags not allowed in calls to recv() on {self.__class__}"
                )
            return SSLSocket.read(self, buflen)
        else:
            return super().recv(buflen, flags)

    def recv_into(self, buffer: Any, nbytes: int | None = None, flags: int = 0) -> int:
        self._checkClosed()
        if nbytes is None:
            if buffer is not None:
                with memoryview(buffer) as view:
                    nbytes = view.nbytes
                if not nbytes:
                    nbytes = 1024
            else:
                nbytes = 1024
        if self._sslobj is not None:
            if flags != 0:
                raise ValueError(
                    f"non-zero flags not allowed in calls to recv_into() on {self.__class__}"
                )
            return self.read(nbytes, buffer)
        else:
            return super().recv_into(buffer, nbytes, flags)

    def recvfrom(self, buflen: int = 1024, flags: int = 0) -> Any:
        self._checkClosed()
        if self._sslobj is not None:
            raise ValueError(f"recvfrom not allowed on instances of {self.__class__}")
        else:
            return super().recvfrom(buflen, flags)

    def recvfrom_into(self, buffer: Any, nbytes: int | None = None, flags: int = 0) -> Any:
        self._checkClosed()
        if self._sslobj is not None:
            raise ValueError(f"recvfrom_into not allowed on instances of {self.__class__}")
        else:
            return super().recvfrom_into(buffer, nbytes, flags)

    def shutdown(self, how: int) -> None:
        self._checkClosed()
        self._sslobj = None
        super().shutdown(how)

    def unwrap(self) -> Any:
        """Start the SSL shutdown handshake."""
        sslobj = self._sslobj
        if sslobj:
            # _ssl's shutdown returns the socket it was given; over BIOs it has none, and the
            # stdlib's SSLSocket.unwrap() returns the socket itself, now plain text.
            s = self._io(sslobj.shutdown, (), "shutdown", _READ_TIMEOUT)
            self._sslobj = None
            return self if s is None else s
        else:
            raise ValueError("No SSL wrapper around " + str(self))

    def _real_close(self) -> None:
        self._sslobj = None
        self._incoming = self._outgoing = None
        super()._real_close()

    def do_handshake(self, block: bool = False) -> None:
        """Start the SSL/TLS handshake."""
        self._check_connected()
        timeout = self.gettimeout()
        try:
            if timeout == 0.0 and block:
                self.settimeout(None)
            sslobj = self._sslobj
            if sslobj is None:
                # The stdlib's message for a socket whose TLS object is gone.
                raise AttributeError("'NoneType' object has no attribute 'do_handshake'")
            self._io(sslobj.do_handshake, (), "do_handshake", _HANDSHAKE_TIMEOUT)
            self._steady = True
        finally:
            self.settimeout(timeout)

    def _real_connect(self, addr: Any, connect_ex: bool) -> Any:
        if self.server_side:
            raise ValueError("can't connect in server-side mode")
        if self._connected or self._sslobj is not None:
            raise ValueError("attempt to connect already-connected SSLSocket!")
        self._sslobj = self._new_sslobj()
        try:
            if connect_ex:
                rc = super().connect_ex(addr)
            else:
                rc = None
                super().connect(addr)
            if not rc:
                self._connected = True
                if self.do_handshake_on_connect:
                    self.do_handshake()
            return rc
        except (OSError, ValueError):
            self._sslobj = None
            raise

    def connect(self, addr: Any) -> None:
        """Connects to remote ADDR, and then wraps the connection in
        an SSL channel."""
        self._real_connect(addr, False)

    def connect_ex(self, addr: Any) -> Any:
        """Connects to remote ADDR, and then wraps the connection in
        an SSL channel."""
        return self._real_connect(addr, True)

    def accept(self) -> tuple[Any, Any]:
        """Accepts a new connection from a remote client, and returns
        a tuple containing that new connection wrapped with a server-side
        SSL channel, and the address of the remote client."""
        newsock, addr = super().accept()
        newsock = self.context.wrap_socket(
            newsock,
            do_handshake_on_connect=self.do_handshake_on_connect,
            suppress_ragged_eofs=self.suppress_ragged_eofs,
            server_side=True,
        )
        return newsock, addr


def _adopt_stdlib_methods(cls: type) -> None:
    """Take, as they are, the stdlib SSLSocket's methods that only talk to the TLS object.

    ``cipher``, ``getpeercert``, ``version``, ``pending``, the ``context`` and ``session``
    properties... are the same code for both classes (they use ``self._sslobj`` and nothing of
    the socket's), so each Python version's own ``ssl.py`` supplies them, with its docstrings
    and its additions (3.13's ``get_verified_chain``). Methods that reach the socket through
    ``super()`` are ferrosock's own, above.
    """
    for name, value in _StdSSLSocket.__dict__.items():
        if name in cls.__dict__ or name.startswith("__"):
            continue
        func = value.fget if isinstance(value, property) else getattr(value, "__func__", value)
        code = getattr(func, "__code__", None)
        if code is not None and "__class__" not in code.co_freevars:
            setattr(cls, name, value)


_adopt_stdlib_methods(SSLSocket)

_previous_class: Any = None


def install() -> None:
    """Make ``SSLContext.wrap_socket()`` return :class:`SSLSocket` for ferrosock sockets.

    Done when this module is imported; stdlib sockets keep getting the stdlib's SSLSocket.
    """
    global _previous_class
    current = _stdssl.SSLContext.sslsocket_class
    if current is not SSLSocket:
        _previous_class = current
        _stdssl.SSLContext.sslsocket_class = SSLSocket  # type: ignore[assignment]


def uninstall() -> None:
    """Undo :func:`install`: ``wrap_socket()`` re-adopts ferrosock descriptors into the stdlib's."""
    global _previous_class
    if _stdssl.SSLContext.sslsocket_class is SSLSocket and _previous_class is not None:
        _stdssl.SSLContext.sslsocket_class = _previous_class  # type: ignore[assignment]
        _previous_class = None


install()
