"""``python -m ferrosock.bench``: the stdlib ``socket`` and ferrosock, measured side by side.

Benchmarks are a command, not tests. Each suite is a module with a ``NAME``, a one-line
``SUMMARY`` and ``run(settings, progress) -> list[WorkloadResult]`` (or ``list[Table]`` with
``PLACES_ITSELF``), and optionally ``check() -> str | None``: why it cannot run here, asked
before any suite runs (the command stops there, unless the suite sets ``SKIP_WHEN_UNAVAILABLE``:
then it alone is skipped, with the reason). :data:`SUITES` lists them in the order ``python -m
ferrosock.bench`` runs them; :data:`DEFAULT_SUITES` those it runs when none is named (a suite
with ``IN_DEFAULT_RUN = False`` runs only when asked for).
"""

from __future__ import annotations

from types import ModuleType

from . import (
    aio_suite,
    echo_suite,
    framing_suite,
    instructions_suite,
    scale_suite,
    socket_suite,
    tls_suite,
    udp_suite,
)
from ._results import CONTENDERS, Settings, WorkloadResult

SUITES: dict[str, ModuleType] = {
    suite.NAME: suite
    for suite in (
        socket_suite,
        tls_suite,
        echo_suite,
        udp_suite,
        aio_suite,
        framing_suite,
        scale_suite,
        instructions_suite,
    )
}
DEFAULT_SUITES = [name for name, suite in SUITES.items() if getattr(suite, "IN_DEFAULT_RUN", True)]

__all__ = ["SUITES", "DEFAULT_SUITES", "CONTENDERS", "Settings", "WorkloadResult"]
