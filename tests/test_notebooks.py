"""Every notebook under notebooks/ executes top to bottom (small sizes), or the suite fails.

Notebooks are stored as jupytext percent-format ``.py`` files; each is converted in memory
and run in a fresh Jupyter kernel (nbclient, the venv's ipykernel) with
``VIRALCHAIN_NOTEBOOK_SMALL=1`` and a scratch working directory, so whatever a notebook
writes lands in ``tmp_path``. A new notebook is picked up without touching this file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.py"))


def test_there_are_notebooks():
    names = {p.stem for p in NOTEBOOKS}
    assert {"quickstart", "rigid_vs_flexible", "policy_sweep", "workshop"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path: Path, tmp_path: Path, monkeypatch):
    import jupytext
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("VIRALCHAIN_NOTEBOOK_SMALL", "1")
    monkeypatch.setenv("VIRALCHAIN_SWEEP_DIR", str(tmp_path / "sweep"))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    monkeypatch.setenv("PYTHONWARNINGS", "ignore")
    nb = jupytext.read(path)
    assert nb.cells, f"{path.name} has no cells"
    client = NotebookClient(
        nb,
        timeout=900,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError naming the cell when one fails
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    errors = [o for o in outputs if o.get("output_type") == "error"]
    assert not errors, errors
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert images, f"{path.name} drew no figure"
    nbformat.validate(nb)
