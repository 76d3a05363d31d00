"""SRCNN model files in and out: Keras and the authors' MATLAB, with h5py only (no TensorFlow at run
time). ``read`` gives each conv layer's arrays and settings; ``npsrcnn.SRCNN.from_file`` builds the
model from them and ``SRCNN.save`` calls ``write_keras_h5``.

What each Keras writes (found by reading real files; see tests/test_weights.py):

=================  ========================================================================
Keras 1 weights    root attr ``layer_names``; group per layer with attr ``weight_names``
                   (``convolution2d_1_W:0``, ``convolution2d_1_b:0``) naming its datasets
Keras 2 weights    the same, names like ``conv2d_1/kernel:0`` (nested groups)
full model .h5     the same under ``model_weights``, plus root attr ``model_config`` (JSON: the
                   layer list, with ``padding``/``border_mode`` and ``activation``). Keras 1, 2
                   and 3 (``model.save("x.h5")``) all write this.
Keras 3 weights    ``layers/<name>/vars/0`` (kernel), ``vars/1`` (bias); no config
.keras             a zip of ``config.json`` and ``model.weights.h5`` (the Keras 3 layout)
authors' .mat      ``weights_conv1`` ``(f1*f1, n1)``, ``weights_conv2`` ``(n1, f2*f2, n2)``,
                   ``weights_conv3`` ``(n2, f3*f3)``, ``biases_conv1..3``: the SRCNN authors'
                   released MATLAB models, run with replicate padding on every layer
.onnx              a chain of Conv (+ Relu) nodes, NCHW, weights ``(c_out, c_in, kh, kw)`` as
                   initializers or Constant nodes (``npsrcnn.onnxfile``: what npsrcnn writes,
                   what ``torch.onnx.export`` and tf2onnx write for an SRCNN); needs ``onnx``
=================  ========================================================================

A full-model ``.h5`` that npsrcnn writes also records, in root attributes Keras ignores, the
resampler that enlarged the network's training inputs (``npsrcnn_resampler``) and the scale it was
trained for (``npsrcnn_scale``): a network learns its enlargement, and ``predict`` feeds it the same.
A file without them gets ``DEFAULT_RESAMPLER``, the paper's. An ``.onnx`` file npsrcnn writes keeps
them under the same names in its ``metadata_props``, beside what a runtime needs to feed the graph.

Kernels are ``(kh, kw, c_in, c_out)`` in all the Keras kinds (TensorFlow ordering), which is the
layout ``npsrcnn.SRCNN`` keeps, so weights are used as stored.
"""

import io
import json
import math
import re
import zipfile
from importlib.resources import files
from pathlib import Path
from typing import NamedTuple

import h5py
import numpy as np

from npsrcnn import onnxfile
from npsrcnn.atomic import atomic_write
from npsrcnn.errors import NpsrcnnError

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
MAX_ARCHIVE_MEMBER = 1 << 30  # a .keras member larger than this is refused rather than read into memory
CONV_CLASSES = ("Conv2D", "Convolution2D")


# what enlarged a network's training inputs: MATLAB's or OpenCV's bicubic, or either's bilinear
RESAMPLERS = ("matlab", "opencv", "matlab-bilinear", "opencv-bilinear")
DEFAULT_RESAMPLER = "matlab"  # the paper's, and the shipped weights'


class Record(NamedTuple):
    """What a file says about how its network was trained; None where it does not say."""

    resampler: object = None
    scale: object = None


class LayerSpec(NamedTuple):
    """One conv layer as a file holds it: kernel ``(kh, kw, c_in, c_out)``, bias ``(c_out,)`` or None."""

    name: str
    kernel: np.ndarray
    bias: object
    padding: str
    activation: str


def tutorial_padding(n_layers):
    """The Keras tutorials' convention: first and last layers valid, the ones between same."""
    return ["valid"] + ["same"] * (n_layers - 2) + ["valid"] if n_layers > 1 else ["valid"]


def per_layer(padding, n):
    """``padding`` (None: the tutorials' convention; one mode; or one per layer) -> one mode per layer."""
    if padding is None:
        return tutorial_padding(n)
    if isinstance(padding, str):
        return [padding] * n
    padding = list(padding)
    if len(padding) != n:
        raise NpsrcnnError(f"{len(padding)} paddings given for {n} layers")
    return padding


