"""TLS with ferrosock sockets against peers that are not Python's ssl module used directly:
`openssl s_server` and `openssl s_client`, and the stdlib's protocol clients (urllib over
http.server, smtplib STARTTLS, ftplib FTP_TLS). Each runs on stdlib sockets too, and the
results are compared."""

from __future__ import annotations

import contextlib
import ftplib
import hashlib
import http.server
import os
import re
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import tlsutil
from conftest import HOST4, PATIENCE, RUST_MISSING, Background, ferrosock, wait_connectable
from tlsutil import (
    OPENSSL,
    client_context,
    is_rust,
    needs_openssl,
    outcome,
    server_context,
    tls_type,
)

pytestmark = needs_openssl

# the shared fixtures, made visible to pytest here
certs = tlsutil.certs
tls_mod = tlsutil.tls_mod


@contextlib.contextmanager
def patched_for(mod):
    """Under ferrosock.patch() for the ferrosock backend; as is for the stdlib."""
    if is_rust(mod):
        with ferrosock.patched():
            yield
    else:
        yield


def stop(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(PATIENCE)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()


# --------------------------------------------------------------------------- openssl s_server


@contextlib.contextmanager
def s_server(certs, *options: str):
    """`openssl s_server` on 127.0.0.1 at a free port (retrying if another process takes it
    first); yields the port once it accepts connections."""
    for _attempt in range(5):
        with socket.socket() as probe:
            probe.bind((HOST4, 0))
            port = probe.getsockname()[1]
        proc = subprocess.Popen(
            [OPENSSL, "s_server", "-accept", f"{HOST4}:{port}", "-cert", certs.server]
            + ["-key", certs.server_key, *options],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            try:
                wait_connectable((HOST4, port))  # s_server shrugs off a probe that says nothing
            except OSError:
                if proc.poll() is not None:  # the port was taken: try another
                    continue
                raise
            yield port
            return
        finally:
            stop(proc)
    raise RuntimeError("s_server never started")


def test_openssl_s_server_reverses_lines(certs, tls_mod):
    def scenario(mod):
        with s_server(certs, "-rev") as port:
            ctx = client_context(certs)
            with mod.create_connection((HOST4, port), timeout=PATIENCE) as raw:
                with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                    replies = []
                    for line in (b"hello world\n", b"x" * 5000 + b"yz\n"):
                        s.sendall(line)
                        reply = b""
                        while not reply.endswith(b"\n"):
                            chunk = s.recv(65536)
                            assert chunk, "s_server closed"
                            reply += chunk
                        replies.append(reply)
                    wrapped = type(s) is tls_type(mod)
                    return replies, s.version(), s.cipher(), s.getpeercert()["subject"], wrapped

    got = scenario(tls_mod)
    assert got == scenario(socket)
    replies, version, _, subject, wrapped = got
    assert replies == [b"dlrow olleh\n", b"zy" + b"x" * 5000 + b"\n"]
    assert version == "TLSv1.3" and subject == ((("commonName", "localhost"),),) and wrapped


@pytest.mark.parametrize("version", ["-tls1_2", "-tls1_3"])
def test_openssl_s_server_www(certs, tls_mod, version):
    """`-www` answers a GET with an HTML page describing the session."""

    def scenario(mod):
        with s_server(certs, "-www", version) as port:
            ctx = client_context(certs)
            with mod.create_connection((HOST4, port), timeout=PATIENCE) as raw:
                with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
                    with s.makefile("rb") as f:
                        page = f.read()
                    return page.split(b"\r\n", 1)[0], b"Ciphers supported" in page, s.version()

    got = scenario(tls_mod)
    assert got == scenario(socket)
    assert got == (b"HTTP/1.0 200 ok", True, "TLSv1.2" if version == "-tls1_2" else "TLSv1.3")


# --------------------------------------------------------------------------- openssl s_client


def _clean(stderr: bytes) -> list:
    """s_client's diagnostics without the thread ids and source lines that vary."""
    lines = []
    for line in stderr.decode(errors="replace").splitlines():
        lines.append(re.sub(r"^[0-9A-F]+:error:", "error:", line))
    return lines


@pytest.mark.parametrize("close", ["unwrap", "close"])
def test_openssl_s_client(certs, tls_mod, close):
    def scenario(mod):
        sctx = server_context(certs)
        with mod.socket() as lsock:
            lsock.bind((HOST4, 0))
            lsock.listen()
            lsock.settimeout(PATIENCE)

            def serve():
                conn, _ = lsock.accept()
                with conn, sctx.wrap_socket(conn, server_side=True) as s:
                    s.settimeout(PATIENCE)
                    with s.makefile("rb") as f:
                        line = f.readline()
                    s.sendall(b"pong: " + line)
                    info = [line, s.version(), s.cipher()[0], type(s) is tls_type(mod)]
                    if close == "unwrap":  # a close_notify, so s_client sees a clean end
                        info.append(outcome(s.unwrap)[0])
                    return info

            job = Background(serve)
            port = lsock.getsockname()[1]
            proc = subprocess.run(
                [OPENSSL, "s_client", "-connect", f"{HOST4}:{port}", "-CAfile", certs.ca]
                + ["-servername", "localhost", "-verify_return_error", "-quiet"],
                input=b"ping from s_client\n",
                capture_output=True,
                timeout=PATIENCE * 2,
            )
            info = job.join()
        return info, proc.returncode, proc.stdout, _clean(proc.stderr)

    got = scenario(tls_mod)
    assert got == scenario(socket)
    info, _, stdout, stderr = got
    assert info[:2] == [b"ping from s_client\n", "TLSv1.3"] and info[3]
    assert stdout == b"pong: ping from s_client\n"
    assert stderr[:4] == [
        "depth=1 CN = ferrosock test CA",
        "verify return:1",
        "depth=0 CN = localhost",
        "verify return:1",
    ]


# --------------------------------------------------------------------------- urllib, http.server

HTTPS_SCRIPT = """\
import http.server, ssl, sys, threading, urllib.request

certdir = sys.argv[1]
seen = []

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        seen.append((type(self.connection), isinstance(self.connection, ssl.SSLSocket)))
        body = ("hello " + self.path).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
sctx.load_cert_chain(certdir + "/server.pem", certdir + "/server.key")
cctx = ssl.create_default_context(cafile=certdir + "/ca.pem")
with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler) as server:
    server.socket = sctx.wrap_socket(server.socket, server_side=True)
    serving = threading.Thread(target=server.serve_forever, args=(0.05,))
    serving.start()
    try:
        url = "https://localhost:%d/some/path" % server.server_address[1]
        with urllib.request.urlopen(url, context=cctx, timeout=5) as resp:
            sock = resp.fp.raw._sock  # http.client's socket under the response
            version = sock.version()
            print(resp.status, resp.read().decode(), resp.headers["Content-Length"])
            kinds = [type(server.socket), type(sock), *[k for k, _ in seen]]
            print(*[k.__module__ + "." + k.__qualname__ for k in kinds])
            tls = [isinstance(s, ssl.SSLSocket) for s in (server.socket, sock)]
            print(all(tls + [is_tls for _, is_tls in seen]), version)
    finally:
        server.shutdown()
        serving.join()
"""


def test_urllib_https_under_ferrosock_run(certs, tmp_path):
    script = tmp_path / "https_get.py"
    script.write_text(HTTPS_SCRIPT)
    certdir = str(Path(certs.ca).parent)

    def run(*prefix: str) -> list:
        proc = subprocess.run(
            [sys.executable, *prefix, str(script), certdir],
            capture_output=True,
            text=True,
            timeout=PATIENCE * 3,
            cwd=tmp_path,
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stderr == ""
        return proc.stdout.splitlines()

    std = run()
    assert std == ["200 hello /some/path 16", " ".join(["ssl.SSLSocket"] * 3), "True TLSv1.3"]
    if ferrosock is None:
        pytest.skip(RUST_MISSING)
    rust = run("-m", "ferrosock", "run")
    assert rust == [std[0], " ".join(["ferrosock.ssl.SSLSocket"] * 3), std[2]]


class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"hi")

    def log_message(self, *args) -> None:
        pass


URLLIB_CASES = {
    "good": ("server", "localhost"),
    "untrusted-ca": ("other", "localhost"),
    "self-signed": ("selfsigned", "localhost"),
    "expired": ("expired", "localhost"),
    "wrong-host": ("misnamed", "localhost"),
}


@pytest.mark.parametrize("case", list(URLLIB_CASES))
def test_urllib_certificate_errors(certs, tls_mod, case):
    cert, host = URLLIB_CASES[case]

    def scenario(mod):
        with patched_for(mod):
            server = http.server.ThreadingHTTPServer((HOST4, 0), Hello)
            with server:
                server.socket = server_context(certs, cert=cert).wrap_socket(
                    server.socket, server_side=True
                )
                serving = threading.Thread(target=server.serve_forever, args=(0.05,))
                serving.start()
                try:
                    url = f"https://{host}:{server.server_address[1]}/"
                    ctx = client_context(certs)
                    try:
                        with urllib.request.urlopen(url, context=ctx, timeout=PATIENCE) as resp:
                            wrapped = type(resp.fp.raw._sock) is tls_type(mod)
                            return "ok", resp.read(), wrapped
                    except urllib.error.URLError as exc:
                        reason = exc.reason
                        return (
                            type(exc),
                            str(exc),
                            type(reason),
                            reason.args,
                            getattr(reason, "verify_code", None),
                            getattr(reason, "verify_message", None),
                        )
                finally:
                    server.shutdown()
                    serving.join(PATIENCE)

    got = scenario(tls_mod)
    assert got == scenario(socket)
    if case == "good":
        assert got == ("ok", b"hi", True)
    else:
        assert got[0] is urllib.error.URLError and got[2] is ssl.SSLCertVerificationError
        assert got[1].startswith("<urlopen error [SSL: CERTIFICATE_VERIFY_FAILED]"), got[1]


# --------------------------------------------------------------------------- smtplib


def smtp_server(mod, certs, lsock):
    """A tiny SMTP server for one session: EHLO, STARTTLS, MAIL, RCPT, DATA, NOOP, QUIT."""
    sctx = server_context(certs)
    transcript = []
    conn, _ = lsock.accept()
    with contextlib.ExitStack() as stack:
        sock = stack.enter_context(conn)
        sock.settimeout(PATIENCE)
        rfile = sock.makefile("rb")
        sock.sendall(b"220 localhost ESMTP tiny\r\n")
        while True:
            line = rfile.readline()
            if not line:
                break
            tls = isinstance(sock, ssl.SSLSocket)
            command = line.decode().strip()
            transcript.append((tls, command))
            verb = command.split(" ", 1)[0].upper()
            if verb == "EHLO":
                extra = b"250 8BITMIME\r\n" if tls else b"250 STARTTLS\r\n"
                sock.sendall(b"250-localhost\r\n" + extra)
            elif verb == "STARTTLS":
                sock.sendall(b"220 go ahead\r\n")
                rfile.close()
                sock = stack.enter_context(sctx.wrap_socket(sock, server_side=True))
                transcript.append(("wrapped", type(sock) is tls_type(mod)))
                rfile = sock.makefile("rb")
            elif verb in ("MAIL", "RCPT", "NOOP"):
                sock.sendall(b"250 ok\r\n")
            elif verb == "DATA":
                sock.sendall(b"354 end with .\r\n")
                body = []
                while (data := rfile.readline()) not in (b".\r\n", b""):
                    body.append(data)
                transcript.append(("body", hashlib.sha256(b"".join(body)).hexdigest()))
                sock.sendall(b"250 queued\r\n")
            elif verb == "QUIT":
                sock.sendall(b"221 bye\r\n")
                break
            else:
                sock.sendall(b"500 what\r\n")
        rfile.close()
    return transcript


def test_smtplib_starttls(certs, tls_mod):
    message = "Subject: hi\r\n\r\n" + "line of mail\r\n" * 2000

    def scenario(mod):
        with patched_for(mod), mod.socket() as lsock:
            lsock.bind((HOST4, 0))
            lsock.listen()
            lsock.settimeout(PATIENCE)
            job = Background(lambda: smtp_server(mod, certs, lsock))
            try:
                with smtplib.SMTP(HOST4, lsock.getsockname()[1], timeout=PATIENCE) as smtp:
                    replies = [smtp.ehlo(), smtp.has_extn("starttls")]
                    replies.append(smtp.starttls(context=client_context(certs)))
                    replies += [smtp.ehlo(), smtp.has_extn("starttls"), smtp.noop()]
                    replies.append(smtp.sendmail("a@localhost", ["b@localhost"], message))
                    replies.append(type(smtp.sock) is tls_type(mod))
            finally:
                transcript = job.join()
        return replies, transcript

    got = scenario(tls_mod)
    assert got == scenario(socket)
    replies, transcript = got
    assert replies[1:3] == [True, (220, b"go ahead")] and replies[4:] == [
        False,
        (250, b"ok"),
        {},
        True,
    ]
    assert transcript[:3] == [(False, "ehlo " + transcript[0][1][5:]), (False, "STARTTLS"),
                              ("wrapped", True)]  # fmt: skip
    assert transcript[-1] == (True, "QUIT")


# --------------------------------------------------------------------------- ftplib


def ftp_server(mod, certs, lsock, files):
    """A minimal FTP server for one session: AUTH TLS, USER, PBSZ, PROT P, TYPE, PASV, RETR,
    QUIT; the data connections are TLS too and end with a close_notify both ways."""
    sctx = server_context(certs)
    transcript = []
    conn, _ = lsock.accept()
    with contextlib.ExitStack() as stack:
        ctrl = stack.enter_context(conn)
        ctrl.settimeout(PATIENCE)
        rfile = ctrl.makefile("rb")
        passive = None
        ctrl.sendall(b"220 tiny ftp\r\n")
        while True:
            line = rfile.readline()
            if not line:
                break
            command = line.decode().strip()
            transcript.append((isinstance(ctrl, ssl.SSLSocket), command))
            verb, _, arg = command.partition(" ")
            if verb == "AUTH":
                ctrl.sendall(b"234 AUTH TLS ok\r\n")
                rfile.close()
                ctrl = stack.enter_context(sctx.wrap_socket(ctrl, server_side=True))
                rfile = ctrl.makefile("rb")
            elif verb == "USER":
                ctrl.sendall(b"230 logged in\r\n")
            elif verb in ("PBSZ", "PROT", "TYPE"):
                ctrl.sendall(b"200 ok\r\n")
            elif verb == "PASV":
                passive = stack.enter_context(mod.socket())
                passive.bind((HOST4, 0))
                passive.listen()
                passive.settimeout(PATIENCE)
                p = passive.getsockname()[1]
                ctrl.sendall(
                    f"227 Entering Passive Mode (127,0,0,1,{p >> 8},{p & 255})\r\n".encode()
                )
            elif verb == "RETR" and passive is not None:
                ctrl.sendall(b"150 here it comes\r\n")
                data_conn, _ = passive.accept()
                passive.close()
                with data_conn, sctx.wrap_socket(data_conn, server_side=True) as data:
                    data.sendall(files[arg])
                    transcript.append(("data", type(data) is tls_type(mod)))
                    data.unwrap()
                ctrl.sendall(b"226 done\r\n")
            elif verb == "QUIT":
                ctrl.sendall(b"221 bye\r\n")
                break
            else:
                ctrl.sendall(b"502 no\r\n")
        rfile.close()
    return transcript


def test_ftplib_ftp_tls(certs, tls_mod):
    files = {"blob.bin": os.urandom(200_000)}

    def scenario(mod):
        with patched_for(mod), mod.socket() as lsock:
            lsock.bind((HOST4, 0))
            lsock.listen()
            lsock.settimeout(PATIENCE)
            job = Background(lambda: ftp_server(mod, certs, lsock, files))
            try:
                ftp = ftplib.FTP_TLS(context=client_context(certs), timeout=PATIENCE)
                with ftp:
                    replies = [ftp.connect(HOST4, lsock.getsockname()[1]), ftp.login()]
                    replies.append(ftp.prot_p())
                    got = bytearray()
                    replies.append(ftp.retrbinary("RETR blob.bin", got.extend))
                    replies.append(hashlib.sha256(got).hexdigest())
                    replies.append(type(ftp.sock) is tls_type(mod))
                    replies.append(ftp.quit())
            finally:
                transcript = job.join()
        return replies, transcript

    got = scenario(tls_mod)
    assert got == scenario(socket)
    replies, transcript = got
    assert replies == [
        "220 tiny ftp",
        "230 logged in",
        "200 ok",
        "226 done",
        hashlib.sha256(files["blob.bin"]).hexdigest(),
        True,
        "221 bye",
    ]
    assert [c for _, c in transcript] == [
        "AUTH TLS",
        "USER anonymous",
        "PBSZ 0",
        "PROT P",
        "TYPE I",
        "PASV",
        "RETR blob.bin",
        True,
        "QUIT",
    ]
