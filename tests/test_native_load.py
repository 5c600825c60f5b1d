"""Concurrency: 200 clients at once, 100 requests each, against the echo, time and
Python-handler servers: every reply correct, none lost. And Ctrl-C on serve_forever and on a
blocked native client."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from ferrosock import servers

HOST = "127.0.0.1"
CLIENTS = 200
REQUESTS = 100


def run_clients(work) -> list[BaseException]:
    errors: list[BaseException] = []
    start = threading.Barrier(CLIENTS)

    def client(i: int) -> None:
        try:
            start.wait(timeout=30)
            work(i)
        except BaseException as exc:  # collected, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a client hung"
    return errors


def recv_exactly(s: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed early")
        data += chunk
    return data


@pytest.mark.parametrize("which", ["echo", "handler"])
def test_tcp_servers_answer_every_request_of_200_clients(which):
    if which == "echo":
        srv = servers.EchoServer((HOST, 0), backlog=512)
    else:
        srv = servers.StreamServer((HOST, 0), lambda data, peer: data, backlog=512)

    def work(i: int) -> None:
        with socket.create_connection(srv.address, timeout=20) as s:
            for j in range(REQUESTS):
                message = f"{i:03d}-{j:03d}".encode()
                s.sendall(message)
                assert recv_exactly(s, len(message)) == message

    with srv:
        errors = run_clients(work)
        stats = srv.stats()
    assert not errors, errors[:3]
    assert stats["connections_total"] == CLIENTS
    assert stats["bytes_in"] == stats["bytes_out"] == CLIENTS * REQUESTS * 7


def test_time_server_answers_every_request_of_200_clients():
    def work(i: int) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(2)
            for j in range(REQUESTS):
                fmt = f"{i}/{j} %Y".encode()
                for _attempt in range(5):  # UDP may drop under load: retry, but never accept junk
                    s.sendto(fmt, srv.address)
                    try:
                        reply = s.recv(1024)
                    except socket.timeout:
                        continue
                    while not reply.startswith(f"{i}/{j} ".encode()):
                        reply = s.recv(1024)  # a late reply to an earlier retry
                    assert reply == f"{i}/{j} {time.strftime('%Y')}".encode()
                    break
                else:
                    raise AssertionError(f"no reply for {fmt!r}")

    with servers.TimeServer((HOST, 0)) as srv:
        errors = run_clients(work)
    assert not errors, errors[:3]


def run_and_interrupt(code: str, ready: str) -> subprocess.CompletedProcess:
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == ready
        time.sleep(0.2)  # let it block in the call
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
        elapsed = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert elapsed < 1.0, f"took {elapsed:.2f} s to react to SIGINT"
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_ctrl_c_stops_serve_forever():
    proc = run_and_interrupt(
        """
        from ferrosock import servers
        srv = servers.EchoServer(("127.0.0.1", 0))
        print("ready", flush=True)
        try:
            srv.serve_forever()
        except KeyboardInterrupt:
            print("stopped", srv.running, flush=True)
        """,
        "ready",
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "stopped False"


def test_ctrl_c_interrupts_a_blocked_native_client():
    proc = run_and_interrupt(
        """
        import socket
        from ferrosock import clients
        silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        silent.bind(("127.0.0.1", 0))
        print("ready", flush=True)
        clients.echo(silent.getsockname(), b"x", kind="udp", timeout=None)
        """,
        "ready",
    )
    assert proc.returncode != 0
    assert proc.stderr.rstrip().endswith("KeyboardInterrupt")
