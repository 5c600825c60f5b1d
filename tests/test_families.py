"""Address families beyond AF_INET/AF_INET6/AF_UNIX, and host names that cannot be encoded.

Parity tests: each case runs on the stdlib `socket` and on `ferrosock` and the results, or
`(type(exc), exc.errno, str(exc))`, must be the same. Only the local kernel is involved:
netlink to the kernel, AF_PACKET on `lo`, loopback addresses; nothing else is sent anywhere.

Families this kernel may not offer (AF_CAN, AF_TIPC, AF_ALG, AF_QIPCRTR, AF_RDS) are tested
through a UDP descriptor adopted with an explicit `family=`: the socket object then parses and
builds addresses of that family, exactly as the stdlib's does, and the kernel's answer to the
mismatched address (EAFNOSUPPORT, EINVAL) is the same for both modules.
"""

from __future__ import annotations

import gc
import os
import socket
import struct
import time
import uuid
import warnings
from typing import Any, Callable

import pytest
from conftest import HOST4, PATIENCE, assert_parity, needs_ipv6, outcome, short_unix_path

IS_ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not IS_ROOT, reason="AF_PACKET needs root (CAP_NET_RAW)")

# An IEEE "local experimental" EtherType: nothing else on `lo` uses it.
ETH_P_TEST = 0x88B5


def kernel_offers(family: int, type_: int, proto: int = 0) -> str | None:
    """None if the stdlib can open such a socket here, else why not (for a skip reason)."""
    try:
        socket.socket(family, type_, proto).close()
    except OSError as exc:
        return f"the kernel refuses socket({family!r}, {type_!r}, {proto}): {exc}"
    return None


def adopted(m: Any, family: int, type_: int = socket.SOCK_DGRAM, proto: int = 0) -> Any:
    """A socket of module `m` whose object says `family` but whose descriptor is UDP."""
    base = m.socket(m.AF_INET, m.SOCK_DGRAM)
    fd = os.dup(base.fileno())
    base.close()
    try:
        return m.socket(family, type_, proto, fileno=fd)
    except BaseException:
        os.close(fd)
        raise


CALLS: dict[str, Callable[[Any, Any], Any]] = {
    "bind": lambda s, a: s.bind(a),
    "connect": lambda s, a: s.connect(a),
    "connect_ex": lambda s, a: s.connect_ex(a),
    "sendto": lambda s, a: s.sendto(b"", a),
    "sendmsg": lambda s, a: s.sendmsg([b""], [], 0, a),
}


def each_call(make: Callable[[Any], Any], address: Any) -> Callable[[Any], Any]:
    """A case: every address-taking method on a fresh socket from `make`, with `address`."""

    def case(m):
        results = []
        for call in CALLS.values():
            with make(m) as s:
                results.append(outcome(lambda _m, s=s, call=call: call(s, address), m))
        return results

    return case


class Index:
    """An object with __index__ (accepted where CPython reads ints through it)."""

    def __init__(self, value: int):
        self.value = value

    def __index__(self) -> int:
        return self.value


class Str(str):
    pass


# --------------------------------------------------------------------------- AF_NETLINK


def netlink(m: Any) -> Any:
    return m.socket(m.AF_NETLINK, m.SOCK_RAW, m.NETLINK_ROUTE)


NETLINK_BAD = {
    "str": "x",
    "list": [0, 0],
    "none": None,
    "one": (0,),
    "three": (0, 0, 0),
    "float-pid": (0.5, 0),
    "str-groups": (0, "a"),
    "none-groups": (0, None),
}


@pytest.mark.parametrize("name", list(NETLINK_BAD))
def test_netlink_bad_address(mod, name):
    assert_parity(each_call(netlink, NETLINK_BAD[name]), mod)


def _netlink_bind(address: Any) -> Callable[[Any], Any]:
    def case(m):
        with netlink(m) as s:
            s.bind(address)
            pid, groups = s.getsockname()
            return type(pid), pid != 0, groups, s.getpeername()

    return case


