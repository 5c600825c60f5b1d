"""The socket object: constructor, properties, object protocol, and the simple methods."""

from __future__ import annotations

import gc
import os
import pickle
import re
import socket
import warnings
import weakref
from pathlib import Path

import pytest
from conftest import (
    HOST4,
    HOST6,
    assert_parity,
    family_params,
    listener,
    needs_ipv6,
    needs_unix,
    serving,
)

ALL_KINDS = family_params("tcp4", "udp4", "tcp6", "udp6", "unix-stream", "unix-dgram")


# --------------------------------------------------------------------------- constructor


def test_defaults(mod):
    with mod.socket() as s:
        assert s.family is socket.AddressFamily.AF_INET
        assert s.type is socket.SocketKind.SOCK_STREAM
        assert s.proto == 0
        assert s.timeout is None and s.gettimeout() is None


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_family_type_are_stdlib_enum_members(mod, kind):
    family, type_ = kind
    with mod.socket(family, type_) as s:
        assert s.family is socket.AddressFamily(family)
        assert s.type is socket.SocketKind(type_)
        assert type(s.proto) is int and s.proto == 0
    with mod.socket(family=family, type=type_, proto=0, fileno=None) as s:
        assert (s.family, s.type) == (family, type_)


def test_explicit_proto(mod):
    with mod.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP) as s:
        assert s.proto == socket.IPPROTO_TCP
    with mod.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP) as s:
        assert s.proto == socket.IPPROTO_UDP


def test_sock_raw_as_the_os_says(mod):
    """Not permitted -> the same PermissionError; permitted (root) -> the same socket."""

    def raw(m):
        with m.socket(m.AF_INET, m.SOCK_RAW, m.IPPROTO_ICMP) as s:
            return (s.family, s.type, s.proto)

    assert_parity(raw, mod)


def test_type_flags_are_stripped(mod):
    flags = socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC
    with mod.socket(socket.AF_INET, socket.SOCK_STREAM | flags) as s:
        assert s.type is socket.SOCK_STREAM
        assert s.gettimeout() == 0.0
        assert not os.get_blocking(s.fileno())


def test_not_inheritable(mod):
    with mod.socket() as s:
        assert s.get_inheritable() is False
        assert os.get_inheritable(s.fileno()) is False
        s.set_inheritable(True)
        assert os.get_inheritable(s.fileno()) is True


# --------------------------------------------------------------------------- fileno=


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_fileno_adopts_same_descriptor(mod, kind, addr_for):
    family, type_ = kind
    std = socket.socket(family, type_)
    std.bind(addr_for(family))
    name = std.getsockname()
    fd = std.detach()
    with mod.socket(fileno=fd) as s:
        assert s.fileno() == fd  # the same descriptor, not a dup
        assert s.family is socket.AddressFamily(family)
        assert s.type is socket.SocketKind(type_)
        assert s.getsockname() == name
    with pytest.raises(OSError):
        os.fstat(fd)  # closing the adopter closed the descriptor


def test_fileno_reads_family_type_proto(mod):
    fd = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP).detach()
    with mod.socket(fileno=fd) as s:
        assert (s.family, s.type, s.proto) == (
            socket.AF_INET,
            socket.SOCK_DGRAM,
            socket.IPPROTO_UDP,
        )


def test_fileno_with_explicit_arguments(mod):
    """Explicit family/type/proto next to fileno= are taken as given (the stdlib only reads
    the descriptor for the arguments left at their defaults)."""

    def adopt(m):
        fd = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP).detach()
        with m.socket(socket.AF_INET, socket.SOCK_STREAM, 0, fileno=fd) as s:
            return (s.family, s.type, s.proto)

    assert_parity(adopt, mod)


def test_fileno_of_ferrosock_detach_into_stdlib(mod):
    fd = mod.socket(socket.AF_INET6 if socket.has_ipv6 else socket.AF_INET).detach()
    with socket.socket(fileno=fd) as s:
        assert s.fileno() == fd


