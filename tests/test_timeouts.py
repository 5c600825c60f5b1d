"""Timeouts and blocking modes, as the stdlib: settimeout/setblocking, the descriptor's
O_NONBLOCK flag, the default timeout, and the exceptions a timed-out call raises."""

from __future__ import annotations

import os
import socket
import time

import pytest
from conftest import HOST4, assert_parity, full_backlog, listener


def mode(s) -> tuple:
    return (s.gettimeout(), s.getblocking(), os.get_blocking(s.fileno()))


@pytest.mark.parametrize(
    "setting,expected",
    [
        (None, (None, True, True)),
        (0, (0.0, False, False)),
        (0.0, (0.0, False, False)),
        (2, (2.0, True, False)),  # a timeout is implemented with a non-blocking descriptor
        (0.25, (0.25, True, False)),
    ],
    ids=["none", "zero-int", "zero-float", "two", "quarter"],
)
def test_settimeout_modes(mod, setting, expected):
    with mod.socket() as s:
        assert mode(s) == (None, True, True)  # fresh socket: blocking descriptor
        s.settimeout(setting)
        assert mode(s) == expected
        assert type(s.gettimeout()) is type(expected[0])
        assert s.timeout == expected[0]
        s.settimeout(None)
        assert mode(s) == (None, True, True)


def test_setblocking(mod):
    with mod.socket() as s:
        s.setblocking(False)
        assert mode(s) == (0.0, False, False)
        s.setblocking(True)
        assert mode(s) == (None, True, True)
        s.settimeout(3)
        s.setblocking(True)
        assert mode(s) == (None, True, True)
        s.setblocking(0)
        assert mode(s) == (0.0, False, False)


@pytest.mark.parametrize("value", [-1, -0.001, "1", float("nan"), float("inf"), 10**400], ids=str)
def test_settimeout_rejects(mod, value):
    def run(m):
        with m.socket() as s:
            s.settimeout(value)
            return s.gettimeout()

    assert_parity(run, mod)


@pytest.mark.parametrize("default", [None, 0.0, 3.0], ids=["none", "zero", "three"])
@pytest.mark.parametrize("listener_timeout", [None, 0.0, 5.0], ids=["lnone", "lzero", "lfive"])
def test_accepted_socket_mode(mod, default, listener_timeout):
    """Stdlib: the accepted socket gets the default timeout; with no default, it is
    blocking even when the listener had a timeout (issue #7995)."""

    def accepted(m):
        m.setdefaulttimeout(default)
        try:
            with listener(m, m.AF_INET, (HOST4, 0)) as srv:
                srv.settimeout(listener_timeout)
                with socket.create_connection(srv.getsockname(), timeout=5):
                    conn, _ = srv.accept()
                    with conn:
                        return mode(conn)
        finally:
            m.setdefaulttimeout(None)

    assert_parity(accepted, mod)


def test_default_timeout_does_not_change_existing_sockets(mod):
    with mod.socket() as s:
        mod.setdefaulttimeout(1.0)
        try:
            assert s.gettimeout() is None
            with mod.socket() as t:
                assert mode(t) == (1.0, True, False)
        finally:
            mod.setdefaulttimeout(None)


def assert_timed_out(exc_info, started: float, timeout: float) -> None:
    elapsed = time.monotonic() - started
    exc = exc_info.value
    assert type(exc) is socket.timeout  # TimeoutError itself from 3.10 (see versions.py)
    assert str(exc) == "timed out" and exc.args == ("timed out",) and exc.errno is None
    assert timeout * 0.9 <= elapsed < timeout + 1.0, elapsed


def test_recv_timeout(mod):
    a, b = mod.socketpair()
    with a, b:
        a.settimeout(0.2)
        started = time.monotonic()
        with pytest.raises(OSError) as info:
            a.recv(10)
        assert_timed_out(info, started, 0.2)
        # the socket is still usable afterwards
        b.sendall(b"late")
        assert a.recv(10) == b"late"


def test_recvfrom_timeout(mod):
    with mod.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((HOST4, 0))
        s.settimeout(0.2)
        started = time.monotonic()
        with pytest.raises(OSError) as info:
            s.recvfrom(10)
        assert_timed_out(info, started, 0.2)


