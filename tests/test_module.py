"""The module surface: `import ferrosock as socket` must find every name the stdlib has."""

from __future__ import annotations

import re
import socket

import pytest
from conftest import HOST4, assert_parity, needs_unix
from versions import TIMEOUT_IS_TIMEOUTERROR

CONSTANT_PREFIXES = ("AF_", "SOCK_", "SOL_", "SO_", "IPPROTO_", "TCP_", "SHUT_", "MSG_")


def stdlib_constants(prefix: str) -> list[str]:
    return sorted(n for n in dir(socket) if n.startswith(prefix) and n.isupper())


@pytest.mark.parametrize("prefix", CONSTANT_PREFIXES)
def test_constants_exist_with_same_value_and_type(mod, prefix):
    names = stdlib_constants(prefix)
    assert names, f"the stdlib has no {prefix}* constants?"
    missing = [n for n in names if not hasattr(mod, n)]
    assert not missing, f"missing {prefix}*: {missing}"
    wrong = {
        n: (getattr(mod, n), getattr(socket, n))
        for n in names
        if getattr(mod, n) != getattr(socket, n)
        or type(getattr(mod, n)) is not type(getattr(socket, n))
    }
    assert not wrong, f"(ferrosock, stdlib) differ: {wrong}"


def test_star_import_names(mod):
    """`from socket import *` (lesson 5) must bring the same names.

    One deliberate exception: `CAPI`, the capsule through which C extensions create
    `_socket.socket` objects. Handing it out from ferrosock would give C code stdlib sockets
    while Python code gets ferrosock's, so ferrosock does not export it (see README).
    """
    expected = set(socket.__all__) - {"CAPI"}
    missing = sorted(expected - set(dir(mod)))
    assert not missing, f"names in socket.__all__ missing: {missing}"
    if hasattr(mod, "__all__"):
        assert expected <= set(mod.__all__), sorted(expected - set(mod.__all__))


def test_other_uppercase_constants(mod):
    """IP_*, IPV6_*, SCM_*, AI_*, NI_*, EAI_*, INADDR_*, SOMAXCONN ... same values."""
    names = [
        n
        for n in dir(socket)
        if re.fullmatch(r"[A-Z][A-Z0-9_]+", n) and isinstance(getattr(socket, n), int)
    ]
    missing = [n for n in names if not hasattr(mod, n)]
    assert not missing, f"missing: {missing}"
    wrong = {
        n: (getattr(mod, n), getattr(socket, n))
        for n in names
        if getattr(mod, n) != getattr(socket, n)
    }
    assert not wrong, wrong


@pytest.mark.parametrize("name", ["error", "timeout", "gaierror", "herror"])
def test_exception_classes_are_the_stdlibs(mod, name):
    assert getattr(mod, name) is getattr(socket, name)


@pytest.mark.parametrize("name", ["AddressFamily", "SocketKind", "MsgFlag", "AddressInfo"])
def test_enum_classes_are_the_stdlibs(mod, name):
    assert getattr(mod, name) is getattr(socket, name)


def test_error_aliases():
    assert socket.error is OSError
    assert (socket.timeout is TimeoutError) == TIMEOUT_IS_TIMEOUTERROR
    assert issubclass(socket.timeout, OSError)


def test_socket_is_a_class(mod):
    assert isinstance(mod.socket, type)
    assert issubclass(mod.SocketType, object)
    with mod.socket() as s:
        assert isinstance(s, mod.socket)


def test_create_connection_and_create_server(mod):
    with mod.create_server((HOST4, 0)) as srv:
        assert type(srv) is mod.socket
        assert srv.family == socket.AF_INET and srv.type == socket.SOCK_STREAM
        # create_server sets SO_REUSEADDR on POSIX
        assert srv.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) != 0
        port = srv.getsockname()[1]
        with mod.create_connection((HOST4, port), timeout=3) as c:
            assert type(c) is mod.socket
            assert c.gettimeout() == 3
            conn, addr = srv.accept()
            with conn:
                assert type(conn) is mod.socket
                assert addr == c.getsockname()
                c.sendall(b"ping")
                assert conn.recv(4) == b"ping"


def test_create_connection_refused(mod):
    with socket.socket() as holder:  # a port nobody listens on, held so nobody takes it
        holder.bind((HOST4, 0))
        port = holder.getsockname()[1]
        assert_parity(lambda m: m.create_connection((HOST4, port), timeout=3), mod)


def test_create_server_reuse_port_and_backlog(mod):
    with mod.create_server((HOST4, 0), backlog=1, reuse_port=True) as srv:
        assert srv.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) != 0


@needs_unix
def test_socketpair(mod):
    a, b = mod.socketpair()
    with a, b:
        assert type(a) is mod.socket and type(b) is mod.socket
        assert a.family == socket.AF_UNIX and a.type == socket.SOCK_STREAM
        a.sendall(b"x")
        assert b.recv(1) == b"x"
    a, b = mod.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    with a, b:
        assert b.type == socket.SOCK_DGRAM
        a.send(b"12345")
        assert b.recv(2) == b"12"  # datagram truncated


def test_fromfd_dups(mod):
    with socket.socket() as orig:
        orig.bind((HOST4, 0))
        with mod.fromfd(orig.fileno(), socket.AF_INET, socket.SOCK_STREAM) as s:
            assert type(s) is mod.socket
            assert s.fileno() != orig.fileno()
            assert s.getsockname() == orig.getsockname()


def test_default_timeout_applies_to_new_sockets(mod):
    assert mod.getdefaulttimeout() is None
    mod.setdefaulttimeout(2.5)
    try:
        assert mod.getdefaulttimeout() == 2.5
        with mod.socket() as s:
            assert s.gettimeout() == 2.5
    finally:
        mod.setdefaulttimeout(None)
    with mod.socket() as s:
        assert s.gettimeout() is None


@pytest.mark.parametrize(
    "value", [-1, -0.5, "1", float("nan")], ids=["neg-int", "neg-float", "str", "nan"]
)
def test_setdefaulttimeout_rejects(mod, value):
    assert_parity(lambda m: m.setdefaulttimeout(value), mod)


@pytest.mark.parametrize(
    "call",
    [
        lambda m: m.getaddrinfo(HOST4, 80, m.AF_INET, m.SOCK_STREAM),
        lambda m: m.getaddrinfo("::1", 80, type=m.SOCK_DGRAM),
        lambda m: m.inet_aton("127.0.0.1"),
        lambda m: m.inet_ntop(m.AF_INET6, b"\x00" * 15 + b"\x01"),
        lambda m: m.htons(1),
        lambda m: m.gethostbyname("localhost"),
        lambda m: m.getservbyname("http", "tcp"),
        lambda m: m.has_ipv6,
        lambda m: m.gethostname(),
    ],
    ids=[
        "getaddrinfo4",
        "getaddrinfo6",
        "inet_aton",
        "inet_ntop",
        "htons",
        "gethostbyname",
        "getservbyname",
        "has_ipv6",
        "gethostname",
    ],
)
def test_module_functions(mod, call):
    assert_parity(call, mod)
