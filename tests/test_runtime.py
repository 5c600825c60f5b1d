"""The shared tokio runtime: lazy start, configure(), panics contained, fork safety."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("ferrosock.servers")

from ferrosock import _native, clients, runtime, servers  # noqa: E402

HOST = "127.0.0.1"


def run_python(code: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_configure_before_first_use_sets_workers():
    proc = run_python(
        """
        from ferrosock import runtime, servers, clients
        assert not runtime.running()
        runtime.configure(workers=3)
        assert runtime.workers() == 3
        with servers.EchoServer(("127.0.0.1", 0)) as srv:
            assert clients.echo(srv.address, b"x") == b"x"
            assert runtime.running()
            try:
                runtime.configure(workers=1)
            except RuntimeError as exc:
                print("refused:", exc)
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert "refused: the ferrosock runtime is already running" in proc.stdout


def test_configure_rejects_zero_workers():
    with pytest.raises(ValueError, match="at least 1"):
        runtime.configure(workers=0)


def test_a_panicking_task_does_not_take_the_runtime_down():
    assert _native._runtime_panic_probe() == "panicked=True still_works=True".replace(
        "True", "true"
    )
    with servers.EchoServer((HOST, 0)) as srv:
        assert clients.echo(srv.address, b"after") == b"after"


def test_a_panic_in_a_native_call_is_an_exception_not_a_crash():
    proc = run_python(
        """
        from ferrosock import _native
        try:
            _native._panic_probe()
        except BaseException as exc:
            print("caught", type(exc).__name__)
        print("alive")
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert "caught PanicException" in proc.stdout
    assert "alive" in proc.stdout


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_gets_a_fresh_runtime():
    proc = run_python(
        """
        import os, sys, warnings
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads running
        from ferrosock import clients, servers
        with servers.EchoServer(("127.0.0.1", 0)) as parent_srv:
            assert clients.echo(parent_srv.address, b"parent") == b"parent"
            pid = os.fork()
            if pid == 0:
                try:
                    with servers.EchoServer(("127.0.0.1", 0)) as srv:
                        ok = clients.echo(srv.address, b"child", timeout=5) == b"child"
                    os._exit(0 if ok else 1)
                except BaseException:
                    os._exit(2)
            _, status = os.waitpid(pid, 0)
            print("child exit", os.waitstatus_to_exitcode(status))
            assert clients.echo(parent_srv.address, b"again") == b"again"
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert "child exit 0" in proc.stdout


def test_shutdown_then_restart_on_next_use():
    proc = run_python(
        """
        from ferrosock import runtime, servers, clients
        with servers.EchoServer(("127.0.0.1", 0)) as srv:
            clients.echo(srv.address, b"1")
        runtime.shutdown()
        assert not runtime.running()
        with servers.EchoServer(("127.0.0.1", 0)) as srv:
            assert clients.echo(srv.address, b"2") == b"2"
        print("ok")
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_interpreter_exit_with_a_running_server_is_clean():
    proc = run_python(
        """
        from ferrosock import servers
        srv = servers.EchoServer(("127.0.0.1", 0)).start()
        print("started")
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "started"
