"""TLS over ferrosock sockets (issue 9): the stdlib's `ssl` driven through ferrosock's socket I/O.

Each scenario runs on stdlib sockets and on ferrosock sockets, in both directions (the peer
a thread), and the results are compared with the stdlib pair's, errors included: the
exception's type, args (the `_ssl.c:NNNN` in messages too, since the same `_ssl` makes them),
reason, library, verify_code and verify_message.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import select
import selectors
import signal
import socket
import socketserver
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import tlsutil
from conftest import HOST4, PATIENCE, ferrosock, needs_rust, wait_proc_sleeping
from test_interrupt import Child
from tlsutil import (
    TRANSPORTS,
    client_context,
    is_rust,
    needs_openssl,
    no_fd_leak,
    ok,
    outcome,
    parity,
    run_pair,
    server_context,
    tls_type,
)
from versions import (
    RAGGED_EOF_RAISES,
    SHARED_CIPHERS_SERVER_ONLY,
    TLS_EMPTY_WRITE_WORKS,
    TLS_WRITE_AFTER_CLOSE,
)

pytestmark = needs_openssl

# the shared fixtures, made visible to pytest here
certs = tlsutil.certs
tls_mod = tlsutil.tls_mod
tls_pair = tlsutil.tls_pair

TLS12 = ssl.TLSVersion.TLSv1_2
TLS13 = ssl.TLSVersion.TLSv1_3
VERSIONS = [pytest.param(TLS12, id="tls12"), pytest.param(TLS13, id="tls13")]
MiB = 1 << 20


def module_of(sock) -> object:
    return socket if type(sock) is socket.socket else ferrosock


def wrapped_right(tls_sock, raw) -> bool:
    """The class of a wrap of `raw` is the one its module should give, and looks like ssl's."""
    return (
        type(tls_sock) is tls_type(module_of(raw))
        and isinstance(tls_sock, ssl.SSLSocket)
        and repr(tls_sock).startswith("<ssl.SSLSocket")
    )


def echo_upper(ctx, **wrap):
    """A server: handshake, read one message, send it back upper-cased."""

    def server(raw):
        with ctx.wrap_socket(raw, server_side=True, **wrap) as s:
            data = s.recv(1024)
            s.sendall(data.upper())
            return data

    return server


# --------------------------------------------------------------------------- handshake


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_handshake_and_exchange(certs, tls_pair, transport):
    hostname = {"socketpair": "localhost", "tcp4": "127.0.0.1", "tcp6": "::1"}[transport]
    der = ssl.PEM_cert_to_DER_cert(Path(certs.server).read_text())

    def scenario(smod, cmod):
        sctx, cctx = server_context(certs), client_context(certs)

        def server(raw):
            with sctx.wrap_socket(raw, server_side=True) as s:
                data = s.recv(1024)
                s.sendall(data[::-1])
                info = (s.version(), s.cipher(), s.compression(), s.server_side)
                return data, info, s.server_hostname, s.getpeercert(), wrapped_right(s, raw)

        def client(raw):
            with cctx.wrap_socket(raw, server_hostname=hostname) as s:
                s.sendall(b"hello over tls")
                reply = s.recv(1024)
                info = (s.version(), s.cipher(), s.compression(), s.server_side)
                peer = (s.getpeercert(), s.getpeercert(binary_form=True) == der)
                return reply, info, s.server_hostname, peer, wrapped_right(s, raw)

        return run_pair(server, client, smod, cmod, transport)

    server_result, client_result = parity(scenario, *tls_pair)
    assert server_result[0] == "ok" and client_result[0] == "ok", (server_result, client_result)
    data, sinfo, shost, speer, sright = server_result[1]
    reply, cinfo, chost, (cpeer, der_same), cright = client_result[1]
    assert (data, reply) == (b"hello over tls", b"slt revo olleh")
    assert sinfo[0] == cinfo[0] == "TLSv1.3" and sinfo[1] == cinfo[1]
    assert (sinfo[3], cinfo[3], shost, chost, speer) == (True, False, None, hostname, None)
    assert cpeer["subject"] == ((("commonName", "localhost"),),) and der_same
    assert ("IP Address", "127.0.0.1") in cpeer["subjectAltName"]
    assert sright and cright


def test_stdlib_sockets_still_get_stdlib_tls(certs, tls_mod):
    """With ferrosock's TLS layer imported, a stdlib socket still gets `ssl.SSLSocket`."""
    a, b = socket.socketpair()
    with a, b:
        ctx = client_context(certs)
        with ctx.wrap_socket(a, server_hostname="localhost", do_handshake_on_connect=False) as w:
            assert type(w) is ssl.SSLSocket


def test_before_handshake(certs, tls_mod):
    """do_handshake_on_connect=False: what the accessors say before, then after."""

    def client(raw):
        ctx = client_context(certs)
        with ctx.wrap_socket(raw, server_hostname="localhost", do_handshake_on_connect=False) as s:
            before = [
                outcome(s.getpeercert),
                outcome(s.getpeercert, True),
                (s.version(), s.cipher(), s.shared_ciphers(), s.selected_alpn_protocol()),
                (s.compression(), s.session_reused, s.pending()),
                outcome(s.get_channel_binding, "tls-unique"),
            ]
            s.do_handshake()
            s.sendall(b"x")
            s.recv(10)
            return before, s.version(), s.getpeercert()["subject"]

    got = parity(lambda sm, cm: run_pair(echo_upper(server_context(certs)), client, sm, cm),
                 socket, tls_mod)  # fmt: skip
    before, version, subject = got[1][1]
    assert before[0][1] is ValueError and before[0][2] == ("handshake not done yet",)
    if SHARED_CIPHERS_SERVER_ONLY:
        assert before[2] == (None, None, None, None)
    assert before[2][:2] + before[2][3:] == (None, None, None) and version == "TLSv1.3"
    assert subject == ((("commonName", "localhost"),),)


