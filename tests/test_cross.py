"""Stdlib and ferrosock sockets talk to each other, in both directions, over TCP, UDP,
IPv6 loopback and AF_UNIX (stream and datagram)."""

from __future__ import annotations

import hashlib
import os
import socket

import pytest
from conftest import (
    PATIENCE,
    Background,
    family_params,
    listener,
    recv_exactly,
)

STREAMS = family_params("tcp4", "tcp6", "unix-stream")
DGRAMS = family_params("udp4", "udp6", "unix-dgram")
BIG = 16 << 20


def connect_pair(server_mod, client_mod, family, address):
    """(listener, client, server-side conn, accept address), all open."""
    srv = listener(server_mod, family, address)
    try:
        client = client_mod.socket(family, socket.SOCK_STREAM)
        client.settimeout(PATIENCE)
        client.connect(srv.getsockname())
        client.settimeout(None)
        conn, addr = srv.accept()
    except BaseException:
        srv.close()
        raise
    return srv, client, conn, addr


@pytest.fixture
def stream(pair, request, addr_for):
    """A connected stream pair for the family in request.param: (client, conn, addr, srv)."""
    family = request.param[0]
    server_mod, client_mod = pair
    srv, client, conn, addr = connect_pair(server_mod, client_mod, family, addr_for(family))
    with srv, client, conn:
        yield client, conn, addr, srv


@pytest.mark.parametrize("stream", STREAMS, indirect=True)
def test_hello(pair, stream):
    """Lesson 1: client sends b'hello!', server answers b'hi'."""
    client, conn, addr, srv = stream
    server_mod, client_mod = pair
    assert type(client) is client_mod.socket and type(conn) is server_mod.socket
    assert addr == client.getsockname()
    assert client.getpeername() == srv.getsockname() == conn.getsockname()
    assert conn.getpeername() == addr
    client.send(b"hello!")
    assert recv_exactly(conn, 6) == b"hello!"
    conn.send(b"hi")
    assert client.recv(1024) == b"hi"


@pytest.mark.parametrize("stream", STREAMS, indirect=True)
@pytest.mark.parametrize("direction", ["client-to-server", "server-to-client"])
def test_16mib_intact(stream, direction):
    client, conn, _, _ = stream
    sender, receiver = (client, conn) if direction == "client-to-server" else (conn, client)
    payload = os.urandom(BIG)
    expected = hashlib.sha256(payload).hexdigest()

    def send_all():
        sender.sendall(payload)
        sender.shutdown(socket.SHUT_WR)

    job = Background(send_all)
    buf = bytearray(BIG + 1)
    view = memoryview(buf)
    got = 0
    receiver.settimeout(PATIENCE * 4)
    while True:
        n = receiver.recv_into(view[got:], min(1 << 20, BIG + 1 - got))
        if n == 0:
            break
        got += n
    job.join(PATIENCE * 4)
    assert got == BIG
    assert hashlib.sha256(view[:got]).hexdigest() == expected


@pytest.mark.parametrize("stream", STREAMS, indirect=True)
def test_shutdown_wr_gives_eof_and_half_close(stream):
    client, conn, _, _ = stream
    client.sendall(b"last words")
    client.shutdown(socket.SHUT_WR)
    assert recv_exactly(conn, 10) == b"last words"
    assert conn.recv(100) == b""
    assert conn.recv(100) == b""  # EOF stays EOF
    conn.sendall(b"reply after half-close")
    assert recv_exactly(client, 22) == b"reply after half-close"
    conn.close()
    assert client.recv(100) == b""


@pytest.mark.parametrize("stream", STREAMS, indirect=True)
def test_msg_peek_stream(stream):
    client, conn, _, _ = stream
    client.sendall(b"hello")
    peeked = conn.recv(5, socket.MSG_PEEK | socket.MSG_WAITALL)
    assert peeked == b"hello"
    assert conn.recv(5, socket.MSG_PEEK) == b"hello"  # still there
    assert recv_exactly(conn, 5) == b"hello"


@pytest.mark.parametrize("stream", STREAMS, indirect=True)
def test_sticky_packets(stream):
    """A byte stream: two sends may arrive as one recv; the bytes keep their order."""
    client, conn, _, _ = stream
    client.send(b"first")
    client.send(b"second")
    client.shutdown(socket.SHUT_WR)
    got = b""
    while chunk := conn.recv(3):
        assert len(chunk) <= 3
        got += chunk
    assert got == b"firstsecond"


@pytest.mark.parametrize("stream", STREAMS, indirect=True)
def test_recv_into_variants_stream(stream):
    client, conn, _, _ = stream
    client.sendall(b"0123456789")
    buf = bytearray(4)
    assert conn.recv_into(buf) == 4 and buf == b"0123"
    buf = bytearray(10)
    assert conn.recv_into(memoryview(buf)[2:], 3) == 3 and buf[2:5] == b"456"
    rest = recv_exactly(conn, 3)
    assert rest == b"789"


@pytest.mark.parametrize("stream", STREAMS, indirect=True)
def test_peer_close_then_recv_returns_empty(stream):
    client, conn, _, _ = stream
    conn.close()
    assert client.recv(10) == b""
    assert client.recv_into(bytearray(10)) == 0


