"""`python -m ferrosock chat`: errors in one line, 'q', server restarts, and, on a terminal
(a pty), messages that arrive while the user types."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time

import pytest
from conftest import HOST4, PATIENCE, ferrosock

pytestmark = pytest.mark.skipif(ferrosock is None, reason="ferrosock is not built")

if ferrosock is not None:
    from ferrosock import clients, servers

PY = [sys.executable, "-m", "ferrosock"]
ENV = dict(os.environ, PYTHONIOENCODING="utf-8", PYTHONUNBUFFERED="1")


def chat_cli(port: int, name: str, *args: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [*PY, "chat", "--port", str(port), "--name", name, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        env=ENV,
    )
    assert proc.stdout.readline().startswith(f"joined as {name}")
    return proc


def test_server_gone_is_one_line_not_a_traceback():
    srv = servers.ChatServer((HOST4, 0))
    srv.start()
    proc = chat_cli(srv.address[1], "ann", "--timeout", "1")
    srv.stop()
    out, err = proc.communicate("@bob hi\n/quit\n", timeout=PATIENCE * 2)
    assert "Traceback" not in out + err, out + err
    assert "error: nobody is serving the chat there now (connection refused)" in out
    assert proc.returncode == 0


def test_joining_nobody_is_one_line():
    with servers.ChatServer((HOST4, 0)) as srv:
        port = srv.address[1]  # free again once the server has stopped
    done = subprocess.run(
        [*PY, "chat", "--port", str(port), "--name", "ann", "--timeout", "0.5"],
        input="",
        capture_output=True,
        text=True,
        timeout=PATIENCE * 2,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: nobody is serving the chat there now (connection refused)"
    ]


def test_q_quits_as_in_the_lessons_client():
    with servers.ChatServer((HOST4, 0)) as srv:
        proc = chat_cli(srv.address[1], "ann")
        out, err = proc.communicate("q\n/who\n", timeout=PATIENCE)
        assert proc.returncode == 0, err
        assert "users:" not in out  # nothing after q was read
        with clients.ChatClient(srv.address, "bob") as bob:
            assert bob.who() == ["bob"]  # ann left


def test_the_client_rejoins_after_a_server_restart_and_says_so():
    first = servers.ChatServer((HOST4, 0))
    first.start()
    address = first.address
    proc = chat_cli(address[1], "小明")
    try:
        first.stop()
        with servers.ChatServer(address):
            out, err = proc.communicate("/who\n", timeout=PATIENCE * 2)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert "users: 小明" in out, out + err
    assert "(the server had forgotten us, after a restart or a long silence: " in out
    assert "joined again as 小明)" in out


class Terminal:
    """The chat client on a pseudo-terminal, as a user in a terminal window runs it."""

    def __init__(self, port: int, name: str):
        self.master, slave = os.openpty()
        self.proc = subprocess.Popen(
            [*PY, "chat", "--port", str(port), "--name", name],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=dict(ENV, TERM="xterm"),
            start_new_session=True,  # the pty becomes its controlling terminal: ^C is SIGINT
            close_fds=True,
        )
        os.close(slave)
        self.seen = b""

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def wait_for(self, text: str, since: int = 0) -> str:
        """Read until `text` has appeared after byte `since`; what was read since, decoded."""
        deadline = time.monotonic() + PATIENCE
        while text.encode() not in self.seen[since:]:
            left = deadline - time.monotonic()
            if left <= 0:
                seen = self.seen.decode(errors="replace")
                raise AssertionError(f"never saw {text!r} in {seen!r}")
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:  # EIO: the program has exited and closed the terminal
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"ended before {text!r}: {self.seen!r}")
                self.seen += chunk
        return self.seen[since:].decode("utf-8", "replace")

    def rest(self) -> str:
        """Whatever else it prints until it exits."""
        deadline = time.monotonic() + PATIENCE
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if not ready:
                if self.proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                break
            if not chunk:
                break
            self.seen += chunk
        return self.seen.decode("utf-8", "replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(PATIENCE)
        os.close(self.master)


def test_a_message_arriving_while_typing_goes_above_the_typed_line():
    with servers.ChatServer((HOST4, 0)) as srv:
        term = Terminal(srv.address[1], "小明")
        try:
            term.wait_for("joined as 小明")
            term.wait_for("> ")
            with clients.ChatClient(srv.address, "小红") as xiaohong:
                term.type("@小红 我正在打字")
                term.wait_for("我正在打字")
                mark = len(term.seen)
                xiaohong.send("小明", "打断你一下")
                after = term.wait_for("打断你一下\r\n> @小红 我正在打字", since=mark)
                # the line being typed is erased, the message printed, the prompt redrawn
                assert "\r\x1b[K小红: 打断你一下\r\n> @小红 我正在打字" in after, repr(after)
                term.type("\r")  # Enter: the typed text is sent whole
                assert xiaohong.recv(timeout=PATIENCE) == ("小明", "我正在打字")
            term.wait_for("> ")
            term.proc.send_signal(signal.SIGINT)  # Ctrl-C at the prompt
            text = term.rest()
            assert term.proc.wait(PATIENCE) == 0
            assert "Traceback" not in text
            assert text.endswith("\r\n"), repr(text[-40:])  # the shell's prompt on a new line
        finally:
            term.close()


LOST_SIGINT = """
import signal, sys, threading, time
from ferrosock._cli_native import _CtrlC

def elsewhere():
    time.sleep(0.3)  # the main thread is waiting in read() by now
    # Python's handler runs on this thread: the main thread's read() is not interrupted, as
    # when a SIGINT lands in input() just before it starts to wait
    signal.pthread_kill(threading.get_ident(), signal.SIGINT)

with _CtrlC() as ctrl_c:
    try:
        threading.Thread(target=elsewhere).start()
        sys.stdin.readline()
        print("read a line")
    except KeyboardInterrupt:
        ctrl_c.handled()
        print("interrupted")
print("wakeup fd restored:", signal.set_wakeup_fd(-1))
"""


def test_a_sigint_that_interrupted_no_wait_still_ends_the_chat():
    """The chat's Ctrl-C relay: a SIGINT whose handler ran while the main thread was not yet
    waiting (here: on another thread) is sent to the main thread again, so input() ends."""
    keyboard, typing = os.pipe()  # held open and never written: without the relay, read() sleeps on
    proc = subprocess.Popen(
        [sys.executable, "-c", LOST_SIGINT],
        stdin=keyboard,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    os.close(keyboard)
    try:
        out, err = proc.communicate(timeout=PATIENCE)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        os.close(typing)
    assert proc.returncode == 0, err
    assert out.splitlines() == ["interrupted", "wakeup fd restored: -1"]