def test_alpn_sni_and_shared_ciphers(certs, tls_pair):
    def scenario(smod, cmod):
        sctx = server_context(certs, alpn=["h2", "http/1.1"])
        cctx = client_context(certs, alpn=["spam", "http/1.1"])
        seen = []

        def sni(sslsock, name, ctx):
            seen.append((isinstance(sslsock, ssl.SSLSocket), name, sslsock.server_side))

        sctx.sni_callback = sni

        def server(raw):
            with sctx.wrap_socket(raw, server_side=True) as s:
                s.sendall(s.recv(10))
                ciphers = s.shared_ciphers()
                return s.selected_alpn_protocol(), sorted(ciphers) if ciphers else ciphers

        def client(raw):
            with cctx.wrap_socket(raw, server_hostname="localhost") as s:
                s.sendall(b"x")
                s.recv(10)
                return s.selected_alpn_protocol(), s.shared_ciphers()

        return run_pair(server, client, smod, cmod), seen

    (server_result, client_result), seen = parity(scenario, *tls_pair)
    assert server_result[1][0] == client_result[1][0] == "http/1.1"
    assert server_result[1][1]
    assert (client_result[1][1] is None) == SHARED_CIPHERS_SERVER_ONLY
    assert seen == [(True, "localhost", True)]


@pytest.mark.parametrize("version", VERSIONS)
def test_session_reuse(certs, tls_pair, version):
    def scenario(smod, cmod):
        sctx = server_context(certs, version=version)
        cctx = client_context(certs, version=version)
        session = None

        def server(raw):
            with sctx.wrap_socket(raw, server_side=True) as s:
                s.sendall(b"hi")
                s.recv(10)
                return s.session_reused

        def client(raw):
            with cctx.wrap_socket(raw, server_hostname="localhost", session=session) as s:
                s.recv(10)  # with TLS 1.3 the tickets come after the handshake
                s.sendall(b"bye")
                sess = s.session
                return s.session_reused, type(sess), sess.has_ticket, s.version(), sess

        first = run_pair(server, client, smod, cmod)
        session = first[1][1][-1]
        second = run_pair(server, client, smod, cmod)
        strip = lambda r: (r[0], ("ok", r[1][1][:-1]) if r[1][0] == "ok" else r[1])  # noqa: E731
        return strip(first), strip(second)

    first, second = parity(scenario, *tls_pair)
    assert first == (ok(False), ok((False, ssl.SSLSession, True, version.name.replace("_", "."))))
    assert second[0] == ok(True) and second[1][1][0] is True


def test_channel_binding_tls12(certs, tls_pair):
    def scenario(smod, cmod):
        sctx, cctx = server_context(certs, version=TLS12), client_context(certs)

        def server(raw):
            with sctx.wrap_socket(raw, server_side=True) as s:
                s.sendall(b"x")
                return s.get_channel_binding("tls-unique"), outcome(s.get_channel_binding, "x")

        def client(raw):
            with cctx.wrap_socket(raw, server_hostname="localhost") as s:
                s.recv(1)
                return s.get_channel_binding("tls-unique"), s.get_channel_binding()

        (srv, cli) = run_pair(server, client, smod, cmod)
        binding = srv[1][0]
        return len(binding), binding == cli[1][0] == cli[1][1], srv[1][1], cli[0]

    length, same, error, _ = parity(scenario, *tls_pair)
    assert (length, same) == (12, True)
    assert error[1] is ValueError and error[2] == ("'x' channel binding type not implemented",)


# --------------------------------------------------------------------------- verification


VERIFY_CASES = {
    "untrusted-ca": ("other", "localhost", 20),
    "self-signed": ("selfsigned", "localhost", 18),
    "expired": ("expired", "localhost", 10),
    "wrong-host": ("server", "wrong.example", 62),
}


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("case", list(VERIFY_CASES))
def test_certificate_verify_failure(certs, tls_pair, case, version):
    cert, hostname, code = VERIFY_CASES[case]

    def scenario(smod, cmod):
        sctx = server_context(certs, cert=cert, version=version)
        cctx = client_context(certs)
        with no_fd_leak():
            return run_pair(echo_upper(sctx), _handshake_client(cctx, hostname), smod, cmod)

    server_result, client_result = parity(scenario, *tls_pair)
    assert client_result[1] is ssl.SSLCertVerificationError
    assert client_result[5] == code, client_result
    assert server_result[1] is ssl.SSLError, server_result  # the alert it received


def _handshake_client(ctx, hostname="localhost", **wrap):
    def client(raw):
        with ctx.wrap_socket(raw, server_hostname=hostname, **wrap) as s:
            s.sendall(b"ping")
            return s.recv(100), s.getpeercert()["subject"]

    return client


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("with_cert", [True, False], ids=["client-cert", "no-client-cert"])
def test_client_certificate(certs, tls_pair, version, with_cert):
    def scenario(smod, cmod):
        sctx = server_context(certs, version=version, verify_client=True)
        cctx = client_context(certs, cert="client" if with_cert else None)

        def server(raw):
            with sctx.wrap_socket(raw, server_side=True) as s:
                s.sendall(s.recv(10))
                return s.getpeercert()["subject"]

        with no_fd_leak():
            server_result, client_result = run_pair(server, _handshake_client(cctx), smod, cmod)
        if (
            client_result[1] in (ssl.SSLEOFError, TLS_WRITE_AFTER_CLOSE)
            and version is TLS13
            and not with_cert
        ):
            # the stdlib too, now and then: the client's handshake is done when the server
            # rejects it, and its read may see the server's close before the alert
            client_result = EOF_OR_ALERT
        elif client_result[3:4] == ("TLSV13_ALERT_CERTIFICATE_REQUIRED",):
            client_result = EOF_OR_ALERT
        return server_result, client_result

    server_result, client_result = parity(scenario, *tls_pair)
    if with_cert:
        assert server_result == ok(((("commonName", "ferrosock test client"),),))
        assert client_result[0] == "ok"
    else:
        assert server_result[1] is ssl.SSLError and server_result[4] == "SSL"
        if version is TLS13:
            assert client_result == EOF_OR_ALERT
        else:
            assert client_result[1] is ssl.SSLError, client_result


