"""serve_forever() sleeps in a poll that a signal interrupts: no timer wakes it while it waits,
and Ctrl-C still stops it at once (as a stdlib accept() blocked in the main thread)."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

import pytest

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")

SERVER = textwrap.dedent(
    """
    import os, sys
    from ferrosock import servers
    srv = servers.EchoServer(("127.0.0.1", 0))
    print(os.getpid(), flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        print("stopped", srv.running, flush=True)
    """
)


def main_thread_switches(pid: int) -> int:
    """Voluntary context switches of the process's main thread (each sleep-and-wake is one)."""
    with open(f"/proc/{pid}/task/{pid}/status") as status:
        for line in status:
            if line.startswith("voluntary_ctxt_switches:"):
                return int(line.split()[1])
    raise AssertionError("no voluntary_ctxt_switches line")


@pytest.fixture
def serving():
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        pid = int(proc.stdout.readline())
        yield proc, pid
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


def test_an_idle_serve_forever_does_not_wake(serving):
    proc, pid = serving
    time.sleep(0.3)  # past start-up
    before = main_thread_switches(pid)
    time.sleep(1.5)
    woke = main_thread_switches(pid) - before
    # A 50 ms polling loop would wake 30 times here; the poll sleeps for a second at most.
    assert woke <= 4, f"the main thread woke {woke} times in 1.5 s of waiting"
    assert proc.poll() is None


def test_sigint_after_a_long_wait_stops_it_at_once(serving):
    proc, pid = serving
    time.sleep(1.2)  # well into the poll's one-second slice: only EINTR can wake it now
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    elapsed = time.monotonic() - sent
    assert proc.returncode == 0, err
    assert out.strip() == "stopped False"
    assert elapsed < 0.6, f"took {elapsed:.2f} s to react to SIGINT"
