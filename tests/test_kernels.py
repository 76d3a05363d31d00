"""Every CPU kernel version against the NumPy oracle: odd sizes, all paddings, float32 and float64.

Tolerance (float32): each output sums K = kh*kw*C_in products, so rounding grows like
K * 2^-24 * sum|x*w|. With x in [0, 1] and weights of order 1/sqrt(K), that sum is about sqrt(K);
atol = 2e-5 covers K up to ~10^4 (the 9-3-5/128-64 middle layer has K = 1152) with room to spare,
while any indexing mistake gives errors of order 0.1.
"""
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from npsrcnn import reference
from npsrcnn.kernels import conv2d_cpu, relu_cpu

from helpers import small_model, real_luma

PADDINGS = ["valid", "same", "replicate"]


def _conv_case(n, h, w, c_in, kh, kw, c_out, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, h, w, c_in)).astype(dtype)
    kernel = (rng.normal(size=(kh, kw, c_in, c_out)) / np.sqrt(kh * kw * c_in)).astype(dtype)
    bias = rng.normal(size=c_out).astype(dtype)
    return x, kernel, bias


@pytest.mark.parametrize("version", sorted(conv2d_cpu.VERSIONS))
@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("dims", [(1, 13, 11, 1, 9, 9, 7), (2, 8, 9, 5, 3, 3, 6), (1, 10, 7, 3, 5, 1, 2),
                                  (1, 6, 6, 4, 2, 4, 3), (1, 9, 9, 128, 3, 3, 64)])
def test_conv_versions_match_reference(version, padding, dims):
    *shape, kh, kw, c_out = dims
    for dtype, atol in ((np.float32, 2e-5), (np.float64, 1e-12)):
        x, kernel, bias = _conv_case(*shape, kh, kw, c_out, dtype)
        xp = np.ascontiguousarray(reference.pad(x, kh, kw, padding))
        got = conv2d_cpu.conv2d_valid(xp, kernel, bias, version)
        expected = reference.conv2d(x.astype(np.float64), kernel.astype(np.float64), bias.astype(np.float64),
                                    padding)
        assert got.dtype == dtype and got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=0, atol=atol)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 2), h=st.integers(1, 12), w=st.integers(1, 12), c_in=st.integers(1, 4),
       kh=st.integers(1, 5), kw=st.integers(1, 5), c_out=st.integers(1, 5))
def test_conv_v1_any_shape(n, h, w, c_in, kh, kw, c_out):
    x, kernel, bias = _conv_case(n, h + kh - 1, w + kw - 1, c_in, kh, kw, c_out, np.float64, seed=h * w)
    np.testing.assert_allclose(conv2d_cpu.conv2d_valid(x, kernel, bias, "v1"),
                               reference.conv2d(x, kernel, bias, "valid"), rtol=0, atol=1e-12)


@pytest.mark.parametrize("version", sorted(relu_cpu.VERSIONS))
def test_relu_versions_match_reference(version):
    x = np.random.default_rng(3).normal(size=(2, 7, 5, 3)).astype(np.float32)
    expected = reference.relu(x)
    relu_cpu.VERSIONS[version](x)
    np.testing.assert_array_equal(x, expected)


@pytest.mark.parametrize("padding", [None, "same", "replicate"])
def test_cpu_backend_matches_numpy_backend_on_a_real_image(padding):
    model = small_model(padding)
    luma = real_luma(40, 33)
    np.testing.assert_allclose(model.forward(luma, backend="cpu"), model.forward(luma, backend="numpy"),
                               rtol=0, atol=2e-5)


def test_kernels_run_as_plain_python_with_jit_disabled():
    """minitorch's rule: the kernels are plain functions, steppable without numba compiling them."""
    code = ("import numpy as np, numba; from npsrcnn.kernels import conv2d_cpu; from npsrcnn import reference;"
            "assert not isinstance(conv2d_cpu.conv2d_valid_v1, numba.core.dispatcher.Dispatcher);"
            "r = np.random.default_rng(0); x = r.random((1, 6, 5, 2)); k = r.normal(size=(3, 3, 2, 2));"
            "b = r.normal(size=2);"
            "assert np.allclose(conv2d_cpu.conv2d_valid(x, k, b), reference.conv2d(x, k, b))")
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr


BACKWARD_DIMS = [(1, 13, 11, 1, 9, 9, 7), (2, 8, 9, 5, 3, 3, 6), (1, 10, 7, 3, 5, 1, 2), (1, 6, 6, 4, 2, 4, 3),
                 (2, 9, 9, 64, 3, 3, 32)]


@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("dims", BACKWARD_DIMS)
def test_backward_versions_match_reference(padding, dims):
    """dinput, dkernel and dbias, every version, against reference.conv2d_backward (float64 oracle).
    float32 tolerance as for the forward: dinput sums kh*kw*C_out terms; dkernel and dbias sum
    N*H'*W' terms but accumulate in float64, so their error is one float32 rounding of the result."""
    from npsrcnn.kernels import conv2d_dbias_cpu, conv2d_dinput_cpu, conv2d_dkernel_cpu

    *shape, kh, kw, c_out = dims
    x, kernel, _ = _conv_case(*shape, kh, kw, c_out, np.float32, seed=5)
    dout = np.random.default_rng(6).normal(size=reference.conv2d(x, kernel, 0, padding).shape).astype(np.float32)
    dx, dkernel, dbias = reference.conv2d_backward(x.astype(np.float64), kernel.astype(np.float64),
                                                   dout.astype(np.float64), padding)
    xp = np.ascontiguousarray(reference.pad(x, kh, kw, padding))
    for version in conv2d_dinput_cpu.VERSIONS:
        got = reference.pad_backward(conv2d_dinput_cpu.conv2d_dinput(dout, kernel, version), kh, kw, padding)
        np.testing.assert_allclose(got, dx, rtol=1e-5, atol=2e-5)
    for version in conv2d_dkernel_cpu.VERSIONS:
        np.testing.assert_allclose(conv2d_dkernel_cpu.conv2d_dkernel(xp, dout, kh, kw, version), dkernel,
                                   rtol=1e-6, atol=1e-5)
    for version in conv2d_dbias_cpu.VERSIONS:
        np.testing.assert_allclose(conv2d_dbias_cpu.conv2d_dbias(dout, version), dbias, rtol=1e-6, atol=1e-5)


def test_relu_backward_and_mse_versions_match_reference():
    from npsrcnn.kernels import mse_cpu

    rng = np.random.default_rng(7)
    y = reference.relu(rng.normal(size=(2, 5, 4, 3))).astype(np.float32)
    dout = rng.normal(size=y.shape).astype(np.float32)
    for version, fn in relu_cpu.BACKWARD_VERSIONS.items():
        d = dout.copy()
        fn(y, d)
        np.testing.assert_array_equal(d, reference.relu_backward(y, dout))
    pred, target = rng.random((3, 7, 6, 1)).astype(np.float32), rng.random((3, 7, 6, 1)).astype(np.float32)
    expected_loss, expected_grad = reference.mse(pred.astype(np.float64), target.astype(np.float64))
    for version in mse_cpu.VERSIONS:
        loss, grad = mse_cpu.mse(pred, target, version)
        assert loss == pytest.approx(expected_loss, rel=1e-6)
        np.testing.assert_allclose(grad, expected_grad, rtol=1e-6, atol=1e-9)
