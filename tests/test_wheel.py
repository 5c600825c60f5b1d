"""The wheel a user installs: built for this interpreter, installed into a fresh venv with no
Rust toolchain on PATH and no package index, then run from outside the source tree.

A wheel in dist/ (from `make wheels`) is reused when it is newer than every source it is made
of; otherwise one is built there with maturin (a release build: about a minute on a warm
target/). Skips if maturin is not available.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DIST = ROOT / "dist"
TAG = f"cp{sys.version_info[0]}{sys.version_info[1]}"

SMOKE = r"""
import ferrosock as socket
from ferrosock import servers

a, b = socket.socketpair()
with a, b:
    a.sendall(b"through the wheel")
    assert b.recv(100) == b"through the wheel"
    assert type(a) is socket.socket and type(a).__module__ == "ferrosock", type(a)

with servers.EchoServer(("127.0.0.1", 0)) as srv:
    with socket.create_connection(srv.address, timeout=5) as c:
        c.sendall(b"ping")
        assert c.recv(4) == b"ping"

import ferrosock._native
print("native", ferrosock._native.__file__)
print("package", socket.__file__)
print("smoke ok")
"""


def cargo_version() -> str:
    text = (ROOT / "Cargo.toml").read_text(encoding="utf-8")
    match = re.search(r'^\[package\][^\[]*?^version = "([^"]+)"', text, re.M | re.S)
    assert match, "no [package] version in Cargo.toml"
    return match.group(1)


def maturin_command() -> list[str] | None:
    if importlib.util.find_spec("maturin") is not None:
        return [sys.executable, "-m", "maturin"]
    found = shutil.which("maturin")
    return [found] if found else None


def newest_source() -> float:
    paths = [ROOT / name for name in ("Cargo.toml", "Cargo.lock", "pyproject.toml", "README.md")]
    paths += list((ROOT / "src").rglob("*.rs"))
    paths += [
        p for p in (ROOT / "python").rglob("*") if p.is_file() and "__pycache__" not in p.parts
    ]
    return max(p.stat().st_mtime for p in paths)


def fresh_wheel(version: str) -> Path | None:
    wheels = sorted(DIST.glob(f"ferrosock-{version}-{TAG}-{TAG}-*linux*_x86_64.whl"))
    wheels = [w for w in wheels if w.stat().st_mtime > newest_source()]
    return max(wheels, key=lambda w: w.stat().st_mtime) if wheels else None


def build_wheel(version: str) -> Path:
    wheel = fresh_wheel(version)
    if wheel is not None:
        return wheel
    maturin = maturin_command()
    if maturin is None:
        pytest.skip("maturin is not installed (make venv installs it): cannot build a wheel")
    if shutil.which("cargo") is None:
        pytest.skip("no fresh wheel in dist/ and no cargo to build one (run make wheels)")
    subprocess.run(
        [*maturin, "build", "--release", "--quiet", "--interpreter", sys.executable]
        + ["--out", str(DIST)],
        cwd=ROOT,
        check=True,
        timeout=200,
    )
    wheel = fresh_wheel(version)
    assert wheel is not None, f"maturin built no {TAG} wheel into {DIST}"
    return wheel


def without_rust(env: dict[str, str]) -> dict[str, str]:
    """The environment minus every PATH entry holding cargo or rustc, and Rust's variables."""
    keep = [
        d
        for d in env.get("PATH", "").split(os.pathsep)
        if d and not any(os.path.exists(os.path.join(d, tool)) for tool in ("cargo", "rustc"))
    ]
    env = {k: v for k, v in env.items() if not k.startswith(("CARGO", "RUSTUP", "RUSTC"))}
    for name in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE"):
        env.pop(name, None)
    env["PATH"] = os.pathsep.join(keep)
    env["PIP_CONFIG_FILE"] = os.devnull  # no find-links or index from the machine's pip.conf
    env["PYTHONNOUSERSITE"] = "1"
    return env


@pytest.mark.timeout(240)  # a build is ~1 min on a warm target/, ~15 s without
def test_wheel_installs_and_runs_without_rust(tmp_path):
    started = time.monotonic()
    version = cargo_version()
    wheel = build_wheel(version)
    assert wheel.name.startswith(f"ferrosock-{version}-{TAG}-{TAG}-manylinux"), wheel.name
    with zipfile.ZipFile(wheel) as whl:
        licenses = [n for n in whl.namelist() if ".dist-info/licenses/" in n]
        assert [n.rsplit("/", 1)[1] for n in licenses] == ["LICENSE"], whl.namelist()
        assert "MIT License" in whl.read(licenses[0]).decode("utf-8")

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=60)
    python = venv / "bin" / "python"
    env = without_rust(dict(os.environ))
    env["PATH"] = os.pathsep.join([str(venv / "bin"), env["PATH"]])
    elsewhere = tmp_path / "elsewhere"  # cwd outside the checkout, so nothing is imported from it
    elsewhere.mkdir()

    def run(*args: str, timeout: float = 60) -> str:
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

    tools = "import shutil; print([shutil.which(t) for t in ('cargo', 'rustc')])"
    assert run(python, "-c", tools).strip() == "[None, None]"

    # --no-index: nothing but the wheel; without --no-deps, so a runtime dependency would fail.
    pip = ["-m", "pip", "install", "--quiet", "--no-index", "--disable-pip-version-check"]
    run(python, *pip, str(wheel), timeout=120)

    meta = "import importlib.metadata as m, ferrosock; print(m.version('ferrosock'))\n"
    meta += "print(ferrosock.__version__)"
    assert run(python, "-c", meta).split() == [version, version]
    assert run(python, "-m", "ferrosock", "--version").strip() == f"ferrosock {version}"
    assert run(venv / "bin" / "ferrosock", "--version").strip() == f"ferrosock {version}"

    smoke = run(python, "-c", SMOKE)
    assert smoke.splitlines()[-1] == "smoke ok", smoke
    site = str(venv / "lib")
    for line in smoke.splitlines()[:2]:
        where = line.split(" ", 1)[1]
        assert where.startswith(site) and not where.startswith(str(ROOT)), smoke

    demo = run(python, "-m", "ferrosock", "demo", "--quiet", timeout=90)
    assert re.search(r"all \d+ runs behave the same on both backends", demo), demo
    print(f"{wheel.name}: found or built, installed and run in {time.monotonic() - started:.0f} s")
