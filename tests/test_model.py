"""SRCNN as data: shapes, validation, and forward passes equal to Keras on real images."""

import doctest

import numpy as np
import pytest

import npsrcnn
from helpers import ARCHITECTURES, backends_to_test, keras_twin, real_luma, small_model
from npsrcnn import SRCNN, ConvLayer, NpsrcnnError


@pytest.mark.parametrize("arch,filters", ARCHITECTURES)
@pytest.mark.parametrize("backend", backends_to_test(heavy=True))
def test_forward_equals_keras_predict_on_a_real_image(keras, arch, filters, backend):
    """The acceptance bar: max |npsrcnn - keras.predict| <= 1e-5, tutorials' paddings, real pixels."""
    model = SRCNN.build(arch, filters, seed=7)
    luma = real_luma(64, 57)
    expected = keras_twin(model).predict(luma[None, :, :, None], verbose=0)
    got = model.forward(luma[None, :, :, None], backend=backend)
    assert got.shape == expected.shape == (1, 64 - 12, 57 - 12, 1)
    assert np.abs(got - expected).max() <= 1e-5


@pytest.mark.parametrize(
    "padding,shape", [("valid", (28, 33)), (None, (32, 37)), ("same", (44, 49)), ("replicate", (44, 49))]
)
def test_output_shape_follows_the_declared_padding(padding, shape):
    # 9-5-5: valid layers lose 8, 4 and 4 pixels per axis; tutorial padding keeps the middle layer's 4
    model = SRCNN.build("9-5-5", (4, 3), padding=padding)
    assert model.forward(np.zeros((44, 49), np.float32)).shape == shape


def test_input_layouts_and_dtypes():
    model = small_model("same")
    luma = real_luma(20, 18)
    single = model.forward(luma)
    batch = model.forward(np.stack([luma, luma[::-1]])[..., None])
    assert single.shape == (20, 18) and single.dtype == np.float32
    assert batch.shape == (2, 20, 18, 1)
    np.testing.assert_array_equal(batch[0, :, :, 0], single)
    as64 = model.forward(luma.astype(np.float64))
    assert as64.dtype == np.float64
    np.testing.assert_allclose(as64, single, atol=1e-5)


@pytest.mark.parametrize("backend", backends_to_test(heavy=True))
def test_activations_are_each_layers_output_as_keras_computes_it(keras, backend):
    model = small_model()  # 9-3-5 / 8-4, valid-same-valid
    luma = real_luma(40, 36)
    twin = keras_twin(model)
    expected = keras.Model(twin.inputs, [layer.output for layer in twin.layers]).predict(
        luma[None, :, :, None], verbose=0
    )
    single = model.activations(luma, backend=backend)
    batch = model.activations(luma[None, :, :, None], backend=backend)
    assert [a.shape for a in single] == [(32, 28, 8), (32, 28, 4), (28, 24, 1)]
    assert [a.shape for a in batch] == [(1, 32, 28, 8), (1, 32, 28, 4), (1, 28, 24, 1)]
    for got, want, whole in zip(single, expected, batch):
        assert np.abs(got - want[0]).max() <= 1e-5
        np.testing.assert_array_equal(got, whole[0])
    assert single[0].min() == 0 and single[1].min() == 0  # after the ReLU: the maps the pictures show
    np.testing.assert_array_equal(single[-1][:, :, 0], model.forward(luma, backend=backend))


def test_silent_units_are_the_relu_units_that_never_fire():
    model = SRCNN.build("3-1-3", (4, 3), padding="same", seed=1)
    first, second = model.layers[0], model.layers[1]
    first.kernel[..., :2] = 0.0
    first.bias[:2] = (-1.0, 0.5)  # unit 0 never fires; unit 1 fires everywhere
    first.kernel[..., 2:] = np.abs(first.kernel[..., 2:])
    first.bias[2:] = 0.0  # units 2 and 3 fire on any positive pixel ...
    second.kernel[...] = 0.0
    second.bias[:] = (-0.1, 0.2, -0.3)  # ... and the second layer has two dead units
    x = np.random.default_rng(0).random((5, 8, 8, 1), dtype=np.float32)
    assert model.silent_units(x, backend="numpy") == [1, 2]
    assert model.silent_units(x, backend="cpu", chunk=2) == [1, 2]  # chunks add up
    assert model.silent_units(np.zeros_like(x), backend="cpu") == [3, 2]  # a black input wakes only the biased unit


def test_any_channel_count():
    model = SRCNN.build("3-1-3", (6, 5), padding="same", channels=3)
    out = model.forward(np.random.default_rng(0).random((2, 9, 8, 3), dtype=np.float32), backend="cpu")
    assert out.shape == (2, 9, 8, 3)


