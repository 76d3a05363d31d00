"""ReLU and its backward on the CPU, compiled with numba.njit. Both work in place.

Versions:
    v1  forward: ``max(x, 0)`` over the flattened array, ``prange`` over elements.
    v1 backward: zero ``dout`` wherever the forward's output ``y`` is not positive.
"""
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

VERSIONS = {"v1": relu_inplace_v1}
BACKWARD_VERSIONS = {"v1": relu_backward_inplace_v1}
