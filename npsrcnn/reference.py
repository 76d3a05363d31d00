"""The NumPy oracle: SRCNN's operations and their gradients, written plainly, in any float dtype.

Every other implementation (the numba kernels in ``npsrcnn.kernels``, TensorFlow in the tests) is
checked against these functions, so they favour being obviously right over being fast. Layout is NHWC
and kernels are ``(kh, kw, c_in, c_out)``, the layout Keras stores, so weights need no transposing.
Convolution here means cross-correlation (no kernel flip), as in Keras, TensorFlow and MATLAB
``imfilter``. Each ``*_backward`` sits under its forward and takes the gradient of the loss with
respect to that op's output (``dout``), returning the gradients with respect to its inputs.
"""

from typing import NamedTuple

import numpy as np

PADDINGS = ("valid", "same", "replicate")  # a layer's padding modes
ACTIVATIONS = ("relu", "linear")


def pad_split(k):
    """Rows (or columns) of padding before and after for a kernel of size k: ``(k-1)//2`` before.

    TensorFlow's SAME puts the odd one after; MATLAB's ``imfilter`` centres a kernel at
    ``floor((k+1)/2)``, which is the same split. Only even k makes the two differ from symmetric.
    """
    return (k - 1) // 2, k - 1 - (k - 1) // 2


class Border(NamedTuple):
    """How far a convolution's input is padded on each side before a valid correlation, and with
    what: zeros, or (``replicate``) the nearest edge pixel repeated."""

    top: int
    bottom: int
    left: int
    right: int
    replicate: bool = False

    @property
    def mode(self):
        """``np.pad``'s name for the fill."""
        return "edge" if self.replicate else "constant"


def border(padding, kh, kw):
    """A padding mode's ``Border`` for a ``kh x kw`` kernel; a ``Border`` is returned as it is.

    ``valid``: none (the layer shrinks); ``same`` (zeros, Keras) and ``replicate`` (the edge repeated,
    MATLAB ``imfilter(..., 'replicate')``): the kernel's half on each side (``pad_split``), so the size
    is kept; ``full``: kh-1 / kw-1 zeros on every side, the form the input gradient takes. A tile of a
    larger image passes its own ``Border``: it pads only where it touches the image's edge.
    """
    if isinstance(padding, Border):
        return padding
    if padding == "valid":
        return Border(0, 0, 0, 0)
    if padding == "full":
        return Border(kh - 1, kh - 1, kw - 1, kw - 1)
    if padding in ("same", "replicate"):
        return Border(*pad_split(kh), *pad_split(kw), padding == "replicate")
    raise ValueError(f"padding {padding!r} is not one of valid, same, replicate, full or a Border")


def pad(x, kh, kw, padding):
    """``(N, H, W, C) -> (N, H+top+bottom, W+left+right, C)`` by ``border(padding, kh, kw)``, so that
    a valid correlation then gives the padding's output size; no padding returns x untouched."""
    b = border(padding, kh, kw)
    if not (b.top or b.bottom or b.left or b.right):
        return x
    return np.pad(x, ((0, 0), (b.top, b.bottom), (b.left, b.right), (0, 0)), mode=b.mode)


def pad_backward(dpadded, kh, kw, padding):
    """``(N, H+top+bottom, W+left+right, C) -> (N, H, W, C)``: the adjoint of ``pad``.

    Zero padding drops the border's gradient; replicate padding copied each edge pixel outward, so
    the gradient of every copy flows back into that edge pixel.
    """
    b = border(padding, kh, kw)
    h, w = dpadded.shape[1] - b.top - b.bottom, dpadded.shape[2] - b.left - b.right
    if b.replicate:
        dpadded = dpadded.copy()
        dpadded[:, b.top] += dpadded[:, : b.top].sum(axis=1)
        dpadded[:, b.top + h - 1] += dpadded[:, b.top + h :].sum(axis=1)
        dpadded[:, :, b.left] += dpadded[:, :, : b.left].sum(axis=2)
        dpadded[:, :, b.left + w - 1] += dpadded[:, :, b.left + w :].sum(axis=2)
    return dpadded[:, b.top : b.top + h, b.left : b.left + w]


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
            out += xp[:, i : i + out_h, j : j + out_w, :] @ kernel[i, j]
    return out + bias


def conv2d_backward(x, kernel, dout, padding="valid"):
    """Gradients of ``conv2d`` given ``dout`` ``(N, H', W', C_out)``:
    ``dx (N, H, W, C_in)``, ``dkernel (kh, kw, C_in, C_out)``, ``dbias (C_out,)``.

    Tap by tap, as the forward: tap (i, j) multiplied the shifted input window by ``kernel[i, j]``,
    so its kernel gradient is ``window^T @ dout`` and the window's gradient is ``dout @ kernel[i, j]^T``.
    """
    kh, kw, c_in, c_out = kernel.shape
    xp = pad(x, kh, kw, padding)
    out_h, out_w = dout.shape[1], dout.shape[2]
    dxp = np.zeros_like(xp, dtype=np.result_type(x, kernel))
    dkernel = np.zeros_like(kernel, dtype=dxp.dtype)
    flat_dout = dout.reshape(-1, c_out)
    for i in range(kh):
        for j in range(kw):
            window = xp[:, i : i + out_h, j : j + out_w, :]
            dkernel[i, j] = window.reshape(-1, c_in).T @ flat_dout
            dxp[:, i : i + out_h, j : j + out_w, :] += dout @ kernel[i, j].T
    return pad_backward(dxp, kh, kw, padding), dkernel, dout.sum(axis=(0, 1, 2))


def relu(x):
    """Elementwise ``max(x, 0)``; shape unchanged."""
    return np.maximum(x, 0)


def relu_backward(y, dout):
    """``dout`` where the ReLU's output ``y`` was positive, 0 elsewhere (the subgradient 0 at 0)."""
    return dout * (y > 0)


def mse(pred, target):
    """Keras' ``mse``: the mean of the squared error over every output pixel -> ``(loss, dloss/dpred)``."""
    diff = pred - target
    return float(np.mean(diff * diff)), (2.0 / diff.size) * diff
