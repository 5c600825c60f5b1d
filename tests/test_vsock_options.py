"""AF_VSOCK socket options are 64-bit: CPython parses setsockopt as "iiK" for a VSOCK socket
and reads getsockopt into a uint64_t (found by CPython's own test_socket, run patched)."""

from __future__ import annotations

import socket

import pytest
from conftest import ferrosock

pytestmark = pytest.mark.skipif(ferrosock is None, reason="ferrosock is not built yet")


def _vsock(module):
    try:
        return module.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
    except OSError as exc:  # pragma: no cover - depends on the kernel
        pytest.skip(f"the kernel refuses AF_VSOCK sockets: {exc}")


def _outcome(fn, *args):
    try:
        return ("ok", fn(*args))
    except Exception as exc:  # noqa: BLE001 - the exception is the result compared
        return (type(exc), exc.errno if isinstance(exc, OSError) else None, str(exc))


OPTIONS = ["SO_VM_SOCKETS_BUFFER_SIZE", "SO_VM_SOCKETS_BUFFER_MIN_SIZE"]


@pytest.mark.parametrize("name", OPTIONS)
def test_vsock_options_round_trip_as_the_stdlib(name):
    option = getattr(socket, name)
    results = []
    for module in (socket, ferrosock):
        with _vsock(module) as s:
            orig = s.getsockopt(socket.AF_VSOCK, option)
            steps = [orig]
            for value in (orig * 2, -1, 2**64 + 5, b"x", 1.5, None):
                steps.append(_outcome(s.setsockopt, socket.AF_VSOCK, option, value))
                steps.append(_outcome(s.getsockopt, socket.AF_VSOCK, option))
            steps.append(_outcome(s.setsockopt, socket.AF_VSOCK, option, None, 4))
            steps.append(_outcome(s.setsockopt, socket.AF_VSOCK, option))
            results.append(steps)
    assert results[1] == results[0]
    assert results[0][0] > 0
