"""Convolution backward, bias gradient, on the CPU (numba.njit).

``dout (N, Ho, Wo, C_out) -> dbias (C_out,)``: the sum of ``dout`` over every pixel.

Versions:
    v1  one pass over the pixels, a float64 accumulator per channel.
    v2  the same sums split into a fixed number of chunks under ``prange`` (float64 partials, added
        in order afterwards: the result does not depend on the thread count).
"""

import sys

import numpy as np
from numba import njit, prange

CHUNKS = 8


def _conv2d_dbias_v1(dout, dbias):
    c_out = dout.shape[3]
    flat = dout.reshape(-1, c_out)
    acc = np.zeros(c_out, dtype=np.float64)
    for p in range(flat.shape[0]):
        for o in range(c_out):
            acc[o] += flat[p, o]
    for o in range(c_out):
        dbias[o] = acc[o]


def _conv2d_dbias_chunks_v2(dout, dbias):
    c_out = dout.shape[3]
    flat = dout.reshape(-1, c_out)
    total = flat.shape[0]
    partial = np.zeros((CHUNKS, c_out), dtype=np.float64)
    for chunk in prange(CHUNKS):
        for p in range(chunk * total // CHUNKS, (chunk + 1) * total // CHUNKS):
            for o in range(c_out):
                partial[chunk, o] += flat[p, o]
    for o in range(c_out):
        acc = 0.0
        for chunk in range(CHUNKS):
            acc += partial[chunk, o]
        dbias[o] = acc


conv2d_dbias_v1 = njit(cache=True)(_conv2d_dbias_v1)
conv2d_dbias_chunks_v2 = njit(parallel=True, cache=True)(_conv2d_dbias_chunks_v2)

VERSIONS = {
    "v1": (conv2d_dbias_v1, lambda kh, kw, cin, cout: True),
    "v2": (conv2d_dbias_chunks_v2, lambda kh, kw, cin, cout: True),
}
TARGET = "cpu"


def conv2d_dbias(dout, version="v1"):
    """Run one version: ``(N, Ho, Wo, C_out) -> (C_out,)``."""
    dbias = np.empty(dout.shape[3], dtype=dout.dtype)
    VERSIONS[version][0](np.ascontiguousarray(dout), dbias)
    return dbias


if __name__ == "__main__":
    from npsrcnn.kernels import harness

    harness.main(sys.modules[__name__], "conv2d_dbias")
