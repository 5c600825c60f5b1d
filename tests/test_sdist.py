"""The sdist a user without a matching wheel installs: built with maturin, installed with pip
into a fresh venv (pip fetches the build backend, maturin, and cargo compiles the extension),
then run from outside the source tree.

Opt-in, since it compiles ferrosock from scratch (a minute or two with the cargo target
directory of this Python's build, given as CARGO_TARGET_DIR; several without): set
FERROSOCK_TEST_SDIST=1. `make test-pythons` sets it for one version (SDIST=3.X, the newest
by default).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from test_wheel import SMOKE, cargo_version, maturin_command

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(
    os.environ.get("FERROSOCK_TEST_SDIST") != "1",
    reason="compiles ferrosock from the sdist: opt-in with FERROSOCK_TEST_SDIST=1",
)


def build_sdist(out: Path) -> Path:
    maturin = maturin_command()
    if maturin is None:
        pytest.skip("maturin is not installed (make venv installs it): cannot build an sdist")
    subprocess.run([*maturin, "sdist", "--out", str(out)], cwd=ROOT, check=True, timeout=120)
    (sdist,) = out.glob(f"ferrosock-{cargo_version()}.tar.gz")
    return sdist


@pytest.mark.timeout(900)
def test_sdist_builds_installs_and_runs(tmp_path):
    if shutil.which("cargo") is None:
        pytest.skip("no cargo on PATH: an sdist needs Rust to install")
    version = cargo_version()
    sdist = build_sdist(tmp_path / "dist")
    with tarfile.open(sdist) as tar:
        names = set(tar.getnames())
    top = f"ferrosock-{version}"
    for name in ("LICENSE", "CHANGELOG.md", "README.md", "pyproject.toml", "Cargo.toml"):
        assert f"{top}/{name}" in names, sorted(names)
    assert f"{top}/src/lib.rs" in names and f"{top}/python/ferrosock/__init__.py" in names
    with tarfile.open(sdist) as tar:
        pkg_info = tar.extractfile(f"{top}/PKG-INFO")
        assert pkg_info is not None
        meta = pkg_info.read().decode("utf-8")
    assert "License-File: LICENSE" in meta and "Requires-Python: >=3.9" in meta, meta

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=60)
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = os.pathsep.join([str(venv / "bin"), env.get("PATH", "")])
    elsewhere = tmp_path / "elsewhere"  # cwd outside the checkout, so nothing is imported from it
    elsewhere.mkdir()

    def run(*args: object, timeout: float = 60) -> str:
        done = subprocess.run(
            [str(a) for a in args],
            cwd=elsewhere,
            env=env,
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=timeout,
        )
        assert done.returncode == 0, f"{args}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    # Built from source: pip gets maturin (pyproject's build-system) from the package index.
    pip = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    run(*pip, "--no-binary", "ferrosock", sdist, timeout=840)

    assert run(python, "-m", "ferrosock", "--version").strip() == f"ferrosock {version}"
    smoke = run(python, "-c", SMOKE)
    assert smoke.splitlines()[-1] == "smoke ok", smoke
    for line in smoke.splitlines()[:2]:
        where = line.split(" ", 1)[1]
        assert where.startswith(str(venv / "lib")) and not where.startswith(str(ROOT)), smoke
    record = run(python, "-c", "import importlib.metadata as m; print(m.files('ferrosock'))")
    assert "dist-info/licenses/LICENSE" in record or "dist-info/LICENSE" in record, record
