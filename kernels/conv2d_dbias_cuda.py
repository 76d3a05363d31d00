"""Convolution backward, bias gradient, on the GPU (numba.cuda): ``dout (N, Ho, Wo, C_out) -> (C_out,)``,
the sum of the output gradient over every pixel of the batch.

Versions:
    v1  one block per channel: its threads stride over the pixels, then a tree reduction in shared
        memory (fixed order: deterministic)
"""

import sys

import numpy as np
from numba import cuda, float32

from npsrcnn.kernels.cuda_support import as_device, block_sum, where_given

THREADS = 256


def _conv2d_dbias_v1(dout2, dbias):
    partial = cuda.shared.array(THREADS, float32)
    o, tid = cuda.blockIdx.x, cuda.threadIdx.x
    acc = float32(0)
    for p in range(tid, dout2.shape[0], THREADS):
        acc += dout2[p, o]
    partial[tid] = acc
    block_sum(partial, tid)
    if tid == 0:
        dbias[o] = partial[0]


conv2d_dbias_v1 = cuda.jit(_conv2d_dbias_v1)


def _run_v1(dout):
    c_out = dout.shape[3]
    dbias = cuda.device_array(c_out, np.float32)
    conv2d_dbias_v1[c_out, THREADS](dout.reshape(dout.size // c_out, c_out), dbias)
    return dbias


VERSIONS = {"v1": (_run_v1, lambda kh, kw, cin, cout: True)}
TARGET = "cuda"


def conv2d_dbias(dout, version="v1"):
    """Run one version on a host or device array: ``(N, Ho, Wo, C_out) -> (C_out,)``, where ``dout`` is."""
    return where_given(VERSIONS[version][0](as_device(dout)), dout)


if __name__ == "__main__":
    from npsrcnn.kernels import harness

    harness.main(sys.modules[__name__], "conv2d_dbias")