@pytest.mark.parametrize(
    "address",
    [(0, 0), (Index(0), Index(0)), (False, 0), (0, 2**32), (0, 2**64 + 1), (0, -(2**32))],
    ids=["zeros", "index", "bool", "wraps-2**32", "wraps-2**64", "wraps-negative"],
)
def test_netlink_bind_and_getsockname(mod, address):
    assert_parity(_netlink_bind(address), mod)


def test_netlink_bind_with_groups(mod):
    def case(m):
        with netlink(m) as s:
            s.bind((0, 1))  # RTMGRP_LINK: a multicast group anyone may join
            return s.getsockname()[1]

    assert assert_parity(case, mod) == ("ok", 1)


def test_netlink_unbound_getsockname(mod):
    def case(m):
        with netlink(m) as s:
            return s.getsockname()

    assert assert_parity(case, mod) == ("ok", (0, 0))


def _rtm_getlink_dump(seq: int) -> bytes:
    # nlmsghdr(len, type=RTM_GETLINK, flags=NLM_F_REQUEST|NLM_F_DUMP, seq, pid) + ifinfomsg
    ifinfo = struct.pack("BxHiII", socket.AF_UNSPEC, 0, 0, 0, 0)
    return struct.pack("IHHII", 16 + len(ifinfo), 18, 0x301, seq, 0) + ifinfo


@pytest.mark.parametrize("receive", ["recvfrom", "recvfrom_into", "recvmsg", "recvmsg_into"])
def test_netlink_kernel_reply_address(mod, receive):
    """A dump request to the kernel; its reply comes from (0, 0)."""

    def case(m):
        with netlink(m) as s:
            s.settimeout(PATIENCE)
            s.bind((0, 0))
            sent = s.sendto(_rtm_getlink_dump(1), (0, 0))
            if receive == "recvfrom":
                data, address = s.recvfrom(65536)
            elif receive == "recvfrom_into":
                buf = bytearray(65536)
                n, address = s.recvfrom_into(buf)
                data = bytes(buf[:n])
            elif receive == "recvmsg":
                data, _, _, address = s.recvmsg(65536)
            else:
                buf = bytearray(65536)
                n, _, _, address = s.recvmsg_into([buf])
                data = bytes(buf[:n])
            return sent, len(data) >= 16, address

    assert assert_parity(case, mod) == ("ok", (32, True, (0, 0)))


def test_netlink_sendmsg_to_kernel(mod):
    def case(m):
        with netlink(m) as s:
            s.settimeout(PATIENCE)
            sent = s.sendmsg([_rtm_getlink_dump(2)], [], 0, (0, 0))
            return sent, s.recvfrom(65536)[1]

    assert assert_parity(case, mod) == ("ok", (32, (0, 0)))


def test_netlink_connect_then_getpeername(mod):
    def case(m):
        with netlink(m) as s:
            s.connect((0, 0))
            return s.getpeername()

    assert_parity(case, mod)


# --------------------------------------------------------------------------- AF_PACKET


def packet(m: Any, type_: int | None = None, proto: int = 0) -> Any:
    return m.socket(m.AF_PACKET, m.SOCK_DGRAM if type_ is None else type_, proto)


