"""``python -m ferrosock demo``: every lesson program, on the stdlib and on ferrosock, compared.

Each pair of lesson programs (server and client) runs four ways, server backend / client
backend = std/std, std/rust, rust/std and rust/rust, as real processes on 127.0.0.1: the demo
types their keyboard input, waits for each server's "listening on" line before starting its
client, and stops the looping servers with Ctrl-C (SIGINT). A run passes when what the two
programs printed, and how they exited, is identical to the std/std run, apart from port
numbers and the digits of the clock.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, TextIO

HOST = "127.0.0.1"
PATIENCE = 10.0  # seconds any one step may take on loopback before the demo gives up
COMBINATIONS = (("std", "std"), ("std", "rust"), ("rust", "std"), ("rust", "rust"))
BACKEND_MODULES = {"std": "socket", "rust": "ferrosock"}

HEADER = """\
ferrosock demo: the lesson's programs on the stdlib socket module (std) and on ferrosock (rust)

Every pair runs four ways (server backend/client backend): std/std, std/rust, rust/std,
rust/rust, as separate processes on {host}. The demo types their input and stops the looping
servers with Ctrl-C. A run passes when both programs print exactly what they print in the
std/std run (port numbers and clock digits aside) and exit the same way.
"""


# --------------------------------------------------------------------------- transcripts

_PORT = re.compile(r"(127\.0\.0\.1'?(?::|, ))\d+")
_CLOCK = re.compile(r"\d{2,4}(?:[-: ]\d{2})+")  # 2026-11-25 06:41:04, 2026 11 25, 06:41


def without_ports(text: str) -> str:
    """Port numbers after 127.0.0.1 (in "127.0.0.1:8898" and "('127.0.0.1', 8898)") -> PORT."""
    return _PORT.sub(r"\1PORT", text)


def without_clock(text: str) -> str:
    """Ports aside, and the digits of times and dates -> #."""
    return _CLOCK.sub(lambda m: re.sub(r"\d", "#", m.group()), without_ports(text))


@dataclass
class Transcript:
    """What the programs of one run printed, section by section, and what went wrong."""

    sections: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def add(self, title: str, output: str, exit_status: int | None) -> None:
        status = "killed: too slow" if exit_status is None else f"exit status {exit_status}"
        body = output if not output or output.endswith("\n") else output + "\n"
        self.sections.append(f"--- {title}\n{body}[{status}]\n")

    def expect(self, ok: bool, problem: str) -> None:
        if not ok:
            self.problems.append(problem)

    def text(self) -> str:
        return "".join(self.sections)


# --------------------------------------------------------------------------- processes


def _lesson_command(program: str, backend: str, port: int, args: tuple[str, ...] = ()) -> list[str]:
    module = f"ferrosock.lessons.{program}"
    options = ["--backend", backend, "--host", HOST, "--port", str(port)]
    return [sys.executable, "-m", module, *options, *args]


def _child_env() -> dict[str, str]:
    # unbuffered, so a server's "listening on" line reaches the demo at once
    return dict(os.environ, PYTHONUNBUFFERED="1", PYTHONIOENCODING="utf-8")


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _sigint_restorer() -> Callable[[], None] | None:
    # A child inherits an ignored SIGINT (the demo started in the background by a shell), and
    # Python then never turns Ctrl-C into KeyboardInterrupt; put the default back for it.
    return _default_sigint if signal.getsignal(signal.SIGINT) == signal.SIG_IGN else None


def _output(*chunks: bytes) -> str:
    return b"".join(chunks).decode("utf-8", "replace")


