"""Shared test helpers: real images, a Keras twin of an npsrcnn model (TensorFlow is the reference), the CLI."""

import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import skimage.color
import skimage.data

from npsrcnn import SRCNN, backends
from npsrcnn.reference import pad_split

# the three architectures SRCNN users meet: paper 9-1-5 and 9-5-5, tutorials' 9-3-5 128/64
ARCHITECTURES = [("9-1-5", (64, 32)), ("9-5-5", (64, 32)), ("9-3-5", (128, 64))]


ON_GPU = backends.gpu_present()


def backends_to_test(heavy=False):
    """The one list of backends the tests run on: numpy and cpu always, cuda on a GPU or in numba's
    simulator (tests/conftest.py turns it on without a GPU). ``heavy`` tests, whole networks on
    realistic images, would take hours in the simulator (each CUDA thread a Python thread): there
    cuda is listed as a skip that says so, and runs where a GPU is."""
    cuda = backends.gpu_present() or backends.simulated()
    marks = [pytest.mark.cuda]
    if not cuda:
        marks.append(pytest.mark.skip(reason="no CUDA GPU and the simulator is off"))
    elif heavy and not backends.gpu_present():
        marks.append(pytest.mark.skip(reason="too slow in the CUDA simulator; runs on a GPU"))
    return ["numpy", "cpu", pytest.param("cuda", marks=marks)]


def real_luma(height, width, top=60, left=170):
    """A crop of the astronaut's luma (scikit-image's own conversion), float32 in [0, 1]."""
    gray = skimage.color.rgb2gray(skimage.data.astronaut())
    return np.ascontiguousarray(gray[top : top + height, left : left + width], dtype=np.float32)


def keras_twin(model):
    """A Keras Sequential with ``model``'s layers and weights (valid/same paddings only)."""
    import keras

    twin = keras.Sequential(
        [keras.Input((None, None, model.channels))]
        + [
            keras.layers.Conv2D(
                layer.kernel.shape[3], layer.kernel.shape[:2], padding=layer.padding, activation=layer.activation
            )
            for layer in model.layers
        ]
    )
    twin.set_weights([w for layer in model.layers for w in (layer.kernel, layer.bias)])
    return twin


def small_model(padding=None, seed=0):
    """A 9-3-5 with 8-4 filters: the tutorials' shape at a size tests can afford."""
    return SRCNN.build("9-3-5", (8, 4), padding=padding, seed=seed)


def run_cli(*args, cwd=None, env=None):
    """Run the installed ``npsrcnn`` console command; returns the CompletedProcess. The notice that
    kernels are compiling is off (``NPSRCNN_QUIET``) unless ``env`` turns it on: whether a command
    compiles depends on which tests ran before it, and the tests read stderr line by line."""
    script = Path(sys.executable).with_name("npsrcnn")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "npsrcnn.cli"]
    env = {**os.environ, "NPSRCNN_QUIET": "1", **(env or {})}
    return subprocess.run(
        command + [str(a) for a in args], capture_output=True, text=True, cwd=cwd, timeout=600, env=env
    )


def assert_one_line_error(result, *fragments):
    """A failed command: non-zero exit, one line on stderr naming what went wrong, no traceback."""
    assert result.returncode != 0, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def dataset_dir(name):
    """A benchmark set from ``$NPSRCNN_DATA`` (default ``../shared/datasets`` beside the checkout);
    the test is skipped, with the reason, where the sets are not there."""
    root = Path(os.environ.get("NPSRCNN_DATA", Path(__file__).resolve().parents[2] / "shared" / "datasets"))
    if not (root / name).is_dir():
        message = f"dataset {name} not found under {root} (set NPSRCNN_DATA)"
        if os.environ.get("CI"):  # CI has shared/ beside the clone: a missing set is a failure there
            pytest.fail(message)
        pytest.skip(message)
    return root / name


def tf_loss_and_grads(model, x, y, dtype, loss="mse"):
    """The same network in plain TensorFlow ops (replicate padding built from repeated edge slices),
    its loss (Keras' mean, or Caffe's Euclidean ``1/(2N) Σ ‖F(x_i) − y_i‖²``) and GradientTape's
    gradients: ``(loss, [(dkernel, dbias), ...])``."""
    import tensorflow as tf

    def edge_pad(t, before, after, axis):
        first = tf.gather(t, [0], axis=axis)
        last = tf.gather(t, [t.shape[axis] - 1], axis=axis)
        return tf.concat([tf.repeat(first, before, axis=axis), t, tf.repeat(last, after, axis=axis)], axis=axis)

    variables = [(tf.Variable(l.kernel.astype(dtype)), tf.Variable(l.bias.astype(dtype))) for l in model.layers]
    with tf.GradientTape() as tape:
        a = tf.constant(x.astype(dtype))
        for layer, (kernel, bias) in zip(model.layers, variables):
            kh, kw = layer.kernel.shape[:2]
            if layer.padding == "replicate":
                a = edge_pad(edge_pad(a, *pad_split(kh), 1), *pad_split(kw), 2)
            a = tf.nn.conv2d(a, kernel, 1, "SAME" if layer.padding == "same" else "VALID") + bias
            a = tf.nn.relu(a) if layer.activation == "relu" else a
        squares = tf.square(a - y.astype(dtype))
        value = tf.reduce_mean(squares) if loss == "mse" else tf.reduce_sum(squares) / (2 * x.shape[0])
    grads = tape.gradient(value, [v for pair in variables for v in pair])
    return float(value), [(grads[2 * i].numpy(), grads[2 * i + 1].numpy()) for i in range(len(variables))]


