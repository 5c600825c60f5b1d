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
        help="run an unmodified Python script (or -m MODULE) on ferrosock sockets",
        usage="ferrosock run SCRIPT [ARGS...]  |  ferrosock run -m MODULE [ARGS...]",
        description="Patch the stdlib socket module with ferrosock (as gevent's monkey-patching "
        "does), then run SCRIPT as `python SCRIPT ARGS...` would, or MODULE as `python -m "
        "MODULE ARGS...` would: as __main__, with the same sys.argv, tracebacks and exit "
        "status.",
    )
    parser.add_argument(
        "-m",
        dest="module",
        nargs=argparse.REMAINDER,
        metavar="MODULE",
        help="run a module, as python -m does (e.g. -m http.server 8000)",
    )
    parser.add_argument("script", nargs="?", metavar="SCRIPT", help="the Python file to run")
    parser.add_argument("args", metavar="ARGS", nargs=argparse.REMAINDER, help="its arguments")
    parser.set_defaults(handler=run_script, run_parser=parser)


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
    from ferrosock import __version__

    parser = argparse.ArgumentParser(
        prog="ferrosock", description="Rust-backed sockets, a drop-in for Python's socket module."
    )
    parser.add_argument(
        "--version", action="version", version=f"ferrosock {__version__}", help="print the version"
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

    if args.module is not None:
        if not args.module:
            args.run_parser.error("-m needs a MODULE to run (ferrosock run -m MODULE [ARGS...])")
        return _run_module(args.module[0], args.module[1:])
    if args.script is None:
        args.run_parser.error(
            "give a script to run: ferrosock run SCRIPT [ARGS...], or ferrosock run -m MODULE"
        )
    script = args.script
    path = os.path.abspath(script)
    if not os.path.exists(path):
        # python's own words for a missing script, and its exit status
        message = f"can't open file {path!r}: [Errno 2] No such file or directory"
        print(f"{sys.executable}: {message}", file=sys.stderr)
        return 2
    sys.argv[:] = [script, *args.args]  # argv[0] as typed, as python leaves it
    sys.path[0] = os.path.dirname(path)  # as `python SCRIPT` does (we ran as `-m ferrosock`)
    patch()
    if os.path.isdir(path) or not path.endswith(".py"):  # a directory or zip with __main__.py
        return _as_python_would(lambda: runpy.run_path(script, run_name="__main__"), path)
    return _as_python_would(lambda: _exec_main(path), path)


def _exec_main(path: str) -> None:
    """Run the file as __main__ the way `python FILE` does: __file__ absolute (as since 3.9),
    sys.argv[0] untouched (runpy.run_path would set it to the path it is given)."""
    import builtins
    import importlib.machinery
    import types

    loader = importlib.machinery.SourceFileLoader("__main__", path)
    main = types.ModuleType("__main__")
    main.__file__ = path
    main.__loader__ = loader
    main.__spec__ = None
    main.__builtins__ = builtins
    main.__cached__ = None  # type: ignore[attr-defined]
    saved = sys.modules.get("__main__")
    sys.modules["__main__"] = main
    try:
        exec(loader.get_code("__main__"), main.__dict__)  # noqa: S102 - running the user's script
    finally:
        if saved is not None:
            sys.modules["__main__"] = saved


def _run_module(name: str, arguments: list[str]) -> int:
    """`python -m NAME ARGUMENTS...` on ferrosock sockets."""
    import importlib.util
    import runpy

    from ferrosock._patch import patch

    sys.argv[:] = [name, *arguments]  # runpy sets argv[0] to the module's file, as python -m
    sys.path[0] = os.getcwd()  # python -m puts the current directory first
    patch()
    try:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations is not None:
            spec = importlib.util.find_spec(f"{name}.__main__")
    except (ImportError, ValueError) as exc:
        spec, why = None, str(exc)
    else:
        why = f"No module named {name}"
    if spec is None or spec.origin is None:
        print(f"{sys.executable}: {why}", file=sys.stderr)  # python -m's words, status 1
        return 1
    run = lambda: runpy.run_module(name, run_name="__main__", alter_sys=True)  # noqa: E731
    return _as_python_would(run, spec.origin)


def _as_python_would(run: Callable[[], object], filename: str) -> int:
    """Run; report an exception as python reports its main program's, with its exit status."""
    try:
        run()
    except SystemExit:
        raise  # python turns it into the exit status, printing a message if it is one
    except BaseException as exc:  # noqa: BLE001 - reported as python reports it
        # no frame of the script: a SyntaxError in it, which python prints without a traceback
        exc.__traceback__ = _frames_from(exc.__traceback__, filename)
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