def test_fileno_non_socket(mod):
    r, w = os.pipe()
    try:
        assert_parity(lambda m: m.socket(fileno=r), mod)
    finally:
        os.close(r)
        os.close(w)


# --------------------------------------------------------------------------- object protocol


def std_repr_tail(s) -> str:
    """What socket.socket.__repr__ prints after the class name, for `s`'s own state."""
    closed = s.fileno() == -1
    marker = " [closed]" if closed else ""
    out = f"{marker} fd={s.fileno()}, family={s.family!s}, type={s.type!s}, proto={s.proto:d}"
    if not closed:
        try:
            if s.getsockname():
                out += f", laddr={s.getsockname()!s}"
        except OSError:
            pass
        try:
            if s.getpeername():
                out += f", raddr={s.getpeername()!s}"
        except OSError:
            pass
    return out + ">"


def split_repr(s) -> tuple[str, str]:
    text = repr(s)
    head = f"<{type(s).__module__}.{type(s).__qualname__}"
    assert text.startswith(head), text
    return head, text[len(head) :]


def test_repr_states(mod):
    with mod.socket() as s:
        assert split_repr(s)[1] == std_repr_tail(s)
        assert str(s) == repr(s)
        s.bind((HOST4, 0))
        assert split_repr(s)[1] == std_repr_tail(s)
        assert ", laddr=('127.0.0.1', " in repr(s)
        s.listen()
        with mod.create_connection(s.getsockname()) as c:
            assert split_repr(c)[1] == std_repr_tail(c)
            assert ", raddr=('127.0.0.1', " in repr(c)
    # str() of the enums, as socket.py's __repr__ prints them ("2"; "AddressFamily.AF_INET" < 3.11)
    kinds = f"family={socket.AF_INET!s}, type={socket.SOCK_STREAM!s}"
    assert split_repr(s)[1] == f" [closed] fd=-1, {kinds}, proto=0>"


def test_repr_matches_stdlib_text(mod):
    """Same state, same text (fd numbers normalised)."""

    def reprs(m):
        out = []
        with m.socket(m.AF_INET, m.SOCK_DGRAM) as s:
            out.append(repr(s))
        out.append(repr(s))
        return [re.sub(r"^<\S+?(?= )", "<CLS", re.sub(r"fd=\d+", "fd=N", r)) for r in out]

    assert_parity(reprs, mod)


@needs_unix
def test_repr_unix(mod, unix_path):
    with mod.socket(socket.AF_UNIX) as s:
        s.bind(unix_path)
        assert split_repr(s)[1] == std_repr_tail(s)
        assert f"laddr={unix_path}>" in repr(s)


def test_context_manager(mod):
    s = mod.socket()
    with s as entered:
        assert entered is s
        fd = s.fileno()
        assert fd >= 0
    assert s.fileno() == -1
    with pytest.raises(OSError):
        os.fstat(fd)
    with pytest.raises(KeyError), mod.socket():  # __exit__ swallows nothing
        raise KeyError("inside")


def test_close_twice_is_fine(mod):
    s = mod.socket()
    s.close()
    s.close()
    assert s.fileno() == -1


def test_unclosed_socket_warns(mod):
    s = mod.socket()
    fd = s.fileno()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del s
        gc.collect()
    resource = [w for w in caught if issubclass(w.category, ResourceWarning)]
    assert len(resource) == 1, [str(w.message) for w in caught]
    text = str(resource[0].message)
    kinds = f"family={socket.AF_INET!s}, type={socket.SOCK_STREAM!s}"  # as socket.py prints them
    assert text.startswith("unclosed <") and f"fd={fd}, {kinds}, proto=0" in text, text
    with pytest.raises(OSError):
        os.fstat(fd)  # and the descriptor was closed anyway


def test_closed_or_detached_socket_does_not_warn(mod):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        s = mod.socket()
        s.close()
        del s
        d = mod.socket()
        os.close(d.detach())
        del d
        gc.collect()
    assert not caught, [str(w.message) for w in caught]


