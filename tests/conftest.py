"""Shared fixtures: run one scenario on the stdlib `socket` and on `ferrosock`, and compare.

The stdlib is the specification. Every parity test runs on both modules: on "std" it checks
the scenario itself (and that it closes what it opens), on "rust" it compares with the stdlib.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

import pytest

try:
    import ferrosock
except ModuleNotFoundError as exc:  # only a missing package skips; a broken one fails
    if exc.name != "ferrosock":
        raise
    ferrosock = None

RUST_MISSING = "ferrosock is not built into this venv yet"
MODULES = {"std": socket, "rust": ferrosock}

# Loopback only, ever.
HOST4 = "127.0.0.1"
HOST6 = "::1"

# How long a test waits for something that should happen at once on loopback.
PATIENCE = 5.0


def _ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind((HOST6, 0))
    except OSError:
        return False
    return True


HAS_IPV6 = _ipv6_loopback()
HAS_UNIX = hasattr(socket, "AF_UNIX")
needs_ipv6 = pytest.mark.skipif(not HAS_IPV6, reason="no IPv6 loopback (::1) on this machine")
needs_unix = pytest.mark.skipif(not HAS_UNIX, reason="AF_UNIX is not available")
needs_rust = pytest.mark.skipif(ferrosock is None, reason=RUST_MISSING)
SOCAT = shutil.which("socat")
needs_socat = pytest.mark.skipif(
    SOCAT is None, reason="socat is not installed (`make system-deps` installs it)"
)


def module_param(name: str) -> Any:
    marks = [needs_rust] if name == "rust" else []
    return pytest.param(name, id=name, marks=marks)


@pytest.fixture(params=[module_param("std"), module_param("rust")])
def mod(request: pytest.FixtureRequest) -> Any:
    """The module under test: the stdlib `socket` ("std") or `ferrosock` ("rust")."""
    return MODULES[request.param]


# --------------------------------------------------------------------------- outcomes


def outcome(fn: Callable[[Any], Any], module: Any) -> tuple:
    """What running `fn(module)` does: ("ok", value) or ("raise", type, errno, str)."""
    try:
        value = fn(module)
    except Exception as exc:  # noqa: BLE001 - the exception is the result being compared
        return ("raise", type(exc), getattr(exc, "errno", None), str(exc))
    return ("ok", value)


def assert_parity(fn: Callable[[Any], Any], module: Any) -> tuple:
    """Assert `fn(module)` behaves as `fn(socket)`: same value, or same (type, errno, str)."""
    expected = outcome(fn, socket)
    got = outcome(fn, module)
    assert got == expected, f"{module.__name__}: {got!r}\n   stdlib: {expected!r}"
    return got


def family_params(*names: str) -> list:
    """pytest params for socket kinds by name, with availability skips."""
    table = {
        "tcp4": (socket.AF_INET, socket.SOCK_STREAM, ()),
        "udp4": (socket.AF_INET, socket.SOCK_DGRAM, ()),
        "tcp6": (socket.AF_INET6, socket.SOCK_STREAM, (needs_ipv6,)),
        "udp6": (socket.AF_INET6, socket.SOCK_DGRAM, (needs_ipv6,)),
        "unix-stream": (getattr(socket, "AF_UNIX", -1), socket.SOCK_STREAM, (needs_unix,)),
        "unix-dgram": (getattr(socket, "AF_UNIX", -1), socket.SOCK_DGRAM, (needs_unix,)),
    }
    return [pytest.param(table[n][:2], id=n, marks=table[n][2]) for n in names]


# --------------------------------------------------------------------------- addresses


def short_unix_path(base: Path, name: str = "s.sock") -> str:
    """A path under `base` for an AF_UNIX socket; `sun_path` holds 107 bytes, so long
    pytest tmp paths fall back to a short directory under the system temp dir."""
    path = base / name
    if len(os.fsencode(str(path))) <= 100:
        return str(path)
    short = Path(tempfile.mkdtemp(prefix="fs-"))
    return str(short / name)


@pytest.fixture
def unix_path(tmp_path: Path) -> str:
    """A fresh AF_UNIX socket path (removed afterwards)."""
    path = short_unix_path(tmp_path)
    yield path
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


@pytest.fixture
def addr_for(tmp_path: Path) -> Callable[[int], Any]:
    """addr_for(family) -> a bindable loopback address (a new unix path per call)."""
    counter = iter(range(1000))

    def make(family: int) -> Any:
        if family == socket.AF_INET:
            return (HOST4, 0)
        if family == socket.AF_INET6:
            return (HOST6, 0)
        return short_unix_path(tmp_path, f"u{next(counter)}.sock")

    return make


# --------------------------------------------------------------------------- servers


def wait_connectable(address: Any, family: int = socket.AF_INET, timeout: float = PATIENCE):
    """Poll until a connect to `address` succeeds (a server started elsewhere is ready)."""
    deadline = time.monotonic() + timeout
    while True:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                probe.connect(address)
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
        time.sleep(0.01)  # polling interval, not a readiness guess


def wait_thread_blocked(native_id: int, timeout: float = PATIENCE) -> None:
    """Poll /proc until thread `native_id` of this process sleeps in the kernel."""
    stat = Path(f"/proc/self/task/{native_id}/stat")
    wait_proc_sleeping(stat, timeout)


def wait_proc_sleeping(stat: Path, timeout: float = PATIENCE) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # the state is the first field after the parenthesised command name
        state = stat.read_text().rsplit(")", 1)[1].split()[0]
        if state == "S":
            return
        time.sleep(0.005)
    raise TimeoutError(f"{stat} never went to sleep")


class Background:
    """Run `target()` in a thread; `join()` re-raises whatever it raised."""

    def __init__(self, target: Callable[[], Any]):
        self.result: Any = None
        self.error: BaseException | None = None
        self._target = target
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.result = self._target()
        except BaseException as exc:  # noqa: BLE001 - handed to join()
            self.error = exc

    def join(self, timeout: float = PATIENCE) -> Any:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "background thread did not finish"
        if self.error is not None:
            raise self.error
        return self.result


@contextlib.contextmanager
def serving(listener: Any, handler: Callable[[Any, Any], Any]):
    """Accept one connection on `listener` (already listening, so a connect succeeds at
    once) in a thread and run `handler(conn, addr)`; yields the Background; on exit
    joins it, re-raising the handler's error, and closes the listener."""

    def accept_and_handle() -> Any:
        conn, addr = listener.accept()
        with conn:
            return handler(conn, addr)

    job = Background(accept_and_handle)
    try:
        yield job
    finally:
        try:
            job.join()
        finally:
            listener.close()