PACKET_BAD = {
    "str": "lo",
    "list": ["lo", 0],
    "one": ("lo",),
    "six": ("lo", 0, 0, 0, b"", 1),
    "bytes-name": (b"lo", 0),
    "int-name": (1, 0),
    "none-name": (None, 0),
    "nul-in-name": ("l\0o", 0),
    "surrogate-name": ("\udc80", 0),
    "surrogate-name-and-overflow": ("\udc80", 2**70),
    "unknown-name": ("nonexistent0", 0),
    "empty-name": ("", 0),
    "non-ascii-name": ("é", 0),
    "name-15": ("x" * 15, 0),
    "name-16": ("x" * 16, 0),
    "name-40": ("x" * 40, 0),
    "proto-65536": ("lo", 0x10000),
    "proto-negative": ("lo", -1),
    "proto-2**31": ("lo", 2**31),
    "proto-2**63": ("lo", 2**63),
    "proto-2**70": ("lo", 2**70),
    "proto-float": ("lo", 0.5),
    "proto-str": ("lo", "0"),
    "proto-none": ("lo", None),
    "pkttype-2**31": ("lo", 0, 2**31),
    "hatype-2**31": ("lo", 0, 0, 2**31),
    "hatype-float": ("lo", 0, 0, 1.5),
    "haddr-9": ("lo", 0, 0, 0, b"123456789"),
    "haddr-str": ("lo", 0, 0, 0, "abc"),
    "haddr-int": ("lo", 0, 0, 0, 5),
    "haddr-noncontiguous": ("lo", 0, 0, 0, memoryview(b"abcdef")[::2]),
    "unknown-name-proto-too-big": ("nonexistent0", 2**20),
    "unknown-name-haddr-9": ("nonexistent0", 0, 0, 0, b"123456789"),
    "haddr-9-proto-too-big": ("lo", 2**20, 0, 0, b"123456789"),
    "proto-too-big": ("lo", 2**20),
}


@needs_root
@pytest.mark.parametrize("name", list(PACKET_BAD))
def test_packet_bad_address(mod, name):
    assert_parity(each_call(packet, PACKET_BAD[name]), mod)


PACKET_GOOD = {
    "pair": ("lo", ETH_P_TEST),
    "pkttype": ("lo", ETH_P_TEST, 3),
    "hatype": ("lo", ETH_P_TEST, -5, 70000),
    "haddr": ("lo", ETH_P_TEST, 0, 0, b"\1\2\3\4\5\6"),
    "haddr-8": ("lo", ETH_P_TEST, 0, 0, b"12345678"),
    "haddr-bytearray": ("lo", ETH_P_TEST, 0, 0, bytearray(b"ab")),
    "haddr-memoryview": ("lo", ETH_P_TEST, 0, 0, memoryview(b"ab")),
    "haddr-empty": ("lo", ETH_P_TEST, 0, 0, b""),
    "str-subclass": (Str("lo"), ETH_P_TEST),
    "index-proto": ("lo", Index(ETH_P_TEST)),
    "proto-0": ("lo", 0),
    "proto-ffff": ("lo", 0xFFFF),
}


@needs_root
@pytest.mark.parametrize("name", list(PACKET_GOOD))
def test_packet_bind_and_getsockname(mod, name):
    def case(m):
        with packet(m) as s:
            s.bind(PACKET_GOOD[name])
            return s.getsockname()

    got = assert_parity(case, mod)
    assert got[0] == "ok" and got[1][0] == "lo"


@needs_root
def test_packet_unbound_getsockname_and_getpeername(mod):
    def case(m):
        with packet(m, m.SOCK_RAW) as s:
            return s.getsockname(), outcome(lambda _m: s.getpeername(), m)

    assert assert_parity(case, mod)[1][0] == ("", 0, 0, 0, b"")


@needs_root
def test_packet_closed_socket_interface_lookup(mod):
    """The interface name is looked up on the socket's descriptor: EBADF once closed."""

    def case(m):
        s = packet(m)
        s.close()
        return s.bind(("lo", 0))

    assert assert_parity(case, mod)[:3] == ("raise", OSError, 9)


def _packet_exchange(receive: str) -> Callable[[Any], Any]:
    """A frame sent on `lo` from one packet socket and received on another."""

    def case(m):
        token = uuid.uuid4().bytes
        proto = socket.htons(ETH_P_TEST)
        with packet(m, proto=proto) as rx, packet(m) as tx:
            rx.bind(("lo", ETH_P_TEST))
            rx.settimeout(PATIENCE)
            sent = tx.sendto(token, ("lo", ETH_P_TEST, 0, 0, b"\0" * 6))
            deadline = time.monotonic() + PATIENCE
            while time.monotonic() < deadline:
                if receive == "recvfrom":
                    data, address = rx.recvfrom(2048)
                elif receive == "recvfrom_into":
                    buf = bytearray(2048)
                    n, address = rx.recvfrom_into(buf)
                    data = bytes(buf[:n])
                else:
                    data, _, _, address = rx.recvmsg(2048)
                if data == token:
                    return sent, address
            raise TimeoutError("the frame never came back on lo")

    return case


