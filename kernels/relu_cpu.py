"""ReLU on the CPU, compiled with numba.njit.

Versions:
    v1  in place over the flattened array, ``prange`` over elements.
"""
from numba import njit, prange


def _relu_inplace_v1(x):
    flat = x.reshape(-1)
    for i in prange(flat.size):
        if flat[i] < 0:
            flat[i] = 0


relu_inplace_v1 = njit(parallel=True, cache=True)(_relu_inplace_v1)

VERSIONS = {"v1": relu_inplace_v1}
