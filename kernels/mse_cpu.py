"""Mean squared error and its gradient on the CPU (numba.njit), Keras' ``mse``: the mean over every
output pixel. ``pred, target (N, H, W, C) -> loss, dpred (N, H, W, C)``.

Versions:
    v1  one pass: the difference, its square summed in float64, and ``2 * diff / size``.
"""
import numpy as np
from numba import njit


def _mse_v1(pred, target, grad):
    p, t, g = pred.reshape(-1), target.reshape(-1), grad.reshape(-1)
    scale = 2.0 / p.size
    total = 0.0
    for i in range(p.size):
        d = p[i] - t[i]
        total += d * d
        g[i] = scale * d
    return total / p.size


mse_v1 = njit(cache=True)(_mse_v1)

VERSIONS = {"v1": mse_v1}


def mse(pred, target, version="v1"):
    grad = np.empty_like(pred)
    loss = VERSIONS[version](np.ascontiguousarray(pred), np.ascontiguousarray(target, dtype=pred.dtype), grad)
    return float(loss), grad
