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
