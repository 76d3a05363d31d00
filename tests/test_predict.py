"""predict: the model's own enlargement, SRCNN on luma only, the enlarged chroma, every image kind."""

import cv2
import numpy as np
import pytest
import skimage.data

from helpers import backends_to_test, keras_twin, real_luma, small_model
from npsrcnn import SRCNN, ConvLayer, NpsrcnnError, imresize, predict, rgb_to_ycbcr, to_float, write_image

ASTRONAUT = skimage.data.astronaut()[100:160, 150:220]  # 60 x 70 with face, hair and background


def _pointwise(bias=0.0):
    """A 1x1 linear network computing luma + bias: predict must then equal plain bicubic (+ bias on Y)."""
    one = np.ones((1, 1, 1, 1))
    return SRCNN([ConvLayer(one, [0.0], activation="linear"), ConvLayer(one, [bias], activation="linear")])


def _bicubic(img, scale):
    h, w = img.shape[:2]
    return cv2.resize(to_float(img), (w * scale, h * scale), interpolation=cv2.INTER_CUBIC)


# each resampler, as the libraries themselves compute it on the float image
ENLARGED = {
    "opencv": _bicubic,
    "opencv-bilinear": lambda img, s: cv2.resize(to_float(img), None, fx=s, fy=s, interpolation=cv2.INTER_LINEAR),
    "matlab": lambda img, s: imresize(to_float(img).astype(np.float64), s),
    "matlab-bilinear": lambda img, s: imresize(to_float(img).astype(np.float64), s, "bilinear"),
}


@pytest.mark.parametrize("resampler", sorted(ENLARGED))
@pytest.mark.parametrize("img", [ASTRONAUT, ASTRONAUT[..., 1]], ids=["rgb", "gray"])
def test_an_identity_network_gives_the_plain_enlargement(img, resampler):
    out = predict(img, scale=2, model=_pointwise(), resampler=resampler)
    expected = np.rint(np.clip(ENLARGED[resampler](img, 2), 0, 1) * 255)
    assert out.shape == expected.shape and out.dtype == np.uint8
    assert np.abs(out - expected).max() <= 1  # YCbCr round trip in float32, then rounding


def test_the_enlargement_is_the_one_the_network_was_trained_on(tmp_path):
    """A model's recorded resampler is used (it survives a save), the paper's when there is none,
    and ``resampler=`` overrides both."""
    plain = _pointwise()
    matlab = predict(ASTRONAUT, scale=2, model=plain)
    assert np.abs(matlab.astype(int) - np.rint(np.clip(ENLARGED["matlab"](ASTRONAUT, 2), 0, 1) * 255)).max() <= 1
    recorded = SRCNN(plain.layers, resampler="opencv-bilinear", scale=2)
    recorded.save(tmp_path / "m.h5")
    loaded = SRCNN.from_file(tmp_path / "m.h5")
    assert (loaded.resampler, loaded.scale) == ("opencv-bilinear", 2)
    bilinear = predict(ASTRONAUT, scale=2, model=tmp_path / "m.h5")
    np.testing.assert_array_equal(bilinear, predict(ASTRONAUT, scale=2, model=plain, resampler="opencv-bilinear"))
    assert np.mean(bilinear != matlab) > 0.1
    np.testing.assert_array_equal(predict(ASTRONAUT, scale=2, model=loaded, resampler="matlab"), matlab)


def test_network_changes_luma_only():
    base = predict(ASTRONAUT, scale=3, model=_pointwise())
    brighter = predict(ASTRONAUT, scale=3, model=_pointwise(bias=20 / 255))
    inside = (base.min(axis=2) > 30) & (base.max(axis=2) < 200)  # away from clipping
    y0, y1 = rgb_to_ycbcr(base, "matlab"), rgb_to_ycbcr(brighter, "matlab")
    np.testing.assert_allclose((y1 - y0)[inside][:, 0], 20 / 255, atol=1.5 / 255)
    np.testing.assert_allclose((y1 - y0)[inside][:, 1:], 0, atol=1.5 / 255)


