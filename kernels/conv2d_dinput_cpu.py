"""Convolution backward, input gradient, on the CPU (numba.njit).

``dout (N, Ho, Wo, C_out), kernel (kh, kw, C_in, C_out) -> dxp (N, Ho+kh-1, Wo+kw-1, C_in)``, the
gradient of the *padded* input; ``npsrcnn.reference.pad_backward`` folds it back through the padding.

Versions:
    v1  gather: each padded-input pixel sums ``dout * kernel`` over the taps that read it (no write
        conflicts, so rows run in parallel with ``prange``), C_out innermost and contiguous.
    v2  it is a convolution: the ``full`` correlation of ``dout`` with the kernel rotated 180° and its
        channels swapped, run by the fastest forward version for that shape (Winograd for 3×3/5×5).
"""

import sys

import numpy as np
from numba import njit, prange

from npsrcnn import reference
from npsrcnn.kernels import conv2d_cpu, versions


def _conv2d_dinput_v1(dout, kernel, dxp):
    n, out_h, out_w, c_out = dout.shape
    kh, kw, c_in, _ = kernel.shape
    hp, wp = out_h + kh - 1, out_w + kw - 1
    for row in prange(n * hp):
        b, yp = row // hp, row % hp
        for xp in range(wp):
            for c in range(c_in):
                acc = 0.0
                for i in range(max(0, yp - out_h + 1), min(kh, yp + 1)):
                    for j in range(max(0, xp - out_w + 1), min(kw, xp + 1)):
                        for o in range(c_out):
                            acc += dout[b, yp - i, xp - j, o] * kernel[i, j, c, o]
                dxp[b, yp, xp, c] = acc


conv2d_dinput_v1 = njit(parallel=True, cache=True)(_conv2d_dinput_v1)


def _run_v1(dout, kernel):
    kh, kw, c_in, _ = kernel.shape
    n, out_h, out_w, _ = dout.shape
    dxp = np.empty((n, out_h + kh - 1, out_w + kw - 1, c_in), dtype=dout.dtype)
    conv2d_dinput_v1(dout, kernel, dxp)
    return dxp


def _through_forward(dout, kernel, padding, gate=None):
    """The correlation of ``dout`` with the kernel rotated 180° and its channels swapped, run by the
    fastest forward version for that shape (``gate``: see ``conv2d_cpu.conv2d``)."""
    rotated = np.ascontiguousarray(kernel[::-1, ::-1].transpose(0, 1, 3, 2), dtype=dout.dtype)
    return conv2d_cpu.conv2d(
        dout,
        rotated,
        np.zeros(rotated.shape[3], dout.dtype),
        padding,
        False,
        versions.pick("cpu", "conv2d", rotated.shape),
        gate,
    )


def _run_v2(dout, kernel):
    return _through_forward(dout, kernel, "full")


VERSIONS = {"v1": (_run_v1, lambda kh, kw, cin, cout: True), "v2": (_run_v2, lambda kh, kw, cin, cout: True)}
TARGET = "cpu"


def conv2d_dx(dout, kernel, padding, version="v2", gate=None):
    """The input gradient itself ``(N, Ho, Wo, C_out) -> (N, H, W, C_in)``, through the padding.
    For ``same`` padding and odd kernels it is directly the ``same`` correlation with the rotated
    kernel (the full one cropped back): computed so with v2, it skips the border it would discard;
    for ``valid`` it is the ``full`` one. ``gate`` (shaped like the input) zeroes the gradient where
    the gate is not positive: pass the ReLU output of the layer below to fuse that ReLU's backward,
    which v2 then applies as it writes."""
    kh, kw = kernel.shape[:2]
    if version == "v2" and padding == "same" and kh % 2 and kw % 2:
        return _through_forward(np.ascontiguousarray(dout), kernel, "same", gate)
    if version == "v2" and padding == "valid":
        return _through_forward(np.ascontiguousarray(dout), kernel, "full", gate)
    dx = reference.pad_backward(conv2d_dinput(dout, kernel, version), kh, kw, padding)
    return dx if gate is None else conv2d_cpu.gate_in_place(np.ascontiguousarray(dx), gate)


def conv2d_dinput(dout, kernel, version="v1"):
    """Run one version: ``(N, Ho, Wo, C_out) -> (N, Ho+kh-1, Wo+kw-1, C_in)``."""
    return VERSIONS[version][0](np.ascontiguousarray(dout), np.ascontiguousarray(kernel, dtype=dout.dtype))


if __name__ == "__main__":
    from npsrcnn.kernels import harness

    harness.main(sys.modules[__name__], "conv2d_dinput")