def read(path, padding=None):
    """A Keras weights or model file, or the authors' ``.mat`` -> ``([LayerSpec, ...] in layer order,
    Record)``.

    ``padding`` (one mode, or one per layer) overrides whatever the file says. A file without an
    architecture (weights only) gets the tutorials' convention: first and last layers ``valid``, the
    ones between ``same``; ReLU after every layer but the last. Every error names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise NpsrcnnError(f"{path}: no such weights file")
    try:
        if path.suffix.lower() == ".mat":
            return _read_authors_mat(path, padding), Record()
        if path.suffix.lower() == ".onnx":
            entries, specs, metadata = onnxfile.read(path)
            return _assemble(entries, specs, padding), _read_record(metadata)
        record = Record()
        if zipfile.is_zipfile(path):
            entries, specs = _read_keras_archive(path)
        else:
            with open(path, "rb") as f:
                if f.read(8) != HDF5_SIGNATURE:
                    raise NpsrcnnError("not an HDF5 or .keras file")
            with h5py.File(path, "r") as f:
                entries, specs = _read_h5(f)
                record = _read_record(f.attrs)
        return _assemble(entries, specs, padding), record
    except NpsrcnnError as e:
        raise NpsrcnnError(f"{path}: {e}") from None
    except MemoryError:
        raise NpsrcnnError(
            f"{path}: its arrays claim more memory than this machine has (a corrupt weights file?)"
        ) from None
    except (OSError, KeyError, ValueError, TypeError, IndexError, zipfile.BadZipFile) as e:
        raise NpsrcnnError(f"{path}: unreadable weights file ({type(e).__name__}: {e})") from None


def _read_record(attrs):
    resampler, scale = attrs.get("npsrcnn_resampler"), attrs.get("npsrcnn_scale")
    if resampler is not None:
        resampler = resampler.decode() if isinstance(resampler, bytes) else str(resampler)
        if resampler not in RESAMPLERS:
            raise NpsrcnnError(f"records resampler {resampler!r}, not one of {', '.join(RESAMPLERS)}")
    if scale is not None:
        scale = float(scale)
        if not scale > 0:
            raise NpsrcnnError(f"records scale {scale}, not a positive number")
        scale = int(scale) if scale == int(scale) else scale
    return Record(resampler, scale)


def _read_h5(f):
    """-> ``([(layer_name, [arrays...]), ...], conv_specs or None)`` from an open HDF5 file or group."""
    if "model_weights" in f:
        config = f.attrs.get("model_config")
        return _read_layer_names_group(f["model_weights"]), _conv_specs(config) if config is not None else None
    if "layer_names" in f.attrs:
        return _read_layer_names_group(f), None
    if "layers" in f:
        return _read_keras3_group(f["layers"]), None
    raise NpsrcnnError("HDF5 file holds no Keras weights (no model_weights, layer_names or layers)")


def _read_layer_names_group(group):
    """Keras 1/2 layout: the order is ``layer_names``; each layer lists its datasets in ``weight_names``."""
    entries = []
    for name in _strings(group.attrs["layer_names"]):
        layer = group[name]
        arrays = [np.asarray(layer[w]) for w in _strings(layer.attrs.get("weight_names", []))]
        if arrays:
            entries.append((name, arrays))
    return entries


def _read_keras3_group(group):
    """Keras 3 layout: ``<name>/vars/<i>``. HDF5 lists names alphabetically, so sort them naturally
    (``conv2d_2`` before ``conv2d_10``); ``_assemble`` then checks that the channels chain."""
    entries = []
    for name in sorted(group.keys(), key=_natural_key):
        variables = group[name].get("vars")
        if variables is not None and len(variables):
            entries.append((name, [np.asarray(variables[k]) for k in sorted(variables.keys(), key=int)]))
    return entries


def _read_keras_archive(path):
    """A ``.keras`` zip, read in memory: only the two members Keras writes are opened, by exact name."""
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            if name.startswith(("/", "\\")) or ".." in re.split(r"[/\\]", name):
                raise NpsrcnnError(f"archive member {name!r} has an unsafe path; refusing the archive")
        members = set(archive.namelist())
        for needed in ("config.json", "model.weights.h5"):
            if needed not in members:
                raise NpsrcnnError(f".keras archive has no {needed}")
            if archive.getinfo(needed).file_size > MAX_ARCHIVE_MEMBER:
                raise NpsrcnnError(f".keras member {needed} is larger than {MAX_ARCHIVE_MEMBER >> 20} MiB")
        specs = _conv_specs(archive.read("config.json"))
        with h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r") as f:
            entries, _ = _read_h5(f)
    return entries, specs


def _read_authors_mat(path, padding):
    """The SRCNN authors' MATLAB model (``x3.mat`` of their demo).

    Their demo filters with ``imfilter(..., 'same', 'replicate')``: correlation, no flip, and each
    filter is a column reshaped column-major (``reshape(w(:, i), f, f)``), hence ``order="F"``.
    """
    arrays = _load_mat(path)
    missing = [
        k
        for k in ("weights_conv1", "weights_conv2", "weights_conv3", "biases_conv1", "biases_conv2", "biases_conv3")
        if k not in arrays
    ]
    if missing:
        raise NpsrcnnError(f"MATLAB file lacks {', '.join(missing)} (not an SRCNN model)")
    w1, w2, w3 = arrays["weights_conv1"], arrays["weights_conv2"], arrays["weights_conv3"]
    if w2.ndim == 2:  # MATLAB drops a trailing singleton: n2 = 1
        w2 = w2[:, :, None]
    if w1.ndim != 2 or w2.ndim != 3 or w3.ndim != 2:
        raise NpsrcnnError(
            f"weights of shapes {w1.shape}, {w2.shape}, {w3.shape} are not (f1*f1, n1), (n1, f2*f2, n2), (n2, f3*f3)"
        )

    def square(taps, what):
        f = math.isqrt(taps)
        if f * f != taps:
            raise NpsrcnnError(f"{what} has {taps} taps per filter, not a square number")
        return f

    f1, f2, f3 = (
        square(w1.shape[0], "weights_conv1"),
        square(w2.shape[1], "weights_conv2"),
        square(w3.shape[1], "weights_conv3"),
    )
    kernels = [
        w1.reshape(f1, f1, 1, w1.shape[1], order="F"),
        w2.transpose(1, 0, 2).reshape(f2, f2, w2.shape[0], w2.shape[2], order="F"),
        w3.T.reshape(f3, f3, w3.shape[0], 1, order="F"),
    ]
    biases = [np.ravel(arrays[f"biases_conv{i}"]) for i in (1, 2, 3)]
    paddings = per_layer("replicate" if padding is None else padding, 3)
    return [
        LayerSpec(f"conv{i}", k, b, p, a)
        for i, (k, b, p, a) in enumerate(zip(kernels, biases, paddings, ("relu", "relu", "linear")), start=1)
    ]


def _load_mat(path):
    """MATLAB v5 files through scipy; v7.3 files are HDF5, whose arrays h5py returns axis-reversed."""
    import scipy.io  # scipy.sparse under it: 0.15 s of every start, for a file kind few read

    try:
        return {k: np.asarray(v, dtype=np.float64) for k, v in scipy.io.loadmat(path).items() if not k.startswith("__")}
    except NotImplementedError:  # scipy's word for "this is v7.3, use HDF5"
        with h5py.File(path, "r") as f:
            return {k: np.asarray(f[k], dtype=np.float64).T for k in f.keys() if isinstance(f[k], h5py.Dataset)}


def _conv_specs(config):
    """Model config JSON -> ``[(name, padding, activation)]`` per conv layer, in model order.

    Separate ``Activation``/``ReLU`` layers fold into the conv before them. Anything that is not a
    plain stride-1 channels-last convolution is refused: SRCNN has nothing else.
    """
    config = json.loads(config)
    layers = config["config"]
    if isinstance(layers, dict):  # Keras 2/3: {"layers": [...]}; Keras 1 Sequential: the list itself
        layers = layers["layers"]
    specs = []
    for layer in layers:
        kind, c = layer["class_name"], layer["config"]
        if kind in CONV_CLASSES:
            _check_plain_conv(c)
            padding = c.get("padding", c.get("border_mode", "valid"))
            specs.append([c["name"], padding, _activation(c.get("activation", "linear"), c["name"])])
        elif kind in ("Activation", "ReLU") and specs:
            specs[-1][2] = "relu" if kind == "ReLU" else _activation(c.get("activation"), c["name"])
        elif kind != "InputLayer":
            raise NpsrcnnError(f"layer {c.get('name', '?')} is a {kind}; an SRCNN file holds only Conv2D layers")
    return [tuple(s) for s in specs]


def _check_plain_conv(c):
    name = c["name"]
    if c.get("data_format") == "channels_first" or c.get("dim_ordering") == "th":
        raise NpsrcnnError(f"layer {name} is channels-first (Theano ordering); only channels-last is supported")
    for key in ("strides", "subsample", "dilation_rate"):
        value = c.get(key, 1)
        if any(v != 1 for v in np.atleast_1d(value)):
            raise NpsrcnnError(f"layer {name} has {key}={value}; SRCNN convolutions use 1")
    if c.get("groups", 1) != 1:
        raise NpsrcnnError(f"layer {name} is a grouped convolution")


def _activation(value, name):
    if value in ("relu", "linear"):
        return value
    if value is None:
        return "linear"
    raise NpsrcnnError(f"layer {name} has activation {value!r}; only relu and linear are supported")


def _assemble(entries, specs, padding):
    """Pair each layer's arrays with its padding and activation."""
    if not entries:
        raise NpsrcnnError("file holds no weights")
    layers = []
    for name, arrays in entries:
        kernels = [a for a in arrays if a.ndim == 4]
        biases = [a for a in arrays if a.ndim == 1]
        if len(kernels) != 1 or len(biases) > 1 or len(kernels) + len(biases) != len(arrays):
            shapes = ", ".join(str(a.shape) for a in arrays)
            raise NpsrcnnError(
                f"layer {name} has weights of shapes {shapes}; a conv layer has one 4-D kernel "
                f"(kh, kw, c_in, c_out) and at most one bias (c_out,)"
            )
        layers.append((name, kernels[0], biases[0] if biases else None))
    if _looks_channels_first(layers):
        raise NpsrcnnError(
            "kernels are stored channels-first (Theano ordering: c_out, c_in, kh, kw); only "
            "TensorFlow ordering (kh, kw, c_in, c_out) is supported"
        )
    if specs is None:
        specs = [(name, p, "relu") for (name, _, _), p in zip(layers, per_layer(None, len(layers)))]
        specs[-1] = (specs[-1][0], specs[-1][1], "linear")
    # pair by position: Keras 3 keys weights by per-model names (conv2d, conv2d_1, ...) that need not
    # match the config's names (conv2d_12, ...), but both follow the model's layer order
    if len(specs) != len(layers):
        raise NpsrcnnError(
            f"model config lists {len(specs)} conv layers {[s[0] for s in specs]} but the "
            f"weights hold {len(layers)} {[name for name, _, _ in layers]}"
        )
    paddings = [s[1] for s in specs] if padding is None else per_layer(padding, len(layers))
    return [
        LayerSpec(name, kernel, bias, pad, activation)
        for (name, kernel, bias), (_, _, activation), pad in zip(layers, specs, paddings)
    ]


