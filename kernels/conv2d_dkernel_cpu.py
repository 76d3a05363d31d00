"""Convolution backward, kernel gradient, on the CPU (numba.njit).

``xp (N, Ho+kh-1, Wo+kw-1, C_in)`` (the padded input), ``dout (N, Ho, Wo, C_out) -> dkernel (kh, kw, C_in, C_out)``:
``dkernel[i, j, c, :] = sum over (n, y, x) of xp[n, y+i, x+j, c] * dout[n, y, x, :]``.

Versions:
    v1  one task per (i, j, c_in) under ``prange``, each summing over the batch and image in float64
        (a batch of 128 33x33 patches adds ~10^5 terms), C_out innermost and contiguous.
"""
import numpy as np
from numba import njit, prange


def _conv2d_dkernel_v1(xp, dout, dkernel):
    n, out_h, out_w, c_out = dout.shape
    kh, kw, c_in, _ = dkernel.shape
    for task in prange(kh * kw * c_in):
        i, j, c = task // (kw * c_in), (task // c_in) % kw, task % c_in
        acc = np.zeros(c_out, dtype=np.float64)
        for b in range(n):
            for y in range(out_h):
                for x in range(out_w):
                    v = xp[b, y + i, x + j, c]
                    for o in range(c_out):
                        acc[o] += v * dout[b, y, x, o]
        for o in range(c_out):
            dkernel[i, j, c, o] = acc[o]


conv2d_dkernel_v1 = njit(parallel=True, cache=True)(_conv2d_dkernel_v1)

VERSIONS = {"v1": conv2d_dkernel_v1}


def conv2d_dkernel(xp, dout, kh, kw, version="v1"):
    """Allocate and run one version: -> ``(kh, kw, C_in, C_out)``."""
    dkernel = np.empty((kh, kw, xp.shape[3], dout.shape[3]), dtype=dout.dtype)
    VERSIONS[version](xp, dout, dkernel)
    return dkernel