EOF_OR_ALERT = "the certificate-required alert, or EOF"


def test_check_hostname_requires_server_hostname(certs, tls_mod):
    with no_fd_leak():
        a, b = socket.socketpair()
        raw = tls_mod.socket(fileno=a.detach())
        with raw, b:
            got = outcome(client_context(certs).wrap_socket, raw)
            still_open = raw.fileno() >= 0
    assert got[:3] == ("raise", ValueError, ("check_hostname requires server_hostname",))
    assert still_open


def test_minimum_version_mismatch(certs, tls_pair):
    def scenario(smod, cmod):
        sctx = server_context(certs, maximum_version=TLS12)
        cctx = client_context(certs, minimum_version=TLS13)
        with no_fd_leak():
            return run_pair(echo_upper(sctx), _handshake_client(cctx), smod, cmod)

    server_result, client_result = parity(scenario, *tls_pair)
    assert server_result[1] is ssl.SSLError and client_result[1] is ssl.SSLError
    assert "UNSUPPORTED_PROTOCOL" in server_result[3] or "VERSION" in server_result[3]
    assert "PROTOCOL_VERSION" in client_result[3], client_result


def test_plaintext_peer(certs, tls_pair):
    """The server gets an HTTP request instead of a ClientHello; a client gets an HTTP reply."""

    def scenario(smod, cmod):
        def plain_client(raw):
            raw.sendall(b"GET / HTTP/1.0\r\n\r\n")
            return raw.recv(100)

        def plain_server(raw):
            raw.recv(1000)
            raw.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")

        with no_fd_leak():
            as_server = run_pair(echo_upper(server_context(certs)), plain_client, smod, cmod)
            as_client = run_pair(plain_server, _handshake_client(client_context(certs)), smod, cmod)
        return as_server[0], as_client[1]

    server_error, client_error = parity(scenario, *tls_pair)
    assert server_error[1] is ssl.SSLError and server_error[3] == "HTTP_REQUEST", server_error
    assert client_error[1] is ssl.SSLError and client_error[3] == "WRONG_VERSION_NUMBER"


def test_wrap_udp_socket(certs, tls_mod):
    with no_fd_leak():
        with tls_mod.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            ctx = server_context(certs)
            got = outcome(lambda: ctx.wrap_socket(udp, server_side=True))
            left_open = udp.fileno() >= 0
    assert got[:3] == ("raise", NotImplementedError, ("only stream sockets are supported",))
    assert left_open


def test_no_descriptor_left_after_failures(certs, tls_mod):
    """Repeated failing handshakes on `tls_mod`'s side, client and server; fd count stays."""
    sctx, cctx = server_context(certs), client_context(certs)
    for _ in range(2):  # the first round may open lazily created descriptors
        before = len(os.listdir("/proc/self/fd"))
        for _ in range(3):
            run_pair(echo_upper(server_context(certs, cert="other")),
                     _handshake_client(cctx), socket, tls_mod)  # fmt: skip
            run_pair(echo_upper(sctx), _handshake_client(cctx, "wrong.example"), tls_mod, socket)
            run_pair(lambda raw: raw.recv(10), _handshake_client(cctx), socket, tls_mod,
                     timeout=0.05)  # fmt: skip
    assert len(os.listdir("/proc/self/fd")) == before


# --------------------------------------------------------------------------- closing


@pytest.mark.parametrize("suppress", [True, False], ids=["suppress", "no-suppress"])
def test_ragged_eof(certs, tls_pair, suppress):
    """The peer closes the TCP connection without close_notify (Python never sends one on
    close)."""

    def scenario(smod, cmod):
        def server(raw):
            with server_context(certs).wrap_socket(raw, server_side=True) as s:
                s.sendall(b"bye")

        def client(raw):
            ctx = client_context(certs)
            with ctx.wrap_socket(raw, server_hostname="localhost",
                                 suppress_ragged_eofs=suppress) as s:  # fmt: skip
                return s.suppress_ragged_eofs, s.recv(100), outcome(s.recv, 100)

        return run_pair(server, client, smod, cmod)

    _, client_result = parity(scenario, *tls_pair)
    flag, first, second = client_result[1]
    assert (flag, first) == (suppress, b"bye")
    if suppress or not RAGGED_EOF_RAISES:
        assert second == ok(b"")
    else:
        assert second[1] is ssl.SSLEOFError, second


def test_unwrap_then_plaintext(certs, tls_pair):
    def scenario(smod, cmod):
        def server(raw):
            s = server_context(certs).wrap_socket(raw, server_side=True)
            with s:
                s.sendall(s.recv(10).upper())
                plain = s.unwrap()
                with plain:
                    plain.sendall(b"plain from server")
                    got = plain.recv(100)
                    again = outcome(s.unwrap)
                    return plain is s, type(plain) is type(raw) or plain is s, got, again[1]

        def client(raw):
            s = client_context(certs).wrap_socket(raw, server_hostname="localhost")
            with s:
                s.sendall(b"tls")
                reply = s.recv(10)
                plain = s.unwrap()
                with plain:
                    got = plain.recv(100)
                    plain.sendall(b"plain from client")
                    return plain is s, reply, got, s.version(), s.pending()

        return run_pair(server, client, smod, cmod)

    server_result, client_result = parity(scenario, *tls_pair)
    assert server_result[1][2:] == (b"plain from client", ValueError)
    assert client_result[1][1:] == (b"TLS", b"plain from server", None, 0)


