"""Tiled inference: every tile size gives the untiled result, and memory stays that of one tile."""

import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import ARCHITECTURES, real_luma, small_model
from npsrcnn import SRCNN, ConvLayer, predict, to_float
from npsrcnn.predict import run_on_luma
from npsrcnn.tiling import auto_tile, input_window, tile_grid

PADDINGS = [None, "valid", "same", "replicate", ["same", "valid", "replicate"], ["replicate", "same", "same"]]
LUMA = real_luma(47, 39)  # odd sizes: the last row and column of tiles are partial


@pytest.mark.parametrize("arch,filters", ARCHITECTURES)
@pytest.mark.parametrize("padding", PADDINGS, ids=str)
def test_tiles_give_the_untiled_result(arch, filters, padding):
    """Tiles smaller than the receptive field (6), around it (16) and as large as the plane, on the cpu kernels."""
    model = SRCNN.build(arch, filters, padding=padding, seed=1)
    whole = run_on_luma(model, LUMA, "cpu", tile=0)
    for tile in (6, 16, 47):
        assert np.abs(run_on_luma(model, LUMA, "cpu", tile=tile) - whole).max() <= 1e-6, tile


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 5), min_size=1, max_size=4),
    paddings=st.lists(st.sampled_from(["valid", "same", "replicate"]), min_size=4, max_size=4),
    height=st.integers(1, 23),
    width=st.integers(1, 23),
    tile=st.integers(1, 12),
    seed=st.integers(0, 99),
)
def test_tiles_match_for_any_layers_and_plane(sizes, paddings, height, width, tile, seed):
    """Even and odd kernels (even ones pad one more pixel after than before), any padding per layer,
    planes smaller than the receptive field, through the NumPy oracle (float32: 1e-6 of the output's scale)."""
    rng = np.random.default_rng(seed)
    widths = [1] + [3] * (len(sizes) - 1) + [1]
    model = SRCNN(
        [
            ConvLayer(
                rng.normal(0, 0.5, (k, k, widths[i], widths[i + 1])),
                rng.normal(0, 0.1, widths[i + 1]),
                paddings[i],
                "relu" if i < len(sizes) - 1 else "linear",
            )
            for i, k in enumerate(sizes)
        ]
    )
    luma = rng.random((height, width), dtype=np.float32)
    whole = run_on_luma(model, luma, "numpy", tile=0)
    assert np.abs(run_on_luma(model, luma, "numpy", tile=tile) - whole).max() <= 1e-6 * max(1, np.abs(whole).max())


@pytest.mark.parametrize("channels", [None, 3, 4])
@pytest.mark.parametrize("scale", [3, 2.5])
def test_predict_in_tiles_equals_predict_whole(channels, scale):
    """Float images, so nothing is rounded: bicubic, colour and network all cut into tiles."""
    rgba = np.dstack([to_float(real_luma(41, 37)) * k for k in (1.0, 0.8, 0.6, 0.9)])
    img = rgba[..., 0] if channels is None else rgba[..., :channels]
    for padding in ("same", "replicate"):
        model = small_model(padding=padding)
        whole = predict(img, scale=scale, model=model, tile=0)
        calls = []
        tiled = predict(
            img, scale=scale, model=model, tile=13, progress=lambda done, total: calls.append((done, total))
        )
        assert tiled.shape == whole.shape and np.abs(tiled - whole).max() <= 1e-6
        assert calls[-1][0] == calls[-1][1] == len(calls) > 1


def test_tile_grid_covers_the_plane_once_and_windows_reach_the_margin():
    counts = np.zeros((50, 71), int)
    for rows, cols in tile_grid((50, 71), 16):
        counts[rows, cols] += 1
    assert (counts == 1).all() and len(tile_grid((50, 71), 0)) == 1
    model = small_model()  # margins 4 + 1 + 2 = 7 on every side
    assert model.margin == (7, 7, 7, 7) and model.receptive_field == (15, 15)
    assert input_window(model, slice(16, 32), slice(0, 16), (50, 71)) == (slice(9, 39), slice(0, 23))
    assert input_window(model, slice(48, 50), slice(64, 71), (50, 71)) == (slice(41, 50), slice(57, 71))


def test_automatic_tiles_fit_the_budget():
    wide, narrow = SRCNN.build("9-3-5", (128, 64)), SRCNN.build("9-1-5", (64, 32))
    assert auto_tile(narrow) > auto_tile(wide) >= 256  # fewer channels, larger tiles
    assert auto_tile(wide, budget=16 << 20) < auto_tile(wide)
    assert auto_tile(wide, budget=1) == 32  # never degenerate


@pytest.mark.slow
def test_memory_stays_that_of_a_tile():
    """640x480 RGB x2 with 9-3-5/128-64 in a fresh process: the untiled network would hold 900 MiB of
    activations at once; tiled, the run adds a fraction of that to the loaded interpreter."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    try:
        from memory import measure
    finally:
        sys.path.pop(0)
    r = measure(640, 480, 2, "9-3-5:128-64", "auto")
    assert r["output"] == [960, 1280, 3]
    assert r["untiled"] > 850 << 20
    assert r["peak"] - r["base"] < 256 << 20, r
