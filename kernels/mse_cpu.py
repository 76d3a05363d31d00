"""Mean squared error and its gradient on the CPU (numba.njit), Keras' ``mse``: the mean over every
output pixel. ``pred, target (N, H, W, C) -> loss, dpred (N, H, W, C)``.

Versions:
    v1  one pass: the difference, its square summed in float64, and ``2 * diff / size``.
"""

import sys

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

VERSIONS = {"v1": (mse_v1, lambda kh, kw, cin, cout: True)}
TARGET = "cpu"


def mse(pred, target, version="v1"):
    """Run one version -> ``(loss, dpred)``, the gradient in ``pred``'s dtype."""
    grad = np.empty_like(pred)
    loss = VERSIONS[version][0](np.ascontiguousarray(pred), np.ascontiguousarray(target, dtype=pred.dtype), grad)
    return float(loss), grad


if __name__ == "__main__":
    from npsrcnn.kernels import harness

    harness.main(sys.modules[__name__], "mse")
