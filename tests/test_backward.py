"""Backpropagation: finite differences in float64, then TensorFlow's GradientTape on the same
weights and batch, for the paper's and the tutorials' architectures.

"Relative error" is norm-wise, ||ours - theirs|| / ||theirs||, per tensor: elementwise ratios would
be dominated by entries that are zero up to rounding.
"""

import numpy as np
import pytest

from helpers import ARCHITECTURES, backends_to_test, real_luma, tf_loss_and_grads
from npsrcnn import SRCNN, NpsrcnnError, reference
from npsrcnn.kernels import harness

PADDINGS = ["valid", "same", "replicate"]


def _numeric_grad(f, array, eps=1e-6):
    grad = np.zeros_like(array)
    for index in np.ndindex(array.shape):
        saved = array[index]
        array[index] = saved + eps
        up = f()
        array[index] = saved - eps
        down = f()
        array[index] = saved
        grad[index] = (up - down) / (2 * eps)
    return grad


@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("kh,kw", [(3, 3), (4, 2), (1, 1)])
def test_conv_backward_finite_differences(padding, kh, kw):
    rng = np.random.default_rng(kh * 10 + kw)
    x, kernel, bias = rng.random((2, 6, 5, 3)), rng.normal(size=(kh, kw, 3, 2)), rng.normal(size=2)
    weights = rng.normal(size=reference.conv2d(x, kernel, bias, padding).shape)
    loss = lambda: float(np.sum(weights * reference.conv2d(x, kernel, bias, padding)))  # dL/dout = weights
    dx, dkernel, dbias = reference.conv2d_backward(x, kernel, weights, padding)
    for analytic, array in ((dx, x), (dkernel, kernel), (dbias, bias)):
        np.testing.assert_allclose(analytic, _numeric_grad(loss, array), rtol=1e-7, atol=1e-8)


def test_relu_and_mse_finite_differences():
    rng = np.random.default_rng(1)
    pred, target = rng.normal(size=(2, 4, 3, 1)), rng.normal(size=(2, 4, 3, 1))
    loss, grad = reference.mse(pred, target)
    assert loss == pytest.approx(np.mean((pred - target) ** 2))
    np.testing.assert_allclose(grad, _numeric_grad(lambda: reference.mse(pred, target)[0], pred), rtol=1e-7)
    x = rng.normal(size=(3, 5)) + 0.01  # away from the kink at 0
    weights = rng.normal(size=x.shape)
    numeric = _numeric_grad(lambda: float(np.sum(weights * reference.relu(x))), x)
    np.testing.assert_allclose(reference.relu_backward(reference.relu(x), weights), numeric, atol=1e-8)


def _relative_errors(ours, theirs):
    return [
        np.linalg.norm(a - b) / np.linalg.norm(b)
        for pair_a, pair_b in zip(ours, theirs)
        for a, b in zip(pair_a, pair_b)
    ]


@pytest.mark.parametrize("loss_name", ["mse", "euclidean"])
@pytest.mark.parametrize("padding", PADDINGS + [["replicate", "same", "valid"]])
def test_loss_and_grads_equal_tensorflow_in_float64(padding, loss_name):
    """Keras' mean, and Caffe's Euclidean loss (the paper's), each against TensorFlow's own."""
    model = SRCNN.build("5-3-3", (6, 4), padding=padding, seed=2)
    x = np.stack([real_luma(17, 15), real_luma(17, 15, top=200)])[..., None].astype(np.float64)
    y = np.random.default_rng(0).random(model.forward(x).shape)
    loss, grads = model.loss_and_grads(x, y, backend="numpy", loss=loss_name)
    tf_loss, tf_grads = tf_loss_and_grads(model, x, y, np.float64, loss_name)
    assert loss == pytest.approx(tf_loss, rel=1e-12)
    assert max(_relative_errors(grads, tf_grads)) < 1e-10


def _patches(n, size=33, seed=0):
    """n real-image training pairs: luma patches and a target slightly different from the output."""
    rng = np.random.default_rng(seed)
    luma = real_luma(300, 300, top=100, left=100)
    corners = rng.integers(0, 300 - size, (n, 2))
    return np.stack([luma[r : r + size, c : c + size] for r, c in corners])[..., None]