def test_shutdown_write_side(certs, tls_pair):
    """SSLSocket.shutdown() drops the TLS layer: the peer sees a ragged EOF, and what comes
    back afterwards is read as raw TLS records."""

    def scenario(smod, cmod):
        # The client stays until the server is done: a close before would reset the server's
        # reads, which 3.13 reports as ConnectionResetError (3.10-3.12: SSLEOFError either way).
        done = threading.Event()

        def server(raw):
            try:
                with server_context(certs).wrap_socket(raw, server_side=True) as s:
                    data = s.recv(10)
                    eof = s.recv(10)
                    return data, eof, outcome(s.sendall, b"after eof")
            finally:
                done.set()

        def client(raw):
            with client_context(certs).wrap_socket(raw, server_hostname="localhost") as s:
                s.sendall(b"data")
                s.shutdown(socket.SHUT_WR)
                record = s.recv(1000)  # the TLS 1.3 tickets: application_data records
                done.wait(PATIENCE)
                return record[:3], s.version(), s.pending()

        return run_pair(server, client, smod, cmod)

    server_result, client_result = parity(scenario, *tls_pair)
    assert server_result[1][:2] == (b"data", b"")
    if RAGGED_EOF_RAISES:
        assert server_result[1][2][1] in (ssl.SSLEOFError, BrokenPipeError, ConnectionResetError)
    else:  # 3.9 read the ragged EOF as a clean close: the connection is still writable
        assert server_result[1][2] == ok(None)
    assert client_result == ok((b"\x17\x03\x03", None, 0))


# --------------------------------------------------------------------------- data


def test_read_sizes(certs, tls_mod):
    """The side under test reads a 20000-byte message (two records) in pieces."""
    payload = bytes(range(256)) * 80

    def client(raw):
        with client_context(certs).wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(b"go")
            steps = [s.recv(0), s.read(0), s.recv(1), s.pending(), s.read(2)]
            buf = bytearray(10)
            steps += [s.recv_into(buf), bytes(buf), s.recv_into(buf, 0)]
            big = bytearray(8)
            with memoryview(big) as view:
                steps += [s.recv_into(view[2:6], 3), bytes(big)]
                steps += [s.recv_into(view[2:], None), bytes(big), s.pending()]
            steps += [len(s.recv(100000)), s.pending(), s.read(5, bytearray(5))]
            rest = s.recv(100000)
            steps += [len(rest), s.pending()]
            steps.append(outcome(s.recv_into, None))  # the next record: b"tail"
            s.sendall(b"!")
            return steps

    def server(raw):
        with server_context(certs).wrap_socket(raw, server_side=True) as s:
            s.recv(2)
            s.sendall(payload)
            s.sendall(b"tail")
            return s.recv(1)

    got = parity(lambda sm, cm: run_pair(server, client, sm, cm), socket, tls_mod)
    assert got[0] == ok(b"!")
    steps = got[1][1]
    assert steps[-1] == ok(b"tail")
    assert steps[:5] == [b"", b"", b"\x00", 16383, b"\x01\x02"], steps
    assert steps[5:8] == [10, bytes(range(3, 13)), 10]


@pytest.mark.parametrize("size", [0, 1, MiB, 10 * MiB], ids=["0B", "1B", "1MiB", "10MiB"])
def test_send_sizes(certs, tls_pair, size):
    payload = os.urandom(size)
    digest = hashlib.sha256(payload).hexdigest()

    def scenario(smod, cmod):
        def server(raw):
            with server_context(certs).wrap_socket(raw, server_side=True) as s:
                h, n = hashlib.sha256(), 0
                while n < size:
                    chunk = s.recv(1 << 17)
                    if not chunk:
                        break
                    h.update(chunk)
                    n += len(chunk)
                s.sendall(b"done")
                return n, h.hexdigest()

        def client(raw):
            with client_context(certs).wrap_socket(raw, server_hostname="localhost") as s:
                sent = s.send(payload) if size <= MiB else s.sendall(payload)
                if not TLS_EMPTY_WRITE_WORKS:  # 3.9: an empty write raises SSLEOFError
                    return sent, 0, None, s.recv(4)
                return sent, s.send(b""), s.sendall(b""), s.recv(4)

        return run_pair(server, client, smod, cmod, timeout=PATIENCE * 2)

    server_result, client_result = parity(scenario, *tls_pair)
    if size == 0 and not TLS_EMPTY_WRITE_WORKS:
        # 3.9: the empty payload's own send() is the empty write that raises
        assert client_result[1] is ssl.SSLEOFError, client_result
        return
    assert server_result == ok((size, digest))
    expected_sent = size if size <= MiB else None
    assert client_result == ok((expected_sent, 0, None, b"done"))


def test_makefile_line_protocol(certs, tls_pair):
    def scenario(smod, cmod):
        def server(raw):
            with server_context(certs).wrap_socket(raw, server_side=True) as s:
                with s.makefile("rb") as rf, s.makefile("w", encoding="utf-8") as wf:
                    lines = []
                    for line in rf:
                        if line == b"QUIT\n":
                            break
                        lines.append(line)
                        wf.write(f"{len(lines)} {line.decode().strip()[::-1]}\n")
                        wf.flush()
                    return lines

        def client(raw):
            with client_context(certs).wrap_socket(raw, server_hostname="localhost") as s:
                with s.makefile("w", encoding="utf-8") as wf, s.makefile("rb") as rf:
                    replies = []
                    for word in ("alpha", "βήτα", "x" * 20000):
                        wf.write(word + "\n")
                        wf.flush()
                        replies.append(rf.readline())
                    wf.write("QUIT\n")
                    wf.flush()
                    return replies

        return run_pair(server, client, smod, cmod)

    server_result, client_result = parity(scenario, *tls_pair)
    assert server_result[1][:2] == [b"alpha\n", "βήτα\n".encode()]
    assert client_result[1][:2] == [b"1 ahpla\n", "2 ατήβ\n".encode()]