# --------------------------------------------------------------------------- datagrams


@pytest.fixture
def dgram(pair, request, addr_for):
    """(receiver of the server module, sender of the client module), both bound."""
    family = request.param[0]
    server_mod, client_mod = pair
    receiver = server_mod.socket(family, socket.SOCK_DGRAM)
    sender = client_mod.socket(family, socket.SOCK_DGRAM)
    with receiver, sender:
        receiver.bind(addr_for(family))
        sender.bind(addr_for(family))
        receiver.settimeout(PATIENCE)
        sender.settimeout(PATIENCE)
        yield receiver, sender


@pytest.mark.parametrize("dgram", DGRAMS, indirect=True)
def test_udp_hello(dgram):
    """Lessons 3 and 5: sendto/recvfrom with the sender's address, and a reply."""
    receiver, sender = dgram
    assert sender.sendto(b"hello", receiver.getsockname()) == 5
    data, addr = receiver.recvfrom(1024)
    assert data == b"hello" and addr == sender.getsockname()
    assert receiver.sendto(b"hi", addr) == 2
    data, addr = sender.recvfrom(1024)
    assert data == b"hi" and addr == receiver.getsockname()


@pytest.mark.parametrize("dgram", DGRAMS, indirect=True)
def test_zero_length_datagram(dgram):
    receiver, sender = dgram
    assert sender.sendto(b"", receiver.getsockname()) == 0
    assert receiver.recvfrom(1024) == (b"", sender.getsockname())
    sender.sendto(b"", receiver.getsockname())
    assert receiver.recv(1024) == b""
    sender.sendto(b"", receiver.getsockname())
    assert receiver.recvfrom_into(bytearray(8)) == (0, sender.getsockname())


@pytest.mark.parametrize("dgram", DGRAMS, indirect=True)
def test_datagram_truncation(dgram):
    receiver, sender = dgram
    dest = receiver.getsockname()
    for _ in range(4):
        sender.sendto(b"0123456789", dest)
    sender.sendto(b"end", dest)
    assert receiver.recv(4) == b"0123"  # the rest of that datagram is discarded
    assert receiver.recvfrom(4) == (b"0123", sender.getsockname())
    buf = bytearray(16)
    assert receiver.recvfrom_into(buf, 4) == (4, sender.getsockname())
    assert buf[:5] == b"0123\x00"
    small = bytearray(3)
    assert receiver.recv_into(small) == 3 and small == b"012"
    assert receiver.recv(100) == b"end"


@pytest.mark.parametrize("dgram", DGRAMS, indirect=True)
def test_msg_peek_dgram(dgram):
    receiver, sender = dgram
    sender.sendto(b"peekaboo", receiver.getsockname())
    assert receiver.recvfrom(100, socket.MSG_PEEK) == (b"peekaboo", sender.getsockname())
    assert receiver.recv(4, socket.MSG_PEEK) == b"peek"
    assert receiver.recv(100) == b"peekaboo"


@pytest.mark.parametrize("dgram", DGRAMS, indirect=True)
def test_datagram_boundaries_kept(dgram):
    receiver, sender = dgram
    for msg in (b"a", b"bb", b"ccc"):
        sender.sendto(msg, receiver.getsockname())
    assert [receiver.recv(100) for _ in range(3)] == [b"a", b"bb", b"ccc"]


@pytest.mark.parametrize("dgram", DGRAMS, indirect=True)
def test_connected_datagram(dgram):
    receiver, sender = dgram
    sender.connect(receiver.getsockname())
    assert sender.getpeername() == receiver.getsockname()
    assert sender.send(b"via connect") == 11
    assert receiver.recvfrom(100) == (b"via connect", sender.getsockname())
    receiver.sendto(b"back", sender.getsockname())
    assert sender.recv(100) == b"back"


@pytest.mark.parametrize("dgram", DGRAMS, indirect=True)
def test_large_datagram(dgram):
    receiver, sender = dgram
    receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    payload = os.urandom(60000)
    sender.sendto(payload, receiver.getsockname())
    assert receiver.recv(65536) == payload


def test_unix_dgram_from_unbound_sender(pair, addr_for):
    """An unbound AF_UNIX datagram sender shows up as address None."""
    server_mod, client_mod = pair
    with (
        server_mod.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as r,
        client_mod.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s,
    ):
        r.bind(addr_for(socket.AF_UNIX))
        r.settimeout(PATIENCE)
        s.sendto(b"anon", r.getsockname())
        assert r.recvfrom(10) == (b"anon", None)
        s.sendto(b"anon", r.getsockname())
        assert r.recvfrom_into(bytearray(10)) == (4, None)


def test_descriptor_passes_between_modules(pair):
    """A descriptor passes from one module to the other with fileno=."""
    server_mod, client_mod = pair
    a, b = server_mod.socketpair()
    with a:
        c = client_mod.socket(fileno=b.detach())
        with c:
            a.sendall(b"over")
            assert c.recv(4) == b"over"
