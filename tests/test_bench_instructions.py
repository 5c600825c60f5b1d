"""`python -m ferrosock.bench instructions`: the arithmetic on callgrind's counts, the target
marking, how the command behaves without valgrind, and one contender end to end under
callgrind when valgrind is installed.

A benchmark is not a timed test: nothing here asserts which server executes fewer instructions.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest
from conftest import needs_rust
from ferrosock.bench import DEFAULT_SUITES, SUITES, _callgrind, instructions_suite
from ferrosock.bench._callgrind import Pair

CALLGRIND_OUTPUT = """# callgrind format
version: 1
creator: callgrind-3.19.0
pid: 4242
cmd:  ./server
part: 1

events: Ir

fn=(1) main
0 10
summary: 123456
totals: 123456
"""


def test_per_request_is_the_difference_over_the_extra_requests() -> None:
    pair = Pair(short_requests=1000, short_ir=5_000_000, long_requests=3000, long_ir=11_000_000)
    assert pair.per_request == 3000.0
    # What is left of the short run once its requests are taken out: start-up and shutdown.
    assert pair.fixed == 2_000_000.0


def test_a_long_run_no_longer_than_the_short_one_is_an_error() -> None:
    with pytest.raises(ValueError, match="more requests"):
        _ = Pair(1000, 10, 1000, 20).per_request


def test_the_total_is_read_from_the_summary_line(tmp_path: Path) -> None:
    assert _callgrind.total_instructions(CALLGRIND_OUTPUT) == 123456
    with pytest.raises(ValueError, match="summary"):
        _callgrind.total_instructions("events: Ir\nfn=main\n0 10\n")
    out = tmp_path / "server.callgrind"
    out.write_text(CALLGRIND_OUTPUT)
    # A child process (a fork) gets a file of its own, FILE-PID: it counts too.
    Path(f"{out}-4243").write_text(CALLGRIND_OUTPUT.replace("123456", "100"))
    assert _callgrind.read_total(out) == 123556
    with pytest.raises(FileNotFoundError):
        _callgrind.read_total(tmp_path / "never-written")


def test_ratio_verdict_and_spread() -> None:
    assert _callgrind.ratio(3300, 3000) == pytest.approx(1.1)
    assert _callgrind.ratio(None, 3000) is None
    assert _callgrind.ratio(3000, 0) is None
    assert _callgrind.verdict(1.1, 1.1) == "met"
    assert _callgrind.verdict(1.11, 1.1) == "NOT MET"
    assert _callgrind.verdict(1.0, 1.0, strictly=True) == "NOT MET"
    assert _callgrind.verdict(0.99, 1.0, strictly=True) == "met"
    assert _callgrind.verdict(None, 1.0) == "not measured"
    assert _callgrind.spread([100.0, 101.0, 100.5]) == pytest.approx(0.01)
    assert _callgrind.spread([100.0]) == 0.0


def test_targets_are_marked_met_or_not_met() -> None:
    lines = instructions_suite.targets(
        {
            "tokio-current-thread": 1700.0,
            "ferrosock-echo": 2900.0,
            "uvloop-protocol": 4600.0,
            "ferrosock-handler": 9000.0,
            "uvloop-handler": 8000.0,
        }
    )
    assert lines[0] == ("target: ferrosock EchoServer <= 1.1x current-thread tokio: 1.71x: NOT MET")
    by_server = {line.split(" fewer")[0]: line for line in lines[1:]}
    assert by_server["target: ferrosock EchoServer"].endswith("0.63x: met")
    assert by_server["target: ferrosock StreamServer + handler"].endswith("1.12x: NOT MET")
    # The idle-limit EchoServer shares its counterpart with the plain one: measured on one side.
    assert by_server["target: ferrosock EchoServer, idle_timeout=60"].endswith("-: not measured")
    # Neither side of the framed or the UDP pair measured: no line for them.
    assert len(lines) == 4
    (alone,) = instructions_suite.targets({"ferrosock-framed": 5000.0})
    assert alone.endswith("-: not measured")


def test_table_shows_ratios_to_tokio_and_to_the_counterpart() -> None:
    chosen = [
        instructions_suite.BY_KEY[k]
        for k in ("tokio-current-thread", "ferrosock-echo", "uvloop-protocol")
    ]
    pairs = {
        "tokio-current-thread": [Pair(2000, 3_000_000, 6000, 9_000_000)],  # 1500 per request
        "ferrosock-echo": [Pair(2000, 500_000_000, 6000, 506_600_000)],  # 1650
        "uvloop-protocol": [Pair(2000, 510_000_000, 6000, 528_000_000)],  # 4500
    }
    table = instructions_suite.build_table(chosen, pairs, {"uvloop-time": "why"}, (2000, 6000))
    rows = {row[0]: row for row in table.rows}
    assert rows["ferrosock EchoServer"][1:] == ["1,650", "1.10", "uvloop Protocol echo", "0.37"]
    assert rows["tokio echo, current-thread"][1:3] == ["1,500", "1.00"]
    assert any(n.endswith("1.10x: met") for n in table.notes)
    assert any("skipped (why)" in n for n in table.notes)
    (echo,) = [d for d in table.data if d["key"] == "ferrosock-echo"]
    assert echo["instructions_per_request"] == 1650.0
    assert echo["pairs"][0]["long_ir"] == 506_600_000
    # Repeated pairs: the median, and how far the repeats disagree.
    pairs["ferrosock-echo"].append(Pair(2000, 500_000_000, 6000, 506_680_000))  # 1670
    pairs["ferrosock-echo"].append(Pair(2000, 500_000_000, 6000, 506_640_000))  # 1660
    table = instructions_suite.build_table(chosen, pairs, {}, (2000, 6000))
    assert table.headers[-1] == "spread"
    rows = {row[0]: row for row in table.rows}
    assert rows["ferrosock EchoServer"][1] == "1,660"
    assert rows["ferrosock EchoServer"][-1] == "1.2%"
    (echo,) = [d for d in table.data if d["key"] == "ferrosock-echo"]
    assert (echo["lowest"], echo["highest"]) == (1650.0, 1670.0)


def test_not_part_of_the_default_run() -> None:
    assert "instructions" in SUITES
    assert "instructions" not in DEFAULT_SUITES
    assert "scale" in DEFAULT_SUITES


def test_unknown_server_names_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="no-such-server"):
        instructions_suite._selected("ferrosock-echo,no-such-server")


def _without_valgrind(tmp_path: Path) -> dict[str, str]:
    # A PATH holding only this Python: no valgrind on it.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    return {**os.environ, "PATH": str(bin_dir)}


def test_alone_without_valgrind_fails_and_says_how_to_get_it(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ferrosock.bench", "instructions", "--quick"],
        capture_output=True,
        text=True,
        timeout=60,
        env=_without_valgrind(tmp_path),
    )
    assert done.returncode == 1
    assert "valgrind is not installed" in done.stderr
    assert "apt-get install valgrind" in done.stderr


def test_with_other_suites_without_valgrind_it_alone_is_skipped(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from ferrosock.bench import __main__ as bench_main
    from ferrosock.bench._table import Table

    ran = []

    def fake_run(settings: object, progress: object) -> list[Table]:
        ran.append("fake")
        return [Table(title="fake suite", headers=["a"], rows=[["1"]])]

    fake = types.SimpleNamespace(NAME="fake", SUMMARY="", PLACES_ITSELF=True, run=fake_run)
    monkeypatch.setitem(bench_main.SUITES, "fake", fake)
    monkeypatch.setattr(_callgrind, "valgrind", lambda: None)
    assert bench_main.main(["fake", "instructions", "--pin", "none"]) == 0
    out, err = capsys.readouterr()
    assert ran == ["fake"]
    assert "skipping instructions: valgrind is not installed" in err
    assert "fake suite" in out


@needs_rust
@pytest.mark.timeout(180)
@pytest.mark.skipif(_callgrind.valgrind() is None, reason="valgrind is not installed")
def test_quick_run_counts_one_server_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "instructions.json"
    env = {**os.environ, instructions_suite.ONLY_ENV: "ferrosock-echo", "PYTHONWARNINGS": "error"}
    done = subprocess.run(
        [sys.executable, "-m", "ferrosock.bench", "instructions", "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=170,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    (table,) = json.loads(out.read_text())["tables"]["instructions"]
    (row,) = table["rows"]
    assert row["key"] == "ferrosock-echo"
    (pair,) = row["pairs"]
    short, long = instructions_suite.QUICK_COUNTS
    assert (pair["short_requests"], pair["long_requests"]) == (short, long)
    # The longer run executed more, and a request costs something plausible: more than a
    # system call's user-space wrapper, less than a millisecond of CPU.
    assert pair["long_ir"] > pair["short_ir"] > 0
    assert 200 < row["instructions_per_request"] < 5_000_000
    if _callgrind.control() is not None:
        # Zeroed after start-up: each dump holds about its requests' instructions, no more.
        assert instructions_suite.DUMPS in done.stdout
        per = row["instructions_per_request"]
        assert pair["short_ir"] < 2 * short * per
    assert "ferrosock EchoServer" in done.stdout
    assert "not measured" in done.stdout  # the targets whose other side was not run


@needs_rust
@pytest.mark.timeout(180)
@pytest.mark.skipif(_callgrind.valgrind() is None, reason="valgrind is not installed")
def test_without_callgrind_control_two_whole_runs_are_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ferrosock.bench._results import Placement, Settings

    monkeypatch.setattr(_callgrind, "control", lambda: None)
    settings = Settings(rounds=1, bulk_mib=1, repeat=1, quick=True, placement=Placement("none"))
    (table,) = instructions_suite.run(settings, lambda _: None, keys=["ferrosock-echo"])
    assert instructions_suite.RUNS in table.title
    assert "counted as two whole runs per server: callgrind_control is not installed" in (
        table.notes
    )
    (row,) = table.data
    (pair,) = row["pairs"]
    # Whole runs: start-up (the interpreter, the imports) is in both totals.
    assert pair["short_ir"] > 10 * pair["short_requests"] * row["instructions_per_request"]
    assert pair["long_ir"] > pair["short_ir"]
