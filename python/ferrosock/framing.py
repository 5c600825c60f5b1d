"""Framed messages: the lesson's fix for sticky packets (黏包).

TCP is a byte stream: two quick ``send`` calls can arrive as one ``recv``, one large ``send``
as several. The fix is a header that carries the body's length. ``send_msg`` / ``recv_msg``
(in Rust, the GIL released) write and read exactly that, by default the lesson's 4-byte
big-endian length (``struct.pack('!I', n)``), on a ferrosock socket or a stdlib one alike::

    send_msg(sock, b"hello")          # == sock.sendall(struct.pack("!I", 5) + b"hello")
    recv_msg(sock)                    # -> b"hello"; None at a clean end of stream

``header`` is ``"!I"`` (default), ``"<I"``, ``"!H"`` or ``"!Q"``. A length over ``max_size``
(default 64 MiB) raises :class:`FrameTooLarge` before anything is allocated; a stream that ends
inside a frame raises :class:`IncompleteFrame` with the byte counts; a clean end between frames
returns ``None``. After either error the stream is out of step: close the connection.

For a stream of many small messages, ``FrameReader(sock).recv_msg()`` reads through a buffer:
one system call takes whatever has arrived, so it costs one call per many messages instead of
two per message (read the socket only through the reader once you use one).

On top: the lesson's JSON-header form (``send_obj`` / ``recv_obj``), file transfer with a
SHA-256 check (``send_file`` / ``recv_file``) and the HMAC challenge that checks a client is
legitimate (``answer_challenge`` / ``challenge_client``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path
from typing import Any, Callable, Optional

from ._native import FrameReader, recv_exactly, recv_msg, send_msg

__all__ = [
    "AuthenticationError",
    "DigestMismatch",
    "FileExists",
    "FileRefused",
    "FrameTooLarge",
    "FrameReader",
    "FramingError",
    "IncompleteFrame",
    "UnsafeFileName",
    "answer_challenge",
    "challenge_client",
    "recv_exactly",
    "recv_file",
    "recv_msg",
    "recv_obj",
    "send_file",
    "send_msg",
    "send_obj",
]

DEFAULT_MAX_SIZE = 64 * 1024 * 1024
#: The largest JSON header recv_obj accepts.
MAX_JSON_HEADER = 64 * 1024
#: The default cap on a received file.
DEFAULT_MAX_FILE = 1024 * 1024 * 1024
CHUNK = 1024 * 1024
CHALLENGE_BYTES = 32
#: The longest answer to a challenge read before refusing (a digest is 32 bytes).
MAX_ANSWER = 1024

Progress = Optional[Callable[[int, int], object]]
O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class FramingError(Exception):
    """Base class of the framing errors."""


class FrameTooLarge(FramingError, ValueError):
    """A frame's length is over the limit (checked before any allocation)."""

    def __init__(self, length: int, limit: int) -> None:
        super().__init__(f"frame of {length} bytes is over the limit of {limit} bytes")
        self.length = length
        self.limit = limit


class IncompleteFrame(FramingError, EOFError):
    """The stream ended inside a frame (or, from recv_file, inside the file: then the counts
    are the file's, not those of the chunk being read)."""

    def __init__(self, expected: int, received: int, what: str = "a frame") -> None:
        super().__init__(f"connection closed inside {what}: got {received} of {expected} bytes")
        self.expected = expected
        self.received = received


class FileExists(FramingError, FileExistsError):
    """recv_file without overwrite=True: a file of that name is already in the directory."""


class FileRefused(FramingError):
    """send_file(ask_first=True): the receiver refused the file before its body was sent."""


class DigestMismatch(FramingError):
    """A received file's SHA-256 is not the one its header announced."""


class UnsafeFileName(FramingError, ValueError):
    """A received file name has a path separator, '..', or is absolute or empty."""


class AuthenticationError(FramingError, ConnectionError):
    """The peer failed (or refused) the HMAC challenge."""


# ---- the JSON-header form -------------------------------------------------------------


