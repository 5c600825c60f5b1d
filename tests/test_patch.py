"""ferrosock._patch and `ferrosock run`: unmodified stdlib code ends up on ferrosock sockets."""

from __future__ import annotations

import asyncio
import http.client
import http.server
import os
import re
import selectors
import signal
import socket
import socketserver
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from conftest import HOST4, PATIENCE, ferrosock, wait_proc_sleeping
from versions import SYNTAX_ERROR_AT_EOF_AS_FILE

pytestmark = pytest.mark.skipif(ferrosock is None, reason="ferrosock is not built yet")

STDLIB = {name: getattr(socket, name) for name in dir(socket)}
CORE = ("socket", "SocketType", "create_connection", "create_server", "socketpair", "fromfd")


def is_ferrosock(sock) -> bool:
    return isinstance(sock, ferrosock.socket) and type(sock).__module__.startswith("ferrosock")


@pytest.fixture
def patched():
    from ferrosock._patch import patch, unpatch

    patch()
    try:
        yield
    finally:
        unpatch()
    assert socket.socket is STDLIB["socket"]


# --------------------------------------------------------------------------- patch/unpatch


def test_patch_replaces_then_unpatch_restores():
    from ferrosock._patch import is_patched, patch, unpatch

    assert not is_patched()
    names = patch()
    try:
        assert set(CORE) <= set(names)
        for name in names:
            assert getattr(socket, name) is getattr(ferrosock, name), name
        for name in ("getdefaulttimeout", "setdefaulttimeout"):  # one default timeout
            assert getattr(socket, name) is getattr(ferrosock, name)
        # constants, exception and enum classes stay the stdlib's own objects
        for name in ("AF_INET", "SOCK_STREAM", "SO_REUSEADDR", "timeout", "gaierror"):
            assert getattr(socket, name) is STDLIB[name]
        assert socket.AddressFamily is STDLIB["AddressFamily"]
        assert patch() == names  # idempotent: the originals kept are still the stdlib's
    finally:
        unpatch()
    assert not is_patched()
    for name, value in STDLIB.items():
        assert getattr(socket, name) is value, name
    unpatch()  # a no-op now


def test_patched_context_manager_nests():
    from ferrosock._patch import is_patched, patched

    with patched():
        assert socket.socket is ferrosock.socket
        with patched():
            assert socket.socket is ferrosock.socket
        assert is_patched()  # the inner block leaves the outer patch alone
    assert socket.socket is STDLIB["socket"] and not is_patched()


def test_stdlib_functions_make_ferrosock_sockets(patched):
    with socket.create_server((HOST4, 0)) as server:
        with socket.create_connection(server.getsockname(), timeout=PATIENCE) as client:
            conn, _ = server.accept()
            with conn:
                assert all(is_ferrosock(s) for s in (server, client, conn))
    a, b = socket.socketpair()
    with a, b:
        assert is_ferrosock(a) and is_ferrosock(b)
        with socket.fromfd(a.fileno(), a.family, a.type) as c:
            assert is_ferrosock(c)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        assert is_ferrosock(s) and isinstance(s, socket.SocketType)


# --------------------------------------------------------------------------- stdlib users


class LineEcho(socketserver.StreamRequestHandler):
    """Echoes lines through makefile() (rfile/wfile) and notes which socket it was given."""

    seen: list = []

    def handle(self) -> None:
        LineEcho.seen.append(self.connection)
        for line in self.rfile:
            self.wfile.write(b"echo: " + line)


def test_socketserver_threading_tcp_with_makefile(patched):
    LineEcho.seen = []
    with socketserver.ThreadingTCPServer((HOST4, 0), LineEcho) as server:
        assert is_ferrosock(server.socket)
        serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        serving.start()
        try:
            for _ in range(2):  # two clients, each in its own thread on the server
                with socket.create_connection(server.server_address, timeout=PATIENCE) as c:
                    with c.makefile("rwb") as stream:
                        stream.write(b"one\ntwo\n")
                        stream.flush()
                        assert stream.readline() == b"echo: one\n"
                        assert stream.readline() == b"echo: two\n"
                    c.shutdown(socket.SHUT_WR)
        finally:
            server.shutdown()
            serving.join(PATIENCE)
    assert len(LineEcho.seen) == 2 and all(is_ferrosock(s) for s in LineEcho.seen)