def test_accept_timeout(mod):
    with listener(mod, socket.AF_INET, (HOST4, 0)) as srv:
        srv.settimeout(0.2)
        started = time.monotonic()
        with pytest.raises(OSError) as info:
            srv.accept()
        assert_timed_out(info, started, 0.2)


def test_connect_timeout(mod):
    with full_backlog() as addr, mod.socket() as c:
        c.settimeout(0.3)
        started = time.monotonic()
        with pytest.raises(OSError) as info:
            c.connect(addr)
        assert_timed_out(info, started, 0.3)


def test_sendall_timeout_is_overall(mod):
    """sendall's timeout bounds the whole call; the peer never reads."""
    a, b = mod.socketpair()
    with a, b:
        a.settimeout(0.3)
        started = time.monotonic()
        with pytest.raises(OSError) as info:
            a.sendall(b"x" * (64 << 20))
        assert_timed_out(info, started, 0.3)


def test_create_connection_timeout(mod):
    with full_backlog() as addr:
        started = time.monotonic()
        with pytest.raises(OSError) as info:
            mod.create_connection(addr, timeout=0.3)
        assert_timed_out(info, started, 0.3)


NONBLOCKING_CASES = {
    "recv": lambda s, peer, srv, m: s.recv(10),
    "recv_into": lambda s, peer, srv, m: s.recv_into(bytearray(10)),
    "recvfrom": lambda s, peer, srv, m: s.recvfrom(10),
    "accept": lambda s, peer, srv, m: srv.accept(),
    "send-full": lambda s, peer, srv, m: [s.send(b"x" * 65536) for _ in range(10000)],
}


@pytest.mark.parametrize("case", list(NONBLOCKING_CASES), ids=list(NONBLOCKING_CASES))
def test_nonblocking_would_block(mod, case):
    def run(m):
        with listener(m, m.AF_INET, (HOST4, 0)) as srv:
            s = m.create_connection(srv.getsockname())
            peer, _ = srv.accept()
            with s, peer:
                s.setblocking(False)
                srv.setblocking(False)
                return NONBLOCKING_CASES[case](s, peer, srv, m)

    got = assert_parity(run, mod)
    assert got[1] is BlockingIOError and got[2] == 11


def test_nonblocking_connect_in_progress(mod):
    def run(m):
        with full_backlog() as addr, m.socket() as c:
            c.setblocking(False)
            return c.connect(addr)

    assert assert_parity(run, mod) == (
        "raise",
        BlockingIOError,
        115,
        "[Errno 115] Operation now in progress",
    )


def test_nonblocking_connect_ex(mod):
    def run(m):
        with full_backlog() as addr, m.socket() as c:
            c.setblocking(False)
            return c.connect_ex(addr)

    assert assert_parity(run, mod) == ("ok", 115)


def test_nonblocking_connect_then_select(mod):
    """The classic pattern: connect_ex -> EINPROGRESS, wait writable, SO_ERROR == 0."""
    import select

    with listener(mod, socket.AF_INET, (HOST4, 0)) as srv, mod.socket() as c:
        c.setblocking(False)
        assert c.connect_ex(srv.getsockname()) in (0, 115)
        _, writable, _ = select.select([], [c], [], 5)
        assert writable == [c]
        assert c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
        conn, _ = srv.accept()
        conn.close()


@pytest.mark.parametrize(
    "value",
    [1e-10, 1e-9, 1.5e-9, 0.1, 1 / 3, True, 10**9, 2**62 / 1e9, 1e300],
    ids=["1e-10", "1e-9", "1.5e-9", "0.1", "third", "True", "1e9", "2**62ns", "1e300"],
)
def test_timeout_value_round_trip(mod, value):
    """The stdlib keeps timeouts as integer nanoseconds, rounded up: gettimeout() shows that."""

    def run(m):
        with m.socket() as s:
            s.settimeout(value)
            got = s.gettimeout()
        m.setdefaulttimeout(value)
        try:
            default = m.getdefaulttimeout()
        finally:
            m.setdefaulttimeout(None)
        return got, type(got), default

    assert_parity(run, mod)
