"""setsockopt/getsockopt in every form the stdlib accepts."""

from __future__ import annotations

import socket
import struct

import pytest
from conftest import HOST4, assert_parity, listener


def test_reuseaddr_off_unless_set(mod):
    with mod.socket() as s:
        assert s.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) == 0
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        assert s.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) == 1


def test_reuseaddr_lets_a_second_listener_rebind_after_close(mod):
    """Lesson 2: with SO_REUSEADDR set, a restarted server binds the same port while the
    previous connection is in TIME_WAIT."""
    with mod.socket() as first:
        first.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        first.bind((HOST4, 0))
        first.listen()
        port = first.getsockname()[1]
        with mod.create_connection((HOST4, port)) as c:
            conn, _ = first.accept()
            conn.close()  # the server closes first -> its side goes to TIME_WAIT
            c.recv(1)
    with mod.socket() as second:
        second.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        second.bind((HOST4, port))
        assert second.getsockname() == (HOST4, port)


@pytest.mark.parametrize(
    "level,opt",
    [
        (socket.SOL_SOCKET, socket.SO_TYPE),
        (socket.SOL_SOCKET, socket.SO_DOMAIN),
        (socket.SOL_SOCKET, socket.SO_PROTOCOL),
        (socket.SOL_SOCKET, socket.SO_ERROR),
        (socket.SOL_SOCKET, socket.SO_KEEPALIVE),
        (socket.IPPROTO_TCP, socket.TCP_NODELAY),
        (socket.IPPROTO_IP, socket.IP_TTL),
    ],
    ids=["SO_TYPE", "SO_DOMAIN", "SO_PROTOCOL", "SO_ERROR", "SO_KEEPALIVE", "NODELAY", "IP_TTL"],
)
def test_getsockopt_int(mod, level, opt):
    def get(m):
        with m.socket() as s:
            value = s.getsockopt(level, opt)
            return type(value), value

    assert_parity(get, mod)


def test_tcp_nodelay(mod):
    with mod.socket() as s:
        assert s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        assert s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)  # bool is an int
        assert s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1


def test_getsockopt_buflen_returns_bytes(mod):
    def get(m):
        with m.socket() as s:
            s.setsockopt(m.SOL_SOCKET, m.SO_REUSEADDR, 1)
            return s.getsockopt(m.SOL_SOCKET, m.SO_REUSEADDR, 4)

    assert assert_parity(get, mod) == ("ok", struct.pack("i", 1))


def test_getsockopt_buflen_longer_than_option(mod):
    def get(m):
        with m.socket() as s:
            return s.getsockopt(m.SOL_SOCKET, m.SO_REUSEADDR, 64)

    assert_parity(get, mod)


def test_setsockopt_bytes_linger(mod):
    linger = struct.pack("ii", 1, 0)
    with mod.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        assert s.getsockopt(socket.SOL_SOCKET, socket.SO_LINGER, len(linger)) == linger
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, bytearray(struct.pack("ii", 0, 0)))
        assert s.getsockopt(socket.SOL_SOCKET, socket.SO_LINGER, 8) == struct.pack("ii", 0, 0)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, memoryview(linger))
        assert s.getsockopt(socket.SOL_SOCKET, socket.SO_LINGER, 8) == linger


def test_buffer_sizes(mod):
    def sizes(m):
        with m.socket() as s:
            s.setsockopt(m.SOL_SOCKET, m.SO_RCVBUF, 65536)
            s.setsockopt(m.SOL_SOCKET, m.SO_SNDBUF, 32768)
            return (
                s.getsockopt(m.SOL_SOCKET, m.SO_RCVBUF),
                s.getsockopt(m.SOL_SOCKET, m.SO_SNDBUF),
            )

    assert_parity(sizes, mod)


SETSOCKOPT_CASES = {
    "none-optlen": lambda s, m: s.setsockopt(m.SOL_SOCKET, m.SO_REUSEADDR, None, 4),
    "none-no-optlen": lambda s, m: s.setsockopt(m.SOL_SOCKET, m.SO_REUSEADDR, None),
    "int-optlen": lambda s, m: s.setsockopt(m.SOL_SOCKET, m.SO_REUSEADDR, 1, 4),
    "str-value": lambda s, m: s.setsockopt(m.SOL_SOCKET, m.SO_REUSEADDR, "1"),
    "float-value": lambda s, m: s.setsockopt(m.SOL_SOCKET, m.SO_REUSEADDR, 1.0),
    "huge-int": lambda s, m: s.setsockopt(m.SOL_SOCKET, m.SO_REUSEADDR, 2**40),
    "negative-int": lambda s, m: s.setsockopt(m.SOL_SOCKET, m.SO_RCVBUF, -1),
    "too-few-args": lambda s, m: s.setsockopt(m.SOL_SOCKET, m.SO_REUSEADDR),
    "bad-level": lambda s, m: s.setsockopt(9999, m.SO_REUSEADDR, 1),
    "bad-option": lambda s, m: s.setsockopt(m.SOL_SOCKET, 9999, 1),
    "short-bytes": lambda s, m: s.setsockopt(m.SOL_SOCKET, m.SO_LINGER, b"\x01"),
    "get-buflen-0": lambda s, m: s.getsockopt(m.SOL_SOCKET, m.SO_REUSEADDR, 0),
    "get-buflen-2000": lambda s, m: s.getsockopt(m.SOL_SOCKET, m.SO_REUSEADDR, 2000),
    "get-buflen-neg": lambda s, m: s.getsockopt(m.SOL_SOCKET, m.SO_REUSEADDR, -1),
    "get-bad-option": lambda s, m: s.getsockopt(m.SOL_SOCKET, 9999),
    "get-str-level": lambda s, m: s.getsockopt("x", m.SO_REUSEADDR),
}


@pytest.mark.parametrize("case", list(SETSOCKOPT_CASES), ids=list(SETSOCKOPT_CASES))
def test_sockopt_edge_cases(mod, case):
    def run(m):
        with m.socket() as s:
            return SETSOCKOPT_CASES[case](s, m)

    assert_parity(run, mod)


def test_options_survive_accept(mod):
    """Accepted sockets inherit listener options as the kernel says (no library reset)."""

    def accepted(m):
        with listener(m, m.AF_INET, (HOST4, 0)) as srv:
            srv.setsockopt(m.IPPROTO_TCP, m.TCP_NODELAY, 1)
            with m.create_connection(srv.getsockname()):
                conn, _ = srv.accept()
                with conn:
                    return conn.getsockopt(m.IPPROTO_TCP, m.TCP_NODELAY)

    assert_parity(accepted, mod)
