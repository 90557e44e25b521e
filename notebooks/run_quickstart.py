"""Run quickstart.ipynb in a fresh kernel and print each cell's text output.

Usage: python notebooks/run_quickstart.py [--save PATH]

The notebook starts the built-in emulator unless PINECONE_API_KEY is set. With --save,
the executed notebook, outputs included, is written to PATH.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

NOTEBOOK = Path(__file__).with_name("quickstart.ipynb")
CELL_TIMEOUT = 120


def _text_of(output: dict) -> str:
    """Return what a terminal would show for one cell output."""
    if output.get("output_type") == "stream":
        return str(output.get("text", ""))
    if output.get("output_type") == "error":
        return f"{output.get('ename')}: {output.get('evalue')}\n"
    data = output.get("data", {})
    text = data.get("text/plain", "")
    return (text if isinstance(text, str) else "".join(text)) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--save", type=Path, help="Write the executed notebook to this path.")
    args = parser.parse_args()

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        notebook, timeout=CELL_TIMEOUT, kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    failed = None
    try:
        # The kernel's own start-up warnings would bury the results, so its stderr is dropped;
        # errors in cells still arrive as error outputs.
        client.execute(stderr=subprocess.DEVNULL)
    except CellExecutionError as error:
        failed = error

    for cell in notebook.cells:
        if cell.cell_type != "code" or not cell.get("outputs"):
            continue
        print(f">>> {cell.source.splitlines()[0]}")
        for output in cell.outputs:
            sys.stdout.write(_text_of(output))
        print()

    if args.save is not None:
        nbformat.write(notebook, args.save)
    if failed is not None:
        print(f"The quick start failed in a cell: {str(failed).splitlines()[-1]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
