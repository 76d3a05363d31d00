"""Convolution backward, input gradient, on the GPU (numba.cuda), float32.

``dout (N, Ho, Wo, C_out), kernel (kh, kw, C_in, C_out) -> dxp (N, Ho+kh-1, Wo+kw-1, C_in)``, the
gradient of the *padded* input; ``fold`` then sums it back through the padding (the device twin of
``npsrcnn.reference.pad_backward``).

Versions:
    v1  gather: one thread per padded-input value sums ``dout * kernel`` over the taps that read it
        (no write conflicts, no atomics)
    v2  it is a convolution: the ``full`` correlation of ``dout`` with the kernel rotated 180° and its
        channels swapped, run by the chosen forward kernel (``conv2d_cuda``)
"""

import sys

import numpy as np
from numba import cuda, float32

from npsrcnn.kernels import conv2d_cuda, versions
from npsrcnn.kernels.cuda_support import as_device, blocks, to_host, where_given
from npsrcnn.reference import pad_split


def _conv2d_dinput_v1(dout, kernel, dxp):
    xp, yp, z = cuda.grid(3)
    n, out_h, out_w, c_out = dout.shape
    kh, kw, c_in, _ = kernel.shape
    if xp >= dxp.shape[2] or yp >= dxp.shape[1] or z >= n * c_in:
        return
    b, c = z // c_in, z % c_in
    acc = float32(0)
    for i in range(max(0, yp - out_h + 1), min(kh, yp + 1)):
        for j in range(max(0, xp - out_w + 1), min(kw, xp + 1)):
            for o in range(c_out):
                acc += dout[b, yp - i, xp - j, o] * kernel[i, j, c, o]
    dxp[b, yp, xp, c] = acc


def _fold_v1(dxp, dx, top, left, replicate):
    """One thread per input value: its own padded position, plus (replicate) the copies of it."""
    x, y, z = cuda.grid(3)
    n, h, w, c_in = dx.shape
    if x >= w or y >= h or z >= n * c_in:
        return
    b, c = z // c_in, z % c_in
    y0 = y1 = y + top
    x0 = x1 = x + left
    if replicate:
        if y == 0:
            y0 = 0
        if y == h - 1:
            y1 = dxp.shape[1] - 1
        if x == 0:
            x0 = 0
        if x == w - 1:
            x1 = dxp.shape[2] - 1
    acc = float32(0)
    for r in range(y0, y1 + 1):
        for s in range(x0, x1 + 1):
            acc += dxp[b, r, s, c]
    dx[b, y, x, c] = acc


conv2d_dinput_v1 = cuda.jit(_conv2d_dinput_v1)
fold_v1 = cuda.jit(_fold_v1)


def rotated(kernel):
    """``(kh, kw, C_in, C_out) -> (kh, kw, C_out, C_in)``, turned 180°: the input gradient's kernel."""
    return np.ascontiguousarray(np.asarray(kernel)[::-1, ::-1].transpose(0, 1, 3, 2), dtype=np.float32)


def _run_v1(dout, kernel):
    n, out_h, out_w, _ = dout.shape
    kh, kw, c_in, _ = kernel.shape
    dxp = cuda.device_array((n, out_h + kh - 1, out_w + kw - 1, c_in), np.float32)
    conv2d_dinput_v1[(blocks(dxp.shape[2], 32), blocks(dxp.shape[1], 8), n * c_in), (32, 8, 1)](dout, kernel, dxp)
    return dxp


def _through_forward(dout, kernel_rotated, padding):
    bias = cuda.to_device(np.zeros(kernel_rotated.shape[3], np.float32))
    return conv2d_cuda.conv2d_device(
        dout, kernel_rotated, bias, padding, False, versions.pick("cuda", "conv2d", kernel_rotated.shape)
    )


def _run_v2(dout, kernel):
    return _through_forward(dout, as_device(rotated(to_host(kernel))), "full")


VERSIONS = {"v1": (_run_v1, lambda kh, kw, cin, cout: True), "v2": (_run_v2, lambda kh, kw, cin, cout: True)}
TARGET = "cuda"


def fold(dxp, kh, kw, padding):
    """Device ``(N, H+kh-1, W+kw-1, C) -> (N, H, W, C)``: the adjoint of padding."""
    if padding == "valid":
        return dxp
    (top, bottom), (left, right) = pad_split(kh), pad_split(kw)
    n, hp, wp, c = dxp.shape
    dx = cuda.device_array((n, hp - top - bottom, wp - left - right, c), np.float32)
    fold_v1[(blocks(dx.shape[2], 32), blocks(dx.shape[1], 8), n * c), (32, 8, 1)](
        dxp, dx, top, left, padding == "replicate"
    )
    return dx


def conv2d_dx_device(dout, kernel, kernel_rotated, padding, version="v2"):
    """The input gradient itself, device in and out: ``(N, Ho, Wo, C_out) -> (N, H, W, C_in)``.

    As on the CPU, ``same`` padding with odd kernels is directly the ``same`` correlation with the
    rotated kernel, skipping the border that folding would drop."""
    kh, kw = kernel.shape[:2]
    if version == "v2" and padding == "same" and kh % 2 and kw % 2:
        return _through_forward(dout, kernel_rotated, "same")
    dxp = _run_v1(dout, kernel) if version == "v1" else _through_forward(dout, kernel_rotated, "full")
    return fold(dxp, kh, kw, padding)


def conv2d_dinput(dout, kernel, version="v1"):
    """Run one version on host or device arrays: ``(N, Ho, Wo, C_out) -> (N, Ho+kh-1, Wo+kw-1, C_in)``,
    where ``dout`` is."""
    return where_given(VERSIONS[version][0](as_device(dout), as_device(kernel)), dout)


if __name__ == "__main__":
    from npsrcnn.kernels import harness

    harness.main(sys.modules[__name__], "conv2d_dinput")