def write_keras_h5(layers, path, record=Record()):
    """Write conv layers (each with ``kernel``, ``bias``, ``padding`` and ``activation``) as a
    full-model Keras ``.h5`` (Keras 2 layout, which Keras 3 also loads), with what ``record`` says.

    The file is written beside ``path`` and renamed, so an interrupted save never leaves a broken file.
    """
    names = [f"conv2d_{i}" for i in range(1, len(layers) + 1)]
    layer_configs = [
        {
            "class_name": "InputLayer",
            "config": {
                "batch_input_shape": [None, None, None, int(layers[0].kernel.shape[2])],
                "dtype": "float32",
                "name": "input",
            },
        }
    ]
    for name, layer in zip(names, layers):
        kh, kw, _, c_out = layer.kernel.shape
        layer_configs.append(
            {
                "class_name": "Conv2D",
                "config": {
                    "name": name,
                    "trainable": True,
                    "dtype": "float32",
                    "filters": int(c_out),
                    "kernel_size": [int(kh), int(kw)],
                    "strides": [1, 1],
                    "padding": layer.padding if layer.padding != "replicate" else _refuse_replicate(),
                    "data_format": "channels_last",
                    "dilation_rate": [1, 1],
                    "groups": 1,
                    "activation": layer.activation,
                    "use_bias": True,
                },
            }
        )
    config = {"class_name": "Sequential", "config": {"name": "srcnn", "layers": layer_configs}}
    with atomic_write(path) as tmp:
        with h5py.File(tmp, "w") as f:
            # the Keras 2 layout, which Keras 3 (legacy .h5 loader) and tf_keras both read
            f.attrs["model_config"] = json.dumps(config)
            f.attrs["backend"] = "tensorflow"
            f.attrs["keras_version"] = "2.15.0"
            if record.resampler is not None:
                f.attrs["npsrcnn_resampler"] = record.resampler
            if record.scale is not None:
                f.attrs["npsrcnn_scale"] = record.scale
            weights = f.create_group("model_weights")
            weights.attrs["layer_names"] = np.array(names, dtype="S")
            weights.attrs["backend"] = "tensorflow"
            weights.attrs["keras_version"] = "2.15.0"
            for name, layer in zip(names, layers):
                group = weights.create_group(name)
                group.attrs["weight_names"] = np.array([f"{name}/kernel:0", f"{name}/bias:0"], dtype="S")
                group.create_dataset(f"{name}/kernel:0", data=layer.kernel)
                group.create_dataset(f"{name}/bias:0", data=layer.bias)


