"""The quick-start notebook, run top to bottom in a real kernel against the emulator."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from conftest import environment_without_pinecone
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
QUICKSTART = NOTEBOOKS / "quickstart.ipynb"


def _cell_text(cell: nbformat.NotebookNode) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            parts.append(output.text)
        elif "data" in output:
            parts.append(output.data.get("text/plain", ""))
    return "".join(parts)


def _cell_starting_with(notebook: nbformat.NotebookNode, prefix: str) -> nbformat.NotebookNode:
    return next(cell for cell in notebook.cells if cell.source.startswith(prefix))


@pytest.fixture(scope="module")
def executed() -> nbformat.NotebookNode:
    notebook = nbformat.read(QUICKSTART, as_version=4)
    client = NotebookClient(
        notebook, timeout=120, kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    with pytest.MonkeyPatch.context() as patch:
        for name in ("PINECONE_API_KEY", "PINECONE_INDEX_HOST", "PINECONE_CONTROLLER_HOST"):
            patch.delenv(name, raising=False)
        client.execute()
    return notebook


def test_quickstart_committed_without_outputs() -> None:
    notebook = nbformat.read(QUICKSTART, as_version=4)

    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.outputs == [] for cell in code_cells)
    assert all(cell.execution_count is None for cell in code_cells)


def test_quickstart_runs_without_errors(executed: nbformat.NotebookNode) -> None:
    errors = [
        output
        for cell in executed.cells
        for output in cell.get("outputs", [])
        if output.output_type == "error"
    ]

    assert errors == []


def test_quickstart_uses_emulator(executed: nbformat.NotebookNode) -> None:
    assert "Using the emulator at http://127.0.0.1:" in _cell_text(executed.cells[1])


def test_quickstart_cancel_result(executed: nbformat.NotebookNode) -> None:
    text = _cell_text(_cell_starting_with(executed, "%pc_cancel_import $first"))

    assert "Cancel requested for import '101' (HTTP 200" in text


def test_quickstart_wait_reaches_cancelled(executed: nbformat.NotebookNode) -> None:
    text = _cell_text(_cell_starting_with(executed, "%pc_cancel_import $second"))

    assert "Every import finished within the wait" in text
    assert text.count("Cancelled") >= 2


def test_quickstart_index_name_lists(executed: nbformat.NotebookNode) -> None:
    text = _cell_text(_cell_starting_with(executed, "%pc_list_imports --index"))

    assert "3 imports with status Cancelled" in text


def test_quickstart_ends_with_form(executed: nbformat.NotebookNode) -> None:
    form_cell = [cell for cell in executed.cells if cell.cell_type == "code"][-1]

    assert form_cell.source.strip() == "%pc_cancel_import"
    assert "%pc_cancel_import IMPORT_ID" in _cell_text(form_cell)


def test_quickstart_runner_prints_cancel_result() -> None:
    completed = subprocess.run(
        [sys.executable, str(NOTEBOOKS / "run_quickstart.py")],
        capture_output=True, text=True, timeout=300, env=environment_without_pinecone(),
    )

    assert completed.returncode == 0, completed.stderr
    assert "Cancel requested for import '101'" in completed.stdout
