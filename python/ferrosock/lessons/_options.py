"""The command line every lesson program shares: --backend, --host, --port."""

from __future__ import annotations

import argparse
import sys

# --backend value -> the module that `import socket` becomes
MODULES = {"std": "socket", "rust": "ferrosock"}


def _parser(port: int | None = None, description: str | None = None) -> argparse.ArgumentParser:
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    prog = f"python -m {spec.name}" if spec is not None else None
    parser = argparse.ArgumentParser(
        prog=prog,
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        add_help=port is not None,
    )
    parser.add_argument(
        "--backend",
        choices=MODULES,
        default="rust",
        help="rust: ferrosock (the default, as for `python -m ferrosock serve`); "
        "std: the stdlib socket module, the lesson as written",
    )
    parser.add_argument("--host", default="127.0.0.1", help="default: %(default)s")
    parser.add_argument("--port", type=int, default=port, help="default: %(default)s")
    return parser


def chosen_backend(argv: list[str] | None = None) -> str:
    """The --backend value on the command line (only that option is looked at)."""
    known, _ = _parser().parse_known_args(argv)
    return known.backend


def lesson_options(port: int, description: str | None = None) -> argparse.Namespace:
    """Parse the whole command line of a lesson program whose default port is `port`."""
    return _parser(port, description).parse_args()
