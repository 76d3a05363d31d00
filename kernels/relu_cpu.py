"""ReLU and its backward on the CPU, compiled with numba.njit. Both work in place, on any shape.
The forward is also fused into every convolution version; this one is for activations computed
elsewhere. The backward runs fused into the input gradient's convolution when it can (``gate``).

Versions:
    v1  forward: ``max(x, 0)`` over the flattened array, ``prange`` over elements.
    v1 backward: zero ``dout`` wherever the forward's output ``y`` is not positive.
"""

import sys

import numpy as np
from numba import njit, prange


def _relu_inplace_v1(x):
    flat = x.reshape(-1)
    for i in prange(flat.size):
        if flat[i] < 0:
            flat[i] = 0


def _relu_backward_inplace_v1(y, dout):
    flat_y, flat_d = y.reshape(-1), dout.reshape(-1)
    for i in prange(flat_d.size):
        if flat_y[i] <= 0:
            flat_d[i] = 0


relu_inplace_v1 = njit(parallel=True, cache=True)(_relu_inplace_v1)
relu_backward_inplace_v1 = njit(parallel=True, cache=True)(_relu_backward_inplace_v1)

VERSIONS = {"v1": (relu_inplace_v1, lambda kh, kw, cin, cout: True)}
BACKWARD_VERSIONS = {"v1": (relu_backward_inplace_v1, lambda kh, kw, cin, cout: True)}
TARGET = "cpu"


def relu(x, version="v1"):
    """``x`` (C-contiguous) with its negative values zeroed, in place; returns it."""
    VERSIONS[version][0](x)
    return x


def relu_backward(y, dout, version="v1"):
    """``dout`` (C-contiguous, shaped like ``y``) zeroed where ``y`` is not positive, in place; returns it."""
    if y.shape != dout.shape:
        raise ValueError(f"ReLU output {y.shape} and gradient {dout.shape} differ in shape")
    BACKWARD_VERSIONS[version][0](np.ascontiguousarray(y, dtype=dout.dtype), dout)
    return dout


if __name__ == "__main__":
    from npsrcnn.kernels import harness

    harness.main(sys.modules[__name__], "relu", "relu_backward")
