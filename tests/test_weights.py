"""Every Keras file kind in and out, each checked against Keras' own predict on real pixels.

Kinds and how each test file is made:
  Keras 1 weights     written with h5py in the tutorials' layout (3051crop_weight_200.h5: 9-3-5, 128/64)
  Keras 1 full model  h5py: model_weights + a Keras 1 model_config (Convolution2D, border_mode)
  Keras 2 weights     h5py, in the layout tf_keras 2.21 save_weights writes (conv2d/kernel:0, nested)
  Keras 3 .h5         keras.Model.save("m.h5") (full model, Keras 2 layout under model_weights)
  Keras 3 .weights.h5 keras.Model.save_weights
  Keras 3 .keras      keras.Model.save("m.keras")
"""

import zipfile
from types import SimpleNamespace

import h5py
import numpy as np
import pytest

import npsrcnn
from helpers import assert_one_line_error, keras_twin, real_luma, run_cli, small_model, write_keras1_weights
from npsrcnn import SRCNN, NpsrcnnError

TUTORIAL = ("9-3-5", (128, 64))  # valid-same-valid, the tutorials' 3051crop_weight_200.h5


def _write_keras2_weights(path, model):
    with h5py.File(path, "w") as f:
        names = ["conv2d"] + [f"conv2d_{i}" for i in range(1, len(model.layers))]
        f.attrs["layer_names"] = np.array(names, dtype=object)
        f.attrs["backend"], f.attrs["keras_version"] = "tensorflow", "2.21.0"
        for name, layer in zip(names, model.layers):
            g = f.create_group(name)
            g.attrs["weight_names"] = np.array([f"{name}/kernel:0", f"{name}/bias:0"], dtype=object)
            g[f"{name}/kernel:0"] = layer.kernel
            g[f"{name}/bias:0"] = layer.bias


def _assert_same_as_keras(loaded, reference_model, keras_model=None):
    luma = real_luma(48, 45)[None, :, :, None]
    expected = (keras_model or keras_twin(reference_model)).predict(luma, verbose=0)
    assert np.abs(loaded.forward(luma, backend="numpy") - expected).max() <= 1e-5  # backends: test_model


def test_keras1_tutorial_weights_file(tmp_path, keras):
    """The tutorials' 3051crop_weight_200.h5 layout: weights only, so the tutorials' paddings apply."""
    model = SRCNN.build(*TUTORIAL, seed=1)
    path = tmp_path / "3051crop_weight_200.h5"
    write_keras1_weights(path, model.layers)
    loaded = SRCNN.from_file(path)
    assert [l.padding for l in loaded.layers] == ["valid", "same", "valid"]
    assert [l.kernel.shape for l in loaded.layers] == [(9, 9, 1, 128), (3, 3, 128, 64), (5, 5, 64, 1)]
    _assert_same_as_keras(loaded, model)
    info = run_cli("info", path)
    assert info.returncode == 0, info.stderr
    assert "9-3-5 / 128-64, padding valid-same-valid, relu-relu-linear" in info.stdout
    assert "resampler not recorded: predict enlarges with matlab" in info.stdout
    shipped = run_cli("info", npsrcnn.shipped_weights(3))
    assert "resampler matlab: its training inputs were enlarged so" in shipped.stdout
    assert "scale 3" in shipped.stdout


def test_keras1_full_model_takes_paddings_from_its_config(tmp_path, keras):
    model = small_model("same", seed=2)
    path = tmp_path / "keras1_model.h5"
    write_keras1_weights(path, model.layers, group="model_weights")
    loaded = SRCNN.from_file(path)
    assert [l.padding for l in loaded.layers] == ["same"] * 3
    _assert_same_as_keras(loaded, model)


def test_keras2_weights_file(tmp_path, keras):
    model = SRCNN.build("9-5-5", (16, 8), seed=3)
    path = tmp_path / "keras2.h5"
    _write_keras2_weights(path, model)
    _assert_same_as_keras(SRCNN.from_file(path), model)


@pytest.mark.parametrize("suffix", [".h5", ".keras", ".weights.h5"])
def test_files_written_by_current_keras(tmp_path, keras, suffix):
    model = small_model(["same", "valid", "same"], seed=4)
    twin = keras_twin(model)
    path = tmp_path / f"model{suffix}"
    twin.save_weights(path) if suffix == ".weights.h5" else twin.save(path)
    loaded = SRCNN.from_file(path)
    expected = ["valid", "same", "valid"] if suffix == ".weights.h5" else ["same", "valid", "same"]
    assert [l.padding for l in loaded.layers] == expected
    if suffix == ".weights.h5":  # no architecture in the file: restate it
        loaded = SRCNN.from_file(path, padding=["same", "valid", "same"])
    _assert_same_as_keras(loaded, model, twin)


def test_keras_activation_layers_fold_into_the_conv_before(tmp_path, keras):
    layers = keras.layers
    twin = keras.Sequential(
        [
            keras.Input((None, None, 1)),
            layers.Conv2D(4, 5),
            layers.ReLU(),
            layers.Conv2D(3, 1),
            layers.Activation("relu"),
            layers.Conv2D(1, 3),
        ]
    )
    twin.save(tmp_path / "m.keras")
    loaded = SRCNN.from_file(tmp_path / "m.keras")
    assert [l.activation for l in loaded.layers] == ["relu", "relu", "linear"]
    _assert_same_as_keras(loaded, None, twin)