def send_obj(sock: Any, header: dict[str, Any], body: bytes = b"") -> None:
    """Send a JSON header (framed with a 4-byte length) and then ``body`` raw.

    The header gets ``"size": len(body)``, which tells the receiver how much body follows.
    """
    header = dict(header)
    if header.setdefault("size", len(body)) != len(body):
        raise ValueError(f"header size {header['size']} does not match the body ({len(body)})")
    send_msg(sock, json.dumps(header, ensure_ascii=False).encode())
    if body:
        sock.sendall(body)


def recv_obj(sock: Any, max_size: int = DEFAULT_MAX_SIZE) -> tuple[dict[str, Any], bytes] | None:
    """Receive ``(header, body)`` sent by :func:`send_obj`; None at a clean end of stream."""
    header = _recv_header(sock)
    if header is None:
        return None
    size = _size_of(header, max_size)
    return header, recv_exactly(sock, size) if size else b""


def _recv_header(sock: Any) -> dict[str, Any] | None:
    raw = recv_msg(sock, max_size=MAX_JSON_HEADER)
    if raw is None:
        return None
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FramingError(f"the JSON header is not valid JSON: {exc}") from None
    if not isinstance(header, dict):
        raise FramingError("the JSON header must be an object")
    return header


def _size_of(header: dict[str, Any], limit: int) -> int:
    size = header.get("size", 0)
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise FramingError(f"the header's size must be a non-negative integer, not {size!r}")
    if size > limit:
        raise FrameTooLarge(size, limit)
    return size


# ---- file transfer ------------------------------------------------------------------------


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def send_file(
    sock: Any, path: str | os.PathLike[str], progress: Progress = None, ask_first: bool = False
) -> int:
    """Send a file: a JSON header (name, size, SHA-256), then its bytes. Returns the size.

    With ``ask_first`` the header says ``"ask": true`` and the body is sent only once the
    receiver has answered ``{"ok": true, "go": true}`` (recv_file does): a refusal (too large,
    a bad name, already there) raises :class:`FileRefused` before a byte of the body is sent,
    as HTTP's ``Expect: 100-continue`` does. The wait uses the socket's timeout.
    """
    path = Path(path)
    size = path.stat().st_size
    header: dict[str, Any] = {"name": path.name, "size": size, "sha256": _sha256_of(path)}
    if ask_first:
        header["ask"] = True
    send_msg(sock, json.dumps(header).encode())
    if ask_first:
        answer = recv_obj(sock)
        if answer is None:
            raise FramingError("the receiver closed the connection without answering")
        verdict, _ = answer
        if not (verdict.get("ok") and verdict.get("go")):
            raise FileRefused(str(verdict.get("error", "refused, without a reason")))
    sent = 0
    with path.open("rb") as f:
        while sent < size:
            chunk = f.read(min(CHUNK, size - sent))
            if not chunk:
                raise FramingError(f"{path} shrank while being sent")
            sock.sendall(chunk)
            sent += len(chunk)
            if progress is not None:
                progress(sent, size)
    if progress is not None and size == 0:
        progress(0, 0)
    return size


def check_file_name(name: Any) -> str:
    """The name itself if it is a plain file name, else UnsafeFileName."""
    if (
        not isinstance(name, str)
        or name in ("", ".", "..")
        or "/" in name
        or "\\" in name
        or "\0" in name
        or os.path.isabs(name)
    ):
        raise UnsafeFileName(f"refusing file name {name!r}")
    return name


def _new_temporary(directory: Path) -> tuple[int, Path]:
    """A new file to receive into, created with mode 0o666 so that the umask applies, as it
    would for ``open(path, "wb")`` (mkstemp's files are always 0o600)."""
    while True:
        tmp = directory / f".incoming-{secrets.token_hex(8)}.part"
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | O_CLOEXEC, 0o666), tmp
        except FileExistsError:
            continue