class LessonServer:
    """A lesson server in a subprocess, with its operator's replies typed in advance."""

    def __init__(
        self,
        program: str,
        backend: str,
        port: int,
        typed: str = "",
        args: tuple[str, ...] = (),
        cwd: str | None = None,
    ):
        self.program = program
        self.proc = subprocess.Popen(
            _lesson_command(program, backend, port, args),
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_child_env(),
            preexec_fn=_sigint_restorer(),  # noqa: PLW1509 - only resets one signal
        )
        if typed:  # the pipe stays open: the server waits for more rather than seeing EOF
            assert self.proc.stdin is not None
            self.proc.stdin.write(typed.encode("utf-8"))
            self.proc.stdin.flush()
        self._stdout = b""

    def wait_listening(self) -> bool:
        """Wait for the "listening on" line: True, or False if the server exited first."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + PATIENCE
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while b"listening on" not in self._stdout:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{self.program} never said it was listening")
                if selector.select(left):
                    chunk = os.read(fd, 65536)
                    if not chunk:
                        return False
                    self._stdout += chunk
        return True

    def end_input(self) -> None:
        """Close the server's keyboard: its next input() meets end of input."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.stdin = None  # so that communicate() leaves it alone

    def finish(
        self,
        transcript: Transcript,
        title: str,
        *,
        interrupt: bool = False,
        expect_status: int | None = 0,
    ) -> None:
        """Let the server end (after Ctrl-C if `interrupt`) and add its output."""
        if interrupt:
            self.proc.send_signal(signal.SIGINT)
        try:
            out, err = self.proc.communicate(timeout=PATIENCE)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
            how = "on Ctrl-C (SIGINT)" if interrupt else "by itself"
            transcript.problems.append(f"{self.program} did not stop {how}; killed")
        status = self.proc.returncode
        transcript.add(title, _output(self._stdout, out, err), status)
        if expect_status is not None:
            transcript.expect(
                status == expect_status, f"{self.program} exit status {status}, not {expect_status}"
            )

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate()


@contextlib.contextmanager
def lesson_server(
    program: str,
    backend: str,
    port: int,
    typed: str = "",
    args: tuple[str, ...] = (),
    cwd: str | None = None,
) -> Iterator[LessonServer]:
    server = LessonServer(program, backend, port, typed, args, cwd)
    try:
        yield server
    finally:
        server.kill()  # a no-op once finish() ran


def run_client(
    transcript: Transcript,
    title: str,
    program: str,
    backend: str,
    port: int,
    typed: str = "",
    args: tuple[str, ...] = (),
    cwd: str | None = None,
    expect_status: int = 0,
) -> None:
    """Run a lesson client to the end with `typed` as its keyboard, and add its output."""
    try:
        done = subprocess.run(
            _lesson_command(program, backend, port, args),
            cwd=cwd,
            input=typed.encode("utf-8"),
            capture_output=True,
            timeout=PATIENCE,
            env=_child_env(),
        )
    except subprocess.TimeoutExpired as exc:
        output = _output(exc.stdout or b"", exc.stderr or b"")
        transcript.add(title, output, None)
        transcript.problems.append(f"{program} did not finish; killed")
        return
    transcript.add(title, _output(done.stdout, done.stderr), done.returncode)
    transcript.expect(
        done.returncode == expect_status,
        f"{program} exit status {done.returncode}, not {expect_status}",
    )


# --------------------------------------------------------------------------- the pairs


def typing(text: str, then_eof: bool = True) -> str:
    """How a title says what the demo types: "a", "", "b", then end of input."""
    lines = ", ".join(f'"{line}"' for line in text.splitlines())
    return lines + ", then end of input" if then_eof else lines


@dataclass
class Run:
    """One pair, one combination of backends, on its own ports."""

    server_backend: str
    client_backend: str
    ports: list[int]
    transcript: Transcript = field(default_factory=Transcript)

    def client(
        self,
        program: str,
        port: int,
        typed: str = "",
        title: str = "",
        args: tuple[str, ...] = (),
        cwd: str | None = None,
        expect_status: int = 0,
    ) -> Transcript:
        """Run a lesson client; returns its own transcript, added once the server's is in."""
        client = Transcript()
        title = title or f"client: {program}" + (f", typing {typing(typed)}" if typed else "")
        run_client(
            client, title, program, self.client_backend, port, typed, args, cwd, expect_status
        )
        return client

    def then(self, later: Transcript) -> None:
        self.transcript.sections += later.sections
        self.transcript.problems += later.problems


def one_shot(server_program: str, client_program: str) -> Callable[[Run], None]:
    """A pair whose server serves one client and exits."""

    def pair(run: Run) -> None:
        (port,) = run.ports
        with lesson_server(server_program, run.server_backend, port) as server:
            run.transcript.expect(server.wait_listening(), f"{server_program} did not start")
            client = run.client(client_program, port)
            server.finish(run.transcript, f"server: {server_program}")
        run.then(client)

    return pair