def test_geometry():
    model = small_model()  # 9-3-5, valid-same-valid
    assert model.receptive_field == (15, 15)
    assert model.shrink == (6, 6, 6, 6)  # (9-1)/2 + (5-1)/2 on each side
    assert model.describe().startswith("9-3-5 / 8-4, padding valid-same-valid, relu-relu-linear")


@pytest.mark.parametrize("padding,extra_shrink", [(None, 2), ("valid", 3), ("same", 0), ("replicate", 0)])
def test_a_widened_model_computes_the_same_function(padding, extra_shrink):
    """9-3-5 -> 11-5-7 with the old kernels centred: the same output wherever both have one (a valid
    layer widened by 2 loses one more pixel a side; a padded one reads its padding through zeros)."""
    narrow = small_model(padding, seed=4)
    for layer in narrow.layers:  # nonzero biases, so a misplaced kernel or a lost bias would show
        layer.bias[:] = np.linspace(-0.05, 0.1, layer.bias.size)
    wide = narrow.widened("11-5-7")
    assert [l.kernel.shape[:2] for l in wide.layers] == [(11, 11), (5, 5), (7, 7)]
    assert [(l.padding, l.activation) for l in wide.layers] == [(l.padding, l.activation) for l in narrow.layers]
    x = real_luma(40, 45)
    a, b = narrow.forward(x), wide.forward(x)
    e = extra_shrink
    assert b.shape == (a.shape[0] - 2 * e, a.shape[1] - 2 * e)
    np.testing.assert_allclose(b, a[e : a.shape[0] - e, e : a.shape[1] - e], atol=2e-6)
    wide.layers[0].kernel[0, 0] += 1.0  # the new taps are the wide model's own
    np.testing.assert_array_equal(narrow.layers[0].kernel, small_model(padding, seed=4).layers[0].kernel)


@pytest.mark.parametrize(
    "arch,message",
    [
        ("9-5", "3-layer model to 9-5"),
        ("7-3-5", "9x9 kernel cannot be centred in a 7x7"),
        ("9-4-5", "3x3 kernel cannot be centred in a 4x4"),
    ],
)
def test_widening_that_cannot_keep_the_function_is_an_error(arch, message):
    with pytest.raises(NpsrcnnError) as info:
        small_model().widened(arch)
    assert message in str(info.value)


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda: ConvLayer(np.zeros((3, 3, 1)), np.zeros(1)), "4 dimensions"),
        (lambda: ConvLayer(np.zeros((3, 3, 1, 2)), np.zeros(3)), "bias has shape (3,)"),
        (lambda: ConvLayer(np.full((3, 3, 1, 2), np.nan), np.zeros(2)), "NaN"),
        (lambda: ConvLayer(np.zeros((3, 3, 1, 2)), np.zeros(2), padding="reflect"), "padding 'reflect'"),
        (lambda: ConvLayer(np.zeros((3, 3, 1, 2)), np.zeros(2), activation="tanh"), "activation 'tanh'"),
        (
            lambda: SRCNN([ConvLayer(np.zeros((3, 3, 1, 2)), None), ConvLayer(np.zeros((3, 3, 3, 1)), None)]),
            "layer 1 gives 2 channels but layer 2 takes 3",
        ),
        (lambda: SRCNN.build("9-x-5"), "9-x-5"),
        (lambda: SRCNN.build("9-1-5", (64,)), "needs 2 filter counts"),
    ],
)
def test_invalid_models_are_clear_errors(make, message):
    with pytest.raises(NpsrcnnError, match=None) as info:
        make()
    assert message in str(info.value)


@pytest.mark.parametrize(
    "x,message",
    [
        (np.zeros((10, 10), np.uint8), "float32 or float64"),
        (np.zeros((1, 20, 20, 3), np.float32), "(N, H, W, 1)"),
        (np.zeros((12, 30), np.float32), "smaller than the network's 13x13 minimum"),
    ],
)
def test_invalid_inputs_are_clear_errors(x, message):
    with pytest.raises(NpsrcnnError) as info:
        SRCNN.build("9-1-5", (4, 2), padding="valid").forward(x)
    assert message in str(info.value)


def test_an_unknown_backend_is_a_clear_error():  # cuda without a GPU: tests/test_cuda.py
    with pytest.raises(NpsrcnnError, match="'tpu' is not one of"):
        small_model().forward(np.zeros((20, 20), np.float32), backend="tpu")


def test_package_docstring_examples_run():
    assert doctest.testmod(npsrcnn, raise_on_error=True).attempted > 0