def test_selectors(patched):
    with socket.create_server((HOST4, 0)) as server:
        server.setblocking(False)
        with selectors.DefaultSelector() as sel, socket.socket() as client:
            sel.register(server, selectors.EVENT_READ, "server")
            assert sel.select(timeout=0) == []
            client.connect(server.getsockname())
            [(key, events)] = sel.select(timeout=PATIENCE)
            assert key.fileobj is server and key.data == "server" and events == selectors.EVENT_READ
            conn, _ = server.accept()
            with conn:
                assert is_ferrosock(conn)
                sel.register(conn, selectors.EVENT_READ | selectors.EVENT_WRITE, "conn")
                ready = {key.data: ev for key, ev in sel.select(timeout=PATIENCE)}
                assert ready == {"conn": selectors.EVENT_WRITE}
                client.sendall(b"x")
                ready = dict((key.data, ev) for key, ev in sel.select(timeout=PATIENCE))
                assert ready["conn"] & selectors.EVENT_READ
                assert sel.get_key(conn).fileobj is conn
                sel.unregister(conn)


def test_asyncio_sock_methods(patched):
    async def exchange() -> list:
        loop = asyncio.get_running_loop()
        with socket.socket() as server, socket.socket() as client:
            server.bind((HOST4, 0))
            server.listen()
            server.setblocking(False)
            client.setblocking(False)
            accepting = asyncio.ensure_future(loop.sock_accept(server))
            await loop.sock_connect(client, server.getsockname())
            conn, _ = await asyncio.wait_for(accepting, PATIENCE)
            with conn:
                await loop.sock_sendall(client, b"ping" * 50_000)
                got = b""
                while len(got) < 200_000:
                    got += await asyncio.wait_for(loop.sock_recv(conn, 65536), PATIENCE)
                await loop.sock_sendall(conn, b"pong")
                reply = await asyncio.wait_for(loop.sock_recv(client, 16), PATIENCE)
                assert got == b"ping" * 50_000 and reply == b"pong"
                return [server, client, conn]

    sockets = asyncio.run(exchange())
    assert all(is_ferrosock(s) for s in sockets)


def test_asyncio_streams(patched):
    """asyncio creates the sockets itself here (start_server, open_connection)."""

    async def exchange() -> list:
        async def echo_line(reader, writer) -> None:
            writer.write(await reader.readline())
            await writer.drain()
            writer.close()
            await writer.wait_closed()

        server = await asyncio.start_server(echo_line, HOST4, 0)
        async with server:
            reader, writer = await asyncio.open_connection(*server.sockets[0].getsockname())
            writer.write("你好\n".encode())
            assert await asyncio.wait_for(reader.readline(), PATIENCE) == "你好\n".encode()
            # TransportSocket wraps the real socket; _sock is where asyncio keeps it
            sockets = [server.sockets[0]._sock, writer.get_extra_info("socket")._sock]
            writer.close()
            await writer.wait_closed()
        return sockets

    assert all(is_ferrosock(s) for s in asyncio.run(exchange()))