def looping(server_program: str, client_program: str, replies: str, typed: str):
    """A pair whose server loops until Ctrl-C; `replies` is what its operator types."""

    def pair(run: Run) -> None:
        (port,) = run.ports
        title = f"server: {server_program}"
        if replies:
            title += f", typing {typing(replies, then_eof=False)}"
        with lesson_server(server_program, run.server_backend, port, replies) as server:
            run.transcript.expect(server.wait_listening(), f"{server_program} did not start")
            client = run.client(client_program, port, typed)
            server.finish(run.transcript, title + "; stopped with Ctrl-C", interrupt=True)
        run.then(client)

    return pair


def restart(run: Run) -> None:
    """Lesson 2, as reuse_server --help tells it: the plain restart, the Linux rule, the fix."""
    plain_port, reuse_port = run.ports
    t = run.transcript
    errno98 = "OSError: [Errno 98] Address already in use"

    def serve_one(title: str, program: str, port: int) -> None:
        with lesson_server(program, run.server_backend, port) as server:
            t.expect(server.wait_listening(), f"{program} did not start")
            client = run.client("tcp_hello_client", port, title="   client: tcp_hello_client")
            server.finish(t, title)
        run.then(client)

    def refused(step: str, program: str, port: int, why: str) -> None:
        with lesson_server(program, run.server_backend, port) as again:
            listening = again.wait_listening()
            again.finish(t, f"{step}. server: {program} {why}", expect_status=1)
        t.expect(not listening, f"{program} could bind port {port} again: no TIME_WAIT?")
        t.expect(t.sections[-1].count(errno98) == 1, f"{program} did not fail with {errno98!r}")

    serve_one("1. server: tcp_hello_server", "tcp_hello_server", plain_port)
    refused("2", "tcp_hello_server", plain_port, "again, at once, on the same port")
    refused("3", "reuse_server", plain_port, "on that port: the old socket did not set it")
    serve_one("4. server: reuse_server, on a port of its own", "reuse_server", reuse_port)
    again = "5. server: reuse_server again, at once, on the same port"
    serve_one(again, "reuse_server", reuse_port)


def upload(run: Run) -> None:
    """File upload: one file saved, then one refused by --max-size before its body is sent."""
    (port,) = run.ports
    with tempfile.TemporaryDirectory(prefix="ferrosock-demo-") as work:
        Path(work, "lesson.txt").write_bytes(UPLOAD)
        Path(work, "big.bin").write_bytes(bytes(4 * len(UPLOAD)))
        args = ("--directory", "received", "--max-size", str(2 * len(UPLOAD)))
        title = f"server: file_server {' '.join(args)}; stopped with Ctrl-C"
        with lesson_server("file_server", run.server_backend, port, args=args, cwd=work) as srv:
            run.transcript.expect(srv.wait_listening(), "file_server did not start")
            saved = run.client("file_client", port, args=("lesson.txt",), cwd=work)
            refused = run.client("file_client", port, args=("big.bin",), cwd=work, expect_status=1)
            srv.finish(run.transcript, title, interrupt=True)
        run.transcript.expect(
            Path(work, "received", "lesson.txt").read_bytes() == UPLOAD, "the upload differs"
        )
        run.then(saved)
        run.then(refused)


def authentication(run: Run) -> None:
    """The HMAC challenge: a client that knows the key, then one that does not."""
    (port,) = run.ports
    with lesson_server("auth_server", run.server_backend, port) as server:
        run.transcript.expect(server.wait_listening(), "auth_server did not start")
        right = run.client("auth_client", port, args=("--message", "你好，服务器"))
        wrong = run.client(
            "auth_client",
            port,
            args=("--key", "a-guess"),
            title="client: auth_client --key a-guess",
            expect_status=1,
        )
        title = "server: auth_server; stopped with Ctrl-C"
        server.finish(run.transcript, title, interrupt=True)
    run.then(right)
    run.then(wrong)


UPLOAD = "文件上传: the lesson's file, line after line.\n".encode() * 4096  # ~200 KB


def without_recv_sizes(text: str) -> str:
    """Ports aside, and how the bytes of a stream happened to be cut into recv calls (that
    depends on timing; the total and the glued first recv are compared)."""
    text = re.sub(r"(?m)^ *recv #\d+.*\n", "", without_ports(text))
    return re.sub(r"in \d+ recv calls", "in N recv calls", text)


