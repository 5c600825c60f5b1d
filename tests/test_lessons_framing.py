"""The lesson programs after sticky packets (sticky/framed, file upload, client check), each
run as a real process, server and client on different backends in both directions."""

from __future__ import annotations

import hashlib
import json
import os
import re
import selectors
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import HOST4, PATIENCE, ferrosock

needs_rust = pytest.mark.skipif(ferrosock is None, reason="ferrosock is not built")
# (server backend, client backend): every program on both backends, the stdlib pair as reference
DIRECTIONS = [
    pytest.param(("std", "std"), id="std-srv-std-cli"),
    pytest.param(("std", "rust"), id="std-srv-rust-cli", marks=needs_rust),
    pytest.param(("rust", "std"), id="rust-srv-std-cli", marks=needs_rust),
    pytest.param(("rust", "rust"), id="rust-srv-rust-cli", marks=needs_rust),
]
PROGRAMS = {
    "sticky_server": 8899,
    "sticky_client": 8899,
    "framed_server": 8899,
    "framed_client": 8899,
    "file_server": 8900,
    "file_client": 8900,
    "auth_server": 8901,
    "auth_client": 8901,
}


def _command(program: str, backend: str, *args: str) -> list[str]:
    return [sys.executable, "-m", f"ferrosock.lessons.{program}", "--backend", backend, *args]


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONUNBUFFERED="1", PYTHONIOENCODING="utf-8")


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Server:
    """A lesson server on a port the kernel picks (--port 0), ready once it says so."""

    def __init__(self, program: str, backend: str, *args: str, cwd: Path | None = None):
        self.program = program
        ignored = signal.getsignal(signal.SIGINT) == signal.SIG_IGN  # inherited from a shell
        self.proc = subprocess.Popen(
            _command(program, backend, "--host", HOST4, "--port", "0", *args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            env=_env(),
            preexec_fn=_default_sigint if ignored else None,  # noqa: PLW1509
        )
        self.out = ""
        self.port = self._wait_listening()

    def _wait_listening(self) -> int:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        raw = b""
        deadline = time.monotonic() + PATIENCE
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while (found := re.search(rb"listening on [\d.]+:(\d+)", raw)) is None:
                left = deadline - time.monotonic()
                if left <= 0 or not selector.select(left):
                    raise TimeoutError(f"{self.program} never said it was listening")
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise AssertionError(f"{self.program} exited: {self.finish()}")
                raw += chunk
        self.out = raw.decode()
        return int(found.group(1))

    def client(self, program: str, backend: str, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            _command(program, backend, "--host", HOST4, "--port", str(self.port), *args),
            capture_output=True,
            text=True,
            timeout=PATIENCE * 2,
            env=_env(),
        )

    def wait_for(self, text: str) -> None:
        """Read the server's output until `text` has appeared (bounded)."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        raw = self.out.encode()
        deadline = time.monotonic() + PATIENCE
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while text.encode() not in raw:
                left = deadline - time.monotonic()
                if left <= 0 or not selector.select(left):
                    raise TimeoutError(f"{self.program} never said {text!r}: {raw!r}")
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise AssertionError(f"{self.program} exited before saying {text!r}")
                raw += chunk
        self.out = raw.decode()

    def finish(self, interrupt: bool = False) -> tuple[int, str, str]:
        """(exit status, stdout, stderr), after Ctrl-C if `interrupt`."""
        if interrupt:
            self.proc.send_signal(signal.SIGINT)
        try:
            out, err = self.proc.communicate(timeout=PATIENCE)
        finally:
            self.kill()
        return self.proc.returncode, self.out + out.decode(), err.decode()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate()


@pytest.fixture
def serve():
    """serve(program, backend, *args) -> Server; every server is killed at the end."""
    started: list[Server] = []

    def start(program: str, backend: str, *args: str, cwd: Path | None = None) -> Server:
        started.append(Server(program, backend, *args, cwd=cwd))
        return started[-1]

    yield start
    for server in started:
        server.kill()


# --------------------------------------------------------------------------- the programs


@pytest.mark.parametrize("program", PROGRAMS)
def test_help(program):
    done = subprocess.run(
        [sys.executable, "-m", f"ferrosock.lessons.{program}", "--help"],
        capture_output=True,
        text=True,
        timeout=PATIENCE * 2,
    )
    assert done.returncode == 0, done.stderr
    assert f"python -m ferrosock.lessons.{program}" in done.stdout
    assert "--backend {std,rust}" in done.stdout
    assert f"default: {PROGRAMS[program]}" in done.stdout


def test_every_program_is_in_the_table():
    from ferrosock import lessons

    for program, port in PROGRAMS.items():
        assert re.search(rf"^{program}\s+{port}\s", lessons.__doc__, re.MULTILINE), program


# --------------------------------------------------------------------------- sticky packets

RECV_LINE = re.compile(r"^recv #(\d+): (\d+) bytes (b'[^']*')", re.MULTILINE)


@pytest.mark.parametrize("backends", DIRECTIONS)
def test_sticky_sends_glue_and_split(serve, backends):
    server_backend, client_backend = backends
    server = serve("sticky_server", server_backend)
    client = server.client("sticky_client", client_backend)
    status, out, err = server.finish()
    assert (client.returncode, client.stderr) == (0, "")
    assert client.stdout.count("sent b'hello'\n") == 5
    assert (status, err) == (0, ""), out
    recvs = RECV_LINE.findall(out)
    # the five sends arrive glued: the first recv holds more than one b'hello', and says so
    assert recvs[0][2].count("hello") > 1 and "sends glued together" in out, out
    # the 200 KB send arrives cut into many recvs, told in runs: it all fits on one screen
    total, calls = map(int, re.search(r"(\d+) bytes in (\d+) recv calls", out).groups())
    assert total == 5 * 5 + 200 * 1024 and calls >= 200
    assert len(out.splitlines()) <= 24, out
    runs = re.findall(r"^recv #(\d+)(?: to #(\d+))?: (\d+) bytes", out, re.MULTILINE)
    covered = sum(int(last or first) - int(first) + 1 for first, last, _ in runs)
    assert covered == calls and all(int(size) <= 1024 for *_, size in runs), out


@pytest.mark.parametrize("backends", DIRECTIONS)
def test_framed_messages_arrive_exactly_as_sent(serve, backends):
    server_backend, client_backend = backends
    server = serve("framed_server", server_backend)
    client = server.client("framed_client", client_backend)
    status, out, err = server.finish()
    assert (client.returncode, client.stderr) == (0, "")
    assert (status, err) == (0, ""), out
    messages = re.findall(r"^message #(\d+): (\d+) bytes (.*)$", out, re.MULTILINE)
    assert [(n, size) for n, size, _ in messages] == [
        ("1", "5"),
        ("2", "5"),
        ("3", "5"),
        ("4", "5"),
        ("5", "5"),
        ("6", str(200 * 1024)),
    ]
    assert all(shown == "b'hello'" for _, _, shown in messages[:5])
    assert messages[5][2].startswith("b'0123456789abcdef")
    assert "6 messages, each exactly as sent" in out


def test_nothing_received_is_executed():
    """The sticky lesson's original is a remote shell; ours only prints what arrives."""
    from ferrosock import lessons

    for program in ("sticky_server", "framed_server", "file_server", "auth_server"):
        source = (Path(lessons.__file__).parent / f"{program}.py").read_text(encoding="utf-8")
        for call in ("subprocess", "os.system", "eval(", "exec(", "popen"):
            assert call not in source, (program, call)


# --------------------------------------------------------------------------- file upload


@pytest.mark.parametrize("backends", DIRECTIONS)
def test_file_upload(serve, tmp_path, backends):
    server_backend, client_backend = backends
    original = tmp_path / "photo.bin"
    original.write_bytes(os.urandom(3 * 1024 * 1024 + 5))
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    server = serve("file_server", server_backend, "--directory", str(tmp_path / "inbox"))

    uploads = [server.client("file_client", client_backend, str(p)) for p in (original, empty)]
    status, out, err = server.finish(interrupt=True)

    for upload, path in zip(uploads, (original, empty)):
        assert upload.returncode == 0, upload.stderr
        assert f"uploaded {path.name}: {path.stat().st_size} bytes" in upload.stdout
        assert "100%" in upload.stderr  # the progress bar
        saved = tmp_path / "inbox" / path.name
        assert (
            hashlib.sha256(saved.read_bytes()).digest()
            == hashlib.sha256(path.read_bytes()).digest()
        )
    assert sorted(os.listdir(tmp_path / "inbox")) == ["empty.txt", "photo.bin"]
    assert status == 0, err
    assert out.count("SHA-256 checked") == 2
    assert "\r" in err and "100%" in err  # the server's bar, redrawn in place
    assert out.endswith("server stopped\n")


def test_file_server_makes_received_in_the_current_directory(serve, tmp_path):
    original = tmp_path / "note.txt"
    original.write_text("hi", encoding="utf-8")
    workdir = tmp_path / "work"
    workdir.mkdir()
    server = serve("file_server", "std", cwd=workdir)
    upload = server.client("file_client", "std", str(original))
    status, _, err = server.finish(interrupt=True)
    assert upload.returncode == 0, upload.stderr
    assert (workdir / "received" / "note.txt").read_text(encoding="utf-8") == "hi"
    assert status == 0, err


@pytest.mark.parametrize("backends", DIRECTIONS)
def test_oversize_upload_is_refused_and_the_server_goes_on(serve, tmp_path, backends):
    server_backend, client_backend = backends
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * 5000)
    small = tmp_path / "small.bin"
    small.write_bytes(b"y" * 1000)
    inbox = tmp_path / "inbox"
    server = serve("file_server", server_backend, "--directory", str(inbox), "--max-size", "1000")

    refused = server.client("file_client", client_backend, str(big))
    accepted = server.client("file_client", client_backend, str(small))
    status, out, err = server.finish(interrupt=True)

    assert refused.returncode == 1
    assert "refused big.bin: the file is 5000 bytes, over the limit of 1000 bytes" in (
        refused.stderr
    )
    assert "sending [" not in refused.stderr  # refused before the body: no progress bar
    assert accepted.returncode == 0, accepted.stderr
    assert os.listdir(inbox) == ["small.bin"]
    assert "refused the upload" in out and status == 0, err


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    """n bytes, looping: MSG_WAITALL does not wait on a socket with a timeout."""
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        assert chunk, f"connection closed after {len(data)} of {n} bytes"
        data += chunk
    return data


