"""ferrosock.framing's send_msg / recv_msg (and send_obj / recv_obj) against frames written and
read by hand with `struct`, as the lesson writes them, on ferrosock sockets and stdlib ones."""

from __future__ import annotations

import json
import random
import socket
import struct
import threading
import time
from typing import Any

import pytest
from conftest import HOST4, MODULES, PATIENCE, Background, module_param
from conftest import recv_exactly as recv_exactly_by_hand
from ferrosock.framing import (
    FrameTooLarge,
    FramingError,
    IncompleteFrame,
    recv_msg,
    recv_obj,
    send_msg,
    send_obj,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

HEADERS = ["!I", "<I", "!H", "!Q"]
LARGEST = {"!I": 100_000, "<I": 100_000, "!H": 65_535, "!Q": 100_000}
BACKENDS = [module_param("std"), module_param("rust")]

examples = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def tcp_pair(server_mod: Any, client_mod: Any = socket) -> tuple[Any, Any]:
    """(accepted, connected): a loopback TCP connection, the accepted end of `server_mod`."""
    with server_mod.socket() as listener:
        listener.bind((HOST4, 0))
        listener.listen(1)
        client = client_mod.create_connection(listener.getsockname(), timeout=PATIENCE)
        conn, _ = listener.accept()
    conn.settimeout(PATIENCE)
    return conn, client


def frame(fmt: str, body: bytes) -> bytes:
    return struct.pack(fmt, len(body)) + body


def read_frame_by_hand(sock: Any, fmt: str) -> bytes:
    (length,) = struct.unpack(fmt, recv_exactly_by_hand(sock, struct.calcsize(fmt)))
    return recv_exactly_by_hand(sock, length)


def messages(largest: int) -> st.SearchStrategy[list[bytes]]:
    small = st.binary(max_size=300)
    # large bodies from a seed: hypothesis drawing 100 KB byte by byte would be slow
    large = st.tuples(st.integers(0, largest), st.integers(0, 2**32)).map(
        lambda t: random.Random(t[1]).randbytes(t[0])
    )
    return st.lists(st.one_of(small, small, large), max_size=8)


@st.composite
def cut_stream(draw: Any, stream_of: tuple[list[bytes], str]) -> list[bytes]:
    """The messages' frames as one byte stream, cut at random places;
    sometimes also inside every header, one byte after each frame boundary."""
    msgs, fmt = stream_of
    stream = b"".join(frame(fmt, m) for m in msgs)
    cuts = set(int(f * len(stream)) for f in draw(st.lists(st.floats(0, 1), max_size=30)))
    if draw(st.booleans()):
        at = 0
        for m in msgs:
            cuts.add(at + 1)
            at += struct.calcsize(fmt) + len(m)
    cuts = sorted(c for c in cuts if 0 < c < len(stream))
    edges = [0, *cuts, len(stream)]
    return [stream[a:b] for a, b in zip(edges, edges[1:]) if b > a]


def send_chunks(sock: socket.socket, chunks: list[bytes], pauses: list[bool]) -> None:
    """Write each chunk with its own sendall, pausing a little after some."""
    for i, chunk in enumerate(chunks):
        sock.sendall(chunk)
        if pauses and pauses[i % len(pauses)]:
            time.sleep(0.001)


# --------------------------------------------------------------------------- properties


@pytest.mark.parametrize("fmt", HEADERS)
@pytest.mark.parametrize("backend", BACKENDS)
@examples
@given(data=st.data())
def test_hand_framed_stream_comes_out_whole(backend, fmt, data):
    """A stdlib peer frames with struct.pack and writes the stream in arbitrary pieces with
    small delays; recv_msg returns exactly the messages, then None at the end."""
    msgs = data.draw(messages(LARGEST[fmt]), label="messages")
    chunks = data.draw(cut_stream((msgs, fmt)), label="chunks")
    pauses = data.draw(st.lists(st.booleans(), max_size=5), label="pauses")
    conn, client = tcp_pair(MODULES[backend])
    with conn, client:

        def write() -> None:
            with client:
                send_chunks(client, chunks, pauses)

        writer = Background(write)
        got = []
        while (body := recv_msg(conn, header=fmt)) is not None:
            got.append(body)
        writer.join()
    assert got == msgs


@pytest.mark.parametrize("fmt", HEADERS)
@pytest.mark.parametrize("backend", BACKENDS)
@examples
@given(data=st.data())
def test_send_msg_frames_read_by_hand(backend, fmt, data):
    """send_msg on a ferrosock (or stdlib) socket writes exactly struct.pack(fmt, n) + body:
    a reader with struct and a recv loop, reading in arbitrary sizes, gets every message."""
    msgs = data.draw(messages(LARGEST[fmt]), label="messages")
    conn, client = tcp_pair(socket, MODULES[backend])
    with conn, client:

        def write() -> None:
            with client:
                for m in msgs:
                    send_msg(client, m, header=fmt)

        writer = Background(write)
        got = [read_frame_by_hand(conn, fmt) for _ in msgs]
        assert conn.recv(1) == b""
        writer.join()
    assert got == msgs


@pytest.mark.parametrize("backend", BACKENDS)
def test_default_header_is_the_lessons_struct_pack_bang_i(backend):
    a, b = MODULES[backend].socketpair()
    with a, b:
        send_msg(a, b"hello")
        assert b.recv(64) == struct.pack("!I", 5) + b"hello"
        a.sendall(struct.pack("!I", 3) + b"abc")
        assert recv_msg(b) == b"abc"


@pytest.mark.parametrize("backend", BACKENDS)
def test_send_accepts_any_buffer(backend):
    a, b = MODULES[backend].socketpair()
    with a, b:
        for body in (bytearray(b"xy"), memoryview(b"0123456789")[2:5]):
            send_msg(a, body)
            assert recv_msg(b) == bytes(body)


# --------------------------------------------------------------------------- limits and ends


@pytest.mark.parametrize("backend", BACKENDS)
def test_oversize_frame_is_refused_before_reading_it(backend):
    mod = MODULES[backend]
    with mod.socket() as listener:
        listener.bind((HOST4, 0))
        listener.listen(2)
        address = listener.getsockname()
        with socket.create_connection(address, timeout=PATIENCE) as client:
            conn, _ = listener.accept()
            with conn:
                client.sendall(struct.pack("!I", 1001) + b"x" * 10)
                with pytest.raises(FrameTooLarge) as caught:
                    recv_msg(conn, max_size=1000)
                assert (caught.value.length, caught.value.limit) == (1001, 1000)
                assert isinstance(caught.value, ValueError)
                assert conn.recv(64) == b"x" * 10  # only the header was read
        # the stream is out of step and gets closed; a new connection works
        with socket.create_connection(address, timeout=PATIENCE) as client:
            conn, _ = listener.accept()
            with conn:
                client.sendall(frame("!I", b"fine"))
                assert recv_msg(conn, max_size=1000) == b"fine"


@pytest.mark.parametrize("backend", BACKENDS)
def test_length_at_max_size_is_accepted(backend):
    a, b = MODULES[backend].socketpair()
    with a, b:
        a.sendall(frame("!I", b"x" * 1000))
        assert recv_msg(b, max_size=1000) == b"x" * 1000


@pytest.mark.parametrize("backend", BACKENDS)
def test_huge_length_is_refused_without_allocating(backend):
    a, b = MODULES[backend].socketpair()
    with a, b:
        a.sendall(struct.pack("!Q", 2**63))
        with pytest.raises(FrameTooLarge):
            recv_msg(b, header="!Q")


@pytest.mark.parametrize("backend", BACKENDS)
def test_send_refuses_a_body_the_header_cannot_carry(backend):
    a, b = MODULES[backend].socketpair()
    with a, b:
        with pytest.raises(FrameTooLarge) as caught:
            send_msg(a, b"x" * 65_536, header="!H")
        assert (caught.value.length, caught.value.limit) == (65_536, 65_535)
        send_msg(a, b"x" * 65_535, header="!H")  # nothing was sent before
        assert recv_msg(b, header="!H") == b"x" * 65_535


@pytest.mark.parametrize(
    ("sent", "expected", "received"),
    [
        (b"\x00\x00", 4, 2),  # inside the header
        (struct.pack("!I", 10) + b"abc", 10, 3),  # inside the body
        (struct.pack("!I", 10), 10, 0),  # after the header
    ],
    ids=["header", "body", "empty-body"],
)
@pytest.mark.parametrize("backend", BACKENDS)
def test_truncated_frame_raises_incomplete_frame_with_counts(backend, sent, expected, received):
    conn, client = tcp_pair(MODULES[backend])
    with conn:
        with client:
            client.sendall(sent)
        with pytest.raises(IncompleteFrame) as caught:
            recv_msg(conn)
    assert (caught.value.expected, caught.value.received) == (expected, received)
    assert isinstance(caught.value, EOFError)
    assert f"got {received} of {expected} bytes" in str(caught.value)


@pytest.mark.parametrize("backend", BACKENDS)
def test_clean_end_between_frames_is_none(backend):
    conn, client = tcp_pair(MODULES[backend])
    with conn:
        with client:
            client.sendall(frame("!I", b"last") + frame("!I", b""))
        assert recv_msg(conn) == b"last"
        assert recv_msg(conn) == b""  # an empty message is not the end
        assert recv_msg(conn) is None
        assert recv_msg(conn) is None


# --------------------------------------------------------------------------- socket modes


@pytest.mark.parametrize("backend", BACKENDS)
def test_non_blocking_socket_is_refused(backend):
    a, b = MODULES[backend].socketpair()
    with a, b:
        b.setblocking(False)
        with pytest.raises(ValueError, match="non-blocking"):
            recv_msg(b)
        with pytest.raises(ValueError, match="non-blocking"):
            send_msg(b, b"x")
        b.settimeout(0.0)
        with pytest.raises(ValueError, match="non-blocking"):
            recv_msg(b)


@pytest.mark.parametrize("backend", BACKENDS)
def test_recv_timeout_is_honoured(backend):
    a, b = MODULES[backend].socketpair()
    with a, b:
        b.settimeout(0.2)
        started = time.monotonic()
        with pytest.raises(socket.timeout):
            recv_msg(b)
        assert 0.15 < time.monotonic() - started < 2
        a.sendall(b"\x00\x00")  # half a header: still a timeout, not an end
        with pytest.raises(socket.timeout):
            recv_msg(b)


@pytest.mark.parametrize("backend", BACKENDS)
def test_send_timeout_is_honoured(backend):
    a, b = MODULES[backend].socketpair()
    with a, b:
        a.settimeout(0.2)
        with pytest.raises(socket.timeout):
            send_msg(a, b"x" * (32 * 1024 * 1024))  # nobody reads: the buffers fill up


def test_default_timeout_applies_to_a_new_socket():
    import ferrosock

    ferrosock.setdefaulttimeout(0.2)  # the conftest fixture puts it back
    a, b = ferrosock.socketpair()
    with a, b:
        with pytest.raises(socket.timeout):
            recv_msg(b)


@pytest.mark.parametrize("spec", ["i", "I", "!i", "", "!L", "!I!", "Q", "!B"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_header_spec_is_a_value_error(backend, spec):
    a, b = MODULES[backend].socketpair()
    with a, b:
        with pytest.raises(ValueError, match="header must be"):
            send_msg(a, b"x", header=spec)
        with pytest.raises(ValueError, match="header must be"):
            recv_msg(b, header=spec)


def test_a_socket_without_fileno_is_refused():
    with pytest.raises(AttributeError):
        send_msg(object(), b"x")


# --------------------------------------------------------------------------- JSON headers


@pytest.mark.parametrize("backend", BACKENDS)
def test_send_obj_recv_obj_round_trip(backend):
    a, b = MODULES[backend].socketpair()
    with a, b:
        a.settimeout(PATIENCE)
        b.settimeout(PATIENCE)
        header = {"name": "报告.txt", "md5": "x", "nested": [1, {"k": None}]}
        body = bytes(range(256)) * 100
        writer = Background(lambda: (send_obj(a, header, body), send_obj(a, {"empty": True})))
        assert recv_obj(b) == ({**header, "size": len(body)}, body)
        assert recv_obj(b) == ({"empty": True, "size": 0}, b"")
        writer.join()
        a.shutdown(socket.SHUT_WR)
        assert recv_obj(b) is None


def test_send_obj_header_is_framed_json_then_raw_body():
    a, b = socket.socketpair()
    with a, b:
        send_obj(a, {"name": "n"}, b"body")
        raw = read_frame_by_hand(b, "!I")
        assert json.loads(raw) == {"name": "n", "size": 4}
        assert recv_exactly_by_hand(b, 4) == b"body"


def test_send_obj_refuses_a_wrong_size():
    a, b = socket.socketpair()
    with a, b:
        with pytest.raises(ValueError, match="does not match"):
            send_obj(a, {"size": 3}, b"four")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[1, 2]", "must be an object"),
        (b'"text"', "must be an object"),
        (b'{"size": -1}', "non-negative integer"),
        (b'{"size": "3"}', "non-negative integer"),
        (b'{"size": 1.5}', "non-negative integer"),
        (b'{"size": true}', "non-negative integer"),
    ],
)
@pytest.mark.parametrize("backend", BACKENDS)
def test_malformed_json_header_is_a_framing_error(backend, raw, message):
    a, b = MODULES[backend].socketpair()
    with a, b:
        a.sendall(frame("!I", raw))
        with pytest.raises(FramingError, match=message):
            recv_obj(b)


def test_json_header_over_its_limit_and_body_over_max_size():
    a, b = socket.socketpair()
    with a, b:
        a.sendall(struct.pack("!I", 64 * 1024 + 1))
        with pytest.raises(FrameTooLarge):
            recv_obj(b)
    a, b = socket.socketpair()
    with a, b:
        a.sendall(frame("!I", b'{"size": 11}'))
        with pytest.raises(FrameTooLarge) as caught:
            recv_obj(b, max_size=10)
        assert (caught.value.length, caught.value.limit) == (11, 10)


def test_json_body_cut_short_is_incomplete():
    a, b = socket.socketpair()
    with a, b:
        a.sendall(frame("!I", b'{"size": 10}') + b"abc")
        a.shutdown(socket.SHUT_WR)
        with pytest.raises(IncompleteFrame) as caught:
            recv_obj(b)
        assert (caught.value.expected, caught.value.received) == (10, 3)


def test_framing_is_thread_safe_enough_for_one_reader_and_one_writer():
    """A reader blocked in recv_msg does not keep another thread from sending (GIL released)."""
    import ferrosock

    a, b = ferrosock.socketpair()
    with a, b:
        b.settimeout(PATIENCE)
        reader = Background(lambda: recv_msg(b))
        started = threading.Event()
        writer = Background(lambda: (started.set(), send_msg(a, b"ping")))
        assert started.wait(PATIENCE)
        writer.join()
        assert reader.join() == b"ping"