def test_pickle_refused(mod):
    def dumps(m):
        with m.socket() as s:
            return pickle.dumps(s)

    assert_parity(dumps, mod)


def test_weakref(mod):
    s = mod.socket()
    ref = weakref.ref(s)
    assert ref() is s
    s.close()
    del s
    gc.collect()
    assert ref() is None


def test_no_instance_dict(mod):
    """socket.socket has __slots__: arbitrary attributes are refused."""

    def set_attr(m):
        with m.socket() as s:
            s.foo = 1

    assert_parity(set_attr, mod)


@pytest.mark.parametrize("attr", ["family", "type", "proto", "timeout"])
def test_properties_read_only(mod, attr):
    with mod.socket() as s, pytest.raises(AttributeError):
        setattr(s, attr, 1)


def test_same_public_methods(mod):
    names = {n for n in dir(socket.socket) if not n.startswith("_")}
    missing = sorted(names - set(dir(mod.socket)))
    assert not missing, f"methods/properties missing: {missing}"
    dunders = ["__enter__", "__exit__", "__repr__", "__getstate__", "__del__"]
    assert not [d for d in dunders if not hasattr(mod.socket, d) and d != "__del__"]


def test_equality_is_identity(mod):
    with mod.socket() as a, mod.socket() as b:
        assert a == a and a != b
        assert hash(a) != hash(b)


# --------------------------------------------------------------------------- subclassing


def make_subclass(m):
    class Tagged(m.socket):
        def __init__(self, *args, tag="none", **kwargs):
            super().__init__(*args, **kwargs)
            self.tag = tag

    return Tagged


def test_subclass_with_attributes(mod):
    Tagged = make_subclass(mod)
    with Tagged(socket.AF_INET, socket.SOCK_DGRAM, tag="t1") as s:
        assert s.tag == "t1"
        s.extra = 42  # a subclass has a __dict__
        assert s.extra == 42
        assert isinstance(s, mod.socket)
        assert s.type == socket.SOCK_DGRAM
        head, tail = split_repr(s)
        assert head.endswith(".make_subclass.<locals>.Tagged")
        assert tail == std_repr_tail(s)


def test_subclass_accept_returns_base_class_and_dup_returns_subclass(mod):
    """Stdlib: accept() builds `socket(...)` (the module's class) while dup() builds
    `self.__class__(...)`."""
    Tagged = make_subclass(mod)
    with Tagged(tag="listener") as srv:
        srv.bind((HOST4, 0))
        srv.listen()
        with mod.create_connection(srv.getsockname()):
            conn, _ = srv.accept()
            with conn:
                assert type(conn) is mod.socket
            with srv.dup() as d:
                assert type(d) is Tagged
                assert d.tag == "none"


# --------------------------------------------------------------------------- simple methods


def test_detach(mod):
    s = mod.socket()
    fd = s.fileno()
    assert s.detach() == fd
    assert s.fileno() == -1
    os.fstat(fd)  # still open
    os.close(fd)
    s.close()  # closing a detached socket does nothing


def test_dup(mod):
    with mod.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((HOST4, 0))
        s.settimeout(1.5)
        with s.dup() as d:
            assert type(d) is mod.socket
            assert d.fileno() != s.fileno()
            assert d.getsockname() == s.getsockname()
            assert d.gettimeout() == 1.5
            assert (d.family, d.type, d.proto) == (s.family, s.type, s.proto)
            assert d.get_inheritable() is False


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_getsockname_unbound(mod, kind):
    family, type_ = kind

    def name(m):
        with m.socket(family, type_) as s:
            return s.getsockname()

    assert_parity(name, mod)


@needs_ipv6
def test_ipv6_addresses(mod):
    with listener(mod, socket.AF_INET6, (HOST6, 0)) as srv:
        host, port, flowinfo, scope = srv.getsockname()
        assert (host, flowinfo, scope) == (HOST6, 0, 0)
        with mod.socket(socket.AF_INET6) as c:
            c.connect((HOST6, port))  # a 2-tuple is accepted for AF_INET6
            conn, addr = srv.accept()
            with conn:
                assert addr == c.getsockname() and len(addr) == 4
                assert conn.getpeername() == addr
                assert c.getpeername() == (HOST6, port, 0, 0)


