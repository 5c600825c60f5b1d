"""A peer that is not Python at all: socat, as an echo server (PIPE, never EXEC) and as a
client. Skipped with a reason when socat is not installed (`make system-deps`)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import select
import signal
import socket
import subprocess
import time

import pytest
from conftest import (
    HOST4,
    HOST6,
    PATIENCE,
    SOCAT,
    listener,
    needs_ipv6,
    needs_socat,
    recv_exactly,
    serving,
    wait_connectable,
)

pytestmark = needs_socat


def free_port(family: int = socket.AF_INET, host: str = HOST4) -> int:
    with socket.socket(family) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def socat(*addresses: str, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL):
    # Its own process group: a `fork` listener's children are stopped along with it.
    proc = subprocess.Popen(
        [SOCAT, *addresses],
        stdin=stdin,
        stdout=stdout,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        yield proc
    finally:
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


@contextlib.contextmanager
def socat_stream_echo(kind: str, tmp_path):
    """socat as a forking echo server; ready when a connect succeeds. Yields the address."""
    for _ in range(3):  # a port picked free may be taken before socat binds it
        if kind == "tcp4":
            port = free_port()
            spec, family, addr = (
                f"TCP4-LISTEN:{port},bind={HOST4},fork",
                socket.AF_INET,
                (HOST4, port),
            )
        elif kind == "tcp6":
            port = free_port(socket.AF_INET6, HOST6)
            spec, family, addr = (
                f"TCP6-LISTEN:{port},bind=[{HOST6}],fork",
                socket.AF_INET6,
                (HOST6, port),
            )
        else:
            addr = str(tmp_path / "socat.sock")
            spec, family = f"UNIX-LISTEN:{addr},fork", socket.AF_UNIX
        with socat(spec, "PIPE") as proc:
            try:
                wait_connectable(addr, family)
            except OSError:
                if proc.poll() is not None:
                    continue  # socat gave up (port in use): pick another
                raise
            yield addr, family
            return
    pytest.fail("socat echo server never started")


@pytest.mark.parametrize("kind", ["tcp4", pytest.param("tcp6", marks=needs_ipv6), "unix"])
def test_client_against_socat_echo(mod, kind, tmp_path):
    # Lock-step 4 KiB chunks: socat's PIPE echo is one process writing into a pipe that only
    # it reads, so a burst bigger than the pipe deadlocks socat itself.
    payload = os.urandom(1 << 20)
    with socat_stream_echo(kind, tmp_path) as (addr, family), mod.socket(family) as c:
        c.settimeout(PATIENCE)
        c.connect(addr)
        got = bytearray()
        for start in range(0, len(payload), 4096):
            chunk = payload[start : start + 4096]
            c.sendall(chunk)
            got += recv_exactly(c, len(chunk))
        assert hashlib.sha256(got).digest() == hashlib.sha256(payload).digest()
        c.shutdown(socket.SHUT_WR)


def test_udp_against_socat_echo(mod):
    for _ in range(3):
        port = free_port(socket.AF_INET)
        with (
            socat(f"UDP4-RECVFROM:{port},bind={HOST4},fork", "PIPE") as proc,
            mod.socket(socket.AF_INET, socket.SOCK_DGRAM) as s,
        ):
            s.bind((HOST4, 0))
            s.settimeout(0.05)
            deadline = time.monotonic() + PATIENCE
            while time.monotonic() < deadline and proc.poll() is None:
                s.sendto(b"probe", (HOST4, port))  # ready when an echo comes back
                try:
                    if s.recvfrom(100) == (b"probe", (HOST4, port)):
                        break
                except socket.timeout:
                    continue
            else:
                continue
            s.settimeout(PATIENCE)
            for msg in (b"hello", b"x" * 1000, b"%Y-%m-%d %X"):
                s.sendto(msg, (HOST4, port))
                data, addr = s.recvfrom(2048)
                assert (data, addr) == (msg, (HOST4, port))
            return
    pytest.fail("socat UDP peer never answered")


def read_until(proc, expected: bytes) -> bytes:
    got = b""
    deadline = time.monotonic() + PATIENCE
    fd = proc.stdout.fileno()
    while len(got) < len(expected) and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], deadline - time.monotonic())
        if not ready:
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        got += chunk
    return got


@pytest.mark.parametrize("kind", ["tcp4", pytest.param("tcp6", marks=needs_ipv6), "unix"])
def test_socat_client_against_server(mod, kind, tmp_path):
    if kind == "tcp4":
        srv = listener(mod, socket.AF_INET, (HOST4, 0))
        target = f"TCP4:{HOST4}:{srv.getsockname()[1]}"
    elif kind == "tcp6":
        srv = listener(mod, socket.AF_INET6, (HOST6, 0))
        target = f"TCP6:[{HOST6}]:{srv.getsockname()[1]}"
    else:
        path = str(tmp_path / "srv.sock")
        srv = listener(mod, socket.AF_UNIX, path)
        target = f"UNIX-CONNECT:{path}"

    def shout_back(conn, addr):
        received = b""
        while chunk := conn.recv(1024):
            received += chunk
        conn.sendall(received.upper())
        return received

    message = "你好, socat!\n".encode()
    with (
        serving(srv, shout_back) as job,
        socat(
            "-t", str(PATIENCE), "-", target, stdin=subprocess.PIPE, stdout=subprocess.PIPE
        ) as proc,
    ):
        out, err = proc.communicate(message, timeout=PATIENCE * 2)
        assert proc.returncode == 0, err
        assert out == message.upper()
    assert job.result == message


def test_socat_udp_client_against_server(mod):
    with mod.socket(socket.AF_INET, socket.SOCK_DGRAM) as srv:
        srv.bind((HOST4, 0))
        srv.settimeout(PATIENCE)
        port = srv.getsockname()[1]
        with socat(
            "-", f"UDP4:{HOST4}:{port}", stdin=subprocess.PIPE, stdout=subprocess.PIPE
        ) as proc:
            proc.stdin.write(b"hello")
            proc.stdin.flush()
            data, addr = srv.recvfrom(1024)
            assert data == b"hello" and addr[0] == HOST4
            srv.sendto(b"hi", addr)
            assert read_until(proc, b"hi") == b"hi"


@pytest.mark.parametrize("kind", ["tcp4"])
def test_socat_sees_orderly_close(mod, kind):
    """socat reads until EOF: our close() must send FIN, and sendall must deliver all."""
    with listener(mod, socket.AF_INET, (HOST4, 0)) as srv:
        port = srv.getsockname()[1]
        body = os.urandom(256 << 10)
        with socat("-u", f"TCP4:{HOST4}:{port}", "-", stdout=subprocess.PIPE) as proc:
            conn, _ = srv.accept()
            with conn:
                conn.sendall(body)
            out, err = proc.communicate(timeout=PATIENCE * 2)
            assert proc.returncode == 0, err
            assert out == body