def send_upload_by_hand(port: int, header: dict, body: bytes) -> dict:
    """A stdlib client that frames its own upload; returns the server's JSON answer."""
    raw = json.dumps(header).encode()
    with socket.create_connection((HOST4, port), timeout=PATIENCE) as sock:
        sock.sendall(struct.pack("!I", len(raw)) + raw + body)
        (length,) = struct.unpack("!I", _recv_exactly(sock, 4))
        return json.loads(_recv_exactly(sock, length))


@pytest.mark.parametrize("backend", [pytest.param("std"), pytest.param("rust", marks=needs_rust)])
def test_file_server_refuses_bad_uploads(serve, tmp_path, backend):
    inbox = tmp_path / "inbox"
    server = serve("file_server", backend, "--directory", str(inbox))
    good = hashlib.sha256(b"abc").hexdigest()
    answers = [
        send_upload_by_hand(server.port, {"name": "f", "size": 3, "sha256": good}, b"abd"),
        send_upload_by_hand(server.port, {"name": "../f", "size": 3, "sha256": good}, b"abc"),
        send_upload_by_hand(server.port, {"name": "/etc/passwd", "size": 3, "sha256": good}, b""),
        send_upload_by_hand(server.port, {"name": "ok.txt", "size": 3, "sha256": good}, b"abc"),
    ]
    status, out, err = server.finish(interrupt=True)
    assert [a["ok"] for a in answers] == [False, False, False, True]
    assert "does not match" in answers[0]["error"]
    assert "refusing file name '../f'" in answers[1]["error"]
    assert "refusing file name '/etc/passwd'" in answers[2]["error"]
    assert answers[3] == {"ok": True, "name": "ok.txt", "saved": 3, "size": 0}
    assert os.listdir(inbox) == ["ok.txt"]
    assert not (tmp_path / "f").exists()
    assert out.count("refused the upload") == 3 and status == 0, err


