"""`python -m ferrosock.bench`: the command runs, and reports both contenders with sane numbers.

Benchmarks are not timed tests: nothing here asserts which contender is faster.
"""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import needs_rust

pytestmark = needs_rust

TINY = ["socket", "--rounds", "200", "--bulk-mib", "1", "--repeat", "1"]


def run_bench(*args: str) -> subprocess.CompletedProcess[str]:
    # Warnings are errors in the benchmark and its peers too: an unclosed socket fails the run.
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    return subprocess.run(
        [sys.executable, "-m", "ferrosock.bench", *args],
        capture_output=True,
        text=True,
        timeout=90,
        env=env,
    )


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict]:
    out = tmp_path_factory.mktemp("bench") / "socket.json"
    done = run_bench(*TINY, "--json", str(out))
    assert done.returncode == 0, done.stderr
    return done.stdout, json.loads(out.read_text(encoding="utf-8"))


def test_json_has_both_contenders_and_sane_numbers(report: tuple[str, dict]) -> None:
    _, doc = report
    assert set(doc["contenders"]) == {"socket", "ferrosock"}
    assert doc["settings"]["rounds"] == 200
    assert doc["settings"]["bulk_mib"] == 1
    workloads = doc["suites"]["socket"]
    assert [w["workload"] for w in workloads] == [
        "ping-pong 1 B x200",
        "ping-pong 1 KiB x200",
        "bulk 1 MiB",
    ]
    for w in workloads:
        assert set(w["contenders"]) == {"socket", "ferrosock"}
        assert math.isfinite(w["ratio"]) and w["ratio"] > 0
        assert w["met"] == (w["ratio"] <= w["target"])
        for numbers in w["contenders"].values():
            assert numbers["times_s"] and all(t > 0 for t in numbers["times_s"])
            assert 0 < numbers["median_s"] < 60
            if w["round_trips"]:
                assert w["round_trips"] == 200
                assert numbers["per_round_trip_us"] > 0
                assert numbers["mib_per_s"] is None
            else:
                assert w["bytes"] == 1 << 20
                assert numbers["mib_per_s"] > 0
                assert numbers["per_round_trip_us"] is None


def test_json_describes_the_machine(report: tuple[str, dict]) -> None:
    _, doc = report
    machine = doc["machine"]
    assert machine["cores"] >= 1
    assert machine["cpu_model"]
    assert platform.python_version() in machine["python"]


def test_text_table_names_the_workloads_and_the_ratio(report: tuple[str, dict]) -> None:
    text, _ = report
    assert text.startswith("machine: ")
    for needle in ("ping-pong 1 B x200", "ping-pong 1 KiB x200", "bulk 1 MiB", "ratio"):
        assert needle in text
    assert "below 1.00 ferrosock is faster" in text


def test_markdown_table() -> None:
    done = run_bench(*TINY, "--markdown")
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("|")]
    assert len(rows) == 2 + 3  # header, separator, three workloads
    assert all(row.endswith("|") for row in rows)


def test_unknown_suite_is_a_usage_error() -> None:
    done = run_bench("no-such-suite")
    assert done.returncode == 2
    assert "invalid choice" in done.stderr


def test_no_suite_means_all_of_them() -> None:
    from ferrosock.bench import SUITES
    from ferrosock.bench.__main__ import build_parser

    assert build_parser().parse_args([]).suite == []
    assert "socket" in SUITES


def test_json_file_is_not_written_on_usage_error(tmp_path: Path) -> None:
    out = tmp_path / "never.json"
    done = run_bench("socket", "--rounds", "0", "--json", str(out))
    assert done.returncode == 2
    assert not out.exists()


# The tls suite: stdlib ssl.SSLSocket vs ferrosock.ssl.SSLSocket, at the smallest sizes.
TLS_TINY = ["tls", "--rounds", "200", "--bulk-mib", "1", "--repeat", "1"]
TLS_WORKLOADS = ["ping-pong 1 B x200", "ping-pong 1 KiB x200", "bulk 1 MiB"]
needs_openssl = pytest.mark.skipif(
    shutil.which("openssl") is None,
    reason="the openssl command is not installed (`make system-deps`, or apt-get install openssl)",
)