def test_pipeline_equals_the_same_steps_through_keras(keras):
    """Bicubic x2, MATLAB luma, edge padding by the network's border, Keras predict, back to RGB."""
    model = small_model(seed=3)
    up = _bicubic(ASTRONAUT, 2).astype(np.float64)
    m = np.array([[65.481, 128.553, 24.966], [-37.797, -74.203, 112.0], [112.0, -93.786, -18.214]]) / 255
    offset = np.array([16, 128, 128]) / 255
    ycbcr = up @ m.T + offset
    padded = np.pad(ycbcr[..., 0], 6, mode="edge").astype(np.float32)
    ycbcr[..., 0] = keras_twin(model).predict(padded[None, :, :, None], verbose=0)[0, :, :, 0]
    expected = np.rint(np.clip((ycbcr - offset) @ np.linalg.inv(m).T, 0, 1) * 255)
    out = predict(ASTRONAUT, scale=2, model=model, backend="numpy", resampler="opencv")
    assert out.shape == (120, 140, 3)
    assert np.abs(out - expected).max() <= 1
    on_cpu = predict(ASTRONAUT, scale=2, model=model, backend="cpu", resampler="opencv")  # Winograd's rounding
    assert np.abs(on_cpu.astype(int) - out).max() <= 1 and np.mean(on_cpu != out) < 1e-3


@pytest.mark.parametrize(
    "img,shape",
    [
        (ASTRONAUT[..., 0], (180, 210)),
        (ASTRONAUT[..., :1], (180, 210, 1)),
        (ASTRONAUT.astype(np.uint16) * 257, (180, 210, 3)),
        (to_float(ASTRONAUT), (180, 210, 3)),
        (np.dstack([ASTRONAUT, np.full(ASTRONAUT.shape[:2], 77, np.uint8)]), (180, 210, 4)),
    ],
)
def test_every_image_kind_keeps_its_channels_and_dtype(img, shape):
    out = predict(img, scale=3, model=small_model())
    assert out.shape == shape and out.dtype == img.dtype
    if shape[-1] == 4:
        assert (out[..., 3] == 77).all()  # alpha: bicubic of a constant


def test_scale_one_restores_at_the_same_size_and_paths_work(tmp_path):
    write_image(tmp_path / "in.png", ASTRONAUT)
    small_model().save(tmp_path / "w.h5")
    out = predict(str(tmp_path / "in.png"), scale=1, model=tmp_path / "w.h5")
    assert out.shape == ASTRONAUT.shape


def test_images_smaller_than_the_receptive_field_still_work():
    assert predict(ASTRONAUT[:3, :2], scale=2, model=small_model()).shape == (6, 4, 3)
    assert predict(ASTRONAUT[:1, :1, 0], scale=3, model=small_model(padding="replicate")).shape == (3, 3)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(image=np.zeros((4, 4, 2), np.uint8)), "is not (H, W)"),
        (dict(image=np.zeros((0, 4), np.uint8)), "empty"),
        (dict(image=np.zeros((4, 4), np.int64)), "int64 pixels"),
        (dict(image=ASTRONAUT, scale=0), "scale must be positive"),
        (dict(image=ASTRONAUT, scale=5, model=None), "no shipped weights for x5"),
        (dict(image=ASTRONAUT, scale=1, model=None), "no shipped weights for scale 1"),
        (dict(image=ASTRONAUT, model=SRCNN.build("3-3", (4,), channels=3)), "1 -> 1 channels"),
        (dict(image=ASTRONAUT, tile=-1), "tile must be a whole number"),
        (dict(image=ASTRONAUT, tile=2.5), "tile must be a whole number"),
        (dict(image=ASTRONAUT[:2, :2], scale=0.2), "has no pixels left"),
        (dict(image=ASTRONAUT, resampler="lanczos"), "resampler 'lanczos' is not one of matlab, opencv"),
    ],
)
def test_bad_arguments_are_clear_errors(kwargs, message):
    kwargs.setdefault("model", small_model())
    with pytest.raises(NpsrcnnError) as info:
        predict(**kwargs)
    assert message in str(info.value)


@pytest.mark.parametrize("backend", backends_to_test())
@pytest.mark.parametrize("padding", [None, "same", "replicate"])
def test_every_backend_predicts_the_same_image_whole_and_in_tiles(backend, padding):
    """Tiles of 5 pixels pass each layer a border only where they touch the image's edge; the
    backends read it in place (on cuda the tile stays on the device)."""
    model = SRCNN.build("3-1-3", (4, 2), padding=padding, seed=2)
    image = (real_luma(9, 8) * 255).round().astype(np.uint8)
    expected = predict(image, 2, model=model, backend="numpy", tile=0)
    for tile in (0, 5):
        got = predict(image, 2, model=model, backend=backend, tile=tile)
        assert np.abs(got.astype(int) - expected).max() <= 1 and np.mean(got != expected) < 0.01, tile
