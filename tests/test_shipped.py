"""The shipped weights: there for x2, x3, x4, small, Keras-loadable, and better than bicubic on real
photos the trainer never saw (scikit-image's), by the paper's protocol."""

import numpy as np
import pytest
import skimage.data

from helpers import dataset_dir
from npsrcnn import (
    SRCNN,
    NpsrcnnError,
    imresize,
    modcrop,
    predict,
    psnr,
    read_image,
    shave,
    shipped_scales,
    shipped_weights,
)
from npsrcnn.color import luma
from npsrcnn.demo import run_demo
from npsrcnn.evaluate import evaluate
from npsrcnn.protocol import matlab_degrade, matlab_luma, matlab_outputs, to_uint8

SCALES = [2, 3, 4]
# SRCNN's gain over bicubic on Y for these crops: the shipped weights reach 0.3-1.5 dB on them
# (1.2-2.7 dB on Set5/Set14); an untrained or broken network loses to bicubic
MIN_GAIN_DB = 0.2


def test_every_paper_scale_ships():
    assert shipped_scales() == SCALES
    with pytest.raises(NpsrcnnError, match=r"no shipped weights for x5 \(shipped: x2, x3, x4\)"):
        shipped_weights(5)


@pytest.mark.parametrize("scale", SCALES)
def test_shipped_weights_are_small_finite_and_the_papers_9_5_5(scale):
    path = shipped_weights(scale)
    assert path.stat().st_size < 1_000_000
    model = SRCNN.from_file(path)
    assert [layer.kernel.shape for layer in model.layers] == [(9, 9, 1, 64), (5, 5, 64, 32), (5, 5, 32, 1)]
    assert [layer.padding for layer in model.layers] == ["valid", "same", "valid"]
    assert (model.resampler, model.scale) == ("matlab", scale)  # trained on MATLAB-bicubic patches
    assert all(np.isfinite(layer.kernel).all() and np.isfinite(layer.bias).all() for layer in model.layers)


@pytest.mark.parametrize("scale", SCALES)
def test_keras_reads_the_shipped_weights_and_agrees(keras, scale):
    twin = keras.models.load_model(shipped_weights(scale), compile=False)
    x = np.random.default_rng(scale).random((1, 30, 31, 1), dtype=np.float32)
    ours = SRCNN.from_file(shipped_weights(scale)).forward(x, backend="cpu")
    np.testing.assert_allclose(twin.predict(x, verbose=0), ours, atol=2e-5)


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("name", ["astronaut", "coffee", "chelsea"])
def test_shipped_weights_beat_bicubic_on_photos_they_never_saw(scale, name):
    image = getattr(skimage.data, name)()[:240, :240]
    truth, outputs = matlab_outputs(
        matlab_degrade(image, scale), scale, ["bicubic", "srcnn"], SRCNN.from_file(shipped_weights(scale)), "cpu"
    )
    assert psnr(truth, outputs["srcnn"]) > psnr(truth, outputs["bicubic"]) + MIN_GAIN_DB


@pytest.mark.parametrize("scale", SCALES)
def test_shipped_weights_use_their_units(scale):
    """Units whose ReLU never fires on what the network is given (bicubic-degraded luma) are dead
    weight: Adam at full rate from the first step left 32-36 of 64 first-layer units (and 6-7 of 32
    second-layer ones) so in the first shipped files; with the recipe's warm-up, 6-9 (2-5) of the
    shipped 9-5-5 networks' units stay silent."""
    patches = []
    for name in ["astronaut", "coffee", "chelsea"]:
        blurry = matlab_degrade(getattr(skimage.data, name)(), scale)[2].astype(np.float32)
        windows = np.lib.stride_tricks.sliding_window_view(blurry, (33, 33))[::16, ::16]
        patches.append(windows.reshape(-1, 33, 33))
    silent = SRCNN.from_file(shipped_weights(scale)).silent_units(np.concatenate(patches)[..., None], backend="cpu")
    assert silent[0] <= 16 and silent[1] <= 5, f"x{scale}: {silent} first/second-layer units never fire"


def test_predict_and_the_demo_use_the_shipped_weights_by_default(tmp_path):
    face = skimage.data.astronaut()[:96, 160:256]
    np.testing.assert_array_equal(predict(face, 2), predict(face, 2, model=shipped_weights(2)))
    result = run_demo(tmp_path, scale=3)
    assert result["note"] is None
    (_, bicubic, *_), (label, srcnn, *_) = result["rows"]
    assert label == "SRCNN" and srcnn > bicubic + 1.0  # RGB PSNR, the paper's degradation


@pytest.mark.parametrize("scale", SCALES)
def test_predict_scores_what_evaluate_reports_on_set5(scale):
    """The main job at full strength: a user's ``predict`` on Set5 shrunk by ``imresize`` scores the
    figure ``npsrcnn evaluate`` reports, both scored against the same reference (the 8-bit Y of the
    ground truth). Fed the protocol's own luma plane, predict reproduces it to the third decimal; fed
    the 8-bit RGB image a user has, within 0.02 dB (the small image is rounded as RGB, not as Y).
    Enlarged by OpenCV's bicubic instead, as predict did before, it lost 0.30-0.45 dB here."""
    folder = dataset_dir("Set5")
    model = SRCNN.from_file(shipped_weights(scale))
    (row,) = evaluate([folder], [scale], ("srcnn",), models={scale: model}, backend="cpu", warn=None)
    same_plane, rgb = [], []
    for path in sorted(folder.iterdir()):
        truth = modcrop(read_image(path), scale)
        y = matlab_luma(truth)
        restored = predict(imresize(y / 255.0, 1 / scale), scale, model=model, backend="cpu")
        same_plane.append(psnr(shave(y, scale), shave(to_uint8(restored), scale)))
        restored = predict(imresize(truth, 1 / scale), scale, model=model, backend="cpu")
        rgb.append(psnr(y.astype(np.float64), luma(restored, 255), scale, data_range=255))
    assert np.mean(same_plane) == pytest.approx(row.mean("psnr"), abs=0.002)
    assert np.mean(rgb) == pytest.approx(row.mean("psnr"), abs=0.02)
