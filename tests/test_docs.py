"""Every Python snippet in the README and in docs/ runs, so none can go stale; the pictures the docs
show are the ones ``make docs-images`` draws.

The snippets of one file run in order in one namespace (a later one uses an earlier one's names),
in a temporary folder. Each is compiled at its own line of the Markdown file, so a failure's
traceback points into the document.
"""

import re
import runpy
from pathlib import Path

import numpy as np
import pytest

from npsrcnn import SRCNN
from npsrcnn.explain import output_files

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
WALKTHROUGH = ROOT / "docs" / "how-srcnn-works.md"
_diagrams = runpy.run_path(str(ROOT / "docs" / "draw_diagrams.py"))
DIAGRAMS, DRAW_DIAGRAMS = _diagrams["NAMES"], _diagrams["main"]


def snippets(path):
    """``[(line, code), ...]``: each ```python block and the line of the file it starts on."""
    text = path.read_text()
    return [(text.count("\n", 0, m.start(1)), m.group(1)) for m in re.finditer(r"```python\n(.*?)```", text, re.S)]


def test_the_walkthrough_is_found_and_has_snippets():
    assert WALKTHROUGH in DOCUMENTS
    assert all(snippets(doc) for doc in DOCUMENTS)


@pytest.mark.parametrize("doc", DOCUMENTS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_snippets_run_in_order(doc, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__snippets__"}
    for line, code in snippets(doc):
        exec(compile("\n" * line + code, str(doc), "exec"), namespace)


def test_the_walkthrough_shows_every_picture_explain_draws():
    text = WALKTHROUGH.read_text()
    shown = set(re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text))
    drawn = {f"img/{path.name}" for path in output_files("img", SRCNN.build("9-1-5", (2, 2)))}
    drawn |= {f"img/diagram_{name}.png" for name in DIAGRAMS}
    assert shown == drawn
    assert all((WALKTHROUGH.parent / name).is_file() for name in shown)
    assert "make docs-images" in text
    assert "docs-images:" in (ROOT / "Makefile").read_text()


def test_the_diagrams_are_drawn_by_their_script(tmp_path):
    import skimage.io

    assert "docs/draw_diagrams.py" in (ROOT / "Makefile").read_text()
    files = DRAW_DIAGRAMS(tmp_path)
    assert [f.name for f in files] == [f"diagram_{name}.png" for name in DIAGRAMS]
    for f in files:
        picture = skimage.io.imread(f)
        assert picture.shape[0] > 200 and picture.shape[1] > 600
        assert len(np.unique(picture.reshape(-1, picture.shape[2]), axis=0)) > 8  # drawn, not blank


def test_the_readme_figure_is_drawn_by_its_script(tmp_path):

    import skimage.io

    assert "docs/img/demo.png" in (ROOT / "README.md").read_text()
    assert "docs/img/demo_zoom.png" in (ROOT / "README.md").read_text()
    assert "docs/draw_demo_figure.py" in (ROOT / "Makefile").read_text()
    draw = runpy.run_path(str(ROOT / "docs" / "draw_demo_figure.py"))["main"]
    draw(str(tmp_path / "demo.png"))
    figure = skimage.io.imread(tmp_path / "demo.png")
    assert figure.shape[1] > 2 * figure.shape[0]  # three square panels side by side
    zoom = skimage.io.imread(tmp_path / "demo_zoom.png")
    assert zoom.shape[0] > zoom.shape[1]  # three regions, one a row, of three crops
