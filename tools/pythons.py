"""Print the CPython interpreters ferrosock builds wheels for, one path a line.

Looks under pyenv's versions directory ($PYENV_ROOT, else ~/.pyenv) and on PATH
(python3.9 ... python3.13); keeps, for each minor version from 3.9 up, the newest
interpreter that runs and says it is CPython with the GIL (free-threaded "t" builds are
left out: ferrosock does not declare itself free-threading-safe yet). Used by `make wheels`.
Runs on any Python 3; `--versions` prints "3.12 /path" pairs instead.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys

MINIMUM = (3, 9)
PROBE = (
    "import sys, sysconfig, platform; "
    "print(platform.python_implementation(), sys.version_info[0], sys.version_info[1], "
    "sys.version_info[2], sysconfig.get_config_var('Py_GIL_DISABLED') or 0)"
)


def candidates() -> list[str]:
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    found = sorted(glob.glob(os.path.join(root, "versions", "*", "bin", "python3")))
    for minor in range(MINIMUM[1], 20):
        path = shutil.which(f"python3.{minor}")
        if path:
            found.append(path)
    return found


def probe(path: str) -> tuple[int, int, int] | None:
    try:
        out = subprocess.run(
            [path, "-c", PROBE], capture_output=True, text=True, timeout=20, check=True
        ).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return None
    impl, major, minor, micro, no_gil = out[0], *map(int, out[1:])
    if impl != "CPython" or no_gil or (major, minor) < MINIMUM:
        return None
    return major, minor, micro


def interpreters() -> dict[tuple[int, int], str]:
    best: dict[tuple[int, int], tuple[int, str]] = {}
    for path in candidates():
        version = probe(path)
        if version is None:
            continue
        key = version[:2]
        if key not in best or version[2] > best[key][0]:
            best[key] = (version[2], os.path.realpath(path))
    return {key: path for key, (_, path) in sorted(best.items())}


def main(argv: list[str]) -> int:
    found = interpreters()
    if not found:
        print("no CPython 3.9+ interpreter found", file=sys.stderr)
        return 1
    for (major, minor), path in found.items():
        print(f"{major}.{minor} {path}" if "--versions" in argv else path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
