"""Shared helpers for the TLS tests (test_tls.py, test_tls_peers.py).

Certificates are made at test time with the `openssl` command line, once per session: a CA,
a server certificate for localhost (SAN DNS:localhost, IP:127.0.0.1, IP:::1), a client
certificate, a second CA nobody trusts with a localhost certificate of its own, a self-signed
localhost certificate and an expired one. Without `openssl` the tests skip, saying so.

A TLS scenario is two functions, one per peer, each given the connected plain socket of its
side and wrapping it itself. `run_pair` runs them (the server in a thread) with the sockets
of the given modules: the stdlib `socket` or `ferrosock`. `parity` runs a scenario on the
backends asked for and on the stdlib pair, and asserts the two give the same results.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
import socket
import ssl
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest
from conftest import HOST4, HOST6, PATIENCE, ferrosock, needs_ipv6, needs_rust

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(
    OPENSSL is None, reason="the openssl command is not installed (`make system-deps` does it)"
)


# --------------------------------------------------------------------------- certificates


@dataclass(frozen=True)
class Certs:
    dir: Path

    def __getattr__(self, name: str) -> str:  # certs.server -> ".../server.pem"
        if name.startswith("_"):
            raise AttributeError(name)
        if name.endswith("_key"):
            return str(self.dir / f"{name[:-4]}.key")
        return str(self.dir / f"{name}.pem")


LEAF_EXT = {
    "server": "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nextendedKeyUsage=serverAuth\n",
    "client": "subjectAltName=DNS:client.test\nextendedKeyUsage=clientAuth\n",
}
CA_EXT = ["-addext", "basicConstraints=critical,CA:TRUE"]
CA_EXT += ["-addext", "keyUsage=critical,keyCertSign,cRLSign"]
NEWKEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


def _openssl(*args: str, cwd: Path) -> None:
    proc = subprocess.run(
        [OPENSSL, *args], cwd=cwd, capture_output=True, text=True, timeout=30, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed:\n{proc.stderr}")


def make_certs(where: Path) -> Certs:
    def ca(name: str, cn: str) -> None:
        _openssl(
            *("req", "-x509", "-new", *NEWKEY, "-days", "3", "-subj", f"/CN={cn}"),
            *("-keyout", f"{name}.key", "-out", f"{name}.pem", *CA_EXT),
            cwd=where,
        )

    def leaf(name: str, cn: str, signer: str, ext: str, days: str = "3") -> None:
        (where / f"{name}.ext").write_text(ext)
        _openssl(
            *("req", "-new", *NEWKEY, "-subj", f"/CN={cn}"),
            *("-keyout", f"{name}.key", "-out", f"{name}.csr"),
            cwd=where,
        )
        serial = str(1000 + len(list(where.glob("*.csr"))))
        _openssl(
            *("x509", "-req", "-in", f"{name}.csr", "-CA", f"{signer}.pem"),
            *("-CAkey", f"{signer}.key", "-set_serial", serial, "-days", days),
            *("-out", f"{name}.pem", "-extfile", f"{name}.ext"),
            cwd=where,
        )

    ca("ca", "ferrosock test CA")
    ca("ca2", "untrusted test CA")
    leaf("server", "localhost", "ca", LEAF_EXT["server"])
    leaf("client", "ferrosock test client", "ca", LEAF_EXT["client"])
    leaf("other", "localhost", "ca2", LEAF_EXT["server"])  # right name, unknown issuer
    leaf("misnamed", "wrong.example", "ca", LEAF_EXT["server"].replace(
        "DNS:localhost,IP:127.0.0.1,IP:::1", "DNS:wrong.example"))  # fmt: skip
    leaf("expired", "localhost", "ca", LEAF_EXT["server"], days="-1")  # notAfter in the past
    _openssl(
        *("req", "-x509", "-new", *NEWKEY, "-days", "3", "-subj", "/CN=localhost"),
        *("-keyout", "selfsigned.key", "-out", "selfsigned.pem"),
        *("-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"),
        cwd=where,
    )
    return Certs(where)


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    if OPENSSL is None:
        pytest.skip("the openssl command is not installed (`make system-deps` installs it)")
    return make_certs(tmp_path_factory.mktemp("tls-certs"))


def server_context(certs: Certs, cert: str = "server", **options: Any) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(getattr(certs, cert), getattr(certs, f"{cert}_key"))
    return _configure(ctx, certs, **options)


def client_context(certs: Certs, cert: str | None = None, **options: Any) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(certs.ca)
    if cert is not None:
        ctx.load_cert_chain(getattr(certs, cert), getattr(certs, f"{cert}_key"))
    return _configure(ctx, certs, **options)


def _configure(
    ctx: ssl.SSLContext,
    certs: Certs,
    version: ssl.TLSVersion | None = None,
    alpn: list | None = None,
    verify_client: bool = False,
    post_handshake_auth: bool = False,
    minimum_version: ssl.TLSVersion | None = None,
    maximum_version: ssl.TLSVersion | None = None,
) -> ssl.SSLContext:
    if version is not None:
        ctx.minimum_version = ctx.maximum_version = version
    if minimum_version is not None:
        ctx.minimum_version = minimum_version
    if maximum_version is not None:
        ctx.maximum_version = maximum_version
    if alpn is not None:
        ctx.set_alpn_protocols(alpn)
    if verify_client:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(certs.ca)
    if post_handshake_auth:
        ctx.post_handshake_auth = True
    return ctx


# --------------------------------------------------------------------------- backends

BACKENDS = ("std", "rust")


def tls_module(name: str) -> Any:
    """The socket module for a backend name; for ferrosock, with its TLS layer imported."""
    if name == "std":
        return socket
    importlib.import_module("ferrosock.ssl")  # a missing TLS layer fails the test
    return ferrosock


def backend_param(name: str) -> Any:
    return pytest.param(name, id=name, marks=[needs_rust] if name == "rust" else [])


@pytest.fixture(params=[backend_param(n) for n in BACKENDS])
def tls_mod(request: pytest.FixtureRequest) -> Any:
    """The module whose sockets carry TLS on the side under test; the peer is the stdlib."""
    return tls_module(request.param)


def _pair_param(server: str, client: str) -> Any:
    marks = [needs_rust] if "rust" in (server, client) else []
    return pytest.param((server, client), id=f"{server}-srv-{client}-cli", marks=marks)


@pytest.fixture(
    params=[
        _pair_param("std", "std"),
        _pair_param("rust", "std"),
        _pair_param("std", "rust"),
        _pair_param("rust", "rust"),
    ]
)
def tls_pair(request: pytest.FixtureRequest) -> tuple:
    """(server module, client module) in every direction; the stdlib pair is the reference."""
    server, client = request.param
    return tls_module(server), tls_module(client)


def is_rust(module: Any) -> bool:
    return module is not socket


TRANSPORTS = [
    pytest.param("socketpair", id="socketpair"),
    pytest.param("tcp4", id="tcp4"),
    pytest.param("tcp6", id="tcp6", marks=[needs_ipv6]),
]


# --------------------------------------------------------------------------- outcomes


def describe_error(exc: BaseException) -> tuple:
    """What the parity tests compare of an exception."""
    return (
        "raise",
        type(exc),
        exc.args,
        getattr(exc, "reason", None),
        getattr(exc, "library", None),
        getattr(exc, "verify_code", None),
        getattr(exc, "verify_message", None),
    )


def outcome(fn: Callable[..., Any], *args: Any) -> tuple:
    try:
        return ("ok", fn(*args))
    except Exception as exc:  # noqa: BLE001 - the exception is the result being compared
        return describe_error(exc)


def raw_pair(smod: Any, cmod: Any, transport: str = "socketpair") -> tuple:
    """A connected (server side, client side) pair of plain stream sockets of the modules."""
    if transport == "socketpair":
        a, b = socket.socketpair()
        return _convert(a, smod), _convert(b, cmod)
    family, host = (socket.AF_INET, HOST4) if transport == "tcp4" else (socket.AF_INET6, HOST6)
    with smod.socket(family, socket.SOCK_STREAM) as lsock:
        lsock.bind((host, 0))
        lsock.listen(1)
        client = cmod.socket(family, socket.SOCK_STREAM)
        try:
            client.settimeout(PATIENCE)
            client.connect(lsock.getsockname()[:2])
            lsock.settimeout(PATIENCE)
            server, _ = lsock.accept()
        except BaseException:
            client.close()
            raise
    client.settimeout(None)
    server.settimeout(None)
    return server, client


def _convert(sock: socket.socket, module: Any) -> Any:
    if module is socket:
        return sock
    return module.socket(fileno=sock.detach())


class Peer:
    """Run `fn()` in a thread, recording its outcome; `join()` returns it."""

    def __init__(self, fn: Callable[[], Any]):
        self.result: tuple | None = None
        self._fn = fn
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        self.result = outcome(self._fn)

    def join(self, timeout: float = PATIENCE * 2) -> tuple:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "peer thread did not finish"
        assert self.result is not None
        return self.result


def run_pair(
    server_fn: Callable[[Any], Any],
    client_fn: Callable[[Any], Any],
    smod: Any = socket,
    cmod: Any = socket,
    transport: str = "socketpair",
    timeout: float | None = PATIENCE,
) -> tuple:
    """Run server_fn(server plain socket) in a thread and client_fn(client plain socket) here,
    on a fresh connection; each wraps and closes its own side. -> (server outcome, client
    outcome). Each plain socket gets `timeout`, so a broken peer cannot hang the test."""
    server, client = raw_pair(smod, cmod, transport)
    with server, client:
        server.settimeout(timeout)
        client.settimeout(timeout)

        def serve() -> Any:
            try:
                return server_fn(server)
            finally:
                server.close()

        peer = Peer(serve)
        try:
            client_result = outcome(client_fn, client)
        finally:
            client.close()
            server_result = peer.join()
    return server_result, client_result


def parity(scenario: Callable[[Any, Any], Any], smod: Any, cmod: Any) -> Any:
    """scenario(server module, client module) -> a result; asserts that with ferrosock on either
    side it is the stdlib pair's result. Returns the result."""
    got = scenario(smod, cmod)
    if is_rust(smod) or is_rust(cmod):
        expected = scenario(socket, socket)
        assert got == expected, (
            f"server {smod.__name__}, client {cmod.__name__}:\n"
            f"      got: {got!r}\n   stdlib: {expected!r}"
        )
    return got


def ok(value: Any) -> tuple:
    return ("ok", value)


# --------------------------------------------------------------------------- descriptors


def open_fds() -> set:
    return set(os.listdir("/proc/self/fd"))


@contextlib.contextmanager
def no_fd_leak():
    """Assert the block leaves no descriptor open (for failure paths)."""
    before = len(open_fds())
    yield
    after = len(open_fds())
    assert after == before, f"{after - before} descriptor(s) left open"


def tls_type(module: Any) -> type:
    """The class a wrap_socket of a `module` socket should return."""
    if module is socket:
        return ssl.SSLSocket
    return importlib.import_module("ferrosock.ssl").SSLSocket