@pytest.mark.parametrize("backends", DIRECTIONS)
def test_the_same_name_twice_is_refused_unless_the_server_overwrites(serve, tmp_path, backends):
    server_backend, client_backend = backends
    note = tmp_path / "note.txt"
    note.write_text("first", encoding="utf-8")
    inbox = tmp_path / "inbox"
    server = serve("file_server", server_backend, "--directory", str(inbox))
    assert server.client("file_client", client_backend, str(note)).returncode == 0
    note.write_text("second", encoding="utf-8")
    again = server.client("file_client", client_backend, str(note))
    status, out, err = server.finish(interrupt=True)
    assert again.returncode == 1
    assert "the server refused note.txt: note.txt is already there" in again.stderr
    assert "sending [" not in again.stderr
    assert (inbox / "note.txt").read_text(encoding="utf-8") == "first"
    assert status == 0, err

    overwriting = serve("file_server", server_backend, "--directory", str(inbox), "--overwrite")
    assert overwriting.client("file_client", client_backend, str(note)).returncode == 0
    overwriting.finish(interrupt=True)
    assert (inbox / "note.txt").read_text(encoding="utf-8") == "second"
    with open(tmp_path / "by-open", "w"):
        pass  # the mode open() gives under this umask
    assert (inbox / "note.txt").stat().st_mode & 0o777 == (
        tmp_path / "by-open"
    ).stat().st_mode & 0o777


def test_file_client_given_a_directory(tmp_path):
    done = subprocess.run(
        _command("file_client", "std", "--port", "9", "."),
        capture_output=True,
        text=True,
        timeout=PATIENCE * 2,
        cwd=tmp_path,
    )
    assert done.returncode == 1
    assert done.stderr == "not a file: . is a directory (upload one file)\n"


