"""Issue 10: large replies to slow readers, and pipelined requests, arrive whole and in order.

A reply the kernel does not take at once is kept per connection and flushed as the peer reads,
bounded by ``write_timeout`` / ``idle_timeout``: "no progress for that long", so a peer that
reads slowly but steadily is never cut off, even when the whole reply takes several times the
timeout. The replies are patterned (every 4-byte word is its own index), so a lost, repeated
or reordered piece shows where it happened.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from array import array

import pytest
from ferrosock import servers

HOST = "127.0.0.1"
BIG = 8 * 1024 * 1024  # more than the kernel's send buffer can hold (4 MiB at most by default)
TIMEOUT = 0.6  # the server's timeout: longer than any one stall, shorter than the whole reply
# The slow reader: this many bytes, then a pause of this many seconds (about 5 MB/s, so the
# 8 MiB take at least 128 x 10 ms, over twice TIMEOUT, with pauses 60 times shorter than it).
PACE = (64 * 1024, 0.010)
# A slower one (about 2 MB/s): the same pauses, but the kernel's send buffer, once full, takes
# longer than TIMEOUT to drain to where it wakes the writer (see the xfail below).
SLOWER = (16 * 1024, 0.008)


def pattern(n: int, start: int = 0) -> bytes:
    """``n`` bytes (a multiple of 4) whose 4-byte words count up from ``start``."""
    return array("I", range(start, start + n // 4)).tobytes()


def first_difference(got: bytes, want: bytes) -> str:
    for i in range(0, min(len(got), len(want)), 4096):
        if got[i : i + 4096] != want[i : i + 4096]:
            return f"first difference within bytes {i}..{i + 4096} of {len(want)}"
    return f"got {len(got)} bytes of {len(want)}"


def slow_read(sock: socket.socket, n: int, pace=PACE) -> tuple[bytes, float]:
    """Read ``n`` bytes a little at a time; (the bytes, how long it took)."""
    chunk, pause = pace
    got = bytearray()
    began = time.monotonic()
    while len(got) < n:
        data = sock.recv(min(chunk, n - len(got)))
        assert data, f"closed after {len(got)} of {n} bytes ({time.monotonic() - began:.2f} s)"
        got += data
        time.sleep(pause)
    return bytes(got), time.monotonic() - began


def slow_client(address) -> socket.socket:
    s = socket.create_connection(address, timeout=5)
    # A small receive buffer, so the server really has to wait for us.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    return s


def big_reply_to_a_slow_reader(which: str, options: dict, pace) -> tuple[bytes, bytes, float]:
    """Ask ``which`` server for BIG patterned bytes (echo: send them), read them at ``pace``:
    (what came, what should have, how long it took). Fails if the server errs or closes."""
    body = pattern(BIG)

    def handler(data: bytes, peer: object) -> bytes:
        return body if data == b"go" else b""

    if which == "echo":
        srv = servers.EchoServer((HOST, 0), **options)
        want = body
    elif which == "stream":
        srv = servers.StreamServer((HOST, 0), handler, **options)
        want = body
    else:
        srv = servers.FramedServer((HOST, 0), handler, **options)
        want = struct.pack("!I", len(body)) + body
    failure: list[BaseException] = []
    with srv, slow_client(srv.address) as s:
        if which == "echo":

            def send() -> None:
                try:
                    s.sendall(body)
                except BaseException as exc:  # reported below
                    failure.append(exc)

            # The echo comes back while we send: the sends need a thread of their own.
            sender = threading.Thread(target=send)
            sender.start()
        else:
            s.sendall(struct.pack("!I", 2) + b"go" if which == "framed" else b"go")
            sender = None
        try:
            got, took = slow_read(s, len(want), pace)
        finally:
            if sender is not None:
                sender.join(10)
        assert not failure, failure
        assert srv.stats()["errors"] == 0
    return got, want, took


@pytest.mark.parametrize(
    ("which", "options"),
    [
        pytest.param("echo", {"write_timeout": TIMEOUT}, id="echo-write_timeout"),
        pytest.param("stream", {"write_timeout": TIMEOUT}, id="stream-write_timeout"),
        pytest.param("stream", {"idle_timeout": TIMEOUT}, id="stream-idle_timeout"),
        pytest.param("framed", {"idle_timeout": TIMEOUT}, id="framed-idle_timeout"),
    ],
)
def test_a_slow_reader_gets_a_large_reply_whole_and_in_order(which, options):
    got, want, took = big_reply_to_a_slow_reader(which, options, PACE)
    assert got == want, first_difference(got, want)
    # The pacing did make the reply take longer than the timeout (else this proves nothing).
    assert took > 2 * TIMEOUT, took


# Found by these tests: the kernel reports a full send buffer writable again only once about a
# third of it (some 1.3 MiB of the 4 MiB it grows to on loopback) has drained, which a peer
# reading steadily at 2 MB/s takes 0.65 s to do. When each wait for writability was bounded by
# the timeout, such a peer was closed as "stopped reading"; now a wait that runs out goes on
# while the send queue (SIOCOUTQ) is shrinking.


@pytest.mark.parametrize(
    ("which", "options"),
    [
        pytest.param("echo", {"idle_timeout": TIMEOUT}, id="echo-idle_timeout"),
        pytest.param("stream", {"write_timeout": TIMEOUT}, id="stream-write_timeout"),
        pytest.param("framed", {"write_timeout": TIMEOUT}, id="framed-write_timeout"),
    ],
)
def test_a_steady_reader_slower_than_the_buffer_drains_is_not_cut_off(which, options):
    got, want, _ = big_reply_to_a_slow_reader(which, options, SLOWER)
    assert got == want, first_difference(got, want)


# ---- pipelining: everything sent before anything is read ----

REQUESTS = 400
REPLY_WORDS = 4096  # 16 KiB a reply: 6.4 MiB in all, more than the kernel buffers hold


def read_all(sock: socket.socket, n: int) -> bytes:
    got = bytearray()
    while len(got) < n:
        data = sock.recv(min(65536, n - len(got)))
        assert data, f"closed after {len(got)} of {n} bytes"
        got += data
    return bytes(got)


def test_framed_server_answers_pipelined_requests_in_order():
    def handler(message: bytes, peer: object) -> bytes:
        i = int(message)
        return pattern(4 * REPLY_WORDS, i * REPLY_WORDS)

    with servers.FramedServer((HOST, 0), handler, write_timeout=5) as srv:
        with slow_client(srv.address) as s:
            requests = b"".join(
                struct.pack("!I", len(m)) + m for m in (b"%d" % i for i in range(REQUESTS))
            )
            s.sendall(requests)  # small: the kernel's buffers hold all of it
            time.sleep(0.5)  # and only then, after a while, read
            got = read_all(s, REQUESTS * (4 + 4 * REPLY_WORDS))
        head = struct.pack("!I", 4 * REPLY_WORDS)
        want = b"".join(head + pattern(4 * REPLY_WORDS, i * REPLY_WORDS) for i in range(REQUESTS))
        assert got == want, first_difference(got, want)
        stats = srv.stats()
        assert stats["messages_in"] == stats["messages_out"] == REQUESTS


def test_stream_server_answers_pipelined_chunks_in_order():
    # The handler sees whatever chunks the reads happen to give; a reply that depends on each
    # byte alone (every byte becomes 256 copies of itself) shows the order whatever they are.
    def handler(data: bytes, peer: object) -> bytes:
        return b"".join(bytes([c]) * 256 for c in data)

    sent = bytes(range(256)) * 96  # 24 KiB in, 6 MiB out
    with servers.StreamServer((HOST, 0), handler, write_timeout=5) as srv:
        with slow_client(srv.address) as s:
            for i in range(0, len(sent), 64):
                s.sendall(sent[i : i + 64])
            time.sleep(0.5)
            got = read_all(s, 256 * len(sent))
    want = b"".join(bytes([c]) * 256 for c in sent)
    assert got == want, first_difference(got, want)


def test_echo_server_answers_pipelined_messages_in_order():
    messages = [pattern(4096, i * 1024) for i in range(300)]  # 1.2 MiB, sent before reading
    with servers.EchoServer((HOST, 0), write_timeout=5) as srv:
        with slow_client(srv.address) as s:
            failure: list[BaseException] = []

            def send() -> None:
                try:
                    for m in messages:
                        s.sendall(m)
                except BaseException as exc:  # reported below
                    failure.append(exc)

            # Echoing stops once our receive buffer is full; the rest waits in the server's
            # buffers and ours until we read, so the sends need a thread of their own.
            sender = threading.Thread(target=send)
            sender.start()
            time.sleep(0.5)  # a peer that does not read for a while
            try:
                got = read_all(s, sum(map(len, messages)))
            finally:
                sender.join(10)
            assert not failure, failure
    want = b"".join(messages)
    assert got == want, first_difference(got, want)