def test_keras3_weights_order_is_natural_not_alphabetical(tmp_path, keras):
    widths = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 1]
    twin = keras.Sequential(
        [keras.Input((None, None, 1))]
        + [keras.layers.Conv2D(w, 1, name=f"layer_{i}") for i, w in enumerate(widths[1:], start=1)]
    )
    twin.save_weights(tmp_path / "deep.weights.h5")
    loaded = SRCNN.from_file(tmp_path / "deep.weights.h5", padding="valid")
    assert [l.kernel.shape[3] for l in loaded.layers] == widths[1:]


@pytest.mark.parametrize("padding", ["valid", "same", ["valid", "same", "valid"]])
def test_saved_file_loads_in_keras_with_the_same_outputs(tmp_path, keras, padding):
    model = small_model(padding, seed=5)
    model.resampler, model.scale = "opencv-bilinear", 3  # recorded in attributes Keras does not read
    path = tmp_path / "ours.h5"
    model.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["ours.h5"]  # no temporary left behind
    luma = real_luma(40, 31)[None, :, :, None]
    reloaded = keras.models.load_model(path)
    assert np.abs(reloaded.predict(luma, verbose=0) - model.forward(luma)).max() <= 1e-5
    again = SRCNN.from_file(path)
    assert all(
        np.array_equal(a.kernel, b.kernel) and a.padding == b.padding for a, b in zip(model.layers, again.layers)
    )
    assert (again.resampler, again.scale) == ("opencv-bilinear", 3)


@pytest.mark.parametrize(
    "attrs,message",
    [({"npsrcnn_resampler": "lanczos"}, "records resampler 'lanczos'"), ({"npsrcnn_scale": -2}, "records scale -2")],
)
def test_a_record_that_makes_no_sense_is_an_error_naming_the_file(tmp_path, attrs, message):
    path = tmp_path / "odd.h5"
    small_model().save(path)
    with h5py.File(path, "r+") as f:
        f.attrs.update(attrs)
    with pytest.raises(NpsrcnnError, match=message) as info:
        SRCNN.from_file(path)
    assert str(info.value).startswith(f"{path}: ")


def test_files_without_a_record_say_so(tmp_path):
    """Foreign files (here Keras 1 weights) carry no record: predict then uses the paper's resampler."""
    path = tmp_path / "keras1.h5"
    write_keras1_weights(path, small_model().layers)
    loaded = SRCNN.from_file(path)
    assert (loaded.resampler, loaded.scale) == (None, None)


def test_replicate_model_cannot_be_saved_as_keras(tmp_path):
    with pytest.raises(NpsrcnnError, match="replicate"):
        small_model("replicate").save(tmp_path / "r.h5")
    assert not list(tmp_path.iterdir())


def _truncated(tmp_path):
    path = tmp_path / "truncated.h5"
    small_model().save(path)
    path.write_bytes(path.read_bytes()[:3000])
    return path


def _wrong_shape(tmp_path):
    path = tmp_path / "wrong_shape.h5"
    small_model().save(path)
    with h5py.File(path, "a") as f:
        del f["model_weights/conv2d_2/conv2d_2/kernel:0"]
        f["model_weights/conv2d_2/conv2d_2/kernel:0"] = np.zeros((3, 3, 8))
    return path


def _nan(tmp_path):
    path = tmp_path / "nan.h5"
    small_model().save(path)
    with h5py.File(path, "a") as f:
        f["model_weights/conv2d_1/conv2d_1/bias:0"][0] = np.nan
    return path


def _chain(tmp_path):
    path = tmp_path / "chain.h5"
    layers = SRCNN.build("3-3", (4,)).layers[:1] + SRCNN.build("3-3", (5,)).layers[1:]
    write_keras1_weights(path, layers)
    return path


def _theano(tmp_path):
    path = tmp_path / "theano.h5"
    model = SRCNN.build("9-1-5", (8, 4))
    write_keras1_weights(
        path, [SimpleNamespace(kernel=l.kernel.transpose(3, 2, 0, 1), bias=l.bias) for l in model.layers]
    )
    return path


def _zip_slip(tmp_path):
    path = tmp_path / "evil.keras"
    small_model().save(tmp_path / "w.h5")
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("config.json", "{}")
        z.writestr("../../escape.txt", "x")
        z.write(tmp_path / "w.h5", "model.weights.h5")
    return path


def _dense(tmp_path, keras):
    path = tmp_path / "dense.keras"
    keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]).save(path)
    return path


def _text(tmp_path):
    path = tmp_path / "notes.h5"
    path.write_text("not weights")
    return path


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda d, k: d / "missing.h5", "no such weights file"),
        (lambda d, k: _text(d), "not an HDF5 or .keras file"),
        (lambda d, k: _truncated(d), "unreadable weights file"),
        (lambda d, k: _wrong_shape(d), "conv2d_2 has weights of shapes (3, 3, 8), (4,)"),
        (lambda d, k: _nan(d), "layer conv2d_1: conv layer (9, 9, 1, 8) has NaN"),
        (lambda d, k: _chain(d), "layer 1 gives 4 channels but layer 2 takes 5"),
        (lambda d, k: _theano(d), "channels-first (Theano ordering"),
        (lambda d, k: _zip_slip(d), "unsafe path"),
        (_dense, "is a Dense"),
    ],
)
def test_bad_weights_files_are_one_line_errors(tmp_path, keras, make, message):
    path = make(tmp_path, keras)
    with pytest.raises(NpsrcnnError) as info:
        SRCNN.from_file(path)
    assert str(path) in str(info.value) and message in str(info.value)
    assert "\n" not in str(info.value)
    assert_one_line_error(run_cli("info", path), str(path), message)
    assert not (tmp_path.parent / "escape.txt").exists()