def test_sendfile(certs, tls_mod, tmp_path):
    path = tmp_path / "payload.bin"
    path.write_bytes(os.urandom(300_000))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()

    def server(raw):
        with server_context(certs).wrap_socket(raw, server_side=True) as s:
            h, n = hashlib.sha256(), 0
            while n < 300_000 - 1000:
                chunk = s.recv(65536)
                h.update(chunk)
                n += len(chunk)
            return n, h.hexdigest()

    def client(raw):
        with client_context(certs).wrap_socket(raw, server_hostname="localhost") as s:
            with open(path, "rb") as f:
                sent = s.sendfile(f, offset=1000)
                return sent, f.tell()

    got = parity(lambda sm, cm: run_pair(server, client, sm, cm), socket, tls_mod)
    assert got == (ok((299_000, hashlib.sha256(path.read_bytes()[1000:]).hexdigest())),
                   ok((299_000, 300_000)))  # fmt: skip
    assert digest


def test_flags_and_unsupported_calls(certs, tls_mod):
    def client(raw):
        with client_context(certs).wrap_socket(raw, server_hostname="localhost") as s:
            buf = bytearray(4)
            calls = [
                (s.recv, 1, 1),
                (s.recv_into, buf, 1, 1),
                (s.send, b"x", 1),
                (s.sendall, b"x", 1),
                (s.sendto, b"x", (HOST4, 9)),
                (s.sendto, b"x", 0, (HOST4, 9)),
                (s.recvfrom, 1),
                (s.recvfrom_into, buf),
                (s.sendmsg, [b"x"]),
                (s.recvmsg, 1),
                (s.recvmsg_into, [buf]),
                (s.dup,),
            ]
            results = [outcome(fn, *args) for fn, *args in calls]
            s.sendall(b"ok")
            return results, s.recv(10)

    got = parity(lambda sm, cm: run_pair(echo_upper(server_context(certs)), client, sm, cm),
                 socket, tls_mod)  # fmt: skip
    results, reply = got[1][1]
    assert reply == b"OK"
    assert [r[1] for r in results] == [ValueError] * 8 + [NotImplementedError] * 4


# --------------------------------------------------------------------------- non-blocking


def _handshake_nonblocking(s) -> list:
    """Drive do_handshake() with select(); returns the distinct exception types seen."""
    seen = []
    deadline = time.monotonic() + PATIENCE
    while True:
        try:
            s.do_handshake()
            return seen
        except ssl.SSLWantReadError:
            seen.append("read")
            select.select([s], [], [], deadline - time.monotonic())
        except ssl.SSLWantWriteError:
            seen.append("write")
            select.select([], [s], [], deadline - time.monotonic())
        assert time.monotonic() < deadline


def test_nonblocking_handshake_with_select(certs, tls_pair):
    def scenario(smod, cmod):
        def server(raw):
            raw.setblocking(False)
            s = server_context(certs).wrap_socket(
                raw, server_side=True, do_handshake_on_connect=False
            )
            with s:
                _handshake_nonblocking(s)  # whether its first call completes is timing
                select.select([s], [], [], PATIENCE)
                data = s.recv(10)
                s.sendall(data.upper())
                return data

        def client(raw):
            raw.setblocking(False)
            ctx = client_context(certs)
            s = ctx.wrap_socket(raw, server_hostname="localhost", do_handshake_on_connect=False)
            with s:
                _handshake_nonblocking(s)  # whether a call completes at once is timing
                early = outcome(s.recv, 10)  # nothing sent yet
                s.send(b"abc")
                while True:
                    select.select([s], [], [], PATIENCE)
                    try:
                        reply = s.recv(10)
                        break
                    except ssl.SSLWantReadError:  # TLS 1.3 tickets, not data
                        continue
                return early, reply, s.gettimeout(), s.getblocking()

        return run_pair(server, client, smod, cmod)

    server_result, client_result = parity(scenario, *tls_pair)
    assert server_result == ok(b"abc")
    early, reply, timeout, blocking = client_result[1]
    assert early[1] is ssl.SSLWantReadError
    assert (reply, timeout, blocking) == (b"ABC", 0.0, False)


def test_nonblocking_reads_want_read(certs, tls_mod):
    def client(raw):
        with client_context(certs).wrap_socket(raw, server_hostname="localhost") as s:
            s.recv(2)  # past the tickets
            s.setblocking(False)
            errors = [outcome(s.recv, 10), outcome(s.read, 10), outcome(s.recv_into, bytearray(4))]
            s.settimeout(0.0)
            errors.append(outcome(s.recv, 10))
            s.setblocking(True)
            s.sendall(b"done")
            return errors

    def server(raw):
        with server_context(certs).wrap_socket(raw, server_side=True) as s:
            s.sendall(b"hi")
            return s.recv(4)

    got = parity(lambda sm, cm: run_pair(server, client, sm, cm), socket, tls_mod)
    assert got[0] == ok(b"done")
    assert all(e[1] is ssl.SSLWantReadError for e in got[1][1]), got[1]


def test_selectors_loop_with_pending(certs, tls_mod):
    """Read in small pieces driven by a selector; what is decrypted but unread is in pending()."""
    payload = os.urandom(50_000)

    def client(raw):
        with client_context(certs).wrap_socket(raw, server_hostname="localhost") as s:
            s.setblocking(False)
            got = bytearray()
            saw_pending = False
            with selectors.DefaultSelector() as sel:
                sel.register(s, selectors.EVENT_READ)
                deadline = time.monotonic() + PATIENCE
                while len(got) < len(payload) and time.monotonic() < deadline:
                    sel.select(deadline - time.monotonic())
                    try:
                        got += s.recv(1000)
                    except ssl.SSLWantReadError:
                        continue
                    while s.pending():  # the selector cannot know about these
                        saw_pending = True
                        got += s.recv(1000)
            s.setblocking(True)
            s.sendall(b"!")
            return hashlib.sha256(got).hexdigest(), saw_pending

    def server(raw):
        with server_context(certs).wrap_socket(raw, server_side=True) as s:
            s.sendall(payload)
            s.recv(1)

    got = parity(lambda sm, cm: run_pair(server, client, sm, cm), socket, tls_mod)
    assert got[1] == ok((hashlib.sha256(payload).hexdigest(), True))


