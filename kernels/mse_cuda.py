"""Mean squared error and its gradient on the GPU (numba.cuda), Keras' ``mse``:
``pred, target (N, H, W, C) -> loss, dpred (N, H, W, C)``.

Versions:
    v1  one pass, one thread per element: ``2 * diff / size`` written, ``diff²`` reduced per block in
        shared memory; the host adds the blocks' partial sums in float64
"""
import numpy as np
from numba import cuda, float32

from npsrcnn.kernels.cuda_support import as_device, block_sum, blocks, to_host

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
    mse_v1[partial.size, THREADS](pred.reshape(size), target.reshape(size), grad.reshape(size), partial,
                                  np.float32(2.0 / size))
    return float(partial.copy_to_host().astype(np.float64).sum() / size), grad


VERSIONS = {"v1": _run_v1}


def mse_device(pred, target, version="v1"):
    """Device ``pred``; ``target`` on the host or the device -> ``(loss, dpred on the device)``."""
    return VERSIONS[version](pred, as_device(target))


def mse(pred, target, version="v1"):
    loss, grad = mse_device(as_device(pred), target, version)
    return loss, to_host(grad)