@pytest.mark.parametrize("arch,filters", ARCHITECTURES)
@pytest.mark.parametrize("backend", backends_to_test(heavy=True))
def test_loss_and_grads_equal_gradient_tape_float32(arch, filters, backend):
    """The acceptance bar: relative error <= 1e-4 on every tensor, tutorials' paddings, float32."""
    model = SRCNN.build(arch, filters, seed=3)
    x = _patches(4)
    out = model.forward(x)
    y = np.clip(out + np.random.default_rng(1).normal(0, 0.05, out.shape), 0, 1).astype(np.float32)
    loss, grads = model.loss_and_grads(x, y, backend=backend)
    tf_loss, tf_grads = tf_loss_and_grads(model, x, y, np.float32)
    assert [(dk.shape, db.shape) for dk, db in grads] == [(l.kernel.shape, l.bias.shape) for l in model.layers]
    assert all(dk.dtype == np.float32 for dk, _ in grads)
    assert loss == pytest.approx(tf_loss, rel=1e-4)
    assert max(_relative_errors(grads, tf_grads)) <= 1e-4


def test_target_must_match_the_output():
    model = SRCNN.build("9-1-5", (4, 2), padding="valid")
    with pytest.raises(NpsrcnnError, match="network's output is"):
        model.loss_and_grads(np.zeros((1, 33, 33, 1), np.float32), np.zeros((1, 33, 33, 1), np.float32))


@pytest.mark.parametrize("backend", backends_to_test())
def test_relu_gates_follow_each_layers_own_activation(backend):
    """The ReLU backward travels as a gate on the input gradient of the layer above; a linear layer
    in the middle and a ReLU on the output must each be honoured. Oracle: the textbook order (each
    layer's own ReLU backward, then its convolution's backward), in float64."""
    model = SRCNN.build("3-1-3", (4, 3), padding="same", seed=2)
    model.layers[1].activation, model.layers[2].activation = "linear", "relu"
    model.layers[2].bias[:] = 0.0  # some outputs positive, some not
    rng = np.random.default_rng(4)
    x, y = rng.random((2, 7, 6, 1)), rng.random((2, 7, 6, 1))
    outputs = [x]
    for layer in model.layers:
        z = reference.conv2d(outputs[-1], layer.kernel.astype(np.float64), layer.bias.astype(np.float64), "same")
        outputs.append(reference.relu(z) if layer.activation == "relu" else z)
    grad, expected = reference.mse(outputs[-1], y)[1], []
    for k in reversed(range(3)):
        if model.layers[k].activation == "relu":
            grad = reference.relu_backward(outputs[k + 1], grad)
        grad, dkernel, _ = reference.conv2d_backward(
            outputs[k], model.layers[k].kernel.astype(np.float64), grad, "same"
        )
        expected.insert(0, dkernel)
    assert 0 < np.mean(outputs[1] == 0) < 1 and 0 < np.mean(outputs[3] == 0) < 1  # both gates matter
    _, grads = model.loss_and_grads(x, y, backend=backend)
    for (dkernel, _), want in zip(grads, expected):  # cuda computes in float32
        assert harness.relative_error(dkernel, want) <= (1e-5 if backend == "cuda" else 1e-12)


@pytest.mark.parametrize("backend", backends_to_test())
@pytest.mark.parametrize("padding", [None, "same", "replicate"])
def test_a_small_network_trains_like_the_float64_oracle(backend, padding):
    """A whole network's loss, gradients and forward pass on each backend, in float32, against the
    oracle in float64: small enough for the CUDA simulator."""
    model = SRCNN.build("5-1-3", (4, 2), padding, seed=1)
    x = np.stack([real_luma(9, 8), real_luma(9, 8, top=100)])[..., None]
    target = model.forward(x, "numpy") * 0.9
    loss, grads = model.loss_and_grads(x, target, backend)
    expected_loss, expected = model.loss_and_grads(x.astype(np.float64), target.astype(np.float64), "numpy")
    assert loss == pytest.approx(expected_loss, rel=1e-5)
    for (dk, db), (ek, eb) in zip(grads, expected):
        assert isinstance(dk, np.ndarray) and dk.shape == ek.shape
        assert harness.relative_error(dk, ek) <= 1e-5 and harness.relative_error(db, eb) <= 1e-5
    np.testing.assert_allclose(model.forward(x, backend), target / 0.9, atol=1e-6)