@needs_root
@pytest.mark.parametrize("receive", ["recvfrom", "recvfrom_into", "recvmsg"])
def test_packet_receive_address(mod, receive):
    got = assert_parity(_packet_exchange(receive), mod)
    assert got == ("ok", (16, ("lo", ETH_P_TEST, socket.PACKET_HOST, 772, b"\0" * 6)))


@needs_root
def test_packet_sendmsg_on_lo(mod):
    def case(m):
        with packet(m) as tx:
            return tx.sendmsg([b"x" * 20], [], 0, ("lo", ETH_P_TEST, 0, 0, b"\0" * 6))

    assert assert_parity(case, mod) == ("ok", 20)


# --------------------------------------------------------------------------- AF_VSOCK

VSOCK_MISSING = kernel_offers(socket.AF_VSOCK, socket.SOCK_STREAM)
needs_vsock = pytest.mark.skipif(VSOCK_MISSING is not None, reason=str(VSOCK_MISSING))


def vsock(m: Any) -> Any:
    return m.socket(m.AF_VSOCK, m.SOCK_STREAM)


VSOCK_BAD = {
    "str": "x",
    "list": [1, 2],
    "one": (1,),
    "three": (1, 2, 3),
    "float": (0.5, 1),
    "none": (1, None),
}


def test_vsock_socket_creation(mod):
    assert_parity(lambda m: vsock(m).close(), mod)


@needs_vsock
@pytest.mark.parametrize("name", list(VSOCK_BAD))
def test_vsock_bad_address(mod, name):
    def case(m):
        # connect is left out: a well-formed vsock connect may wait for a peer
        with vsock(m) as s:
            return [
                outcome(lambda _m: s.bind(VSOCK_BAD[name]), m),
                outcome(lambda _m: s.sendto(b"", VSOCK_BAD[name]), m),
            ]

    assert_parity(case, mod)


@needs_vsock
@pytest.mark.parametrize(
    "address",
    [(socket.VMADDR_CID_ANY, socket.VMADDR_PORT_ANY), (-1, -1), (2**64 - 1, 2**32 - 1), (1, 0)],
    ids=["any", "negative-wraps", "big-wraps", "local-cid"],
)
def test_vsock_bind_and_getsockname(mod, address):
    def case(m):
        with vsock(m) as s:
            before = s.getsockname()
            s.bind(address)
            cid, port = s.getsockname()
            return before, cid, type(port)

    assert_parity(case, mod)


# --------------------------------------------------------------------------- AF_CAN

CAN_MISSING = kernel_offers(socket.AF_CAN, socket.SOCK_RAW, socket.CAN_RAW)

CAN_CASES = {
    socket.CAN_RAW: [
        ("lo",),
        ("",),
        (b"lo",),
        "lo",
        ["lo"],
        ("lo", 1),
        (),
        ("nonexistent0",),
        ("x" * 15,),
        ("x" * 16,),
        ("\udc80",),
        (1,),
        ("l\0o",),
        (b"l\0o",),
        (bytearray(b"lo"),),
        (__import__("pathlib").PurePath("lo"),),
    ],
    socket.CAN_BCM: [("lo",), ("",), "lo", ("x" * 16,)],
    socket.CAN_ISOTP: [
        "lo",
        ["lo", 1, 2],
        ("lo",),
        ("lo", 1, 2),
        ("lo", 1.0, 2),
        ("lo", 1, "2"),
        ("lo", Index(1), 2),
        ("lo", 2**64 + 3, 2),
        ("lo", -1, 2),
        ("lo", True, 2),
        ("x" * 16, 1, 2),
        (1, 1, 2),
        ("nonexistent0", 1, 2),
        ("", 1, 2),
        ("lo", 1, 2, 3),
        ("x" * 16, 1.0, 2),
    ],
    socket.CAN_J1939: [
        "lo",
        ("lo",),
        ("lo", 1, 2, 3),
        ("lo", 1.0, 2, 3),
        ("lo", 1, 2.0, 3),
        ("lo", 1, 2, 3.0),
        ("lo", Index(1), 2, 3),
        ("lo", 1, Index(2), Index(3)),
        ("lo", 2**70, 2**40, 2**9),
        ("lo", -1, -1, -1),
        ("", 1, 2, 3),
        ("x" * 16, 1, 2, 3),
        ("nonexistent0", 1, 2, 3),
        ("lo", 1, 2, 3, 4),
    ],
    0: [("lo",), "x"],
    99: [("lo",), "x", None],
}


