"""`python -m ferrosock.bench scale`: the footprint arithmetic, and a small run of every server.

A benchmark is not a timed test: nothing here asserts which server is smaller or faster.
"""

from __future__ import annotations

import pytest
from conftest import needs_rust
from ferrosock.bench import scale_suite
from ferrosock.bench._results import Placement, Settings


def test_per_connection_is_the_growth_over_the_count() -> None:
    assert scale_suite.per_connection(10_000, 23_000, 10_000) == 1.3
    # An RSS that shrank (the allocator gave pages back) is no negative footprint.
    assert scale_suite.per_connection(10_000, 9_000, 100) == 0.0
    with pytest.raises(ValueError):
        scale_suite.per_connection(1, 2, 0)


def test_target_line_marks_met_and_not_met() -> None:
    assert scale_suite.target_line(1.2, 1.3).endswith("1.20 vs 1.30 KiB: met")
    assert scale_suite.target_line(1.3, 1.3).endswith(": met")
    assert scale_suite.target_line(10.1, 1.3).endswith("10.10 vs 1.30 KiB: NOT MET")
    assert scale_suite.target_line(10.1, None).endswith("not measured")


def test_the_own_process_footprint_is_read() -> None:
    import os

    assert scale_suite.rss_kib(os.getpid()) > 1000
    assert scale_suite.fd_count(os.getpid()) >= 3


@needs_rust
@pytest.mark.timeout(600)
def test_small_run_measures_every_available_server() -> None:
    settings = Settings(
        rounds=1, bulk_mib=1, repeat=1, quick=True, placement=Placement(mode="none")
    )
    idle = 600  # more than one batch, so the accept-then-dial-again loop runs
    rates, memory = scale_suite.run(settings, lambda _: None, steps=[1, 10], idle=idle)
    measured = {row["key"] for row in memory.data}
    skipped = " ".join(memory.notes)
    for key in (scale_suite.FERROSOCK, scale_suite.UVLOOP, scale_suite.TOKIO):
        assert key in measured or key in skipped or "skipped" in skipped
    assert scale_suite.FERROSOCK in measured
    for row in memory.data:
        assert row["idle_connections"] == idle
        assert row["baseline_kib"] > 0 and row["held_kib"] > 0 and row["closed_kib"] > 0
        assert row["per_idle_kib"] == pytest.approx(
            max(row["held_kib"] - row["baseline_kib"], 0) / idle
        )
        assert row["kept_kib"] == row["closed_kib"] - row["baseline_kib"]
    assert any(n.startswith("target: ferrosock EchoServer memory per idle") for n in memory.notes)
    assert [row["connections"] for row in rates.data] == [1, 10]
    for row in rates.data:
        assert row["requests_per_sec"] > 0
        assert set(row["servers"]) == measured
        for server in row["servers"].values():
            assert server["requests_per_sec"] > 0
    assert "ferrosock EchoServer req/s" in rates.text()
    assert "per idle connection" in memory.markdown()
