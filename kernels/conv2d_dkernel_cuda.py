"""Convolution backward, kernel gradient, on the GPU (numba.cuda), float32.

``x (N, H, W, C_in)`` (unpadded; padding applied while reading), ``dout (N, Ho, Wo, C_out)
-> dkernel (kh, kw, C_in, C_out)``: a matrix product im2col(x)ᵀ @ dout whose inner dimension is every
output pixel of the batch (80,000 for 128 patches of 25×25), so the work is in the long reduction.

Versions:
    v1  one thread per weight, summing over every pixel of the batch from global memory
    v2  split-K tiled GEMM: 16×16 weight tiles per block, the pixels split into chunks across
        blocks (grid z) so even a 64-weight layer fills the GPU; each block stages 16 pixels of the
        gathered im2col and of dout in shared memory per step; chunks' partial sums are added in a
        fixed order (deterministic, no atomics)
"""

import sys

import numpy as np
from numba import cuda, float32

from npsrcnn.kernels.cuda_support import as_device, blocks, source, where_given
from npsrcnn.reference import border

T = 16  # v2 tile
PIXELS_PER_CHUNK = 2048  # v2: each block's share of the reduction


def _conv2d_dkernel_v1(x, dout, dkernel, top, left, replicate):
    t = cuda.grid(1)
    kh, kw, c_in, c_out = dkernel.shape
    if t >= kh * kw * c_in * c_out:
        return
    o, c = t % c_out, (t // c_out) % c_in
    j, i = (t // (c_out * c_in)) % kw, t // (c_out * c_in * kw)
    n, h, w, _ = x.shape
    acc = float32(0)
    for b in range(n):
        for oy in range(dout.shape[1]):
            yy = source(oy + i - top, h, replicate)
            if yy >= 0:
                for ox in range(dout.shape[2]):
                    xx = source(ox + j - left, w, replicate)
                    if xx >= 0:
                        acc += x[b, yy, xx, c] * dout[b, oy, ox, o]
    dkernel[i, j, c, o] = acc


def _conv2d_dkernel_v2(x, dout2, partial, out_h, out_w, kw, top, left, replicate):
    """``dout2``: dout as ``(pixels, C_out)``; ``partial (chunks, kh·kw·C_in, C_out)``."""
    a_tile = cuda.shared.array((T, T), float32)  # [pixel, im2col column]
    d_tile = cuda.shared.array((T, T), float32)  # [pixel, output channel]
    n, h, w, c_in = x.shape
    pixels, c_out = dout2.shape
    depth = partial.shape[1]
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    k, o = cuda.blockIdx.x * T + ty, cuda.blockIdx.y * T + tx
    load_k = cuda.blockIdx.x * T + tx  # the im2col column this thread stages
    tap, c = load_k // c_in, load_k % c_in
    start = cuda.blockIdx.z * PIXELS_PER_CHUNK
    stop = min(start + PIXELS_PER_CHUNK, pixels)
    acc = float32(0)
    for p0 in range(start, stop, T):
        p = p0 + ty
        v = float32(0)
        if p < stop and load_k < depth:
            b, rest = p // (out_h * out_w), p % (out_h * out_w)
            yy = source(rest // out_w + tap // kw - top, h, replicate)
            xx = source(rest % out_w + tap % kw - left, w, replicate)
            if yy >= 0 and xx >= 0:
                v = x[b, yy, xx, c]
        a_tile[ty, tx] = v
        o_load = cuda.blockIdx.y * T + tx
        d_tile[ty, tx] = dout2[p, o_load] if p < stop and o_load < c_out else float32(0)
        cuda.syncthreads()
        for q in range(T):
            acc += a_tile[q, ty] * d_tile[q, tx]
        cuda.syncthreads()
    if k < depth and o < c_out:
        partial[cuda.blockIdx.z, k, o] = acc


def _sum_chunks(partial, total):
    """``(chunks, M, N) -> (M, N)``, each entry summed in chunk order."""
    t = cuda.grid(1)
    m, n = total.shape
    if t < m * n:
        acc = float32(0)
        for s in range(partial.shape[0]):
            acc += partial[s, t // n, t % n]
        total[t // n, t % n] = acc


conv2d_dkernel_v1 = cuda.jit(_conv2d_dkernel_v1)
conv2d_dkernel_v2 = cuda.jit(_conv2d_dkernel_v2)
sum_chunks = cuda.jit(_sum_chunks)


def _run_v1(x, dout, kh, kw, padding):
    b = border(padding, kh, kw)
    dkernel = cuda.device_array((kh, kw, x.shape[3], dout.shape[3]), np.float32)
    conv2d_dkernel_v1[blocks(dkernel.size, 128), 128](x, dout, dkernel, b.top, b.left, b.replicate)
    return dkernel


def _run_v2(x, dout, kh, kw, padding):
    b = border(padding, kh, kw)
    n, out_h, out_w, c_out = dout.shape
    depth, pixels = kh * kw * x.shape[3], n * out_h * out_w
    chunks = blocks(pixels, PIXELS_PER_CHUNK)
    partial = cuda.device_array((chunks, depth, c_out), np.float32)
    conv2d_dkernel_v2[(blocks(depth, T), blocks(c_out, T), chunks), (T, T)](
        x, dout.reshape(pixels, c_out), partial, out_h, out_w, kw, b.top, b.left, b.replicate
    )
    total = cuda.device_array((depth, c_out), np.float32)
    sum_chunks[blocks(total.size, 128), 128](partial, total)
    return total.reshape(kh, kw, x.shape[3], c_out)


VERSIONS = {"v1": (_run_v1, lambda kh, kw, cin, cout: True), "v2": (_run_v2, lambda kh, kw, cin, cout: True)}
TARGET = "cuda"


def conv2d_dkernel(x, dout, kh, kw, padding="valid", version="v1"):
    """Run one version on host or device arrays -> ``(kh, kw, C_in, C_out)``, where ``x`` is."""
    return where_given(VERSIONS[version][0](as_device(x), as_device(dout), kh, kw, padding), x)


if __name__ == "__main__":
    from npsrcnn.kernels import harness

    harness.main(sys.modules[__name__], "conv2d_dkernel")