# --------------------------------------------------------------------------- timeouts


def test_timeouts(certs, tls_mod):
    """A read with nothing sent, a handshake the peer never answers, a write nobody reads."""

    done = threading.Event()  # reset by each scenario run

    def client(raw):
        try:
            with client_context(certs).wrap_socket(raw, server_hostname="localhost") as s:
                s.settimeout(0.2)
                read = outcome(s.recv, 10)
                write = outcome(s.sendall, b"x" * (16 * MiB))
                return read, write, s.gettimeout()
        finally:
            done.set()

    def server(raw):
        with server_context(certs).wrap_socket(raw, server_side=True):
            done.wait(PATIENCE)  # never reads the 16 MiB

    def silent(raw):
        raw.recv(1000)  # the ClientHello, and never an answer
        raw.recv(1000)

    def handshaking_client(raw):
        ctx = client_context(certs)
        with ctx.wrap_socket(raw, server_hostname="localhost", do_handshake_on_connect=False) as s:
            s.settimeout(0.2)
            return outcome(s.do_handshake)

    def scenario(smod, cmod):
        done.clear()
        return (
            run_pair(server, client, smod, cmod)[1],
            run_pair(silent, handshaking_client, smod, cmod)[1],
        )

    (data, handshake) = parity(scenario, socket, tls_mod)
    read, write, timeout = data[1]
    assert read[1:3] == (socket.timeout, ("The read operation timed out",))
    assert write[1:3] == (socket.timeout, ("The write operation timed out",))
    assert handshake[1][1] is socket.timeout
    assert handshake[1][2][0].endswith("The handshake operation timed out")
    assert timeout == 0.2


# --------------------------------------------------------------------------- connect, accept


@contextlib.contextmanager
def std_tls_server(certs, handler, count=1):
    """A stdlib TLS server on 127.0.0.1 port 0, handling `count` connections in a thread."""
    sctx = server_context(certs)
    lsock = socket.create_server((HOST4, 0))
    lsock.settimeout(PATIENCE)
    results = []

    def serve():
        for _ in range(count):
            conn, _ = lsock.accept()
            with sctx.wrap_socket(conn, server_side=True) as s:
                results.append(handler(s))

    from conftest import Background

    job = Background(serve)
    try:
        yield lsock.getsockname(), results
    finally:
        try:
            job.join(PATIENCE * 2)
        finally:
            lsock.close()


def test_connect_wrapped_unconnected_socket(certs, tls_mod):
    def scenario(mod):
        results = []

        def handler(s):
            s.sendall(s.recv(10).upper())

        with std_tls_server(certs, handler, count=2) as (address, _):
            ctx = client_context(certs)
            for method in ("connect", "connect_ex"):
                with ctx.wrap_socket(mod.socket(), server_hostname="127.0.0.1") as s:
                    s.settimeout(PATIENCE)
                    before = [
                        outcome(s.getpeercert),
                        s.version(),
                        s.pending(),
                        outcome(s.recv, 1),
                        outcome(s.do_handshake),
                    ]
                    rc = getattr(s, method)(address)
                    s.sendall(b"tls")
                    results.append((before, rc, s.recv(10), s.version(), type(s) is tls_type(mod)))
                    results.append(outcome(s.connect, address))  # already connected
        with socket.socket() as closed:
            closed.bind((HOST4, 0))
            port = closed.getsockname()[1]
        with ctx.wrap_socket(mod.socket(), server_hostname="127.0.0.1") as s:
            results.append(s.connect_ex((HOST4, port)))
            results.append(outcome(s.connect, (HOST4, port)))
        return results

    got = scenario(tls_mod)
    expected = scenario(socket)
    assert got == expected
    first = got[0]
    assert first[1:] == (None, b"TLS", "TLSv1.3", True)
    assert first[0][0][1] is OSError and first[0][1:3] == [None, 0]
    assert got[2][1] == 0 and got[4] == 111  # connect_ex: 0, then ECONNREFUSED


@pytest.mark.parametrize("on_connect", [True, False], ids=["handshake-on-accept", "later"])
def test_wrapped_listener_accept(certs, tls_mod, on_connect):
    def scenario(mod):
        sctx = server_context(certs)
        with mod.socket() as plain_listener:
            plain_listener.bind((HOST4, 0))
            plain_listener.listen()
            lsock = sctx.wrap_socket(
                plain_listener, server_side=True, do_handshake_on_connect=on_connect
            )
            with lsock:
                lsock.settimeout(PATIENCE)
                job = _client_thread(certs, lsock.getsockname())
                conn, addr = lsock.accept()
                with conn:
                    info = [type(conn) is type(lsock), conn.server_side, conn.version()]
                    if not on_connect:
                        conn.do_handshake()
                    conn.sendall(conn.recv(10)[::-1])
                    info += [conn.version(), addr[0], conn.gettimeout(), conn.context is sctx]
                    info.append(type(lsock) is tls_type(mod))
                job.join(PATIENCE)
                return info, outcome(lsock.getpeercert)[1], lsock.version()

    got = scenario(tls_mod)
    assert got == scenario(socket)
    info = got[0]
    # accept() on a listener with a timeout gives a blocking socket (no default timeout)
    assert info[0:2] == [True, True] and info[3:] == ["TLSv1.3", HOST4, None, True, True]
    assert info[2] == ("TLSv1.3" if on_connect else None)


def _client_thread(certs, address):
    from conftest import Background

    def client():
        ctx = client_context(certs)
        with socket.create_connection(address, timeout=PATIENCE) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                s.sendall(b"abc")
                assert s.recv(10) == b"cba"

    return Background(client)


