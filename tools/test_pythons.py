"""Build ferrosock for every CPython 3.9+ found and run the full test suite on each.

Each version gets its own venv (.venvs/3.X, with pyproject's `test` pins, which carry
per-version markers, and maturin) and its own cargo target directory (target/py3.X), so
versions never rebuild each other's artifacts. A new target/py3.X starts as a copy of
target/release when there is one: the crates that do not depend on the interpreter (tokio,
socket2, ...) are then not compiled again, only PyO3 and ferrosock. `maturin develop`
drops one `_native.cpython-3X-*.so` per version into python/ferrosock/: each interpreter
loads only the suffix it was built for, and they are gitignored.

Usage: python tools/test_pythons.py [--skip 3.11] [--only 3.9,3.13] [--sdist 3.X] [-- PYTEST ARGS]
One version (`--sdist`, by default the newest tested) also runs the opt-in sdist test
(tests/test_sdist.py, FERROSOCK_TEST_SDIST=1: pip compiles the sdist in a fresh venv).
Runs on Python 3.9+; prints one summary line per version and exits 1 if any failed.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

import pythons  # noqa: E402  (tools/pythons.py, beside this file)

CHECK_OWN_NATIVE = (
    "import importlib.machinery, ferrosock._native as n; "
    "suffix = importlib.machinery.EXTENSION_SUFFIXES[0]; "
    "assert n.__file__.endswith(suffix), (n.__file__, suffix); print(n.__file__)"
)


def project_lists() -> tuple[list[str], str]:
    """pyproject's `test` requirements and the pinned maturin from `dev`."""
    try:
        import tomllib
    except ImportError:  # Python < 3.11: read the two lists with a small parser
        tomllib = None
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    if tomllib is not None:
        extras = tomllib.loads(text)["project"]["optional-dependencies"]
    else:
        extras = {}
        for name in ("test", "dev"):
            block = re.search(rf"^{name} = \[(.*?)^\]", text, re.M | re.S)
            assert block, f"no {name} list in pyproject.toml"
            extras[name] = re.findall(r'^\s*"([^"]+)"', block.group(1), re.M)
    maturin = next(r for r in extras["dev"] if r.startswith("maturin=="))
    return extras["test"], maturin


def run(cmd: list[str], log, env: dict[str, str] | None = None, timeout: float = 1800) -> int:
    print("+", " ".join(str(c) for c in cmd), file=log, flush=True)
    return subprocess.run(
        cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=timeout
    ).returncode


def make_venv(python: str, venv: Path, log) -> None:
    test, maturin = project_lists()
    # The stamp holds what was installed: the venv is remade only when that changes.
    wanted = "\n".join([python, maturin, *test]) + "\n"
    stamp = venv / ".ferrosock-deps"
    if stamp.exists() and stamp.read_text(encoding="utf-8") == wanted:
        return
    shutil.rmtree(venv, ignore_errors=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    requirements = venv.parent / f"{venv.name}-requirements.txt"
    steps = [
        [python, "-m", "venv", str(venv)],
        [*pip, "--upgrade", "pip"],
        [*pip, maturin],
        [*pip, "-r", str(requirements)],
    ]
    venv.parent.mkdir(parents=True, exist_ok=True)
    requirements.write_text("\n".join(test) + "\n", encoding="utf-8")
    try:
        for step in steps:
            if run(step, log, timeout=900) != 0:
                raise RuntimeError(f"setting up {venv} failed: {' '.join(step)}")
    finally:
        requirements.unlink(missing_ok=True)
    stamp.write_text(wanted, encoding="utf-8")


def seed_target(target: Path, log) -> None:
    """Start target/py3.X from target/release, so shared crates are not compiled again."""
    shared = ROOT / "target" / "release"
    if target.exists() or not shared.is_dir():
        return
    print(f"+ seeding {target} from {shared}", file=log, flush=True)
    target.mkdir(parents=True)
    shutil.copytree(shared, target / "release", symlinks=True)


def summary(log_path: Path) -> str:
    lines = log_path.read_text(encoding="utf-8", errors="replace").splitlines()
    for line in reversed(lines):
        if re.search(r"\d+ (passed|failed|error)", line):
            return line.strip("= ")
    return "no pytest summary (see log)"


def test_version(
    minor: str, python: str, pytest_args: list[str], sdist: bool
) -> tuple[bool, str, dict[str, float]]:
    venv = ROOT / ".venvs" / minor
    target = ROOT / "target" / f"py{minor}"
    log_path = ROOT / ".venvs" / f"{minor}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    times: dict[str, float] = {}
    env = dict(os.environ)
    env.update(
        VIRTUAL_ENV=str(venv),
        PATH=os.pathsep.join([str(venv / "bin"), env.get("PATH", "")]),
        CARGO_TARGET_DIR=str(target),
    )
    env.pop("PYTHONPATH", None)
    if sdist:
        env["FERROSOCK_TEST_SDIST"] = "1"
    with open(log_path, "w", encoding="utf-8") as log:
        started = time.monotonic()
        try:
            make_venv(python, venv, log)
        except RuntimeError as exc:
            return False, str(exc), times
        times["venv"] = time.monotonic() - started

        started = time.monotonic()
        seed_target(target, log)
        build = [str(venv / "bin" / "maturin"), "develop", "--release", "--quiet"]
        if run(build, log, env=env) != 0:
            return False, "maturin develop failed", times
        own = [str(venv / "bin" / "python"), "-c", CHECK_OWN_NATIVE]
        if run(own, log, env=env, timeout=60) != 0:
            return False, f"{venv} does not import its own _native", times
        times["build"] = time.monotonic() - started

        started = time.monotonic()
        pytest = [str(venv / "bin" / "python"), "-m", "pytest", "-p", "no:cacheprovider"]
        code = run([*pytest, *pytest_args], log, env=env, timeout=3600)
        times["pytest"] = time.monotonic() - started
    return code == 0, summary(log_path), times


def main(argv: list[str]) -> int:
    if "--" in argv:
        at = argv.index("--")
        argv, pytest_args = argv[:at], argv[at + 1 :]
    else:
        pytest_args = ["-q"]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip", default="", help="comma-separated versions to leave out")
    parser.add_argument("--only", default="", help="comma-separated versions to test")
    parser.add_argument(
        "--sdist", default="newest", help="version that also runs the sdist test (or 'none')"
    )
    args = parser.parse_args(argv)
    skip = {v for v in args.skip.split(",") if v}
    only = {v for v in args.only.split(",") if v}

    found = {f"{major}.{minor}": path for (major, minor), path in pythons.interpreters().items()}
    chosen = {v: p for v, p in found.items() if v not in skip and (not only or v in only)}
    if not chosen:
        print(f"no interpreter to test (found {sorted(found)})", file=sys.stderr)
        return 1
    sdist = list(chosen)[-1] if args.sdist == "newest" else args.sdist
    results = []
    for minor, python in chosen.items():
        print(f"== CPython {minor} ({python}): log in .venvs/{minor}.log", flush=True)
        ok, what, times = test_version(minor, python, pytest_args, sdist=sdist == minor)
        spent = ", ".join(f"{k} {v:.0f} s" for k, v in times.items())
        print(f"   {'ok  ' if ok else 'FAIL'} {what}  ({spent})", flush=True)
        results.append((minor, ok, what))
    print("\ntest-pythons summary:")
    for minor, ok, what in results:
        print(f"  CPython {minor}: {'ok  ' if ok else 'FAIL'} {what}")
    return 0 if all(ok for _, ok, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