def write_onnx(layers, path, record=Record(), border=(0, 0, 0, 0)):
    """Write conv layers (as ``write_keras_h5``) as an ONNX graph (``npsrcnn.onnxfile``), atomically.

    ``metadata_props`` say what the numbers mean, since a runtime sees only a tensor: what the input
    is (the luma predict feeds the network), which enlargement made it and for which scale
    (``record``; a key is left out where the record does not say), and ``border``, the pixels
    ``(top, bottom, left, right)`` the valid layers eat (``SRCNN.shrink``). ``read`` restores the
    record from the same keys.
    """
    top, bottom, left, right = (int(b) for b in border)
    resampler = record.resampler or f"{DEFAULT_RESAMPLER} (not recorded; the paper's)"
    metadata = {
        "npsrcnn_input": (
            "(N, C, H, W) float32: Y of YCbCr (MATLAB rgb2ycbcr, BT.601 studio swing, white 235/255) in [0, 1], "
            f"already enlarged to the output size by the resampler {resampler}"
        ),
        "npsrcnn_output": (
            f"(N, C, H - {top + bottom}, W - {left + right}) float32: the restored Y; edge-pad the input by "
            "npsrcnn_border first to keep its size, clip to [0, 1] after"
        ),
        "npsrcnn_border": f"{top} {bottom} {left} {right}",
        "npsrcnn_resamplers": (
            "matlab: MATLAB imresize bicubic (a = -0.5); opencv: cv2.resize INTER_CUBIC (a = -0.75); "
            "matlab-bilinear, opencv-bilinear: their bilinear (npsrcnn.resize_window computes each)"
        ),
    }
    if record.resampler is not None:
        metadata["npsrcnn_resampler"] = record.resampler
    if record.scale is not None:
        metadata["npsrcnn_scale"] = str(record.scale)
    doc = "SRCNN (Dong et al. 2014) written by npsrcnn; metadata_props npsrcnn_* say what the tensors hold"
    onnxfile.write(layers, path, metadata, doc)