@needs_unix
def test_unix_addresses(mod, unix_path, tmp_path):
    with mod.socket(socket.AF_UNIX) as srv:
        srv.bind(unix_path)
        srv.listen()
        assert srv.getsockname() == unix_path
        with mod.socket(socket.AF_UNIX) as c:
            c.connect(unix_path.encode())  # bytes accepted
            conn, addr = srv.accept()
            with conn:
                assert addr == ""  # unbound client
                assert c.getpeername() == unix_path
                assert conn.getsockname() == unix_path
                assert c.getsockname() == ""


@needs_unix
def test_unix_pathlike_address(mod, unix_path):
    def bind_path(m):
        with m.socket(m.AF_UNIX) as s:
            try:
                s.bind(Path(unix_path))
                return s.getsockname()
            finally:
                if os.path.exists(unix_path):
                    os.unlink(unix_path)

    assert_parity(bind_path, mod)


@needs_unix
def test_unix_abstract_namespace(mod):
    name = b"\0ferrosock-test-%d" % os.getpid()
    with mod.socket(socket.AF_UNIX) as s:
        s.bind(name)
        assert s.getsockname() == name


def test_getpeername_unconnected(mod):
    def peer(m):
        with m.socket() as s:
            return s.getpeername()

    assert_parity(peer, mod)


def test_listen_default_backlog(mod):
    with mod.socket() as s:
        s.bind((HOST4, 0))
        s.listen()
        assert s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1


def test_connect_ex_ok(mod):
    with listener(socket, socket.AF_INET, (HOST4, 0)) as srv, mod.socket() as c:
        assert c.connect_ex(srv.getsockname()) == 0
        conn, _ = srv.accept()
        conn.close()


# --------------------------------------------------------------------------- makefile


def test_makefile_roundtrip(mod):
    with listener(mod, socket.AF_INET, (HOST4, 0)) as srv:

        def handler(conn, addr):
            with conn.makefile("rwb") as f:
                line = f.readline()
                f.write(line.upper())
                f.flush()

        with serving(srv, handler), mod.create_connection(srv.getsockname()) as c:
            with c.makefile("w", encoding="utf-8", newline="\n") as w:
                w.write("héllo\n")
            with c.makefile("r", encoding="utf-8") as r:
                assert r.readline() == "HéLLO\n"  # bytes.upper leaves é alone


def test_makefile_keeps_descriptor_until_file_closed(mod):
    """close() with a makefile open defers the real close (the stdlib's _io_refs)."""
    with listener(mod, socket.AF_INET, (HOST4, 0)) as srv:
        c = mod.create_connection(srv.getsockname())
        conn, _ = srv.accept()
        with conn:
            f = c.makefile("wb")
            c.close()
            f.write(b"still open")
            f.flush()
            assert conn.recv(100) == b"still open"
            f.close()
            assert c.fileno() == -1
            assert conn.recv(100) == b""  # now the peer sees EOF


def test_makefile_bad_mode(mod):
    def bad(m):
        with m.socket() as s:
            return s.makefile("rx")

    assert_parity(bad, mod)


def test_sendfile(mod, tmp_path):
    body = os.urandom(300_000)
    path = tmp_path / "body.bin"
    path.write_bytes(body)
    with listener(mod, socket.AF_INET, (HOST4, 0)) as srv:

        def receive(conn, addr):
            got = b""
            while chunk := conn.recv(65536):
                got += chunk
            return got

        with serving(srv, receive) as job:
            with mod.create_connection(srv.getsockname()) as c, open(path, "rb") as f:
                assert c.sendfile(f, offset=1000, count=200_000) == 200_000
                assert f.tell() == 201_000
    assert job.result == body[1000:201_000]
