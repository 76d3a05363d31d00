"""Mean squared error and its gradient on the GPU (numba.cuda), Keras' ``mse``:
``pred, target (N, H, W, C) -> loss, dpred (N, H, W, C)``.

Versions:
    v1  one pass, one thread per element: ``2 * diff / size`` written, ``diff²`` reduced per block in
        shared memory; the host adds the blocks' partial sums in float64
"""

import sys

import numpy as np
from numba import cuda, float32

from npsrcnn.kernels.cuda_support import as_device, block_sum, blocks, where_given

THREADS = 256


def _mse_v1(pred, target, grad, partial, scale):
    squares = cuda.shared.array(THREADS, float32)
    i, tid = cuda.grid(1), cuda.threadIdx.x
    d = float32(0)
    if i < pred.size:
        d = pred[i] - target[i]
        grad[i] = scale * d
    squares[tid] = d * d
    block_sum(squares, tid)
    if tid == 0:
        partial[cuda.blockIdx.x] = squares[0]


mse_v1 = cuda.jit(_mse_v1)


def _run_v1(pred, target):
    size = pred.size
    grad = cuda.device_array(pred.shape, np.float32)
    partial = cuda.device_array(blocks(size, THREADS), np.float32)
    mse_v1[partial.size, THREADS](
        pred.reshape(size), target.reshape(size), grad.reshape(size), partial, np.float32(2.0 / size)
    )
    return float(partial.copy_to_host().astype(np.float64).sum() / size), grad


VERSIONS = {"v1": (_run_v1, lambda kh, kw, cin, cout: True)}
TARGET = "cuda"


def mse(pred, target, version="v1"):
    """Run one version on host or device arrays -> ``(loss, dpred)``, the gradient where ``pred`` is."""
    loss, grad = VERSIONS[version][0](as_device(pred), as_device(target))
    return loss, where_given(grad, pred)


if __name__ == "__main__":
    from npsrcnn.kernels import harness

    harness.main(sys.modules[__name__], "mse")
