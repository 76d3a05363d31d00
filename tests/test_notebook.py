"""The walkthrough's notebook is generated from its Markdown and runs from top to bottom."""

import importlib.util
from pathlib import Path

from nbclient import NotebookClient

DOCS = Path(__file__).resolve().parents[1] / "docs"
spec = importlib.util.spec_from_file_location("walkthrough_notebook", DOCS / "notebook.py")
notebook = importlib.util.module_from_spec(spec)
spec.loader.exec_module(notebook)


def test_the_notebook_holds_every_python_block_and_runs(tmp_path):
    nb = notebook.build()
    code = [cell.source for cell in nb.cells if cell.cell_type == "code"]
    blocks = notebook.SOURCE.read_text().count("```python\n")
    assert len(code) == blocks and not any(source.startswith("%%") for source in code)
    # cwd: a scratch folder, as tests/test_docs.py runs the same blocks; the pictures are read from docs/
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [output for cell in nb.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("bicubic" in o.get("text", "") for o in outputs)  # the first block's print reached the notebook
