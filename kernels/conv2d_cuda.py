"""Convolution forward on the GPU (numba.cuda), float32:
``x (N, H, W, C_in), kernel (kh, kw, C_in, C_out), bias (C_out,) -> (N, H', W', C_out)``, with
``valid`` / ``same`` / ``replicate`` / ``full`` padding or a ``reference.Border`` applied while
reading (no padded copy, so a tile's border never leaves the device) and
bias + ReLU fused into the write.

Versions (``python -m npsrcnn.kernels.conv2d_cuda --list``):
    v1  one thread per output value (pixel × channel): the whole window summed from global memory
    v2  shared-memory input tiles: a 16×16 block loads the (16+kh-1)×(16+kw-1) tile of one input
        channel and that channel's kh×kw×8 weights once, then each thread accumulates 8 output
        channels of its pixel in registers (register-blocked C_out); kernels up to 9×9
    v3  implicit GEMM: out (pixels × C_out) = im2col(x) (pixels × kh·kw·C_in) @ K (kh·kw·C_in × C_out),
        64×64 output tiles per block of 16×16 threads (4×4 each); the im2col tile is gathered from x
        into shared memory 8 columns at a time and never exists in full

The grid maps outputs to threads: v1 (x, y, image·channel), v2 (16×16 pixel tiles, image·channel
group), v3 (64-pixel rows of the flattened output × 64-channel groups).
"""

import sys

import numpy as np
from numba import cuda, float32

from npsrcnn.kernels.cuda_support import as_device, blocks, source, where_given
from npsrcnn.reference import border

TILE, CO_BLOCK, MAX_K = 16, 8, 9  # v2
BM, BN, BK = 64, 64, 8  # v3: output tile (pixels × channels), reduction step


def _conv2d_v1(x, kernel, bias, out, top, left, replicate, relu):
    # one thread per output value, the grid's prologue as conv2d_dinput_cuda's v1 (the same mapping
    # of (x, y, image·channel) to threads, for another array)
    ox, oy, z = cuda.grid(3)
    n, h, w, c_in = x.shape
    kh, kw, _, c_out = kernel.shape
    if ox >= out.shape[2] or oy >= out.shape[1] or z >= n * c_out:
        return
    b, o = z // c_out, z % c_out
    acc = bias[o]
    for i in range(kh):
        yy = source(oy + i - top, h, replicate)
        if yy >= 0:
            for j in range(kw):
                xx = source(ox + j - left, w, replicate)
                if xx >= 0:
                    for c in range(c_in):
                        acc += x[b, yy, xx, c] * kernel[i, j, c, o]
    if relu and acc < 0:
        acc = float32(0)
    out[b, oy, ox, o] = acc


