"""Issue 9: the drop-in's remaining differences from the stdlib, each measured against it.

Every case runs on `socket` and on `ferrosock` and compares the value, or
(type(exc), exc.errno, str(exc)): allocation sizes a caller picks (MemoryError, never an
abort), ancillary buffer limits, None where an int is required, tiny timeouts, sendmsg's
ancillary items, SocketType(), out-of-range filenos, the finalizer of a socket whose descriptor
was closed behind its back, module functions that look names up at call time (so mocks work),
and the messages of argument parsing.
"""

from __future__ import annotations

import array
import decimal
import errno
import gc
import os
import socket
import sys
import warnings
from typing import Any, Callable
from unittest import mock

import pytest
from conftest import HOST4, assert_parity, ferrosock, needs_rust, outcome


def on_pair(op: Callable[[Any], Any], data: bytes = b"xy") -> Callable[[Any], Any]:
    """A case running `op(b)` on a socketpair whose `b` end has `data` waiting."""

    def case(m: Any) -> Any:
        a, b = m.socketpair()
        with a, b:
            if data:
                a.sendall(data)
            return op(b)

    return case


def on_socket(op: Callable[[Any], Any], *args: Any) -> Callable[[Any], Any]:
    def case(m: Any) -> Any:
        with m.socket(*args) as s:
            return op(s)

    return case


SIZES = [2**31, 2**32, 2**40, 2**62, sys.maxsize, 2**63, 2**64, -1, -(2**63) - 1]


# --------------------------------------------------------------------------- 1. allocations


@pytest.mark.parametrize("size", SIZES, ids=str)
@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda b, n: b.recv(n), id="recv"),
        pytest.param(lambda b, n: b.recvfrom(n)[0], id="recvfrom"),
        pytest.param(lambda b, n: b.recvmsg(n)[:3], id="recvmsg"),
        pytest.param(lambda b, n: b.recvmsg(n, 2**31)[:3], id="recvmsg-bad-ancbufsize"),
        pytest.param(lambda b, n: b.recv_into(bytearray(4), n), id="recv_into"),
        pytest.param(lambda b, n: b.recvfrom_into(bytearray(4), n)[0], id="recvfrom_into"),
    ],
)
def test_caller_chosen_sizes(mod, call, size):
    """No size aborts the process: MemoryError, OverflowError or ValueError as the stdlib."""
    assert_parity(on_pair(lambda b: call(b, size)), mod)


@pytest.mark.parametrize("maxfds", [1, 2**20, 2**40, 2**62], ids=str)
@pytest.mark.parametrize("bufsize", [1, 2**40], ids=str)
def test_recv_fds_sizes(mod, bufsize, maxfds):
    assert_parity(on_pair(lambda b: mod.recv_fds(b, bufsize, maxfds)[:3]), mod)


@needs_rust
@pytest.mark.parametrize("n", [2**40, 2**62, sys.maxsize])
def test_framing_sizes_raise_memory_error(n):
    from ferrosock import framing

    a, b = ferrosock.socketpair()
    with a, b:
        a.sendall(b"abc")
        with pytest.raises((MemoryError, OverflowError, ValueError)):
            framing.recv_exactly(b, n)


@needs_rust
def test_framing_huge_announced_length_is_memory_error():
    from ferrosock import framing

    a, b = ferrosock.socketpair()
    with a, b:
        a.sendall((2**62).to_bytes(8, "big"))
        with pytest.raises(MemoryError):
            framing.recv_msg(b, header="!Q", max_size=2**64 - 1)


@needs_rust
def test_framed_server_survives_an_unallocatable_frame():
    from ferrosock import framing, servers

    with servers.FramedServer((HOST4, 0), lambda msg, peer: msg, "!Q", 2**64 - 1) as srv:
        with socket.create_connection(srv.address, timeout=5) as c:
            c.sendall((2**62).to_bytes(8, "big"))
            reply = framing.recv_msg(c, header="!Q")
            assert reply is not None and reply.startswith(b"error: ")
        with socket.create_connection(srv.address, timeout=5) as c:  # still serving
            framing.send_msg(c, b"ping", header="!Q")
            assert framing.recv_msg(c, header="!Q") == b"ping"


