"""A peer that vanishes: a Python script run in a network namespace of its own (``unshare -n``),
where a blackhole rule silently drops everything sent to one loopback address.

Used by the keepalive tests of the servers (tests/test_slow_peers.py) and of the clients
(tests/test_client_keepalive.py). The script given to :func:`run` is run after
:data:`PRELUDE`, which brings the namespace's loopback up and defines ``sh(cmd)`` and
``blackhole(address)``; ``VANISHING`` (127.0.0.2) is the address meant to vanish.
:func:`keepalive_of` reads a socket's keepalive options back, for the same tests and
tests/test_aio.py.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import textwrap

import pytest

VANISHING = "127.0.0.2"

PRELUDE = textwrap.dedent(
    f"""
    import subprocess

    VANISHING = {VANISHING!r}

    def sh(cmd):
        subprocess.run(cmd, shell=True, check=True, capture_output=True)

    def blackhole(address=VANISHING):
        # Everything sent to address is silently dropped from now on, probes included.
        sh(f"ip rule add pref 1 to {{address}} blackhole")

    # This runs in a network namespace of its own (unshare -n): its loopback is ours alone.
    sh("ip link set lo up")
    # Local delivery is looked up after our rules, so a blackhole rule can drop traffic.
    sh("ip rule add pref 100 lookup local && ip rule del pref 0")
    """
)


def require() -> None:
    """Skip the calling test unless this process can make a namespace with a blackhole rule."""
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("ip"):
        pytest.skip("needs root, unshare and ip to blackhole a peer in a network namespace")
    probe = subprocess.run(
        ["unshare", "-n", "ip", "rule", "add", "pref", "1", "to", VANISHING, "blackhole"],
        capture_output=True,
    )
    if probe.returncode != 0:
        pytest.skip(f"cannot make a network namespace with rules: {probe.stderr.decode()!r}")


def run(script: str, timeout: float) -> subprocess.CompletedProcess:
    """Run ``PRELUDE + script`` with this interpreter in a fresh network namespace (after
    :func:`require`); fails the test if it does not exit 0 within ``timeout`` seconds."""
    require()
    proc = subprocess.run(
        ["unshare", "-n", sys.executable, "-c", PRELUDE + textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr
    return proc


KEEPALIVE_OFF = (0, None, None, None)


def keepalive_of(fd: int) -> tuple[int, int | None, int | None, int | None]:
    """(SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT) of descriptor ``fd``, read back
    with the stdlib; ``KEEPALIVE_OFF`` when keepalive is off."""
    with socket.socket(fileno=os.dup(fd)) as s:
        if not s.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE):
            return KEEPALIVE_OFF
        return (
            1,
            s.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
            s.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL),
            s.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT),
        )