def _conv2d_v2(x, kernel, bias, out, top, left, replicate, relu):
    tile_in = cuda.shared.array((TILE + MAX_K - 1) * (TILE + MAX_K - 1), float32)
    tile_k = cuda.shared.array(MAX_K * MAX_K * CO_BLOCK, float32)
    acc = cuda.local.array(CO_BLOCK, float32)
    n, h, w, c_in = x.shape
    kh, kw, _, c_out = kernel.shape
    groups = (c_out + CO_BLOCK - 1) // CO_BLOCK
    b, o0 = cuda.blockIdx.z // groups, (cuda.blockIdx.z % groups) * CO_BLOCK
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    ox0, oy0 = cuda.blockIdx.x * TILE, cuda.blockIdx.y * TILE
    tid, tw = ty * TILE + tx, TILE + kw - 1
    for k in range(CO_BLOCK):
        acc[k] = bias[o0 + k] if o0 + k < c_out else float32(0)
    for c in range(c_in):
        for t in range(tid, (TILE + kh - 1) * tw, TILE * TILE):  # every thread loads, even idle ones
            yy = source(oy0 + t // tw - top, h, replicate)
            xx = source(ox0 + t % tw - left, w, replicate)
            tile_in[t] = x[b, yy, xx, c] if yy >= 0 and xx >= 0 else float32(0)
        for t in range(tid, kh * kw * CO_BLOCK, TILE * TILE):
            tap, k = t // CO_BLOCK, t % CO_BLOCK
            tile_k[t] = kernel[tap // kw, tap % kw, c, o0 + k] if o0 + k < c_out else float32(0)
        cuda.syncthreads()
        for i in range(kh):
            for j in range(kw):
                v = tile_in[(ty + i) * tw + tx + j]
                for k in range(CO_BLOCK):
                    acc[k] += v * tile_k[(i * kw + j) * CO_BLOCK + k]
        cuda.syncthreads()
    ox, oy = ox0 + tx, oy0 + ty
    if ox < out.shape[2] and oy < out.shape[1]:
        for k in range(CO_BLOCK):
            if o0 + k < c_out:
                v = acc[k]
                if relu and v < 0:
                    v = float32(0)
                out[b, oy, ox, o0 + k] = v


def _conv2d_v3(x, kernel2, bias, out2, out_h, out_w, kh, kw, top, left, replicate, relu):
    """``kernel2``: the kernel as ``(kh·kw·C_in, C_out)``; ``out2``: the output as ``(pixels, C_out)``."""
    a_tile = cuda.shared.array((BK, BM), float32)
    b_tile = cuda.shared.array((BK, BN), float32)
    acc = cuda.local.array((4, 4), float32)
    a_regs = cuda.local.array(4, float32)
    n, h, w, c_in = x.shape
    depth, c_out = kernel2.shape
    pixels = out2.shape[0]
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    tid = ty * 16 + tx
    m0, n0 = cuda.blockIdx.x * BM, cuda.blockIdx.y * BN
    for r in range(4):
        for s in range(4):
            acc[r, s] = 0
    for k0 in range(0, depth, BK):
        for t in range(tid, BK * BM, 256):  # gather the im2col tile: consecutive threads, consecutive pixels
            kk, mm = t // BM, t % BM
            p, k = m0 + mm, k0 + kk
            v = float32(0)
            if p < pixels and k < depth:
                b, rest = p // (out_h * out_w), p % (out_h * out_w)
                tap, c = k // c_in, k % c_in
                yy = source(rest // out_w + tap // kw - top, h, replicate)
                xx = source(rest % out_w + tap % kw - left, w, replicate)
                if yy >= 0 and xx >= 0:
                    v = x[b, yy, xx, c]
            a_tile[kk, mm] = v
        for t in range(tid, BK * BN, 256):
            kk, nn = t // BN, t % BN
            k, o = k0 + kk, n0 + nn
            b_tile[kk, nn] = kernel2[k, o] if k < depth and o < c_out else float32(0)
        cuda.syncthreads()
        for kk in range(BK):
            for r in range(4):
                a_regs[r] = a_tile[kk, ty * 4 + r]
            for s in range(4):
                bv = b_tile[kk, tx * 4 + s]
                for r in range(4):
                    acc[r, s] += a_regs[r] * bv
        cuda.syncthreads()
    for r in range(4):
        p = m0 + ty * 4 + r
        if p < pixels:
            for s in range(4):
                o = n0 + tx * 4 + s
                if o < c_out:
                    v = acc[r, s] + bias[o]
                    if relu and v < 0:
                        v = float32(0)
                    out2[p, o] = v


conv2d_v1 = cuda.jit(_conv2d_v1)
conv2d_v2 = cuda.jit(_conv2d_v2)
conv2d_v3 = cuda.jit(_conv2d_v3)


def _launch_v1(x, kernel, bias, out, top, left, replicate, relu):
    n, out_h, out_w, c_out = out.shape
    conv2d_v1[(blocks(out_w, 32), blocks(out_h, 8), n * c_out), (32, 8, 1)](
        x, kernel, bias, out, top, left, replicate, relu
    )


def _launch_v2(x, kernel, bias, out, top, left, replicate, relu):
    n, out_h, out_w, c_out = out.shape
    grid = (blocks(out_w, TILE), blocks(out_h, TILE), n * blocks(c_out, CO_BLOCK))
    conv2d_v2[grid, (TILE, TILE)](x, kernel, bias, out, top, left, replicate, relu)


def _launch_v3(x, kernel, bias, out, top, left, replicate, relu):
    n, out_h, out_w, c_out = out.shape
    kh, kw, c_in, _ = kernel.shape
    out2 = out.reshape(n * out_h * out_w, c_out)
    kernel2 = kernel.reshape(kh * kw * c_in, c_out)
    conv2d_v3[(blocks(out2.shape[0], BM), blocks(c_out, BN)), (16, 16)](
        x, kernel2, bias, out2, out_h, out_w, kh, kw, top, left, replicate, relu
    )


VERSIONS = {
    "v1": (_launch_v1, lambda kh, kw, cin, cout: True),
    "v2": (_launch_v2, lambda kh, kw, cin, cout: kh <= MAX_K and kw <= MAX_K),
    "v3": (_launch_v3, lambda kh, kw, cin, cout: True),
}


TARGET = "cuda"


def conv2d_device(x, kernel, bias, padding="valid", relu=False, version="v3"):
    """Device arrays in, a new device array out: ``(N, H, W, C_in) -> (N, H', W', C_out)``."""
    kh, kw, _, c_out = kernel.shape
    b = border(padding, kh, kw)
    n, h, w, _ = x.shape
    out = cuda.device_array((n, h + b.top + b.bottom - kh + 1, w + b.left + b.right - kw + 1, c_out), np.float32)
    VERSIONS[version][0](x, kernel, bias, out, b.top, b.left, b.replicate, relu)
    return out


def conv2d(x, kernel, bias, padding="valid", relu=False, version="v1"):
    """Run one version on host or device arrays, computed in float32; the result is where ``x`` is."""
    if not hasattr(bias, "copy_to_host"):
        bias = np.broadcast_to(np.asarray(bias, np.float32), kernel.shape[3])
    return where_given(conv2d_device(as_device(x), as_device(kernel), as_device(bias), padding, relu, version), x)


if __name__ == "__main__":
    from npsrcnn.kernels import harness

    harness.main(sys.modules[__name__], "conv2d")