# --------------------------------------------------------------------------- 2. ancbufsize


@pytest.mark.parametrize("size", [0, 1, 2**31 - 1, 2**31, 2**32, 2**62, -1, 2**63], ids=str)
@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda b, n: b.recvmsg(10, n)[:3], id="recvmsg"),
        pytest.param(lambda b, n: b.recvmsg_into([bytearray(10)], n)[:3], id="recvmsg_into"),
        pytest.param(lambda b, n: b.recvmsg_into([b"ro"], n)[:3], id="recvmsg_into-readonly"),
        pytest.param(lambda b, n: b.recvmsg(-1, n)[:3], id="recvmsg-negative-size"),
    ],
)
def test_ancillary_buffer_length(mod, call, size):
    assert_parity(on_pair(lambda b: call(b, size)), mod)


# --------------------------------------------------------------------------- 3. None


NONE_CASES = {
    "recv_into-nbytes": on_pair(lambda b: b.recv_into(bytearray(3), None)),
    "recv_into-flags": on_pair(lambda b: b.recv_into(bytearray(3), 0, None)),
    "recvfrom_into-flags": on_pair(lambda b: b.recvfrom_into(bytearray(3), 0, None)[0]),
    "recvfrom_into-nbytes": on_pair(lambda b: b.recvfrom_into(bytearray(3), None)[0]),
    "socket-all": lambda m: m.socket(None, None, None).close(),
    "socket-proto": lambda m: m.socket(m.AF_INET, m.SOCK_STREAM, None).close(),
    "socket-family-kw": lambda m: m.socket(family=None).close(),
    "create_server-family": lambda m: m.create_server((HOST4, 0), family=None).close(),
    "socketpair-type": lambda m: m.socketpair(None, None),
}


@pytest.mark.parametrize("case", NONE_CASES.values(), ids=NONE_CASES.keys())
def test_none_is_not_an_int(mod, case):
    assert_parity(case, mod)


def test_fromfd_none(mod):
    with mod.socket() as s:
        fds_before = set(os.listdir("/proc/self/fd"))
        assert_parity(lambda m: m.fromfd(s.fileno(), None, None), mod)
    # the stdlib leaks the duplicate it made before failing; so does ferrosock: clean up
    for fd in set(os.listdir("/proc/self/fd")) - fds_before:
        try:
            os.close(int(fd))
        except OSError:
            pass


# --------------------------------------------------------------------------- 4. tiny timeouts


def recv_waiting(m):
    a, b = m.socketpair()
    with a, b:
        a.send(b"hi")
        b.settimeout(1e-9)
        return b.recv(10)


def recv_nothing(m):
    a, b = m.socketpair()
    with a, b:
        b.settimeout(1e-9)
        return b.recv(10)


def accept_not_listening(m):
    with m.socket() as s:
        s.settimeout(1e-9)
        return s.accept()


def send_unconnected(m):
    with m.socket() as s:
        s.settimeout(1e-9)
        return s.send(b"x")


def sendall_small(m):
    a, b = m.socketpair()
    with a, b:
        b.settimeout(1e-9)
        return b.sendall(b"x")


def connect_default_timeout(m):
    with m.socket() as srv:
        srv.bind((HOST4, 0))
        srv.listen()
        m.setdefaulttimeout(1e-9)
        try:
            with m.socket() as c:
                return c.connect(srv.getsockname())
        finally:
            m.setdefaulttimeout(None)


def connect_ex_refused(m):
    with m.socket() as holder:
        holder.bind((HOST4, 0))  # bound, not listening: refused
        with m.socket() as c:
            c.settimeout(1e-9)
            return c.connect_ex(holder.getsockname())


