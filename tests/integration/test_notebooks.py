"""Every notebook executes top to bottom (nbclient) against a publication made by the real DAG."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path: Path, dag_run, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    settings = dag_run[0]
    monkeypatch.setenv("SEMAFORO_DATA_ROOT", str(settings.data_root))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = nbformat.read(path, as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"), "strip outputs"
    NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    assert any(output for cell in notebook.cells if cell.cell_type == "code" for output in cell.get("outputs", []))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_reads_the_published_database_and_explains_itself(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    code = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    prose = [cell.source for cell in notebook.cells if cell.cell_type == "markdown"]
    assert 'load_settings().data_root / "publish" / "latest" / "semaforo.duckdb"' in code
    assert "read_only=True" in code, "analysts must not lock the published file"
    assert len(prose) >= 3 and prose[0].startswith("# ")
    assert "plot" in code, "every notebook draws something"