def listener(module: Any, family: int, address: Any, backlog: int = 5) -> Any:
    """A listening stream socket of `module`, bound to `address`."""
    s = module.socket(family, module.SOCK_STREAM)
    try:
        s.bind(address)
        s.listen(backlog)
    except BaseException:
        s.close()
        raise
    return s


def recv_exactly(sock: Any, n: int) -> bytes:
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = sock.recv_into(view[got:])
        if k == 0:
            raise EOFError(f"peer closed after {got} of {n} bytes")
        got += k
    return bytes(buf)


@pytest.fixture(autouse=True)
def _restore_default_timeout():
    """A test that calls setdefaulttimeout must not leak it into the next one."""
    before = socket.getdefaulttimeout()
    rust = ferrosock if hasattr(ferrosock, "setdefaulttimeout") else None
    before_rust = rust.getdefaulttimeout() if rust is not None else None
    yield
    socket.setdefaulttimeout(before)
    if rust is not None:
        rust.setdefaulttimeout(before_rust)


@contextlib.contextmanager
def full_backlog(family: int = socket.AF_INET, host: str = HOST4):
    """A listener whose accept queue is full, so a new connect to it blocks on loopback
    (the kernel drops the SYN). Yields its address."""
    with socket.socket(family) as srv:
        srv.bind((host, 0))
        srv.listen(0)  # Linux queues backlog + 1 = one connection
        with socket.create_connection(srv.getsockname()[:2], timeout=PATIENCE):
            yield srv.getsockname()


def pair_param(server: str, client: str) -> Any:
    marks = [needs_rust] if "rust" in (server, client) else []
    return pytest.param((server, client), id=f"{server}-srv-{client}-cli", marks=marks)


@pytest.fixture(
    params=[
        pair_param("std", "std"),
        pair_param("rust", "std"),
        pair_param("std", "rust"),
        pair_param("rust", "rust"),
    ]
)
def pair(request: pytest.FixtureRequest) -> tuple:
    """(server module, client module): every direction, the stdlib pair as the reference."""
    server, client = request.param
    return MODULES[server], MODULES[client]


def pytest_collection_modifyitems(items: list) -> None:
    """Every test here should finish in well under a second: a hang fails in 20 s, not at
    the global limit."""
    for item in items:
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(20))
