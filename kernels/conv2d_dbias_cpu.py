"""Convolution backward, bias gradient, on the CPU (numba.njit).

``dout (N, Ho, Wo, C_out) -> dbias (C_out,)``: the sum of ``dout`` over every pixel.

Versions:
    v1  one pass over the pixels, a float64 accumulator per channel.
"""
import numpy as np
from numba import njit


def _conv2d_dbias_v1(dout, dbias):
    c_out = dout.shape[3]
    flat = dout.reshape(-1, c_out)
    acc = np.zeros(c_out, dtype=np.float64)
    for p in range(flat.shape[0]):
        for o in range(c_out):
            acc[o] += flat[p, o]
    for o in range(c_out):
        dbias[o] = acc[o]


conv2d_dbias_v1 = njit(cache=True)(_conv2d_dbias_v1)

VERSIONS = {"v1": conv2d_dbias_v1}


def conv2d_dbias(dout, version="v1"):
    dbias = np.empty(dout.shape[3], dtype=dout.dtype)
    VERSIONS[version](np.ascontiguousarray(dout), dbias)
    return dbias
