"""The NumPy oracle against independent implementations, in float64.

TensorFlow checks valid and same (zero) padding for odd and even kernels; scipy.ndimage checks all
three paddings, replicate included (its 'nearest' mode is edge replication), for odd kernels.
"""

import numpy as np
import pytest
import scipy.ndimage

from npsrcnn import reference

SHAPES = [  # (N, H, W, C_in), (kh, kw, C_out)
    ((1, 11, 13, 1), (9, 9, 4)),
    ((2, 7, 6, 3), (3, 3, 5)),
    ((1, 9, 8, 2), (5, 3, 2)),
    ((1, 6, 7, 2), (4, 2, 3)),  # even kernels: TF's uneven SAME split
    ((3, 5, 5, 1), (1, 1, 2)),
]


def _case(shape, kshape, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random(shape)
    kernel = rng.normal(size=kshape[:2] + (shape[3], kshape[2]))
    bias = rng.normal(size=kshape[2])
    return x, kernel, bias


@pytest.mark.parametrize("shape,kshape", SHAPES)
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_conv2d_matches_tensorflow_float64(shape, kshape, padding):
    import tensorflow as tf

    x, kernel, bias = _case(shape, kshape)
    expected = tf.nn.conv2d(x, kernel, strides=1, padding=padding.upper()).numpy() + bias
    got = reference.conv2d(x, kernel, bias, padding)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape,kshape", [s for s in SHAPES if s[1][0] % 2 and s[1][1] % 2])
@pytest.mark.parametrize("padding,mode", [("same", "constant"), ("replicate", "nearest")])
def test_conv2d_matches_scipy_correlate(shape, kshape, padding, mode):
    x, kernel, bias = _case(shape, kshape, seed=1)
    expected = np.zeros(shape[:3] + (kshape[2],))
    for n in range(shape[0]):
        for o in range(kshape[2]):
            expected[n, :, :, o] = bias[o] + sum(
                scipy.ndimage.correlate(x[n, :, :, c], kernel[:, :, c, o], mode=mode, cval=0.0) for c in range(shape[3])
            )
    np.testing.assert_allclose(reference.conv2d(x, kernel, bias, padding), expected, rtol=1e-12, atol=1e-12)


def test_valid_conv_shrinks_by_kernel_minus_one():
    x, kernel, bias = _case((2, 20, 17, 1), (9, 5, 3))
    assert reference.conv2d(x, kernel, bias, "valid").shape == (2, 12, 13, 3)
    assert reference.conv2d(x, kernel, bias, "replicate").shape == (2, 20, 17, 3)


def test_pad_replicate_repeats_edge_pixels():
    x = np.arange(12.0).reshape(1, 3, 4, 1)
    padded = reference.pad(x, 5, 3, "replicate")[0, :, :, 0]
    assert padded.shape == (7, 6)
    np.testing.assert_array_equal(padded[0], [0, 0, 1, 2, 3, 3])
    np.testing.assert_array_equal(padded[-1], [8, 8, 9, 10, 11, 11])
    np.testing.assert_array_equal(padded[:, 0], [0, 0, 0, 4, 8, 8, 8])


def test_relu():
    np.testing.assert_array_equal(reference.relu(np.array([-2.0, -0.0, 0.5, 3.0])), [0, 0, 0.5, 3])
