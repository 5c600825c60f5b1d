"""`python -m ferrosock.bench echo`: every echo server runs, and the report is complete and sane.

A benchmark is not a timed test: nothing here asserts which server is faster.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest
from conftest import needs_rust

pytestmark = [needs_rust, pytest.mark.timeout(600)]

# Seconds per measured window: enough for a few hundred requests, too short to mean anything.
TINY_DURATION = "0.2"


def _have_load_test() -> bool:
    try:
        from ferrosock import _native
    except ImportError:
        return False
    return hasattr(_native, "load_test")


def _have_uvloop() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, dict]:
    if not _have_load_test():
        pytest.skip("this build of ferrosock has no _native.load_test")
    out = tmp_path_factory.mktemp("bench") / "echo.json"
    # Warnings are errors in the benchmark and in its servers too.
    env = {**os.environ, "PYTHONWARNINGS": "error", "FERROSOCK_BENCH_ECHO_DURATION": TINY_DURATION}
    done = subprocess.run(
        [sys.executable, "-m", "ferrosock.bench", "echo", "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        # A first run may build examples/tokio_echo.rs with cargo.
        timeout=540,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout, done.stderr, json.loads(out.read_text(encoding="utf-8"))


def test_json_has_every_available_server_with_sane_numbers(report) -> None:
    _, _, doc = report
    (table,) = doc["tables"]["echo"]
    assert table["connections"] == 16 and table["headline"]
    assert table["duration_s"] == float(TINY_DURATION)
    expected = {"ferrosock-echo", "ferrosock-handler", "socketserver"}
    expected |= {f"asyncio-{style}" for style in ("protocol", "handler", "streams")}
    if _have_uvloop():
        expected |= {f"uvloop-{style}" for style in ("protocol", "handler", "streams")}
    else:
        assert table["skipped"]["uvloop-protocol"] == "not installed"
    measured = set(table["contenders"])
    assert expected <= measured
    assert ("tokio" in measured) != ("tokio" in table["skipped"])
    rows = table["rows"]
    assert {r["key"] for r in rows} == measured
    for row in rows:
        assert row["size"] == 1024 and row["connections"] == 16
        assert row["requests_per_sec"] > 0, row["server"]
        assert 0 < row["p50_us"] <= row["p99_us"], row["server"]
        assert 0 < row["x_fastest"] <= 1.0, row["server"]
        assert row["user_us_per_request"] >= 0 and row["sys_us_per_request"] >= 0
        assert 0 <= row["clean_windows"] <= 1
        # The server did the work: the CPU it was charged is far from zero.
        assert row["user_us_per_request"] + row["sys_us_per_request"] > 0, row["server"]
        (one_pass,) = row["passes"]
        assert one_pass["requests"] > 0 and math.isfinite(one_pass["elapsed"])
    assert max(r["x_fastest"] for r in rows) == 1.0
    by_key = {r["key"]: r for r in rows}
    handler = by_key["ferrosock-handler"]
    if _have_uvloop():
        rival = by_key["uvloop-handler"]
        assert handler["x_uvloop"] == handler["requests_per_sec"] / rival["requests_per_sec"]
    else:
        assert handler["x_uvloop"] is None
    assert by_key["socketserver"]["x_uvloop"] is None  # no uvloop counterpart


def test_verdicts_cover_the_issue_targets(report) -> None:
    _, _, doc = report
    (table,) = doc["tables"]["echo"]
    targets = [v["target"] for v in table["verdicts"]]
    assert any("EchoServer req/s" in t for t in targets)
    assert any("EchoServer user CPU/request" in t for t in targets)
    assert any("ahead of asyncio Protocol" in t for t in targets)
    handler = [
        v for v in table["verdicts"] if "ahead of uvloop Protocol + same handler" in v["target"]
    ]
    # One per size (--quick: 1 KiB), then all sizes together.
    assert [v["workload"] for v in handler] == ["1 KiB, 16 conn", "every size"]
    if _have_uvloop():
        assert handler[-1]["met"] == handler[0]["met"]
        assert handler[-1]["line"].endswith(
            ("met, 1 KiB " + handler[0]["detail"], "NOT MET, 1 KiB " + handler[0]["detail"])
        )
    for verdict in table["verdicts"]:
        assert verdict["met"] in (True, False, None)


def test_text_report_shows_the_table_and_verdicts(report) -> None:
    stdout, stderr, _ = report
    assert "echo, 16 connections (headline)" in stdout
    for header in ("req/s", "x tokio", "x uvloop", "p99 µs", "user µs/req", "sys µs/req"):
        assert header in stdout
    assert "ferrosock EchoServer" in stdout
    assert "native EchoServer req/s >= 0.9x tokio" in stdout
    assert "[echo 1]" in stderr
