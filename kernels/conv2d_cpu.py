"""Convolution forward on the CPU, compiled with numba.njit.

Every version takes an input that is already padded (``npsrcnn.reference.pad`` owns the padding
semantics) and computes a valid cross-correlation plus bias:
``x (N, Hp, Wp, C_in), kernel (kh, kw, C_in, C_out), bias (C_out,) -> out (N, Hp-kh+1, Wp-kw+1, C_out)``.

Versions:
    v1  direct loops, one output pixel at a time with C_out innermost (contiguous in both the kernel
        and the output, so LLVM vectorises it), ``prange`` over output rows.

Kernels are plain functions JIT-wrapped at module level, so ``NUMBA_DISABLE_JIT=1`` steps through
them in Python.
"""
import numpy as np
from numba import njit, prange


def _conv2d_valid_v1(x, kernel, bias, out):
    n, hp, wp, c_in = x.shape
    kh, kw, _, c_out = kernel.shape
    out_h, out_w = hp - kh + 1, wp - kw + 1
    for row in prange(n * out_h):
        b, y = row // out_h, row % out_h
        acc = np.empty(c_out, dtype=out.dtype)
        for xo in range(out_w):
            acc[:] = bias
            for i in range(kh):
                for j in range(kw):
                    for c in range(c_in):
                        v = x[b, y + i, xo + j, c]
                        for o in range(c_out):
                            acc[o] += v * kernel[i, j, c, o]
            out[b, y, xo, :] = acc


conv2d_valid_v1 = njit(parallel=True, cache=True)(_conv2d_valid_v1)

VERSIONS = {"v1": conv2d_valid_v1}


def conv2d_valid(x, kernel, bias, version="v1"):
    """Allocate the output and run one version: ``(N, Hp, Wp, C_in) -> (N, Hp-kh+1, Wp-kw+1, C_out)``."""
    kh, kw, _, c_out = kernel.shape
    n, hp, wp, _ = x.shape
    out = np.empty((n, hp - kh + 1, wp - kw + 1, c_out), dtype=x.dtype)
    VERSIONS[version](x, kernel, bias, out)
    return out