def without_redraws(text: str) -> str:
    """Ports aside, and the progress bar's redraws: only what is left on the screen."""
    return re.sub(r"[^\n]*\r", "", without_ports(text))


@dataclass(frozen=True)
class Pair:
    title: str
    about: str
    play: Callable[[Run], None]
    kinds: tuple[int, ...]  # the socket type of each port it needs
    normalise: Callable[[str], str] = without_ports


TCP, UDP = socket.SOCK_STREAM, socket.SOCK_DGRAM

PAIRS = (
    Pair(
        "TCP hello",
        "Lesson 1: a TCP server accepts one client; each side prints what it received.",
        one_shot("tcp_hello_server", "tcp_hello_client"),
        (TCP,),
    ),
    Pair(
        "restart, SO_REUSEADDR",
        """\
Lesson 2, the steps of `reuse_server --help`: a TCP server started again right after serving
a client. The side that closes a connection first keeps it in TIME_WAIT for a minute; the
lesson's client waits for the server to hang up, so that is always the server's side, and the
plain server's second bind fails with Errno 98. So does reuse_server's on that port: Linux
reuses a TIME_WAIT port only if the old socket set SO_REUSEADDR as well as the new one. On a
port of its own, reuse_server starts again at once.""",
        restart,
        (TCP, TCP),
    ),
    Pair(
        "UDP hello",
        "Lesson 3: one datagram each way, no connection; the client prints who answered.",
        one_shot("udp_hello_server", "udp_hello_client"),
        (UDP,),
    ),
    Pair(
        "QQ chat",
        "Lesson 4: a chat over UDP; the demo types for the server's operator and the client's "
        "user\n(the prompts show, the typed text does not: nothing echoes it).",
        looping(
            "qq_chat_server",
            "qq_chat_client",
            replies="你好呀\n在的, 有事吗?\n",
            typed="张三\n小明\n你好\n\n在吗?\nq\n",
        ),
        (UDP,),
    ),
    Pair(
        "time server",
        "Lesson 5: a UDP time server written with `from socket import *`; an empty line asks "
        "for\nthe server's default format.",
        looping("time_server", "time_client", replies="", typed="\n%Y %m %d\n%H:%M\n"),
        (UDP,),
        without_clock,
    ),
    Pair(
        "sticky packets",
        "TCP is a byte stream (黏包): five quick sends and one large one; the server's recv(1024)\n"
        "calls glue the small ones together and cut the large one (the pieces are compared by\n"
        "their total: where the cuts fall depends on timing).",
        one_shot("sticky_server", "sticky_client"),
        (TCP,),
        without_recv_sizes,
    ),
    Pair(
        "framing",
        "The fix: each message behind a 4-byte length header; the same burst arrives message by\n"
        "message, exactly as sent.",
        one_shot("framed_server", "framed_client"),
        (TCP,),
    ),
    Pair(
        "file upload",
        "A JSON header (name, size, SHA-256), then the file's bytes, with a progress bar; the\n"
        "second file is over the server's --max-size and is refused before its body is sent.",
        upload,
        (TCP,),
        without_redraws,
    ),
    Pair(
        "HMAC authentication",
        "Is the client legitimate? The server sends a random challenge, the client answers with\n"
        "its HMAC under the shared key; a client with the wrong key is refused.",
        authentication,
        (TCP,),
    ),
)


# --------------------------------------------------------------------------- ports


class PortsBusy(Exception):
    pass


def _bindable(kind: int, port: int) -> socket.socket | None:
    probe = socket.socket(socket.AF_INET, kind)
    try:
        probe.bind((HOST, port))  # no SO_REUSEADDR: a port in TIME_WAIT is not free
    except OSError:
        probe.close()
        return None
    return probe


class Ports:
    """Hands out ports: consecutive from a base, or ones the kernel says are free."""

    def __init__(self, base: int | None):
        self.next = base

    def take(self, kinds: tuple[int, ...]) -> list[int]:
        probes = []
        try:
            for kind in kinds:
                probe = _bindable(kind, 0 if self.next is None else self.next)
                if probe is None:
                    raise PortsBusy(
                        f"port {self.next} is busy (perhaps still in TIME_WAIT from a run less "
                        "than a minute ago): choose another --port-base, or leave it out"
                    )
                probes.append(probe)
                if self.next is not None:
                    self.next += 1
            return [p.getsockname()[1] for p in probes]
        finally:  # held until all are chosen, so two probes never get the same port
            for probe in probes:
                probe.close()


