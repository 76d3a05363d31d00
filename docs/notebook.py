"""The walkthrough as a Jupyter notebook, generated from ``how-srcnn-works.md`` (never kept by hand):

    python docs/notebook.py                  # writes docs/how-srcnn-works.ipynb, then
    jupyter lab docs/how-srcnn-works.ipynb   # (pip install jupyterlab) or any notebook viewer

Each ```python block becomes a code cell and the text between them markdown cells (jupytext). Shell
blocks stay text: they are commands to type, not cells to run (``make docs-images`` would redraw
the pictures). ``tests/test_notebook.py`` builds the notebook and executes it.
"""

import sys
from pathlib import Path

import jupytext
import nbformat

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "how-srcnn-works.md"


def build(source=SOURCE):
    """-> an ``nbformat`` notebook of the Markdown walkthrough, Python kernel, nothing executed."""
    notebook = jupytext.read(source, fmt="md")
    for k, cell in enumerate(notebook.cells):
        if cell.cell_type == "code" and cell.source.startswith("%%"):  # a ```bash block: show, don't run
            magic, _, body = cell.source.partition("\n")
            notebook.cells[k] = nbformat.v4.new_markdown_cell(f"```{magic[2:].strip()}\n{body}\n```")
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return notebook


def main(out=HERE / "how-srcnn-works.ipynb"):
    nbformat.write(build(), out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main(*sys.argv[1:2])
