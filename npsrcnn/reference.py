"""The NumPy oracle: SRCNN's operations written plainly, in whatever float dtype they are given.

Every other implementation (the numba kernels in ``npsrcnn.kernels``, TensorFlow in the tests) is
checked against these functions, so they favour being obviously right over being fast. Layout is NHWC
and kernels are ``(kh, kw, c_in, c_out)``, the layout Keras stores, so weights need no transposing.
Convolution here means cross-correlation (no kernel flip), as in Keras, TensorFlow and MATLAB
``imfilter``.
"""
import numpy as np

PADDINGS = ("valid", "same", "replicate")
ACTIVATIONS = ("relu", "linear")


def pad_split(k):
    """Rows (or columns) of padding before and after for a kernel of size k: ``(k-1)//2`` before.

    TensorFlow's SAME puts the odd one after; MATLAB's ``imfilter`` centres a kernel at
    ``floor((k+1)/2)``, which is the same split. Only even k makes the two differ from symmetric.
    """
    return (k - 1) // 2, k - 1 - (k - 1) // 2


def pad(x, kh, kw, padding):
    """``(N, H, W, C) -> (N, H+kh-1, W+kw-1, C)`` so that a valid correlation keeps the size.

    ``same`` pads with zeros (Keras), ``replicate`` repeats the edge pixel (MATLAB
    ``imfilter(..., 'replicate')``); ``valid`` returns x untouched and the layer shrinks.
    """
    if padding == "valid":
        return x
    (top, bottom), (left, right) = pad_split(kh), pad_split(kw)
    mode = {"same": "constant", "replicate": "edge"}[padding]
    return np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), mode=mode)


def conv2d(x, kernel, bias, padding="valid"):
    """``(N, H, W, C_in) -> (N, H', W', C_out)``; H' = H-kh+1 for valid, H otherwise.

    The sum over the kernel window is split by tap: each of the kh*kw taps is one matrix product of
    the shifted input ``(N, H', W', C_in)`` with the tap's weights ``(C_in, C_out)``. That is the whole
    convolution, and the same decomposition the fast kernels use.
    """
    kh, kw, c_in, c_out = kernel.shape
    xp = pad(x, kh, kw, padding)
    n, hp, wp, _ = xp.shape
    out_h, out_w = hp - kh + 1, wp - kw + 1
    out = np.zeros((n, out_h, out_w, c_out), dtype=np.result_type(x, kernel))
    for i in range(kh):
        for j in range(kw):
            out += xp[:, i:i + out_h, j:j + out_w, :] @ kernel[i, j]
    return out + bias


def relu(x):
    """Elementwise ``max(x, 0)``; shape unchanged."""
    return np.maximum(x, 0)
