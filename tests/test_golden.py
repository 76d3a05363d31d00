"""predict keeps its outputs across rewrites of the core: Set5's butterfly shrunk x2, restored with the
x2 weights shipped then and with the same weights in a Keras 1 weights-only file, untiled and in tiles.

Those weights are kept beside the outputs, as ``data/srcnn_x2_golden.h5`` (the widened 9-5-5 x2 file
of commit 2a960d9), so that shipping new x2 weights leaves this test's anchor where it was.

``data/predict_golden.npz`` holds what ``predict`` gave before the core was restructured (at commit
7210d9e, by the script ``tests/data/make_predict_golden.py`` of commit a888953: the same calls as
below, with ``weights=`` for ``model=``), when it always enlarged with OpenCV's bicubic; since
issue 16 it enlarges with the resampler each network was trained on, so the test asks for OpenCV's.
Allowed: float32 rounding that flips a value by one level, in at most 1e-4 of the values; nothing else.
"""

from pathlib import Path

import numpy as np
import pytest

import npsrcnn
from helpers import dataset_dir, write_keras1_weights

DATA = Path(__file__).parent / "data"
GOLDEN = np.load(DATA / "predict_golden.npz")
GOLDEN_WEIGHTS = DATA / "srcnn_x2_golden.h5"
TILES = {"auto": None, "0": 0, "37": 37}


@pytest.fixture(scope="module")
def butterfly_small():
    return npsrcnn.imresize(npsrcnn.read_image(dataset_dir("Set5") / "butterfly_GT.bmp"), 1 / 2)


@pytest.mark.parametrize("tile", TILES)
@pytest.mark.parametrize("source", ["shipped", "keras1"])
def test_predict_gives_the_saved_output(butterfly_small, tmp_path, source, tile):
    model = GOLDEN_WEIGHTS
    if source == "keras1":
        model = tmp_path / "keras1_x2.h5"
        write_keras1_weights(model, npsrcnn.SRCNN.from_file(GOLDEN_WEIGHTS).layers)
    got = npsrcnn.predict(butterfly_small, scale=2, model=model, tile=TILES[tile], resampler="opencv")
    expected = GOLDEN[f"{source}_tile{tile}"]
    assert got.shape == expected.shape == (256, 256, 3) and got.dtype == expected.dtype
    differ = got != expected
    assert np.abs(got.astype(int) - expected).max() <= 1
    assert differ.mean() <= 1e-4, f"{differ.sum()} of {differ.size} values differ"
