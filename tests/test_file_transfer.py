"""ferrosock.framing's file transfer: send_file / recv_file, a JSON header (name, size,
SHA-256) then the bytes, on ferrosock sockets and stdlib ones; and what it refuses."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import struct
from pathlib import Path
from typing import Any

import pytest
from conftest import HOST4, PATIENCE, Background
from ferrosock.framing import (
    DigestMismatch,
    FileExists,
    FileRefused,
    FrameTooLarge,
    FramingError,
    IncompleteFrame,
    UnsafeFileName,
    recv_file,
    send_file,
    send_obj,
)

MiB = 1024 * 1024


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    path = tmp_path / "inbox"
    path.mkdir()
    return path


def tcp_pair(mod: Any) -> tuple[Any, Any]:
    """(sender, receiver): a loopback TCP connection, both ends of `mod`."""
    with mod.socket() as listener:
        listener.bind((HOST4, 0))
        listener.listen(1)
        sender = mod.create_connection(listener.getsockname(), timeout=PATIENCE)
        receiver, _ = listener.accept()
    receiver.settimeout(PATIENCE)
    return sender, receiver


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def transfer(mod: Any, path: Path, directory: Path, **recv_options: Any) -> tuple[int, Any]:
    sender, receiver = tcp_pair(mod)
    with sender, receiver:
        job = Background(lambda: send_file(sender, path))
        try:
            saved = recv_file(receiver, directory, **recv_options)
        finally:
            sender_result = job.join(timeout=PATIENCE * 2)
    return sender_result, saved


def hand_sent(header: dict[str, Any], body: bytes, directory: Path, **options: Any) -> Any:
    """recv_file from a hand-written sender: the framed JSON header, `body`, end of stream."""
    raw = json.dumps(header).encode()
    sender, receiver = socket.socketpair()
    receiver.settimeout(PATIENCE)

    def write() -> None:
        with contextlib.suppress(OSError):  # the receiver may refuse and close first
            sender.sendall(struct.pack("!I", len(raw)) + raw + body)
            sender.shutdown(socket.SHUT_WR)

    with sender, receiver:
        job = Background(write)
        try:
            return recv_file(receiver, directory, **options)
        finally:
            receiver.shutdown(socket.SHUT_RD)  # unblocks a writer the receiver left
            job.join()


# --------------------------------------------------------------------------- transfers


@pytest.mark.parametrize("size", [0, 1, 4099], ids=["empty", "one-byte", "odd"])
def test_small_files_arrive_identical(mod, tmp_path, inbox, size):
    original = tmp_path / "data.bin"
    original.write_bytes(os.urandom(size))
    sent, saved = transfer(mod, original, inbox)
    assert sent == size
    assert saved == inbox / "data.bin"
    assert saved.read_bytes() == original.read_bytes()
    assert os.listdir(inbox) == ["data.bin"]


@pytest.mark.timeout(30)
def test_50_mib_file_arrives_identical_and_fast(mod, tmp_path, inbox):
    original = tmp_path / "big.bin"
    original.write_bytes(os.urandom(50 * MiB))
    sent, saved = transfer(mod, original, inbox)
    assert sent == 50 * MiB
    assert sha256(saved) == sha256(original)
    assert os.listdir(inbox) == ["big.bin"]


def test_non_ascii_name_is_kept(mod, tmp_path, inbox):
    original = tmp_path / "报告 2024.txt"
    original.write_text("内容", encoding="utf-8")
    _, saved = transfer(mod, original, inbox)
    assert saved.name == "报告 2024.txt"
    assert saved.read_text(encoding="utf-8") == "内容"


def test_clean_end_before_any_header_is_none(mod, inbox):
    sender, receiver = tcp_pair(mod)
    with receiver:
        sender.close()
        assert recv_file(receiver, inbox) is None
    assert os.listdir(inbox) == []


def test_progress_counts_increase_to_the_size(mod, tmp_path, inbox):
    original = tmp_path / "progress.bin"
    original.write_bytes(os.urandom(3 * MiB + 123))
    sent_calls: list[tuple[int, int]] = []
    received_calls: list[tuple[int, int]] = []
    sender, receiver = tcp_pair(mod)
    with sender, receiver:

        def send() -> int:
            return send_file(sender, original, progress=lambda *c: sent_calls.append(c))

        job = Background(send)
        recv_file(receiver, inbox, progress=lambda *c: received_calls.append(c))
        job.join()
    for calls in (sent_calls, received_calls):
        counts = [done for done, _ in calls]
        assert len(calls) >= 4  # the file goes in 1 MiB pieces
        assert counts == sorted(set(counts)), "strictly increasing"
        assert {total for _, total in calls} == {original.stat().st_size}
        assert counts[-1] == original.stat().st_size


def test_empty_file_progress_is_reported_by_the_sender(tmp_path):
    original = tmp_path / "empty"
    original.write_bytes(b"")
    calls: list[tuple[int, int]] = []
    a, b = socket.socketpair()
    with a, b:
        send_file(a, original, progress=lambda *c: calls.append(c))
    assert calls == [(0, 0)]


def test_empty_file_progress_is_reported_by_the_receiver(tmp_path, inbox):
    original = tmp_path / "empty"
    original.write_bytes(b"")
    calls: list[tuple[int, int]] = []
    a, b = socket.socketpair()
    with a, b:
        send_file(a, original)
        recv_file(b, inbox, progress=lambda *c: calls.append(c))
    assert calls == [(0, 0)]


# --------------------------------------------------------------------------- refusals


def digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def test_wrong_digest_leaves_nothing_behind(inbox):
    body = b"payload" * 1000
    with pytest.raises(DigestMismatch, match="does not match"):
        hand_sent({"name": "f", "size": len(body), "sha256": digest(b"other")}, body, inbox)
    assert os.listdir(inbox) == []


def test_flipped_byte_leaves_nothing_behind(inbox):
    body = bytearray(os.urandom(2 * MiB + 7))
    announced = digest(bytes(body))
    body[MiB + 3] ^= 0x01
    with pytest.raises(DigestMismatch):
        hand_sent({"name": "f", "size": len(body), "sha256": announced}, bytes(body), inbox)
    assert os.listdir(inbox) == []


def test_failed_transfer_keeps_an_older_file_of_that_name(inbox):
    (inbox / "f").write_bytes(b"old")
    with pytest.raises(DigestMismatch):
        hand_sent({"name": "f", "size": 3, "sha256": digest(b"abc")}, b"xyz", inbox, overwrite=True)
    assert os.listdir(inbox) == ["f"]
    assert (inbox / "f").read_bytes() == b"old"


def test_uppercase_digest_is_accepted(inbox):
    saved = hand_sent({"name": "f", "size": 3, "sha256": digest(b"abc").upper()}, b"abc", inbox)
    assert saved.read_bytes() == b"abc"


def test_body_cut_short_leaves_nothing_behind(inbox):
    with pytest.raises(IncompleteFrame) as caught:
        hand_sent({"name": "f", "size": 100, "sha256": digest(b"")}, b"x" * 40, inbox)
    assert (caught.value.expected, caught.value.received) == (100, 40)
    assert os.listdir(inbox) == []


def test_a_file_cut_short_is_counted_within_the_file_not_the_chunk(inbox):
    """Past the first 1 MiB chunk: the counts are the file's (2.5 of 3 MiB), not 0.5 of 1."""
    with pytest.raises(IncompleteFrame) as caught:
        hand_sent(
            {"name": "f", "size": 3 * MiB, "sha256": digest(b"")}, b"x" * (5 * MiB // 2), inbox
        )
    assert (caught.value.expected, caught.value.received) == (3 * MiB, 5 * MiB // 2)
    assert str(caught.value) == (
        f"connection closed inside the file 'f': got {5 * MiB // 2} of {3 * MiB} bytes"
    )
    assert os.listdir(inbox) == []


def test_received_files_follow_the_umask_as_open_would(mod, tmp_path, inbox):
    original = tmp_path / "note.txt"
    original.write_bytes(b"hi")
    _, saved = transfer(mod, original, inbox)
    with open(tmp_path / "by-open", "wb"):
        pass
    assert saved.stat().st_mode & 0o777 == (tmp_path / "by-open").stat().st_mode & 0o777


def test_the_same_name_again_is_refused_unless_overwrite(mod, tmp_path, inbox):
    original = tmp_path / "note.txt"
    original.write_bytes(b"first")
    transfer(mod, original, inbox)
    original.write_bytes(b"second")
    sender, receiver = tcp_pair(mod)
    with sender, receiver:
        send_file(sender, original)
        with pytest.raises(FileExists, match="note.txt is already there"):
            recv_file(receiver, inbox)
    assert (inbox / "note.txt").read_bytes() == b"first"
    _, saved = transfer(mod, original, inbox, overwrite=True)
    assert saved.read_bytes() == b"second" and os.listdir(inbox) == ["note.txt"]


def test_ask_first_refusal_comes_before_the_body(mod, tmp_path, inbox):
    original = tmp_path / "big.bin"
    original.write_bytes(b"z" * 10_001)
    sender, receiver = tcp_pair(mod)
    with sender, receiver:

        def receive() -> None:
            try:
                recv_file(receiver, inbox, max_size=10_000)
            except FrameTooLarge as exc:
                send_obj(receiver, {"ok": False, "error": str(exc)})

        job = Background(receive)
        with pytest.raises(FileRefused, match="over the limit of 10000 bytes"):
            send_file(
                sender,
                original,
                progress=lambda done, total: pytest.fail("sent body"),
                ask_first=True,
            )
        job.join(timeout=PATIENCE)
        sender.shutdown(socket.SHUT_WR)
        assert receiver.recv(16) == b""  # not a byte of the body was sent
    assert os.listdir(inbox) == []


def test_ask_first_go_ahead_then_the_body(mod, tmp_path, inbox):
    original = tmp_path / "ok.bin"
    original.write_bytes(os.urandom(MiB + 3))
    sender, receiver = tcp_pair(mod)
    with sender, receiver:
        job = Background(lambda: send_file(sender, original, ask_first=True))
        saved = recv_file(receiver, inbox)
        assert job.join(timeout=PATIENCE) == MiB + 3
    assert saved.read_bytes() == original.read_bytes()


@pytest.mark.parametrize(
    "name", ["../x", "/etc/passwd", "a/b", "..", ".", "", "x\\y", "nul\0", "/", None, 7, ["a"]]
)
def test_hostile_names_are_refused(inbox, name):
    with pytest.raises(UnsafeFileName):
        hand_sent({"name": name, "size": 1, "sha256": digest(b"x")}, b"x", inbox)
    assert os.listdir(inbox) == []
    assert not (inbox.parent / "x").exists()


def test_missing_name_is_refused(inbox):
    with pytest.raises(UnsafeFileName):
        hand_sent({"size": 1, "sha256": digest(b"x")}, b"x", inbox)


@pytest.mark.parametrize("sha", [None, 12, ["x"]])
def test_missing_digest_is_refused(inbox, sha):
    header = {"name": "f", "size": 1}
    if sha is not None:
        header["sha256"] = sha
    with pytest.raises(FramingError, match="sha256"):
        hand_sent(header, b"x", inbox)
    assert os.listdir(inbox) == []


def test_non_ascii_digest_is_a_mismatch(inbox):
    with pytest.raises(DigestMismatch):
        hand_sent({"name": "f", "size": 1, "sha256": "é" * 64}, b"x", inbox)


@pytest.mark.parametrize("size", [-1, "1", 1.0, True])
def test_bad_size_is_refused(inbox, size):
    with pytest.raises(FramingError, match="size"):
        hand_sent({"name": "f", "size": size, "sha256": digest(b"x")}, b"x", inbox)
    assert os.listdir(inbox) == []


def test_over_max_size_is_refused_before_the_body(mod, tmp_path, inbox):
    original = tmp_path / "big.bin"
    original.write_bytes(b"z" * 10_001)
    sender, receiver = tcp_pair(mod)
    with sender, receiver:
        send_file(sender, original)  # fits in the socket buffers
        with pytest.raises(FrameTooLarge) as caught:
            recv_file(receiver, inbox, max_size=10_000)
        assert (caught.value.length, caught.value.limit) == (10_001, 10_000)
        assert receiver.recv(16) == b"z" * 16  # the body was left unread
    assert os.listdir(inbox) == []


def test_exactly_max_size_is_accepted(mod, tmp_path, inbox):
    original = tmp_path / "fits.bin"
    original.write_bytes(b"z" * 10_000)
    _, saved = transfer(mod, original, inbox, max_size=10_000)
    assert saved.stat().st_size == 10_000


def test_interrupted_progress_leaves_no_temp_file(tmp_path, inbox):
    """Whatever stops the transfer half-way (here the progress callback) removes the part."""
    original = tmp_path / "f"
    original.write_bytes(os.urandom(3 * MiB))

    def stop(done: int, total: int) -> None:
        if done > MiB:
            raise KeyboardInterrupt

    a, b = socket.socketpair()
    with a, b:
        job = Background(lambda: send_file(a, original))
        with pytest.raises(KeyboardInterrupt):
            recv_file(b, inbox, progress=stop)
        b.shutdown(socket.SHUT_RD)  # the sender, blocked on full buffers, gets EPIPE
        with contextlib.suppress(OSError):
            job.join()
    assert os.listdir(inbox) == []