def test_attributes_and_context_setter(certs, tls_pair):
    def scenario(smod, cmod):
        sctx, other = server_context(certs), server_context(certs, cert="selfsigned")

        def server(raw):
            with sctx.wrap_socket(raw, server_side=True, do_handshake_on_connect=False) as s:
                attrs = [s.server_side, s.server_hostname, s.context is sctx]
                s.context = other
                attrs.append(s.context is other)
                attrs.append(outcome(setattr, s, "context", "not a context")[1])
                s.do_handshake()
                s.sendall(s.recv(10))
                return attrs

        def client(raw):
            ctx = client_context(certs)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                s.sendall(b"x")
                s.recv(10)
                return s.server_side, s.server_hostname, s.context is ctx, s.getpeercert(True)

        server_result, client_result = run_pair(server, client, smod, cmod)
        der = ssl.PEM_cert_to_DER_cert(Path(certs.selfsigned).read_text())
        return server_result, client_result[1][:3], client_result[1][3] == der

    server_result, client_attrs, served_new_cert = parity(scenario, *tls_pair)
    assert server_result == ok([True, None, True, True, TypeError])
    assert client_attrs == (False, "localhost", True)
    assert served_new_cert


def test_post_handshake_auth(certs, tls_pair):
    def scenario(smod, cmod):
        sctx = server_context(certs, version=TLS13, verify_client=True, post_handshake_auth=True)
        cctx = client_context(certs, cert="client", post_handshake_auth=True)

        def server(raw):
            with sctx.wrap_socket(raw, server_side=True) as s:
                before = s.getpeercert()
                s.recv(10)
                s.verify_client_post_handshake()
                s.sendall(b"certificate please\n")
                s.recv(10)
                return before, s.getpeercert()["subject"]

        def client(raw):
            with cctx.wrap_socket(raw, server_hostname="localhost") as s:
                s.sendall(b"hello")
                got = s.recv(100)
                s.sendall(b"here")
                return got, outcome(s.verify_client_post_handshake)

        return run_pair(server, client, smod, cmod)

    server_result, client_result = parity(scenario, *tls_pair)
    assert server_result == ok((None, ((("commonName", "ferrosock test client"),),)))
    assert client_result[1][0] == b"certificate please\n"
    assert client_result[1][1][1] is ssl.SSLError


def test_keylog_file(certs, tls_mod, tmp_path):
    def scenario(smod, cmod):
        path = tmp_path / f"keys-{smod.__name__}-{cmod.__name__}.log"
        cctx = client_context(certs)
        cctx.keylog_filename = str(path)
        run_pair(echo_upper(server_context(certs)), _handshake_client(cctx), smod, cmod)
        del cctx  # the log is flushed per line; the context holds the file open
        return sorted({line.split()[0] for line in path.read_text().splitlines() if line})

    labels = parity(scenario, socket, tls_mod)
    assert "CLIENT_HANDSHAKE_TRAFFIC_SECRET" in labels and "CLIENT_TRAFFIC_SECRET_0" in labels


# --------------------------------------------------------------------------- Ctrl-C

INTERRUPT_CHILD = r"""
import ssl, sys, threading, socket as std
m = std if sys.argv[1] == "std" else __import__("ferrosock")
if m is not std:
    import ferrosock.ssl
op, certdir = sys.argv[2], sys.argv[3]
a, b = std.socketpair()
sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
sctx.load_cert_chain(certdir + "/server.pem", certdir + "/server.key")
cctx = ssl.create_default_context(cafile=certdir + "/ca.pem")

def peer():
    if op == "handshake":
        b.recv(1000)  # and never answer
    else:
        s = sctx.wrap_socket(b, server_side=True)
        s.sendall(b"x")
    threading.Event().wait()

threading.Thread(target=peer, daemon=True).start()
sock = m.socket(fileno=a.detach())
if sys.argv[4] == "timeout":
    sock.settimeout(30)
if op == "handshake":
    print("READY", flush=True)
    cctx.wrap_socket(sock, server_hostname="localhost")
else:
    s = cctx.wrap_socket(sock, server_hostname="localhost")
    s.recv(1)
    print("READY", flush=True)
    s.recv(1)
print("RESULT", flush=True)
"""


@pytest.mark.parametrize("timeout", ["blocking", "timeout"])
@pytest.mark.parametrize("op", ["handshake", "read"])
def test_ctrl_c_interrupts_blocking_tls_call(certs, tls_mod, op, timeout, tmp_path):
    name = "rust" if is_rust(tls_mod) else "std"
    certdir = str(Path(certs.ca).parent)
    child = Child(INTERRUPT_CHILD, [name, op, certdir, timeout], tmp_path)
    try:
        child.expect("READY")
        wait_proc_sleeping(Path(f"/proc/{child.proc.pid}/task/{child.proc.pid}/stat"))
        child.proc.send_signal(signal.SIGINT)
        try:
            child.proc.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{op}: still blocked 2 s after SIGINT")
        stderr = child.proc.stderr.read().decode()
        assert stderr.rstrip().endswith("KeyboardInterrupt"), stderr
        assert child.proc.returncode == -signal.SIGINT, (child.proc.returncode, stderr)
    finally:
        child.close()


# --------------------------------------------------------------------------- patch

ISSUE_SCRIPT = r"""
import sys
if sys.argv[1] == "before":
    import ssl
import ferrosock
ferrosock.patch()
import socket, ssl
a, b = socket.socketpair()
w = ssl.create_default_context().wrap_socket(a, server_hostname="x", do_handshake_on_connect=False)
t = type(w)
print(t.__module__, t.__qualname__, isinstance(w, ssl.SSLSocket), repr(w).split()[0])
print(isinstance(w, ferrosock.socket), w.server_hostname, w.version())
w.close()
b.close()
"""


@needs_rust
@pytest.mark.parametrize("order", ["after", "before"], ids=["ssl-after-patch", "ssl-before"])
def test_issue_reproduction_in_fresh_process(order, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", ISSUE_SCRIPT, order],
        capture_output=True,
        text=True,
        timeout=PATIENCE * 2,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "ferrosock.ssl SSLSocket True <ssl.SSLSocket",
        "True x None",
    ]


@contextlib.contextmanager
def patched_for(mod):
    """Under ferrosock.patch() for the ferrosock backend; as is for the stdlib."""
    if is_rust(mod):
        with ferrosock.patched():
            yield
    else:
        yield