@pytest.mark.parametrize("timeout", [1e-9, 5e-9, 1e-8])
@pytest.mark.parametrize(
    "case",
    [
        recv_waiting,
        recv_nothing,
        accept_not_listening,
        send_unconnected,
        sendall_small,
        connect_default_timeout,
        connect_ex_refused,
    ],
)
def test_tiny_timeouts_still_make_the_call(mod, case, timeout, monkeypatch):
    # the cases say 1e-9; the same holds for anything below a millisecond
    real = mod.socket.settimeout

    def settimeout(self, value):
        return real(self, timeout if value == 1e-9 else value)

    monkeypatch.setattr(mod.socket, "settimeout", settimeout)
    try:
        assert_parity(case, mod)
    finally:
        monkeypatch.undo()


# --------------------------------------------------------------------------- 5. sendmsg items


ANCDATA = {
    "list-item": [[socket.SOL_SOCKET, socket.SCM_RIGHTS, b""]],
    "range-item": [range(3)],
    "tuple-item": [(socket.SOL_SOCKET, socket.SCM_RIGHTS, b"")],
    "memoryview-data": [(socket.SOL_SOCKET, socket.SCM_RIGHTS, memoryview(b""))],
    "short": [(1, 2)],
    "long": [(1, 2, b"", 4)],
    "int": [5],
    "None": [None],
    "bytes": [b"abc"],
    "bytearray": [bytearray(b"abc")],
    "dict": [{1: 2}],
    "str-item": ["abc"],
    "str-data": [(1, 1, "s")],
    "float-level": [(1.0, 1, b"")],
    "None-level": [(None, 1, b"")],
    "Decimal-type": [(1, decimal.Decimal(1), b"")],
    "not-iterable": 5,
    "str": "ab",
    "array": array.array("b", b"ab"),
    "generator": ((socket.SOL_SOCKET, socket.SCM_RIGHTS, b"") for _ in range(1)),
}


@pytest.mark.parametrize("ancdata", ANCDATA.values(), ids=ANCDATA.keys())
def test_sendmsg_ancillary_items(mod, ancdata):
    if not isinstance(ancdata, (list, int, str, array.array)):
        ancdata = list(ancdata)
    assert_parity(on_pair(lambda b: b.sendmsg([b"x"], ancdata), data=b""), mod)


@pytest.mark.parametrize(
    "args",
    [
        ([b"x"], [(1, 1, b"")], 1.5, 3),  # flags first
        (5, 5, 0, 3),  # the address before the buffers
        (5, 5),  # the buffers before ancdata
        ([None], 5),
        ([b"x", 3],),
    ],
    ids=str,
)
def test_sendmsg_which_error_wins(mod, args):
    assert_parity(on_pair(lambda b: b.sendmsg(*args), data=b""), mod)


# --------------------------------------------------------------------------- 6. SocketType


def test_sockettype_makes_a_real_socket(mod):
    def case(m):
        s = m.SocketType()
        try:
            return s.fileno() > 2, s.family, s.type, s.proto, s.gettimeout()
        finally:
            s.close()

    assert_parity(case, mod)


@pytest.mark.parametrize(
    "args, kwargs",
    [
        ((socket.AF_INET, socket.SOCK_DGRAM), {}),
        ((), {"type": socket.SOCK_DGRAM}),
        ((1, 2, 3, None, 5), {}),
        ((), {"x": 1}),
        ((None,), {}),
        ((2,), {"family": 2}),
        ((), {"fileno": -1}),
        ((2**40,), {}),
    ],
    ids=str,
)
def test_sockettype_arguments(mod, args, kwargs):
    def case(m):
        s = m.SocketType(*args, **kwargs)
        try:
            return s.family, s.type
        finally:
            s.close()

    assert_parity(case, mod)


def test_readonly_attributes(mod):
    def case(m):
        out = []
        for make in (m.socket, m.SocketType):
            s = make()
            try:
                for attr in ("family", "type", "proto", "timeout"):
                    out.append(outcome(lambda _, a=attr, s=s: setattr(s, a, 1), m))
                    out.append(outcome(lambda _, a=attr, s=s: delattr(s, a), m))
            finally:
                s.close()
        return out

    assert_parity(case, mod)


