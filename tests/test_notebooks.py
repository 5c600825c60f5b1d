"""The walkthroughs in notebooks/: committed without outputs, and each runs top to bottom.

Every notebook is executed on a real Jupyter kernel running this interpreter (the venv's
Python, so the kernel imports the ferrosock built into it), within TIME_LIMIT seconds; an
error in any cell, a traceback printed by a background thread or a ResourceWarning (a socket
left open) fails the test.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
TIME_LIMIT = 90.0
KERNEL_NAME = "ferrosock-test-python"


def _code_cells(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        notebook = json.load(f)
    return [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]


def test_the_walkthroughs_are_there() -> None:
    assert [p.name[:3] for p in NOTEBOOKS] == ["01_", "02_", "03_", "04_", "05_", "06_"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(path: Path) -> None:
    """Outputs are cleared before committing (Jupyter: Edit > Clear Outputs of All Cells)."""
    dirty = [
        i
        for i, cell in enumerate(_code_cells(path))
        if cell.get("outputs") or cell.get("execution_count") is not None
    ]
    assert not dirty, f"{path.name}: code cells {dirty} have outputs or execution counts"


@pytest.fixture
def kernel_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A kernel spec that starts this interpreter, whatever `python3` means elsewhere."""
    pytest.importorskip("ipykernel", reason="ipykernel is not installed (pip install '.[test]')")
    spec = tmp_path / "jupyter" / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    spec_json = {"argv": argv, "display_name": "ferrosock tests", "language": "python"}
    (spec / "kernel.json").write_text(json.dumps(spec_json))
    # Searched before every other place Jupyter looks for kernel specs.
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    # The kernel (and what it starts) reports sockets left for the garbage collector.
    monkeypatch.setenv("PYTHONWARNINGS", "always::ResourceWarning")
    return KERNEL_NAME


# The notebook's own limit plus the kernel's start and shutdown; 06 alone takes 15 to 30 s.
@pytest.mark.timeout(TIME_LIMIT + 30)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_runs_top_to_bottom(path: Path, kernel_spec: str) -> None:
    nbclient = pytest.importorskip("nbclient", reason="nbclient is not installed")
    nbformat = pytest.importorskip("nbformat", reason="nbformat is not installed")

    notebook = nbformat.read(path, as_version=4)
    # One more cell, at the end: which interpreter ran the notebook.
    notebook.cells.append(nbformat.v4.new_code_cell("import sys\nprint(sys.executable)"))
    client = nbclient.NotebookClient(
        notebook,
        kernel_name=kernel_spec,
        timeout=TIME_LIMIT,
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
    )
    start = time.monotonic()
    client.execute()
    elapsed = time.monotonic() - start

    assert elapsed < TIME_LIMIT, f"{path.name} took {elapsed:.1f} s (limit {TIME_LIMIT:.0f} s)"
    assert _printed(notebook.cells[-1], "stdout").strip() == sys.executable
    stderr = "".join(_printed(cell, "stderr") for cell in notebook.cells)
    for sign in ("Traceback", "ResourceWarning"):
        assert sign not in stderr, f"{path.name} printed a {sign}:\n{stderr}"


def _printed(cell: Any, stream: str) -> str:
    return "".join(
        output.get("text", "")
        for output in cell.get("outputs", [])
        if output.get("output_type") == "stream" and output.get("name") == stream
    )
