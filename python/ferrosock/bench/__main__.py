"""The command: ``python -m ferrosock.bench [SUITE ...] [--quick] [--json FILE] [--markdown]``."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time

from . import DEFAULT_SUITES, SUITES
from ._machine import PIN_MODES, describe, pinned, placement
from ._report import machine_line, markdown_table, settings_line, text_table, to_json
from ._results import Settings, WorkloadResult
from ._table import Table

DEFAULT_ROUNDS = 100_000
DEFAULT_BULK_MIB = 100
QUICK_ROUNDS = 10_000
QUICK_BULK_MIB = 10
DEFAULT_REPEAT = 3


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _suite(name: str) -> str:
    if name not in SUITES:
        choices = ", ".join(map(repr, SUITES))
        raise argparse.ArgumentTypeError(f"invalid choice: {name!r} (choose from {choices})")
    return name


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ferrosock.bench",
        description="Measure the stdlib socket module and ferrosock side by side over loopback.",
        epilog="suites: " + "; ".join(f"{name}: {suite.SUMMARY}" for name, suite in SUITES.items()),
    )
    # Not `choices=`: with nargs="*", argparse checks an empty list against them and fails.
    parser.add_argument(
        "suite",
        nargs="*",
        type=_suite,
        metavar="SUITE",
        help=f"suites to run, from: {', '.join(SUITES)} (default: {', '.join(DEFAULT_SUITES)}; "
        "instructions needs valgrind and runs only when named)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"{QUICK_ROUNDS} round trips and {QUICK_BULK_MIB} MiB instead of "
        f"{DEFAULT_ROUNDS} and {DEFAULT_BULK_MIB}",
    )
    parser.add_argument("--rounds", type=_positive, help="round trips per ping-pong workload")
    parser.add_argument("--bulk-mib", type=_positive, help="MiB moved by the bulk workload")
    parser.add_argument(
        "--repeat",
        type=_positive,
        help=f"times each workload runs (median shown; default {DEFAULT_REPEAT}); instructions: "
        "valgrind runs per server (default 1, which counts 3 pairs of stretches)",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
    parser.add_argument(
        "--markdown", action="store_true", help="print a markdown table instead of plain text"
    )
    parser.add_argument("--plot", metavar="FILE.png", help="also draw the results (matplotlib)")
    parser.add_argument(
        "--pin",
        choices=PIN_MODES,
        default="auto",
        help="where the two processes run: auto (default) puts them on one CPU for round "
        "trips and on two for bulk; split: always two; same: always one; none: unpinned",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    names = list(dict.fromkeys(args.suite or DEFAULT_SUITES))
    settings = Settings(
        rounds=args.rounds or (QUICK_ROUNDS if args.quick else DEFAULT_ROUNDS),
        bulk_mib=args.bulk_mib or (QUICK_BULK_MIB if args.quick else DEFAULT_BULK_MIB),
        repeat=args.repeat or DEFAULT_REPEAT,
        quick=args.quick,
        placement=placement(args.pin),
        repeat_given=args.repeat is not None,
    )
    machine = describe()

    live = sys.stderr.isatty()
    started = time.monotonic()

    def progress(line: str) -> None:
        # On a terminal, one status line rewritten in place; otherwise a line per step.
        if live:
            width = shutil.get_terminal_size().columns - 1
            status = f"[{time.monotonic() - started:5.0f} s] {line}"[:width]
            print(f"\r\x1b[K{status}", end="", file=sys.stderr, flush=True)
        else:
            print(line, file=sys.stderr, flush=True)

    # A suite that cannot run here (say, tls without the openssl command) stops the command
    # before any suite has run, rather than after the others' minutes of measuring. One that
    # is only a complement (instructions without valgrind) is skipped, and the others run;
    # asked for alone, it still fails the command.
    for name in list(names):
        check = getattr(SUITES[name], "check", None)
        problem = check() if check is not None else None
        if not problem:
            continue
        if getattr(SUITES[name], "SKIP_WHEN_UNAVAILABLE", False) and len(names) > 1:
            print(f"python -m ferrosock.bench: skipping {name}: {problem}", file=sys.stderr)
            names.remove(name)
            continue
        print(f"python -m ferrosock.bench {name}: {problem}", file=sys.stderr)
        return 1

    results: dict[str, list[WorkloadResult]] = {}
    tables: dict[str, list[Table]] = {}
    for name in names:
        if getattr(SUITES[name], "PLACES_ITSELF", False):
            tables[name] = SUITES[name].run(settings, progress)
            continue
        with pinned(settings.placement.client):
            results[name] = SUITES[name].run(settings, progress)

    if live:
        print("\r\x1b[K", end="", file=sys.stderr, flush=True)
    print(machine_line(machine))
    print(settings_line(settings))
    if results:
        print()
        print(markdown_table(results) if args.markdown else text_table(results))
    for suite_tables in tables.values():
        for table in suite_tables:
            print()
            print(table.markdown() if args.markdown else table.text())
    if args.json:
        command = ["python", "-m", "ferrosock.bench", *(argv if argv is not None else sys.argv[1:])]
        with open(args.json, "w", encoding="utf-8") as f:
            document = json.loads(to_json(machine, settings, results, command))
            document["tables"] = {k: [t.to_dict() for t in v] for k, v in tables.items()}
            f.write(json.dumps(document, indent=2) + "\n")
    if args.plot:
        from ._plot import plot

        plot(args.plot, results, tables)
    return 0


if __name__ == "__main__":
    sys.exit(main())
