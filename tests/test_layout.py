"""The Rust sources keep their dependencies pointing one way: no two files use each other."""

from __future__ import annotations

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_no_import_circles_among_rust_files() -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "module_cycles.py"), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "no import circles" in run.stdout


def test_the_check_finds_a_circle(tmp_path: pathlib.Path) -> None:
    src = tmp_path / "src"
    (src / "aio").mkdir(parents=True)
    (src / "lib.rs").write_text("pub mod aio;\npub mod framing_io;\n")
    (src / "aio" / "mod.rs").write_text("pub mod stream;\n")
    (src / "aio" / "stream.rs").write_text("use crate::framing_io::framing_error;\n")
    (src / "framing_io.rs").write_text(
        "fn f() { crate::aio::stream::take_frame(); }\n"
        "#[cfg(test)]\nmod tests { use crate::lib_only; }\n"
    )
    run = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "module_cycles.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1
    assert "circle: aio::stream <-> framing_io" in run.stdout


def test_a_parent_and_a_child_using_each_other_is_a_circle(tmp_path: pathlib.Path) -> None:
    src = tmp_path / "src"
    (src / "strftime").mkdir(parents=True)
    (src / "lib.rs").write_text("pub mod strftime;\n")
    (src / "strftime" / "mod.rs").write_text(
        "mod local_time;\npub use local_time::LocalTime;\npub enum StrftimeError {}\n"
    )
    (src / "strftime" / "local_time.rs").write_text("use super::StrftimeError;\n")
    run = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "module_cycles.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1
    assert "circle: strftime <-> strftime::local_time" in run.stdout