def test_socketserver_tls(certs, tls_mod):
    def scenario(mod):
        seen = []

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                seen.append(type(self.request) is tls_type(mod))
                for line in self.rfile:
                    self.wfile.write(line.upper())

        with patched_for(mod):
            server = socketserver.ThreadingTCPServer((HOST4, 0), Handler)
            server.daemon_threads = False
            server.block_on_close = True
            server.socket = server_context(certs).wrap_socket(server.socket, server_side=True)
            with server:
                serving = threading.Thread(target=server.serve_forever, args=(0.05,))
                serving.start()
                try:
                    replies = []
                    for i in range(2):
                        with socket.create_connection(server.server_address, PATIENCE) as raw:
                            ctx = client_context(certs)
                            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as c:
                                c.sendall(f"line {i}\nand more\n".encode())
                                with c.makefile("rb") as rf:
                                    replies.append((rf.readline(), rf.readline()))
                                    kind = type(c) is tls_type(mod)
                finally:
                    server.shutdown()
                    serving.join(PATIENCE)
        return replies, seen, kind

    got = scenario(tls_mod)
    assert got == scenario(socket)
    assert got == ([(b"LINE 0\n", b"AND MORE\n"), (b"LINE 1\n", b"AND MORE\n")], [True, True], True)


def test_asyncio_tls(certs, tls_mod):
    """asyncio's own TLS (SSLProtocol over a MemoryBIO) on ferrosock sockets, under patch."""

    async def exchange(mod):
        sctx, cctx = server_context(certs), client_context(certs)

        handled = asyncio.Queue()

        async def echo(reader, writer):
            try:
                writer.write((await reader.readline()).upper())
                await writer.drain()
                writer.close()
                await writer.wait_closed()
            finally:
                handled.put_nowait(None)

        server = await asyncio.start_server(echo, HOST4, 0, ssl=sctx)
        async with server:
            address = server.sockets[0].getsockname()
            results = [type(server.sockets[0]._sock) is mod.socket]
            reader, writer = await asyncio.open_connection(
                *address, ssl=cctx, server_hostname="127.0.0.1"
            )
            writer.write(b"streams\n")
            results.append(await asyncio.wait_for(reader.readline(), PATIENCE))
            results.append(writer.get_extra_info("peercert")["subject"])
            writer.close()
            await writer.wait_closed()

            loop = asyncio.get_running_loop()
            sock = mod.socket()
            try:
                sock.setblocking(False)
                await loop.sock_connect(sock, address)
            except BaseException:
                sock.close()
                raise
            reader = asyncio.StreamReader()
            transport, _ = await loop.create_connection(
                lambda: asyncio.StreamReaderProtocol(reader),
                ssl=cctx,
                sock=sock,
                server_hostname="127.0.0.1",
            )
            try:
                results.append(type(transport.get_extra_info("ssl_object")).__name__)
                results.append(type(transport.get_extra_info("socket")._sock) is type(sock))
                transport.write(b"sock=\n")
                results.append(await asyncio.wait_for(reader.readline(), PATIENCE))
            finally:
                transport.close()
            for _ in range(2):  # both handlers done before the loop goes
                await asyncio.wait_for(handled.get(), PATIENCE)
        return results

    def run(mod):
        with patched_for(mod):
            return asyncio.run(exchange(mod))

    got = run(tls_mod)
    assert got == run(socket)
    assert got == [
        True,
        b"STREAMS\n",
        ((("commonName", "localhost"),),),
        "SSLObject",
        True,
        b"SOCK=\n",
    ]


def test_server_handshake_completes_after_client_left(certs, tls_mod):
    """TLS 1.3: the server writes its session tickets after reading the client's Finished; if
    the client has closed by then, OpenSSL ignores the failed write (EPIPE) and the handshake
    succeeds. Stepped by hand, so the order is certain: the client is an SSLObject."""

    def scenario(mod):
        a, b = socket.socketpair()
        with b, mod.socket(fileno=a.detach()) as raw:
            raw.setblocking(False)
            server = server_context(certs).wrap_socket(
                raw, server_side=True, do_handshake_on_connect=False
            )
            with server:
                incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
                client = client_context(certs).wrap_bio(
                    incoming, outgoing, server_hostname="localhost"
                )
                steps = [outcome(client.do_handshake)[1]]  # ClientHello
                b.sendall(outgoing.read())
                select.select([server], [], [], PATIENCE)
                steps.append(outcome(server.do_handshake)[1])  # its flight, then waits
                incoming.write(b.recv(65536))
                steps.append(outcome(client.do_handshake))  # Finished: the client is done
                b.sendall(outgoing.read())
                b.close()  # and goes away
                steps.append(outcome(server.do_handshake))  # tickets to a closed peer
                steps.append(server.version())
                return steps

    got = scenario(tls_mod)
    assert got == scenario(socket)
    assert got == [ssl.SSLWantReadError, ssl.SSLWantReadError, ok(None), ok(None), "TLSv1.3"]


def test_write_after_peer_closed(certs, tls_pair):
    """The peer closed (AF_UNIX: the write fails with EPIPE): the stdlib reports it as its
    version does (tests/versions.py), and a shorter write after it is OpenSSL's BAD_LENGTH."""

    def scenario(smod, cmod):
        gone = threading.Event()

        def server(raw):
            with server_context(certs).wrap_socket(raw, server_side=True) as s:
                s.sendall(b"hi")
            gone.set()

        def client(raw):
            with client_context(certs).wrap_socket(raw, server_hostname="localhost") as s:
                s.recv(2)
                gone.wait(PATIENCE)
                return outcome(s.sendall, b"x" * 100), outcome(s.send, b"y")

        return run_pair(server, client, smod, cmod)

    _, client_result = parity(scenario, *tls_pair)
    assert client_result[1][0][1] is TLS_WRITE_AFTER_CLOSE, client_result
