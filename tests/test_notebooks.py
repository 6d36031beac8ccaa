"""The lab notebooks (notebooks/*.py, jupytext percent scripts) run top to bottom in quick mode.

Each is converted in memory and executed by nbclient in a fresh kernel (the venv's ``python3``),
with ``GENZOO_QUICK=1`` (small data, few steps) and a temporary working directory, so the runs and
pictures it writes land there; a cell that raises fails the test and names the notebook and cell.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

jupytext = pytest.importorskip("jupytext")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))


def test_every_notebook_is_found():
    assert [p.stem[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05", "06"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_state_formulas_and_use_the_python_api_only(path: Path):
    """A display formula ($$...$$) in a markdown cell, and no shell: no ``!cmd``, ``%%bash``,
    ``subprocess`` or ``os.system`` (the CLI is reached through the functions it calls)."""
    nb = jupytext.reads(path.read_text(), fmt="py:percent")
    markdown = [c.source for c in nb.cells if c.cell_type == "markdown"]
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert any("$$" in m for m in markdown), f"{path.name} states no formula"
    for shell in ("\n!", "%%bash", "%%sh", "subprocess", "os.system", "genzoo.cli"):
        assert shell not in "\n" + code, f"{path.name} uses {shell.strip()!r}"


@pytest.mark.slow  # a kernel per notebook, ~5-10 s each
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_in_quick_mode(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    nb = jupytext.reads(path.read_text(), fmt="py:percent")
    # the kernel inherits this process's environment: quick mode, genzoo importable from the
    # checkout, no progress bars, and a headless matplotlib
    monkeypatch.setenv("GENZOO_QUICK", "1")
    monkeypatch.setenv("GENZOO_PROGRESS", "off")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    client = nbclient.NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as e:  # the failing cell and its traceback
        pytest.fail(f"{path.name}: {e}", pytrace=False)
    assert any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), (
        "no cell printed or drew anything"
    )
