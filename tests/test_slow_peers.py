"""Issue 10, parts 4 and 5: peers that stop reading or vanish, and log lines at stop().

A connection whose replies make no progress for ``write_timeout`` (default ``idle_timeout``)
is closed, so peers that write and never read cannot hold ``max_connections``; ``keepalive=``
notices a peer whose traffic is dropped; ``stop()`` returns only once every queued log line of
an answered request has been given to ``log``.
"""

from __future__ import annotations

import os
import socket
import struct
import threading
import time

import netns
import pytest
from ferrosock import clients, servers

HOST = "127.0.0.1"


def echo_handler(data: bytes, peer: object) -> bytes:
    return data


def make_server(which: str, **options):
    if which == "echo":
        return servers.EchoServer((HOST, 0), **options)
    if which == "stream":
        return servers.StreamServer((HOST, 0), echo_handler, **options)
    return servers.FramedServer((HOST, 0), echo_handler, **options)


def stuff_until_blocked(which: str, address) -> socket.socket:
    """A client that writes until the server stops reading from it, and never reads."""
    c = socket.create_connection(address, timeout=5)
    c.setblocking(False)
    chunk = b"z" * 65536
    if which == "framed":
        chunk = struct.pack("!I", len(chunk)) + chunk
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            c.send(chunk)
        except BlockingIOError:
            # The server is not reading: it is stuck writing to us (we never read).
            return c
    c.close()
    raise AssertionError("the server kept reading from a peer that never reads")


def wait_for(predicate, limit: float) -> float:
    began = time.monotonic()
    while not predicate():
        if time.monotonic() - began > limit:
            raise AssertionError(f"not within {limit} s")
        time.sleep(0.02)
    return time.monotonic() - began


@pytest.mark.parametrize("which", ["echo", "stream", "framed"])
def test_a_peer_that_never_reads_gives_back_its_max_connections_slot(which):
    # The reproduction: with the slot held forever, the ping timed out.
    with make_server(which, idle_timeout=1.0, max_connections=1) as srv:
        c = stuff_until_blocked(which, srv.address)
        try:
            began = time.monotonic()
            if which == "framed":
                with socket.create_connection(srv.address, timeout=10) as s:
                    s.sendall(struct.pack("!I", 4) + b"ping")
                    assert s.recv(8, socket.MSG_WAITALL) == struct.pack("!I", 4) + b"ping"
            else:
                assert clients.echo(srv.address, b"ping", timeout=10) == b"ping"
            # Served once the stalled reply had made no progress for 1 s (generous bound).
            assert time.monotonic() - began < 8
        finally:
            c.close()
        wait_for(lambda: srv.stats()["connections_open"] == 0, 5)


@pytest.mark.parametrize("which", ["echo", "stream", "framed"])
def test_peers_that_never_read_are_closed_without_max_connections(which):
    # write_timeout alone (no idle_timeout): silent readers stay, stalled writers go.
    with make_server(which, write_timeout=1.0) as srv:
        stuck = [stuff_until_blocked(which, srv.address) for _ in range(3)]
        try:
            with socket.create_connection(srv.address, timeout=5) as idle:
                wait_for(lambda: srv.stats()["connections_open"] == 4, 5)
                wait_for(lambda: srv.stats()["connections_open"] == 1, 8)
                # The silent one is still served: it never had a stalled reply.
                idle.settimeout(5)
                if which == "framed":
                    idle.sendall(struct.pack("!I", 2) + b"ok")
                    assert idle.recv(6, socket.MSG_WAITALL) == struct.pack("!I", 2) + b"ok"
                else:
                    idle.sendall(b"ok")
                    assert idle.recv(2) == b"ok"
                # A reply that could not be delivered is an error, one per stuck peer.
                assert srv.stats()["errors"] == 3
        finally:
            for c in stuck:
                c.close()


def test_a_large_reply_to_a_slow_reader_finishes_while_it_progresses():
    # "No progress for write_timeout", not "the whole write within write_timeout": a 4 MiB
    # reply read at ~2.5 MiB/s takes well over the 0.5 s timeout and still arrives whole.
    big = os.urandom(4 * 1024 * 1024)

    def handler(data: bytes, peer: object) -> bytes:
        return big

    with servers.StreamServer((HOST, 0), handler, write_timeout=0.5) as srv:
        with socket.create_connection(srv.address, timeout=5) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            s.sendall(b"go")
            got = bytearray()
            began = time.monotonic()
            while len(got) < len(big):
                chunk = s.recv(256 * 1024)
                assert chunk, f"closed after {len(got)} bytes"
                got += chunk
                time.sleep(0.02)  # pacing: a slow reader, never 0.5 s without progress
            assert bytes(got) == big
            assert time.monotonic() - began > 0.5
        assert srv.stats()["errors"] == 0


