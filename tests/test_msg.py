"""sendmsg / recvmsg / recvmsg_into and the stdlib helpers built on them (send_fds, recv_fds)."""

from __future__ import annotations

import os
import socket

import pytest
from conftest import HOST4, assert_parity


def test_send_fds_passes_working_descriptors(mod):
    a, b = mod.socketpair()
    r, w = os.pipe()
    try:
        with a, b:
            mod.send_fds(a, [b"fds"], [r, w])
            msg, fds, flags, addr = mod.recv_fds(b, 16, 2)
            assert (msg, len(fds), flags, addr) == (b"fds", 2, 0, None)
            os.write(fds[1], b"z")
            assert os.read(fds[0], 1) == b"z"
            for fd in fds:
                os.close(fd)
    finally:
        os.close(r)
        os.close(w)


def test_scatter_gather_stream(mod):
    a, b = mod.socketpair()
    with a, b:
        assert a.sendmsg([b"ab", bytearray(b"cd"), memoryview(b"ef")]) == 6
        assert b.recvmsg(16) == (b"abcdef", [], 0, None)
        a.sendmsg([b"xyz"])
        first, second = bytearray(2), bytearray(4)
        assert b.recvmsg_into([first, second]) == (3, [], 0, None)
        assert (first, second) == (bytearray(b"xy"), bytearray(b"z\0\0\0"))


def test_datagram_address_and_truncation_flag(mod):
    rx = mod.socket(mod.AF_INET, mod.SOCK_DGRAM)
    tx = mod.socket(mod.AF_INET, mod.SOCK_DGRAM)
    with rx, tx:
        rx.bind((HOST4, 0))
        tx.bind((HOST4, 0))
        tx.sendmsg([b"datagram"], [], 0, rx.getsockname())
        data, ancdata, flags, addr = rx.recvmsg(4)
        assert data == b"data"
        assert ancdata == []
        assert flags & socket.MSG_TRUNC
        assert addr == tx.getsockname()


def test_truncated_ancillary_data_sets_ctrunc(mod):
    a, b = mod.socketpair()
    r, w = os.pipe()
    try:
        with a, b:
            fds = (r).to_bytes(4, "little") + (w).to_bytes(4, "little")
            a.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
            data, ancdata, flags, _ = b.recvmsg(1, socket.CMSG_LEN(4))
            assert data == b"x"
            assert flags & socket.MSG_CTRUNC
            for _level, _kind, payload in ancdata:
                for i in range(0, len(payload) - len(payload) % 4, 4):
                    os.close(int.from_bytes(payload[i : i + 4], "little"))
    finally:
        os.close(r)
        os.close(w)


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.recvmsg(-1),
        lambda s: s.recvmsg(1, -1),
        lambda s: s.sendmsg(1),
        lambda s: s.sendmsg([b"x"], 1),
        lambda s: s.sendmsg(["x"]),
        lambda s: s.recvmsg_into(1),
        lambda s: s.recvmsg_into([b"immutable"]),
        lambda s: s.recvmsg(),
        lambda s: s.sendmsg(),
    ],
    ids=[
        "negative-bufsize",
        "negative-ancbufsize",
        "buffers-not-iterable",
        "ancdata-not-iterable",
        "str-buffer",
        "into-not-iterable",
        "into-readonly",
        "recvmsg-no-args",
        "sendmsg-no-args",
    ],
)
def test_bad_arguments_match_stdlib(mod, call):
    def case(m):
        a, b = m.socketpair()
        with a, b:
            return call(a)

    assert_parity(case, mod)


def test_use_after_close_matches_stdlib(mod):
    def case(m):
        s = m.socket()
        s.close()
        return s.recvmsg(1)

    assert_parity(case, mod)