@pytest.fixture(scope="module")
def tls_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict]:
    out = tmp_path_factory.mktemp("bench") / "tls.json"
    done = run_bench(*TLS_TINY, "--json", str(out))
    assert done.returncode == 0, done.stderr
    return done.stdout, json.loads(out.read_text(encoding="utf-8"))


@needs_openssl
def test_tls_json_has_both_contenders_and_sane_numbers(tls_report: tuple[str, dict]) -> None:
    _, doc = tls_report
    assert doc["settings"]["rounds"] == 200
    assert doc["settings"]["bulk_mib"] == 1
    (table,) = doc["tables"]["tls"]
    rows = table["rows"]
    assert [w["workload"] for w in rows] == TLS_WORKLOADS
    for w in rows:
        assert set(w["contenders"]) == {"socket", "ferrosock"}
        assert math.isfinite(w["ratio"]) and w["ratio"] > 0
        if w["target_is"] == "maximum":
            assert w["met"] == (w["ratio"] <= w["target"])
        else:
            assert w["met"] == (w["ratio"] >= w["target"])
        # The comparison is really stdlib TLS against ferrosock's, not the stdlib's twice.
        assert w["contenders"]["socket"]["ssl_socket"] == "ssl.SSLSocket"
        assert w["contenders"]["ferrosock"]["ssl_socket"] == "ferrosock.ssl.SSLSocket"
        for numbers in w["contenders"].values():
            assert numbers["wall_s"] and all(t > 0 for t in numbers["wall_s"])
            assert len(numbers["cpu_s"]) == len(numbers["wall_s"])
            assert all(0 <= p <= c for p, c in zip(numbers["peer_cpu_s"], numbers["cpu_s"]))
            assert 0 < numbers["median_wall_s"] < 60
            if w["round_trips"]:
                assert w["target_is"] == "maximum" and w["target"] == 1.25
                assert w["round_trips"] == 200
                assert numbers["cpu_per_round_trip_us"] > 0
                assert numbers["wall_per_round_trip_us"] > 0
                assert numbers["mib_per_s"] is None
            else:
                assert w["target_is"] == "minimum" and w["target"] == 0.9
                assert w["bytes"] == 1 << 20
                assert numbers["mib_per_s"] > 0
                assert numbers["cpu_per_round_trip_us"] is None


@needs_openssl
def test_tls_text_table_names_workloads_verdicts_and_tls_version(
    tls_report: tuple[str, dict],
) -> None:
    text, doc = tls_report
    assert text.startswith("machine: ")
    for needle in [*TLS_WORKLOADS, "ratio", "<= 1.25", ">= 0.90", "target: CPU per round trip"]:
        assert needle in text
    lines = [line for line in text.splitlines() if line.split("  ")[0] in TLS_WORKLOADS]
    assert len(lines) == 3
    for line, w in zip(lines, doc["tables"]["tls"][0]["rows"]):
        assert ("NOT MET" not in line) == w["met"]
    assert "TLSv1.3" in text
    assert "ferrosock.ssl.SSLSocket" in text


@needs_openssl
def test_tls_markdown_table() -> None:
    done = run_bench(*TLS_TINY, "--markdown")
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("|")]
    assert len(rows) == 2 + 3  # header, separator, three workloads
    assert all(row.endswith("|") for row in rows)
    assert "≤ 1.25" in rows[2] and "≥ 0.90" in rows[4]


def test_tls_without_openssl_says_how_to_get_it(tmp_path: Path) -> None:
    out = tmp_path / "never.json"
    # No openssl on this PATH; the interpreter is found by its absolute path.
    env = {**os.environ, "PATH": str(tmp_path), "PYTHONWARNINGS": "error"}
    done = subprocess.run(
        [sys.executable, "-m", "ferrosock.bench", *TLS_TINY, "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=90,
        env=env,
    )
    assert done.returncode == 1
    assert "apt-get install openssl" in done.stderr
    assert not out.exists()