# --------------------------------------------------------------------------- 7. fileno


@pytest.mark.parametrize(
    "fileno", [-1, -2, 2**31, 2**31 + 2**30, -(2**31) - 1, 2**63, 2**64, -(2**63) - 1], ids=str
)
def test_out_of_range_fileno(mod, fileno):
    assert_parity(lambda m: m.socket(fileno=fileno).close(), mod)


def test_fileno_of_a_file_is_not_a_socket(mod, tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"")
    fd = os.open(path, os.O_RDONLY)
    try:
        assert_parity(lambda m: m.socket(fileno=fd).close(), mod)
    finally:
        os.close(fd)


def test_fileno_wraps_as_a_c_int(mod):
    """CPython casts the C long to int: fd + 2**32 is fd."""

    def case(m):
        with m.socket() as s:
            t = m.socket(fileno=s.fileno() + 2**32)
            same = t.fileno() == s.fileno()
            t.detach()
            return same

    assert_parity(case, mod)


# --------------------------------------------------------------------------- 8. finalizer


def test_finalizer_of_a_socket_closed_behind_its_back(mod):
    def case(m):
        unraisable = []
        old_hook = sys.unraisablehook
        sys.unraisablehook = lambda u: unraisable.append(u.exc_type)
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                s = m.socket()
                os.close(s.fileno())
                del s
                gc.collect()
        finally:
            sys.unraisablehook = old_hook
        return [w.category for w in caught], unraisable

    got = assert_parity(case, mod)
    assert got == ("ok", ([ResourceWarning], []))


# --------------------------------------------------------------------------- 9. call-time lookups


def refused_error(*args: Any, **kwargs: Any) -> Any:
    raise OSError(errno.ECONNREFUSED, "mocked")


def test_create_connection_uses_the_module_socket(mod):
    with mock.patch.object(mod, "socket", side_effect=refused_error) as fake:
        with pytest.raises(OSError) as info:
            mod.create_connection((HOST4, 9))
    assert info.value.errno == errno.ECONNREFUSED and str(info.value) == "[Errno 111] mocked"
    fake.assert_called_once_with(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)


@pytest.mark.parametrize("answer", [[], [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("x", 1))]])
def test_create_connection_uses_the_module_getaddrinfo(mod, answer):
    def case(m):
        with mock.patch.object(m, "getaddrinfo", return_value=answer) as gai:
            with mock.patch.object(m, "socket", side_effect=refused_error):
                try:
                    return m.create_connection(("example.invalid", 80))
                finally:
                    assert gai.call_args == mock.call("example.invalid", 80, 0, m.SOCK_STREAM)

    assert_parity(case, mod)


def test_create_server_socketpair_fromfd_use_the_module_socket(mod):
    real = mod.socket
    made = []

    def spy(*args: Any) -> Any:
        made.append(args[:3])
        return real(*args)

    with mock.patch.object(mod, "socket", side_effect=spy):
        with mod.create_server((HOST4, 0)):
            pass
        a, b = mod.socketpair()
        with a, b, mod.fromfd(a.fileno(), a.family, a.type):
            pass
    assert made == [
        (socket.AF_INET, socket.SOCK_STREAM),
        (socket.AF_UNIX, socket.SOCK_STREAM, 0),
        (socket.AF_UNIX, socket.SOCK_STREAM, 0),
        (socket.AF_UNIX, socket.SOCK_STREAM, 0),
    ]