def test_a_framed_peer_silent_in_the_middle_of_a_message_is_closed_by_idle_timeout():
    with make_server("framed", idle_timeout=0.5, max_connections=1) as srv:
        with socket.create_connection(srv.address, timeout=5) as half:
            half.sendall(struct.pack("!I", 1000) + b"x" * 10)  # then nothing more
            with socket.create_connection(srv.address, timeout=10) as s:
                s.sendall(struct.pack("!I", 2) + b"ok")
                assert s.recv(6, socket.MSG_WAITALL) == struct.pack("!I", 2) + b"ok"
            assert half.recv(1) == b""  # closed, not answered


def test_write_timeout_and_keepalive_arguments():
    for bad in (0, -1.0, float("nan")):
        with pytest.raises(ValueError):
            servers.EchoServer((HOST, 0), write_timeout=bad)
    for bad in (0.5, -3, (1, 1, 0), (1, 0, 3), (1, 1, 200)):
        with pytest.raises(ValueError):
            servers.EchoServer((HOST, 0), keepalive=bad)
    with pytest.raises(TypeError):
        servers.EchoServer((HOST, 0), keepalive="yes")
    for good in (None, False, True, 30, 2.0, (1, 1, 2)):
        with servers.EchoServer((HOST, 0), keepalive=good) as srv:
            assert clients.echo(srv.address, b"k", timeout=5) == b"k"
    # UDP servers take the option and ignore it (no connection to keep alive).
    with servers.EchoServer((HOST, 0), kind="udp", keepalive=(1, 1, 1)) as srv:
        assert clients.echo(srv.address, b"u", kind="udp", timeout=5) == b"u"


BLACKHOLE_SCRIPT = """
import socket, time
from ferrosock import servers

on = servers.EchoServer(("127.0.0.1", 0), keepalive=(1, 1, 2)).start()
off = servers.EchoServer(("127.0.0.1", 0), keepalive=False).start()
peers = []
for srv in (on, off):
    c = socket.socket()
    c.bind((VANISHING, 0))        # the peer that will vanish
    c.settimeout(5)
    c.connect(srv.address)
    c.sendall(b"hi")
    assert c.recv(2) == b"hi"
    peers.append(c)
blackhole()  # the peer vanishes
began = time.monotonic()
while on.stats()["connections_open"]:
    assert time.monotonic() - began < 15, "keepalive did not notice the vanished peer"
    time.sleep(0.05)
noticed = time.monotonic() - began
time.sleep(1.0)
assert off.stats()["connections_open"] == 1  # without keepalive: never noticed
print(f"noticed after {noticed:.2f} s")
on.stop(); off.stop()
for c in peers:
    c.close()
"""


def test_keepalive_notices_a_peer_whose_traffic_is_dropped():
    run = netns.run(BLACKHOLE_SCRIPT, timeout=25)
    noticed = float(run.stdout.split()[2])
    # idle 1 s + 2 probes 1 s apart: about 3 s; generous bounds.
    assert 1.5 < noticed < 15


def burn(stop: threading.Event) -> None:
    n = 0
    while not stop.is_set():
        n += 1


@pytest.mark.parametrize("which", ["echo", "stream"])
def test_every_log_line_of_an_answered_request_is_delivered_before_stop_returns(which):
    stop_burning = threading.Event()
    burners = [threading.Thread(target=burn, args=(stop_burning,)) for _ in range(4)]
    for t in burners:
        t.start()
    try:
        for _ in range(5):
            lines: list[str] = []
            srv = make_server(which, log=lines.append).start()
            answered = 0
            for i in range(5):
                with socket.create_connection(srv.address, timeout=10) as s:
                    for j in range(4):
                        msg = f"m{i}.{j}".encode()
                        s.sendall(msg)
                        assert s.recv(64) == msg
                        answered += 1
            srv.stop()
            got = len(lines)
            stats = srv.stats()
            assert got == answered == stats["messages_in"] == stats["messages_out"], (
                got,
                answered,
                stats,
            )
    finally:
        stop_burning.set()
        for t in burners:
            t.join()