@pytest.mark.parametrize(
    "proto,address",
    [(proto, a) for proto, cases in CAN_CASES.items() for a in cases],
    ids=[f"proto{proto}-{i}" for proto, cases in CAN_CASES.items() for i in range(len(cases))],
)
def test_can_address_parsing(mod, proto, address):
    def make(m):
        return adopted(m, m.AF_CAN, m.SOCK_DGRAM, proto)

    assert_parity(each_call(make, address), mod)


def test_can_socket_creation(mod):
    """Whatever this kernel says to a CAN socket, both modules say it."""
    assert_parity(lambda m: m.socket(m.AF_CAN, m.SOCK_RAW, m.CAN_RAW).close(), mod)


@pytest.mark.skipif(CAN_MISSING is not None, reason=str(CAN_MISSING))
def test_can_raw_bind_any_interface(mod):
    def case(m):
        with m.socket(m.AF_CAN, m.SOCK_RAW, m.CAN_RAW) as s:
            s.bind(("",))
            return s.getsockname()

    assert_parity(case, mod)


# --------------------------------------------------------------------------- TIPC, ALG, ...

ADOPTED_CASES = {
    "tipc": (
        socket.AF_TIPC,
        socket.SOCK_RDM,
        [
            "x",
            (1, 2, 3),
            (socket.TIPC_ADDR_NAMESEQ, 1, 2, 3),
            (socket.TIPC_ADDR_NAME, 1, 2, 3, 4),
            (socket.TIPC_ADDR_ID, 1, 2, 3),
            (0, 1, 2, 3),
            (7, 1, 2, 3),
            (2**32 + 1, 1, 2, 3),
            (2**32, 1, 2, 3),
            (257, 1, 2, 3),
            (1, 2, 3, 4, 5, 6),
            (1.0, 1, 2, 3),
            (1, 2, 3, 4.0),
            (0, 1, 2, 3.0),
        ],
    ),
    "alg": (
        socket.AF_ALG,
        socket.SOCK_SEQPACKET,
        [
            "x",
            ("hash",),
            ("hash", "sha256"),
            ("hash", "sha256", 1, 2),
            ("hash", "sha256", 1, 2, 3),
            (b"hash", "sha256"),
            ("hash", b"sha256"),
            ("h\0", "s"),
            ("h", "s\0"),
            ("\udc80", "s"),
            ("t" * 13, "n"),
            ("t" * 14, "n"),
            ("t", "n" * 63),
            ("t", "n" * 64),
            ("t" * 14, "n" * 64),
            ("t", "n", -1, 2**40),
            ("t", "n", 1.0),
            ("é" * 7, "n"),
            ("t", "n", None),
            ("t" * 14, "n", 1.0),
        ],
    ),
    "qipcrtr": (
        socket.AF_QIPCRTR,
        socket.SOCK_DGRAM,
        ["x", [1, 2], (1,), (1, 2), (-1, 2**33), (1, 2, 3), (1.0, 2), (1, None)],
    ),
    "rds": (
        socket.AF_RDS,
        socket.SOCK_SEQPACKET,
        ["x", (HOST4, 0), (HOST4,), (HOST4, 70000), ("\udc80", 0), (HOST4, "0")],
    ),
    "unknown": (99, socket.SOCK_DGRAM, [(0, 0), "x", None, (HOST4, 0)]),
}