@needs_rust
def test_patched_functions_see_a_mock_of_the_stdlib_socket():
    with ferrosock.patched():
        assert socket.create_connection is ferrosock.create_connection
        with mock.patch("socket.socket", side_effect=refused_error) as fake:
            with pytest.raises(OSError, match="mocked"):
                socket.create_connection((HOST4, 9))
            with pytest.raises(OSError, match="mocked"):
                socket.create_server((HOST4, 0))
        assert fake.call_count == 2
        with mock.patch("socket.getaddrinfo", return_value=[]):
            with pytest.raises(OSError, match="getaddrinfo returns an empty list"):
                socket.create_connection(("example.invalid", 80))
        # and a mock of ferrosock's own name still wins when called through ferrosock
        with mock.patch("ferrosock.socket", side_effect=refused_error) as ours:
            with pytest.raises(OSError, match="mocked"):
                ferrosock.create_connection((HOST4, 9))
        assert ours.called
        # unmocked, the patched functions make ferrosock sockets
        with socket.create_server((HOST4, 0)) as srv:
            assert type(srv) is ferrosock.socket
            with socket.create_connection(srv.getsockname(), timeout=5) as c:
                assert type(c) is ferrosock.socket


@needs_rust
def test_unpatched_ferrosock_ignores_a_mock_of_the_stdlib_socket():
    with mock.patch("socket.socket", side_effect=refused_error):
        with ferrosock.create_server((HOST4, 0)) as srv:
            assert type(srv) is ferrosock.socket


# --------------------------------------------------------------------------- 10. messages


class Plain:
    """A class written in Python: CPython names it without its module."""


ODD = {
    "None": None,
    "float": 1.5,
    "Decimal": decimal.Decimal(1),
    "array": array.array("b", b"ab"),
    "str": "ab",
    "Plain": Plain(),
    "huge": 2**70,
    "2**63": 2**63,
    "2**32": 2**32,
    "2**31": 2**31,
    "neg": -1,
    "-2**31-1": -(2**31) - 1,
}


def inet_dgram(m):
    s = m.socket(m.AF_INET, m.SOCK_DGRAM)
    s.settimeout(0)
    return s


# method -> (socket maker, valid arguments); each argument in turn gets each odd value
SIGNATURES = {
    "recv": ("pair", [2, 0]),
    "recvfrom": ("pair", [2, 0]),
    "recv_into": ("pair", [bytearray(4), 2, 0]),
    "recvfrom_into": ("pair", [bytearray(4), 2, 0]),
    "recvmsg": ("pair", [2, 0, 0]),
    "recvmsg_into": ("pair", [[bytearray(4)], 0, 0]),
    "send": ("pair", [b"a", 0]),
    "sendall": ("pair", [b"a", 0]),
    "sendto": ("dgram", [b"a", 0, (HOST4, 9)]),
    "sendmsg": ("pair", [[b"a"], [], 0, None]),
    "setsockopt": ("pair", [socket.SOL_SOCKET, socket.SO_SNDBUF, 4096]),
    "setsockopt-None": ("pair", [socket.SOL_SOCKET, socket.SO_SNDBUF, None, 4]),
    "getsockopt": ("pair", [socket.SOL_SOCKET, socket.SO_SNDBUF, 4]),
    "settimeout": ("pair", [1.0]),
    "setblocking": ("pair", [False]),
    "shutdown": ("pair", [socket.SHUT_RDWR]),
    "listen": ("dgram", [1]),
    "bind": ("dgram", [(HOST4, 0)]),
    "connect_ex": ("dgram", [(HOST4, 9)]),
}


def call_method(method: str, args: list, kwargs: dict | None = None):
    name = method.split("-")[0]
    maker = SIGNATURES[method][0]

    def case(m):
        if maker == "pair":
            a, b = m.socketpair()
            a.send(b"xy")
            b.settimeout(0)
        else:
            a = b = inet_dgram(m)
        try:
            return getattr(b, name)(*args, **(kwargs or {}))
        finally:
            a.close()
            b.close()

    return case