def _looks_channels_first(layers):
    """Theano-era Keras 1 files store ``(c_out, c_in, kh, kw)``: every bias then matches axis 0, not
    axis 3, and the channels chain through axes 0 and 1."""
    kernels = [kernel for _, kernel, _ in layers]
    biases_fit_axis0 = all(b is not None and b.shape[0] == k.shape[0] != k.shape[3] for _, k, b in layers)
    return biases_fit_axis0 and all(a.shape[0] == b.shape[1] for a, b in zip(kernels, kernels[1:]))


def _refuse_replicate():
    raise NpsrcnnError(
        "Keras has no replicate padding; a model with replicate layers cannot be saved as "
        "Keras .h5 (set padding='same' or 'valid' first)"
    )


def _strings(values):
    return [v.decode() if isinstance(v, bytes) else str(v) for v in np.atleast_1d(values)]


def _natural_key(name):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def shipped_scales():
    """Scales with shipped weights (``weights/srcnn_x{scale}.h5``, installed as ``npsrcnn.pretrained``)."""
    found = (re.fullmatch(r"srcnn_x(\d+)\.h5", p.name) for p in files("npsrcnn.pretrained").iterdir())
    return sorted(int(m.group(1)) for m in found if m)


def shipped_weights(scale):
    """Path of the shipped weights for ``scale``; a clear error when that scale has none."""
    path = files("npsrcnn.pretrained") / f"srcnn_x{scale}.h5"
    if not path.is_file():
        have = ", ".join(f"x{s}" for s in shipped_scales()) or "none yet"
        raise NpsrcnnError(
            f"no shipped weights for x{scale} (shipped: {have}); pass model=PATH (--model) "
            f"to a Keras .h5/.weights.h5/.keras file, e.g. one written by `npsrcnn train`"
        )
    return Path(str(path))