@pytest.mark.parametrize(
    "family,address",
    [(f, a) for f, (_, _, cases) in ADOPTED_CASES.items() for a in cases],
    ids=[f"{f}-{i}" for f, (_, _, cases) in ADOPTED_CASES.items() for i in range(len(cases))],
)
def test_other_family_address_parsing(mod, family, address):
    fam, type_, _ = ADOPTED_CASES[family]
    assert_parity(each_call(lambda m: adopted(m, fam, type_), address), mod)


def test_rds_bind_reads_as_inet(mod):
    def case(m):
        with adopted(m, m.AF_RDS, m.SOCK_SEQPACKET) as s:
            s.bind((HOST4, 0))
            host, port = s.getsockname()
            return host, type(port), s.family

    assert assert_parity(case, mod) == ("ok", (HOST4, int, socket.AF_RDS))


@pytest.mark.parametrize(
    "family",
    [socket.AF_CAN, socket.AF_TIPC, socket.AF_ALG, socket.AF_QIPCRTR, socket.AF_VSOCK],
    ids=["can", "tipc", "alg", "qipcrtr", "vsock"],
)
def test_known_family_reads_the_address_it_gets(mod, family):
    """getsockname goes by the family in the returned address (here AF_INET)."""

    def case(m):
        with adopted(m, family) as s:
            return s.getsockname(), outcome(lambda _m: s.getpeername(), m)[:3]

    assert assert_parity(case, mod) == ("ok", (("0.0.0.0", 0), ("raise", OSError, 107)))


@pytest.mark.parametrize(
    "family,type_,proto",
    [
        (socket.AF_TIPC, socket.SOCK_RDM, 0),
        (socket.AF_ALG, socket.SOCK_SEQPACKET, 0),
        (socket.AF_QIPCRTR, socket.SOCK_DGRAM, 0),
        (socket.AF_RDS, socket.SOCK_SEQPACKET, 0),
        (socket.AF_CAN, socket.SOCK_DGRAM, socket.CAN_ISOTP),
        (socket.AF_CAN, socket.SOCK_DGRAM, socket.CAN_J1939),
        (socket.AF_VSOCK, socket.SOCK_DGRAM, 0),
    ],
    ids=["tipc", "alg", "qipcrtr", "rds", "isotp", "j1939", "vsock-dgram"],
)
def test_socket_creation_matches(mod, family, type_, proto):
    """Where the kernel lacks a family, both modules fail the same way."""
    assert_parity(lambda m: m.socket(family, type_, proto).close(), mod)


ALG_MISSING = kernel_offers(socket.AF_ALG, socket.SOCK_SEQPACKET)


@pytest.mark.skipif(ALG_MISSING is not None, reason=str(ALG_MISSING))
def test_alg_hash(mod):
    def case(m):
        with m.socket(m.AF_ALG, m.SOCK_SEQPACKET) as alg:
            alg.bind(("hash", "sha256"))
            name = alg.getsockname()
            op, peer = alg.accept()
            with op:
                op.sendall(b"abc")
                return name, peer, op.recv(32).hex()

    assert_parity(case, mod)


# --------------------------------------------------------------------------- unknown family

RECEIVERS: dict[str, Callable[[Any], Any]] = {
    "getsockname": lambda s: s.getsockname(),
    "getpeername": lambda s: s.getpeername(),
    "recvfrom": lambda s: s.recvfrom(1),
    "recvfrom_into": lambda s: s.recvfrom_into(bytearray(1)),
    "recvmsg": lambda s: s.recvmsg(1),
    "recvmsg_into": lambda s: s.recvmsg_into([bytearray(1)]),
    "accept": lambda s: s.accept(),
    "recvfrom-negative": lambda s: s.recvfrom(-1),
    "recvmsg-negative": lambda s: s.recvmsg(-1),
    "recvmsg-bad-ancbufsize": lambda s: s.recvmsg(1, -1),
    "recvfrom_into-too-small": lambda s: s.recvfrom_into(bytearray(1), 5),
    "repr": lambda s: repr(s).split(" fd=")[1].split(" ", 1)[1],
}