@pytest.mark.parametrize("backend", [pytest.param("std"), pytest.param("rust", marks=needs_rust)])
def test_a_client_gone_half_way_is_lost_not_refused_and_counted_in_the_file(
    serve, tmp_path, backend
):
    inbox = tmp_path / "inbox"
    server = serve("file_server", backend, "--directory", str(inbox))
    size = 3 * 1024 * 1024
    raw = json.dumps({"name": "big.bin", "size": size, "sha256": "0" * 64, "ask": True}).encode()
    with socket.create_connection((HOST4, server.port), timeout=PATIENCE) as sock:
        sock.sendall(struct.pack("!I", len(raw)) + raw)
        (length,) = struct.unpack("!I", _recv_exactly(sock, 4))
        assert json.loads(_recv_exactly(sock, length))["go"] is True
        sock.sendall(b"x" * (size // 2 + 5))  # then the client is gone (Ctrl-C, a crash)
    server.wait_for("lost the upload")
    status, out, err = server.finish(interrupt=True)
    assert "lost the upload from 127.0.0.1:" in out, out
    assert "the connection closed after 1.5 MiB of 3.0 MiB" in out
    assert "refused" not in out and status == 0, err
    assert os.listdir(inbox) == []


def test_ctrl_c_in_the_client_during_an_upload_is_one_line(tmp_path):
    """A server that says go and then reads nothing: the client blocks in sendall, as with a
    slow link; Ctrl-C there ends it with one line, not a traceback."""
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * (64 * 1024 * 1024))
    with socket.create_server((HOST4, 0)) as listener:
        client = subprocess.Popen(
            _command("file_client", "std", "--port", str(listener.getsockname()[1]), str(big)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_env(),
            preexec_fn=_default_sigint,  # noqa: PLW1509
        )
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(PATIENCE)
            (length,) = struct.unpack("!I", _recv_exactly(conn, 4))
            _recv_exactly(conn, length)
            go = json.dumps({"ok": True, "go": True, "size": 0}).encode()
            conn.sendall(struct.pack("!I", len(go)) + go)
            assert conn.recv(65536, socket.MSG_WAITALL)  # the body has started
            wait_blocked(client.pid)
            client.send_signal(signal.SIGINT)
            out, err = client.communicate(timeout=PATIENCE)
    assert client.returncode == 130
    assert "Traceback" not in err.decode(), err
    assert err.decode().splitlines()[-1] == (
        "upload interrupted (Ctrl-C): the server keeps nothing of it"
    )


def wait_blocked(pid: int) -> None:
    """Until the process sleeps in the kernel (blocked in sendall), bounded."""
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        with open(f"/proc/{pid}/stat") as stat:
            if stat.read().rsplit(")", 1)[1].split()[0] == "S":
                return
        time.sleep(0.01)
    raise AssertionError("the client never blocked")


def test_file_client_without_the_file(tmp_path):
    done = subprocess.run(
        _command("file_client", "std", "--port", "9", str(tmp_path / "missing")),
        capture_output=True,
        text=True,
        timeout=PATIENCE * 2,
    )
    assert done.returncode == 1 and "no such file" in done.stderr


# --------------------------------------------------------------------------- client check


@pytest.mark.parametrize("backends", DIRECTIONS)
def test_auth_right_and_wrong_keys(serve, backends):
    server_backend, client_backend = backends
    server = serve("auth_server", server_backend, "--key", "s3cret")
    message = "你好，服务器"
    right = server.client("auth_client", client_backend, "--key", "s3cret", "--message", message)
    wrong = server.client("auth_client", client_backend, "--key", "guess")
    default = server.client("auth_client", client_backend)  # the lesson key, not the server's
    status, out, err = server.finish(interrupt=True)

    assert right.returncode == 0, right.stderr
    assert right.stdout == f"the server accepted our answer\n'{message}'\n"  # text, not \xe4...
    for refused in (wrong, default):
        assert refused.returncode == 1
        assert refused.stdout == ""
        assert "refused: the server refused our answer: wrong key?" in refused.stderr
    assert out.count(f"is authenticated; echoing '{message}'") == 1
    assert out.count("it does not know the key") == 2
    assert (status, err) == (0, "")
    assert out.endswith("server stopped\n")


def test_readable_shows_utf8_beyond_ascii_as_text():
    from ferrosock.lessons._readable import readable

    assert readable(b"hello") == "b'hello'"  # as the lesson prints bytes
    assert readable("你好".encode()) == "'你好'"
    assert readable("你好".encode()[:4]) == repr("你好".encode()[:4])  # half a character


def test_auth_default_key_on_both_sides(serve):
    server = serve("auth_server", "std")
    done = server.client("auth_client", "std")
    status, _, err = server.finish(interrupt=True)
    assert done.returncode == 0 and done.stdout.endswith("b'hello'\n"), done.stderr
    assert status == 0, err
