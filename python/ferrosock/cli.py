"""The ``ferrosock`` command (also ``python -m ferrosock``).

Each subcommand is one ``add_<name>(subparsers)`` function that builds its parser and sets
``handler``, a function of the parsed arguments returning the exit status; to add one, write
such a function and list it in SUBCOMMANDS.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from types import TracebackType
from typing import Callable


def add_run(subparsers) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run an unmodified Python script on ferrosock sockets",
        description="Patch the stdlib socket module with ferrosock (as gevent's monkey-patching "
        "does), then run SCRIPT as `python SCRIPT ARGS...` would: as __main__, with "
        "sys.argv = [SCRIPT, ARGS...], the same tracebacks and exit status.",
    )
    parser.add_argument("script", metavar="SCRIPT", help="the Python file to run")
    parser.add_argument("args", metavar="ARGS", nargs=argparse.REMAINDER, help="its arguments")
    parser.set_defaults(handler=run_script)


def add_demo(subparsers) -> None:
    from ferrosock import demo

    parser = subparsers.add_parser(
        "demo",
        help="run every lesson program on std and rust sockets, and compare",
        description=demo.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_arguments(parser)
    parser.set_defaults(handler=lambda args: demo.demo(args.port_base, show=not args.quiet))


def _native_commands() -> list[Callable[..., None]]:
    from ferrosock import _cli_native

    return [
        _cli_native.add_serve,
        _cli_native.add_time,
        _cli_native.add_echo,
        _cli_native.add_chat,
    ]


SUBCOMMANDS: list[Callable[..., None]] = [add_run, add_demo, *_native_commands()]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ferrosock", description="Rust-backed sockets, a drop-in for Python's socket module."
    )
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for add in SUBCOMMANDS:
        add(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


# --------------------------------------------------------------------------- run


def _frames_from(tb: TracebackType | None, filename: str) -> TracebackType | None:
    """`tb` without the frames above the script's own (ours and runpy's)."""
    while tb is not None and tb.tb_frame.f_code.co_filename != filename:
        tb = tb.tb_next
    return tb


def run_script(args: argparse.Namespace) -> int:
    import runpy

    from ferrosock._patch import patch

    script = args.script
    path = os.path.abspath(script)
    if not os.path.exists(path):
        # python's own words for a missing script, and its exit status
        message = f"can't open file {path!r}: [Errno 2] No such file or directory"
        print(f"{sys.executable}: {message}", file=sys.stderr)
        return 2
    sys.argv[:] = [script, *args.args]
    sys.path[0] = os.path.dirname(path)  # as `python SCRIPT` does (we ran as `-m ferrosock`)
    patch()
    try:
        runpy.run_path(path, run_name="__main__")  # absolute, as python names it since 3.9
    except SystemExit:
        raise  # python turns it into the exit status, printing a message if it is one
    except BaseException as exc:  # noqa: BLE001 - reported as python reports it
        # no frame of the script: a SyntaxError in it, which python prints without a traceback
        exc.__traceback__ = _frames_from(exc.__traceback__, path)
        sys.excepthook(type(exc), exc, exc.__traceback__)
        if isinstance(exc, KeyboardInterrupt):
            # python ends an interrupted program by dying of SIGINT, so the shell sees 130
            sys.stdout.flush()
            sys.stderr.flush()
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)
            return 128 + signal.SIGINT
        return 1
    return 0
