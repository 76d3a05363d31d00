"""MATLAB imresize against values derived independently of npsrcnn's implementation."""

import numpy as np
import pytest

from npsrcnn import NpsrcnnError, imresize

RAMP = np.arange(16.0).reshape(4, 4)  # MATLAB: transpose(reshape(0:15, 4, 4))


def test_known_values_without_antialiasing():
    """Octave's imresize (MATLAB-compatible, a = -0.5) on the 4x4 ramp; checked by hand:
    the first output reads input 1.5 (1-based) with weights -1/16, 9/16, 9/16, -1/16 on the mirrored
    pixels 0, 0, 1, 2 of each axis: 0.4375 along a row + 4 * 0.4375 down a column = 2.1875."""
    np.testing.assert_allclose(
        imresize(RAMP, 0.5, "bicubic", antialiasing=False), [[2.1875, 4.3125], [10.6875, 12.8125]], atol=1e-12
    )
    np.testing.assert_allclose(
        imresize(RAMP, 0.5, "bilinear", antialiasing=False), [[2.5, 4.5], [10.5, 12.5]], atol=1e-12
    )


def _keys_cubic(t):
    t = abs(t)
    if t <= 1:
        return 1.5 * t**3 - 2.5 * t**2 + 1
    return -0.5 * t**3 + 2.5 * t**2 - 4 * t + 2 if t <= 2 else 0.0


def _mirror(j, n):
    """Symmetric extension of 0-based index j into [0, n): ... 1 0 | 0 1 ... n-1 | n-1 n-2 ..."""
    j = j % (2 * n)
    return j if j < n else 2 * n - 1 - j


def _direct_1d(signal, scale):
    """MATLAB's documented mapping, one output at a time, in float64: output x (1-based) sits at
    input u = x/scale + (1 - 1/scale)/2; when shrinking, the kernel widens to 4/scale and scales by
    scale; every input index within reach is weighted, mirrored at the ends, and weights normalised."""
    n = len(signal)
    out_len = int(np.ceil(round(n * scale, 9)))
    stretch = min(scale, 1.0)
    out = np.zeros(out_len)
    for x in range(1, out_len + 1):
        u = x / scale + 0.5 * (1 - 1 / scale)
        total = weight_sum = 0.0
        for j in range(int(np.floor(u - 2 / stretch)) - 1, int(np.ceil(u + 2 / stretch)) + 2):
            w = stretch * _keys_cubic(stretch * (u - j))
            total += w * signal[_mirror(j - 1, n)]
            weight_sum += w
        out[x - 1] = total / weight_sum
    return out


@pytest.mark.parametrize("scale", [2, 3, 4, 1 / 2, 1 / 3, 1 / 4, 0.7, 1.6])
def test_matches_a_direct_float64_implementation(scale):
    img = np.random.default_rng(int(scale * 100)).random((13, 17))
    expected = np.array([_direct_1d(row, scale) for row in img])  # along the width ...
    expected = np.array([_direct_1d(col, scale) for col in expected.T]).T  # ... then the height
    np.testing.assert_allclose(imresize(img, scale), expected, rtol=0, atol=1e-12)


def test_linear_ramps_survive_away_from_the_border():
    """Cubic convolution reproduces linear functions, so the interior of a ramp stays a ramp."""
    ramp = np.tile(np.arange(40.0), (3, 1))
    up = imresize(ramp, 2)[1, 4:-4]
    np.testing.assert_allclose(up, np.arange(1, 81)[4:-4] / 2 + 0.25 - 1, atol=1e-12)
    down = imresize(ramp, 1 / 2)[1, 3:-3]  # output i reads around input 2i - 0.5 (1-based)
    np.testing.assert_allclose(down, 2 * np.arange(1, 21)[3:-3] - 1.5, atol=1e-12)


def test_output_size_types_and_channels():
    assert imresize(np.zeros((5, 7)), 0.5).shape == (3, 4)  # ceil, as MATLAB
    assert imresize(np.zeros((255, 6)), 1 / 3).shape == (85, 2)  # not 86 from a last-bit error
    rgb = np.random.default_rng(0).random((9, 8, 3))
    np.testing.assert_allclose(imresize(rgb, 3)[..., 1], imresize(rgb[..., 1], 3), atol=1e-12)
    constant = np.full((6, 6), 0.3)
    np.testing.assert_allclose(imresize(constant, 2.5), 0.3, atol=1e-12)
    edges = np.zeros((8, 8), np.uint8)
    edges[:, 4:] = 255
    up = imresize(edges, 2)
    assert up.dtype == np.uint8 and up.min() == 0 and up.max() == 255  # overshoot saturates
    with pytest.raises(NpsrcnnError, match="method"):
        imresize(constant, 2, "lanczos")