def write_keras1_weights(path, layers, group=None):
    """Keras 1 save_weights layout: datasets named <layer>_W:0 / <layer>_b:0 directly in each layer group."""
    with h5py.File(path, "w") as f:
        root = f if group is None else f.create_group(group)
        names = [f"convolution2d_{i}" for i in range(1, len(layers) + 1)]
        root.attrs["layer_names"] = np.array([n.encode() for n in names])
        for name, layer in zip(names, layers):
            g = root.create_group(name)
            g.attrs["weight_names"] = np.array([f"{name}_W:0".encode(), f"{name}_b:0".encode()])
            g[f"{name}_W:0"] = layer.kernel
            g[f"{name}_b:0"] = layer.bias
        if group is not None:  # a Keras 1 full model: Sequential config is a plain list of layers
            f.attrs["model_config"] = json.dumps(
                {
                    "class_name": "Sequential",
                    "config": [
                        {
                            "class_name": "Convolution2D",
                            "config": {
                                "name": name,
                                "nb_filter": int(layer.kernel.shape[3]),
                                "nb_row": int(layer.kernel.shape[0]),
                                "nb_col": int(layer.kernel.shape[1]),
                                "border_mode": layer.padding,
                                "activation": layer.activation,
                                "subsample": [1, 1],
                                "dim_ordering": "tf",
                            },
                        }
                        for name, layer in zip(names, layers)
                    ],
                }
            ).encode()


def torch_style_onnx(layers, clamp=None, constants=False, conv_attrs=None, tail=()):
    """An ``onnx.ModelProto`` laid out as ``torch.onnx.export`` (opset 17) writes a PyTorch SRCNN:
    ``Conv`` with ``pads`` ``k // 2`` (``same``) or none (``valid``), ``Relu``, and, for ``clamp``
    ``(lo, hi)``, a ``Clip`` whose bounds are ``Constant`` nodes (``torch.clamp``). ``layers`` are
    npsrcnn ``ConvLayer``s, used only as weight holders: their kernels go in as PyTorch's
    ``(c_out, c_in, kh, kw)``, as initializers or (``constants``) as ``Constant`` nodes.
    ``conv_attrs`` ``{layer index: {attribute: value}}`` adds to a Conv; ``tail`` nodes follow the last
    one (each taking ``"output"`` and giving ``"output"`` renamed in turn)."""
    import onnx
    from onnx import helper, numpy_helper

    nodes, initializers, current = [], [], "input"
    for i, layer in enumerate(layers, start=1):
        kh, kw = layer.kernel.shape[:2]
        half = [kh // 2, kw // 2, kh // 2, kw // 2] if layer.padding == "same" else [0, 0, 0, 0]
        arrays = {f"conv{i}.weight": layer.kernel.transpose(3, 2, 0, 1), f"conv{i}.bias": layer.bias}
        for name, array in arrays.items():
            tensor = numpy_helper.from_array(np.ascontiguousarray(array), name)
            if constants:
                nodes.append(helper.make_node("Constant", [], [name], value=tensor))
            else:
                initializers.append(tensor)
        attrs = dict(dilations=[1, 1], group=1, kernel_shape=[kh, kw], pads=half, strides=[1, 1])
        attrs.update((conv_attrs or {}).get(i - 1, {}))
        nodes.append(
            helper.make_node("Conv", [current, *arrays], [f"/conv{i}/Conv_output_0"], f"/conv{i}/Conv", **attrs)
        )
        current = f"/conv{i}/Conv_output_0"
        if layer.activation == "relu":
            nodes.append(helper.make_node("Relu", [current], [f"/relu{i}/Relu_output_0"], f"/relu{i}/Relu"))
            current = f"/relu{i}/Relu_output_0"
    if clamp is not None:
        for name, value in zip(("min", "max"), clamp):
            nodes.append(helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.float32(value))))
        nodes.append(helper.make_node("Clip", [current, "min", "max"], ["clipped"], "/Clip"))
        current = "clipped"
    for k, node in enumerate(tail):
        node.input[0], node.output[0] = current, f"tail{k}"
        nodes.append(node)
        current = f"tail{k}"
    nodes[-1].output[0] = "output"
    graph = helper.make_graph(
        nodes,
        "main_graph",
        [helper.make_tensor_value_info("input", onnx.TensorProto.FLOAT, ["batch", 1, "height", "width"])],
        [helper.make_tensor_value_info("output", onnx.TensorProto.FLOAT, ["batch", 1, None, None])],
        initializers,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="pytorch")