def _put_in_place(tmp: Path, final: Path, overwrite: bool) -> None:
    if overwrite:
        os.replace(tmp, final)
        return
    try:
        os.link(tmp, final)  # fails if the name exists, even one created a moment ago
    except FileExistsError:
        raise FileExists(
            f"{final.name} is already there (the sender may overwrite it only "
            "if the receiver allows it)"
        ) from None
    tmp.unlink()


def recv_file(
    sock: Any,
    directory: str | os.PathLike[str],
    progress: Progress = None,
    max_size: int = DEFAULT_MAX_FILE,
    overwrite: bool = False,
) -> Path | None:
    """Receive a file sent by :func:`send_file` into ``directory``; returns its path.

    The bytes go to a temporary file first; only when their SHA-256 matches the header is it
    renamed to its name, so a failed transfer leaves nothing under the final name. A file
    already there under that name raises :class:`FileExists` unless ``overwrite``. The file's
    mode follows the umask, as ``open()``'s would. When the sender asked first (``send_file(...,
    ask_first=True)``), every check on the header is made and answered before the body comes.
    """
    header = _recv_header(sock)
    if header is None:
        return None
    name = check_file_name(header.get("name"))
    size = _size_of(header, max_size)
    expected = header.get("sha256")
    if not isinstance(expected, str):
        raise FramingError("the header has no sha256")
    directory = Path(directory)
    final = directory / name
    if not overwrite and os.path.lexists(final):
        raise FileExists(f"{name} is already there (the receiver does not overwrite files)")
    if header.get("ask") is True:
        send_obj(sock, {"ok": True, "go": True})
    digest = hashlib.sha256()
    fd, tmp = _new_temporary(directory)
    try:
        with os.fdopen(fd, "wb") as out:
            got = 0
            if progress is not None and size == 0:
                progress(0, 0)
            while got < size:
                try:
                    chunk = recv_exactly(sock, min(CHUNK, size - got))
                except IncompleteFrame as exc:  # count within the file, not the chunk
                    raise IncompleteFrame(size, got + exc.received, f"the file {name!r}") from None
                digest.update(chunk)
                out.write(chunk)
                got += len(chunk)
                if progress is not None:
                    progress(got, size)
        # compare_digest refuses non-ASCII text: compare bytes, so any claim is just a mismatch.
        claimed = expected.lower().encode("utf-8", "surrogatepass")
        if not hmac.compare_digest(digest.hexdigest().encode(), claimed):
            raise DigestMismatch(
                f"{name}: SHA-256 {digest.hexdigest()} does not match the sender's {expected}"
            )
        _put_in_place(tmp, final, overwrite)
        return final
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# ---- client authentication ----------------------------------------------------------------

_ACCEPTED = b"ok"
_DENIED = b"denied"


def challenge_client(sock: Any, key: bytes) -> None:
    """Server side: send 32 random bytes, check the client's HMAC-SHA256 of them under ``key``
    (compared in constant time), tell it the verdict. Raises AuthenticationError if it fails."""
    challenge = os.urandom(CHALLENGE_BYTES)
    send_msg(sock, challenge)
    try:
        # Room for any plausible garbage, so a wrong answer is read whole and refused politely.
        answer = recv_msg(sock, max_size=MAX_ANSWER)
    except FrameTooLarge:
        answer = None
    expected = hmac.new(key, challenge, hashlib.sha256).digest()
    if answer is None or not hmac.compare_digest(answer, expected):
        try:
            send_msg(sock, _DENIED)
        except OSError:
            pass
        raise AuthenticationError("the client did not prove it knows the key")
    send_msg(sock, _ACCEPTED)


def answer_challenge(sock: Any, key: bytes) -> None:
    """Client side: answer the server's challenge with HMAC-SHA256 under ``key``.
    Raises AuthenticationError if the server refuses."""
    challenge = recv_msg(sock, max_size=1024)
    if challenge is None:
        raise AuthenticationError("the server closed the connection before its challenge")
    send_msg(sock, hmac.new(key, challenge, hashlib.sha256).digest())
    verdict = recv_msg(sock, max_size=16)
    if verdict != _ACCEPTED:
        raise AuthenticationError("the server refused our answer: wrong key?")