def sweep_cases():
    for method, (_, valid) in SIGNATURES.items():
        for i in range(len(valid)):
            for label, value in ODD.items():
                args = list(valid)
                args[i] = value
                yield pytest.param(method, args, id=f"{method}-arg{i}-{label}")
        yield pytest.param(method, valid + [0], id=f"{method}-one-too-many")
        yield pytest.param(method, [], id=f"{method}-none")
        for k in range(1, len(valid)):
            yield pytest.param(method, valid[:k], id=f"{method}-first-{k}")
        # several bad arguments at once: which error wins
        yield pytest.param(method, [None] * len(valid), id=f"{method}-all-None")
        yield pytest.param(method, [2**70] * len(valid), id=f"{method}-all-huge")


@pytest.mark.parametrize("method, args", list(sweep_cases()))
def test_argument_parsing(mod, method, args):
    assert_parity(call_method(method, args), mod)


@pytest.mark.parametrize(
    "method, args, kwargs",
    [
        ("recv_into", [], {}),
        ("recv_into", [bytearray(4)], {"x": 1}),
        ("recv_into", [bytearray(4)], {"nbytes": 2, "flags": 0}),
        ("recv_into", [], {"buffer": bytearray(4), "nbytes": 2}),
        ("recv_into", [bytearray(4)], {"buffer": bytearray(4)}),
        ("recv_into", [None], {"x": 1}),
        ("recv_into", [bytearray(4), 1, 2, 3], {}),
        ("recv_into", [], {"a": 1, "b": 2, "c": 3, "d": 4}),
        ("recv_into", [bytearray(4)], {"nbytes": None}),
        ("recvfrom_into", [bytearray(4)], {"flags": 2**40}),
        ("recvfrom_into", [], {"nbytes": 2}),
        ("recvfrom_into", [bytearray(4), 2], {"nbytes": 2}),
    ],
    ids=str,
)
def test_keyword_arguments(mod, method, args, kwargs):
    def case(m):
        a, b = m.socketpair()
        with a, b:
            a.send(b"xy")
            return getattr(b, method)(*args, **kwargs)

    assert_parity(case, mod)


@pytest.mark.parametrize("label", list(ODD), ids=str)
@pytest.mark.parametrize("position", range(4))
def test_constructor_arguments(mod, position, label):
    args: list[Any] = [socket.AF_INET, socket.SOCK_STREAM, 0, None]
    args[position] = ODD[label]
    if position == 3 and isinstance(ODD[label], int) and ODD[label] == 2**32:
        pytest.skip("2**32 wraps to descriptor 0 (stdin): covered on a socket above")

    def case(m):
        m.socket(*args).close()
        return "made"

    assert_parity(case, mod)


@pytest.mark.parametrize("label", list(ODD), ids=str)
@pytest.mark.parametrize("position", range(3))
def test_socketpair_arguments(mod, position, label):
    args: list[Any] = [socket.AF_UNIX, socket.SOCK_STREAM, 0]
    args[position] = ODD[label]

    def case(m):
        a, b = m.socketpair(*args)
        a.close()
        b.close()
        return "made"

    assert_parity(case, mod)


MODULE_CALLS = {
    "dup()": lambda m: m.dup(),
    "dup(1, 2)": lambda m: m.dup(1, 2),
    "dup(x=1)": lambda m: m.dup(x=1),
    "dup(None)": lambda m: m.dup(None),
    "dup(2**70)": lambda m: m.dup(2**70),
    "getdefaulttimeout(1)": lambda m: m.getdefaulttimeout(1),
    "getdefaulttimeout(x=1)": lambda m: m.getdefaulttimeout(x=1),
    "setdefaulttimeout()": lambda m: m.setdefaulttimeout(),
    "setdefaulttimeout(x=1)": lambda m: m.setdefaulttimeout(x=1),
    "setdefaulttimeout(Decimal)": lambda m: m.setdefaulttimeout(decimal.Decimal(1)),
    "setdefaulttimeout(array)": lambda m: m.setdefaulttimeout(array.array("b")),
}


@pytest.mark.parametrize("case", MODULE_CALLS.values(), ids=MODULE_CALLS.keys())
def test_module_function_arguments(mod, case):
    assert_parity(case, mod)
