"""The numbers the walkthrough quotes are what the code computes: each is read from the document's
text and recomputed here, so neither can drift without this failing."""

import re
from pathlib import Path

import numpy as np
import pytest

from npsrcnn import SRCNN, shipped_weights
from npsrcnn.explain import explain
from npsrcnn.kernels import winograd_cpu

WALKTHROUGH = (Path(__file__).resolve().parents[1] / "docs" / "how-srcnn-works.md").read_text()
TEXT = " ".join(WALKTHROUGH.split())  # sentences wrap across lines


def quoted(pattern):
    """The groups of ``pattern`` in the walkthrough, which must quote it exactly once."""
    found = re.findall(pattern, TEXT)
    assert len(found) == 1, f"{pattern!r}: found {len(found)} times"
    return found[0]


def test_parameter_count_of_the_papers_network():
    total, weights, biases = (
        int(n.replace(",", "")) for n in quoted(r"([\d,]+) parameters in all: ([\d,]+) weights and (\d+) biases")
    )
    model = SRCNN.build("9-1-5", (64, 32))
    assert weights == sum(layer.kernel.size for layer in model.layers)
    assert biases == sum(layer.bias.size for layer in model.layers)
    assert total == weights + biases


def test_explain_scores_and_map_sizes_of_the_shipped_x3(tmp_path):
    bicubic, srcnn = (float(v) for v in quoted(r"bicubic x3 scores ([\d.]+) dB on Y and SRCNN ([\d.]+) dB"))
    result = explain(tmp_path, scale=3, model=shipped_weights(3), backend="cpu")
    assert round(result["psnr"]["bicubic"], 2) == bicubic
    assert round(result["psnr"]["srcnn"], 2) == srcnn
    first, second = (
        int(v) for v in quoted(r"shipped x3 weights (\d+) of the 64 first-layer units and (\d+) of the 32")
    )
    assert result["silent"] == {1: first, 2: second}
    gains = quoted(r"On these crops SRCNN's gain is ([\d.]+)-([\d.]+) dB and ([\d.]+)-([\d.]+) in SSIM")
    db = [crop["SRCNN"][0] - crop["bicubic x3"][0] for _, crop in result["zoomed"]]
    ssim_gain = [crop["SRCNN"][1] - crop["bicubic x3"][1] for _, crop in result["zoomed"]]
    assert (f"{min(db):.1f}", f"{max(db):.1f}", f"{min(ssim_gain):.2f}", f"{max(ssim_gain):.2f}") == gains
    side, hidden, out = (
        int(v) for v in quoted(r"central (\d+)×\d+ output pixels.*?maps are (\d+)×\d+ and the output is (\d+)×\d+")
    )
    model = SRCNN.from_file(shipped_weights(3))
    top, bottom, left, right = model.shrink
    maps = model.activations(np.zeros((side + top + bottom, side + left + right), np.float32), "numpy")
    assert [m.shape[:2] for m in maps] == [(hidden, hidden), (hidden, hidden), (out, out)]
    assert result["crop"][2] // 2 == side  # explain draws the maps of the crop's central half


@pytest.mark.parametrize(
    "pattern, r, side",
    [
        (r"a 5×5 layer gets m = (\d) \(([\d.]+)× fewer", 5, 512),
        (r"a 3×3 layer m = (\d) on a 512×512 map \(([\d.]+)×\)", 3, 512),
        (r"m = (\d) on the 25×25 maps of training patches \(([\d.]+)×\)", 3, 25),
    ],
)
def test_winograd_tile_sizes(pattern, r, side):
    m, saving = quoted(pattern)
    assert winograd_cpu.tile_size(r, side, side) == int(m)
    assert f"{(int(m) * r / (int(m) + r - 1)) ** 2:.2f}" == saving


def test_the_protocol_gap_is_what_the_table_beside_it_gives():
    low, high = (float(v) for v in quoted(r"The ([\d.]+)-([\d.]+) dB between the two bicubic rows"))
    gaps = []
    for name in ("Set5", "Set14"):
        rows = {
            protocol: [
                float(v) for v in quoted(rf"\| {name} \| bicubic, {protocol} \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|")
            ]
            for protocol in ("matlab", "opencv")
        }
        gaps += [a - b for a, b in zip(rows["matlab"], rows["opencv"])]
    assert (round(min(gaps), 1), round(max(gaps), 1)) == (low, high)