class Hello(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = f"hello from {type(self.connection).__module__}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:  # keep the test output quiet
        pass


def test_http_client_against_http_server(patched):
    with http.server.ThreadingHTTPServer((HOST4, 0), Hello) as server:
        assert is_ferrosock(server.socket)
        serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        serving.start()
        try:
            conn = http.client.HTTPConnection(HOST4, server.server_address[1], timeout=PATIENCE)
            try:
                for _ in range(2):  # keep-alive: the second request reuses the socket
                    conn.request("GET", "/")
                    response = conn.getresponse()
                    assert response.status == 200
                    assert response.read().decode().startswith("hello from ferrosock")
                    assert is_ferrosock(conn.sock)
            finally:
                conn.close()
        finally:
            server.shutdown()
            serving.join(PATIENCE)


# --------------------------------------------------------------------------- ferrosock run

SCRIPT = """\
import socket
import sys

server = socket.create_server(("127.0.0.1", 0))
client = socket.create_connection(server.getsockname())
conn, _ = server.accept()
client.sendall(b"ping")
print(conn.recv(4), type(conn).__module__, sys.argv, __name__)
for s in (conn, client, server):
    s.close()
"""


def _run(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=PATIENCE * 2, **kwargs
    )


def test_cli_help_lists_the_commands():
    done = _run("-m", "ferrosock", "--help")
    assert done.returncode == 0
    assert re.search(r"^ +run +", done.stdout, re.M) and re.search(r"^ +demo +", done.stdout, re.M)


def test_run_unmodified_script(tmp_path: Path):
    script = tmp_path / "hello.py"
    script.write_text(SCRIPT)
    plain = _run(str(script), "a", "--b")
    ours = _run("-m", "ferrosock", "run", str(script), "a", "--b")
    assert plain.returncode == ours.returncode == 0, ours.stderr
    expected = f"b'ping' socket [{str(script)!r}, 'a', '--b'] __main__\n"
    assert plain.stdout == expected
    assert ours.stdout == expected.replace(" socket ", " ferrosock ")


@pytest.mark.parametrize(
    "body",
    [
        "import sys\nsys.exit(3)",
        "import sys\nsys.exit('bye')",
        "def f():\n    raise ValueError('boom')\nf()",
        "raise KeyboardInterrupt",
        "x = = 1",
        pytest.param(
            "x = (",
            marks=pytest.mark.skipif(
                not SYNTAX_ERROR_AT_EOF_AS_FILE,
                reason="3.9's parser places an EOF inside brackets on another line for a file "
                "than for the same text compiled, as runpy and ferrosock run compile it",
            ),
        ),
        "import os, sys\nsys.path[0] == os.path.dirname(os.path.abspath(__file__)) or sys.exit(9)",
    ],
    ids=[
        "exit-3",
        "exit-message",
        "exception",
        "keyboard-interrupt",
        "syntax-error",
        "syntax-error-at-eof",
        "path",
    ],
)
def test_run_exits_as_python_does(tmp_path: Path, body: str):
    script = tmp_path / "s.py"
    script.write_text(body + "\n")
    plain = _run(str(script))
    ours = _run("-m", "ferrosock", "run", str(script))
    assert (ours.returncode, ours.stdout, ours.stderr) == (
        plain.returncode,
        plain.stdout,
        plain.stderr,
    )


def test_run_missing_script(tmp_path: Path):
    missing = str(tmp_path / "nope.py")
    plain = _run(missing)
    ours = _run("-m", "ferrosock", "run", missing)
    assert ours.returncode == plain.returncode == 2
    assert ours.stderr.split(": ", 1)[1] == plain.stderr.split(": ", 1)[1]


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # in case the suite runs with SIGINT ignored


def test_run_ctrl_c_while_blocked_in_accept(tmp_path: Path):
    """Ctrl-C while the script blocks in accept(): the same traceback end and exit as python."""
    script = tmp_path / "wait.py"
    script.write_text(
        textwrap.dedent(
            """\
            import socket
            server = socket.create_server(("127.0.0.1", 0))
            print(type(server).__module__, flush=True)
            server.accept()
            """
        )
    )
    results = []
    for command in ([str(script)], ["-m", "ferrosock", "run", str(script)]):
        proc = subprocess.Popen(
            [sys.executable, *command],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=_default_sigint,  # noqa: PLW1509
        )
        try:
            module = proc.stdout.readline().strip()
            wait_proc_sleeping(Path(f"/proc/{proc.pid}/stat"))
            os.kill(proc.pid, signal.SIGINT)
            out, err = proc.communicate(timeout=PATIENCE)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        last = err.strip().splitlines()[-1]
        results.append((module, proc.returncode, last, re.findall(r'File "([^"]+)"', err)))
    (plain_module, *plain), (our_module, *ours) = results
    assert (plain_module, our_module) == ("socket", "ferrosock")
    assert ours[:2] == plain[:2] == [-signal.SIGINT, "KeyboardInterrupt"]
    assert ours[2][0] == plain[2][0] == str(script)  # the traceback starts in the script


def test_every_patched_function_works_when_called_through_the_stdlib_module():
    """A function patch() installs must not reach the stdlib's own name for itself: that name
    is now this function (has_dualstack_ipv6 once recursed until RecursionError)."""
    expected = socket.has_dualstack_ipv6()
    with ferrosock.patched():
        assert socket.has_dualstack_ipv6() is expected
        if expected:
            with socket.create_server(
                ("::", 0), family=socket.AF_INET6, dualstack_ipv6=True
            ) as srv:
                assert type(srv) is ferrosock.socket
                assert srv.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 0
        a, b = socket.socketpair()
        with a, b:
            fd = socket.dup(a.fileno())
            with socket.fromfd(fd, socket.AF_UNIX, socket.SOCK_STREAM) as c:
                os.close(fd)
                c.sendall(b"x")
                assert b.recv(1) == b"x"
        socket.setdefaulttimeout(socket.getdefaulttimeout())