@pytest.mark.parametrize("method", list(RECEIVERS))
def test_unknown_family_receiving(mod, method):
    """An unknown family fails before the system call (nothing is received or accepted)."""

    def case(m):
        with adopted(m, 99) as s:
            s.setblocking(False)
            return RECEIVERS[method](s)

    assert_parity(case, mod)


# --------------------------------------------------------------------------- host names

UNENCODABLE_HOSTS = {
    "lone-surrogate": "\udc80",
    "surrogate-inside": "a\udc80b",
    "surrogate-after-non-ascii": "é\udc80",
    "high-surrogate": "\ud800",
    "label-too-long-non-ascii": "ü" * 70,
    "ascii-str-subclass-label-too-long": Str("a" * 300),
    "nul-non-ascii": "é\x00",
}


def _inet(family: int) -> Callable[[Any], Any]:
    return lambda m: m.socket(family, m.SOCK_DGRAM)


@pytest.mark.parametrize("host", list(UNENCODABLE_HOSTS))
@pytest.mark.parametrize(
    "family",
    [
        pytest.param(socket.AF_INET, id="inet"),
        pytest.param(socket.AF_INET6, id="inet6", marks=needs_ipv6),
    ],
)
def test_unencodable_host(mod, family, host):
    assert_parity(each_call(_inet(family), (UNENCODABLE_HOSTS[host], 0)), mod)


@pytest.mark.parametrize("host", list(UNENCODABLE_HOSTS))
def test_unencodable_host_rds(mod, host):
    make = lambda m: adopted(m, m.AF_RDS, m.SOCK_SEQPACKET)  # noqa: E731
    assert_parity(each_call(make, (UNENCODABLE_HOSTS[host], 0)), mod)


@pytest.mark.parametrize(
    "host", ["\udc80", "a\udc80b", Str("a" * 300)], ids=["lone", "inside", "sub"]
)
def test_unencodable_host_create_server(mod, host):
    def case(m):
        # The stdlib's create_server closes its socket only on OSError: this TypeError
        # leaves it to the garbage collector, so its ResourceWarning is expected here.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            got = outcome(lambda m: m.create_server((host, 0)).close(), m)
            gc.collect()
        return got

    failed = ("raise", TypeError, None, "encoding of hostname failed")
    assert assert_parity(case, mod) == ("ok", failed)


def test_unencodable_host_create_connection(mod):
    assert_parity(lambda m: m.create_connection(("\udc80", 1)).close(), mod)


def test_ascii_str_subclass_host(mod):
    def case(m):
        with m.socket(m.AF_INET, m.SOCK_DGRAM) as s:
            s.bind((Str(HOST4), 0))
            return s.getsockname()[0]

    assert assert_parity(case, mod) == ("ok", HOST4)


def test_unix_path_with_surrogate(mod, tmp_path):
    """AF_UNIX str paths use the file-system encoding with surrogateescape, both ways."""

    def case(m):
        path = short_unix_path(tmp_path, "s\udc80.sock")
        with m.socket(m.AF_UNIX, m.SOCK_DGRAM) as s:
            s.bind(path)
            try:
                return s.getsockname() == path, os.path.exists(os.fsencode(path))
            finally:
                os.unlink(os.fsencode(path))

    assert assert_parity(case, mod) == ("ok", (True, True))


@pytest.mark.parametrize("path", ["\ud800", "x\udcff\ud800"], ids=["high", "mixed"])
def test_unix_path_unencodable(mod, path):
    def case(m):
        with m.socket(m.AF_UNIX, m.SOCK_DGRAM) as s:
            return s.sendto(b"", path)

    assert_parity(case, mod)