# --------------------------------------------------------------------------- the report


@dataclass
class Row:
    pair: Pair
    combination: tuple[str, str]
    transcript: Transcript
    seconds: float
    diff: list[str]

    @property
    def ok(self) -> bool:
        return not self.diff and not self.transcript.problems


def play(pair: Pair, combination: tuple[str, str], ports: Ports) -> tuple[Transcript, float]:
    run = Run(*combination, ports=ports.take(pair.kinds))
    started = time.monotonic()
    try:
        pair.play(run)
    except Exception as exc:  # noqa: BLE001 - reported in the table, the demo goes on
        run.transcript.problems.append(f"{type(exc).__name__}: {exc}")
    return run.transcript, time.monotonic() - started


def indent(text: str) -> str:
    return "".join(f"    {line}" for line in text.splitlines(keepends=True))


def run_pairs(ports: Ports, say: Callable[[str], None], show: bool) -> list[Row]:
    """Play every pair four ways; the std/std run of each is the reference (and is shown)."""
    rows = []
    for pair in PAIRS:
        reference = None
        for combination in COMBINATIONS:
            transcript, seconds = play(pair, combination, ports)
            text = pair.normalise(transcript.text())
            if reference is None:
                reference = text
                if show:
                    say(f"== {pair.title} (std/std)\n{pair.about}\n{indent(transcript.text())}")
            diff = difflib.unified_diff(
                reference.splitlines(keepends=True),
                text.splitlines(keepends=True),
                "std/std",
                "/".join(combination),
            )
            rows.append(Row(pair, combination, transcript, seconds, list(diff)))
    return rows


def report(rows: list[Row], say: Callable[[str], None]) -> int:
    """The table, then what differed; the exit status."""
    say(f"{'pair':<24}{'server/client':<16}{'compared with std/std':<25}time")
    for row in rows:
        first = row.combination == COMBINATIONS[0]
        verdict = "DIFFERENT" if row.diff else "(the reference)" if first else "identical"
        if row.transcript.problems:
            verdict += " + PROBLEMS"
        title = row.pair.title if first else ""
        say(f"{title:<24}{'/'.join(row.combination):<16}{verdict:<25}{row.seconds:.2f} s")

    failed = [row for row in rows if not row.ok]
    for row in failed:
        say(f"\n== {row.pair.title}, {'/'.join(row.combination)}")
        for problem in row.transcript.problems:
            say(f"  problem: {problem}")
        if row.diff:
            say("".join(row.diff).rstrip("\n"))
    if failed:
        say(f"\n{len(failed)} of {len(rows)} runs differ or had problems")
        return 1
    say(f"\nall {len(rows)} runs behave the same on both backends")
    return 0


def demo(port_base: int | None = None, show: bool = True, out: TextIO | None = None) -> int:
    """Run the demo, printing to `out` (stdout); returns the exit status."""

    def say(text: str) -> None:
        print(text, file=out or sys.stdout, flush=True)

    say(HEADER.format(host=HOST))
    started = time.monotonic()
    try:
        rows = run_pairs(Ports(port_base), say, show)
    except PortsBusy as exc:
        say(f"error: {exc}")
        return 2
    except KeyboardInterrupt:
        say("\ninterrupted")
        return 130
    status = report(rows, say)
    say(f"({time.monotonic() - started:.1f} s in all)")
    return status


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--port-base",
        type=int,
        metavar="N",
        help=f"use the ports N, N+1, ... ({4 * sum(len(p.kinds) for p in PAIRS)} in all) "
        "instead of free ports the kernel picks",
    )
    parser.add_argument(
        "--quiet", action="store_true", help="print only the table, not what the programs printed"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ferrosock.demo", description=__doc__)
    add_arguments(parser)
    args = parser.parse_args(argv)
    return demo(args.port_base, show=not args.quiet)


if __name__ == "__main__":
    sys.exit(main())
