"""Convolution backward, kernel gradient, on the CPU (numba.njit).

``xp (N, Ho+kh-1, Wo+kw-1, C_in)`` (the padded input; v3 and v9 take it unpadded), ``dout (N, Ho, Wo, C_out)
-> dkernel (kh, kw, C_in, C_out)``: ``dkernel[i, j, c, :] = Σ_(n,y,x) xp[n, y+i, x+j, c] · dout[n, y, x, :]``.

Versions:
    v1  one task per (i, j, c_in) under ``prange``, each summing over the batch and image in float64
        (a batch of 128 33x33 patches adds ~10^5 terms), C_out innermost and contiguous.
    v2  im2col + GEMM: ``colsᵀ @ dout`` over bands of output rows, single-threaded BLAS per band;
        bands are summed in a fixed number of chunks, so the result does not depend on the thread count.
    v3  Winograd F(r×r, m×m): the output gradient's m×m tiles act as filters over the forward's
        α×α input tiles; one GEMM per tile position over every tile, then Aᵀ · A (square kernels).
    v4  1×1: ``xᵀ @ dout`` straight from the arrays, no im2col copy, in fixed chunks.
    v5  transposed im2col: rows of colsᵀ (kh·kw·C_in × pixels) are shifted copies of input rows,
        then ``colsᵀ @ dout`` reduces over every pixel at once; for few input channels (first layer).
    v6  one output channel: each pixel's output gradient scales its input window into float64
        sums (an axpy per tap over contiguous channels), no im2col for what is a GEMV.
    v7  v6 with each output row's taps summed in the input's dtype (``wo`` terms each, 8 float32
        lanes to a vector instead of 4), added into the float64 chunk sums once per row.
    v8  1×1: v4 in bands of a few hundred pixels, whose rows of ``x`` and ``dout`` stay in the L2 cache
        while BLAS packs them (v4's 10⁴-row GEMMs stream them from memory; v2's im2col bands were
        faster than v4 for that reason alone).
    v9  v3 with α = 8 (m = 9 - r) and the forward v9's input transform (eight terms summed in registers,
        inner tiles read in place); the output gradient's tiles as v3's.
"""

import sys

import numpy as np
from numba import njit, prange

from npsrcnn.kernels import winograd_cpu
from npsrcnn.kernels.conv2d_cpu import _padded, im2col_band, im2col_band_transposed
from npsrcnn.kernels.threads import blas_single
from npsrcnn.reference import border

CHUNKS = 8  # partial sums: fixed, so results are bit-identical whatever the thread count


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


def _conv2d_dkernel_banded(xp, dout, partial, kh, kw, rows, transposed):
    """v2 (``cols`` pixels × taps, then ``colsᵀ @ dout``) and v5 (``cols_t`` taps × pixels, then
    ``cols_t @ dout``): the same bands and chunks, two layouts of the same windows."""
    _, ho, wo, cout = dout.shape
    d2 = dout.reshape(-1, cout)
    total = xp.shape[0] * ho
    bands = (total + rows - 1) // rows
    chunks = partial.shape[0]
    for chunk in prange(chunks):
        for band in range(chunk * bands // chunks, (chunk + 1) * bands // chunks):
            r0 = band * rows
            r1 = min(total, r0 + rows)
            if transposed:
                cols_t = np.empty((partial.shape[1], (r1 - r0) * wo), xp.dtype)
                im2col_band_transposed(xp, r0, r1, ho, kh, kw, cols_t)
                partial[chunk] += np.dot(cols_t, d2[r0 * wo : r1 * wo])
            else:
                cols = np.empty(((r1 - r0) * wo, partial.shape[1]), xp.dtype)
                im2col_band(xp, r0, r1, ho, kh, kw, cols)
                partial[chunk] += np.dot(cols.T, d2[r0 * wo : r1 * wo])


def _conv2d_dkernel_pointwise_v4(x2, d2, partial):
    chunks = partial.shape[0]
    total = x2.shape[0]
    for chunk in prange(chunks):
        r0, r1 = chunk * total // chunks, (chunk + 1) * total // chunks
        partial[chunk] = np.dot(x2[r0:r1].T, d2[r0:r1])


def _conv2d_dkernel_pointwise_v8(x2, d2, partial, rows):
    chunks = partial.shape[0]
    bands = (x2.shape[0] + rows - 1) // rows
    for chunk in prange(chunks):
        partial[chunk] = 0
        for band in range(chunk * bands // chunks, (chunk + 1) * bands // chunks):
            r0, r1 = band * rows, min(x2.shape[0], (band + 1) * rows)
            partial[chunk] += np.dot(x2[r0:r1].T, d2[r0:r1])


def _conv2d_dkernel_one_output(xp, dout, partial, kh, kw, row_like):
    """v6 (``row_like`` float64) and v7 (``row_like`` of the input's dtype): each output row's taps
    are summed in ``row_like``'s dtype, then added into the chunk's float64 sums."""
    _, ho, wo, _ = dout.shape
    chunks = partial.shape[0]
    total = xp.shape[0] * ho
    for chunk in prange(chunks):
        acc = np.zeros((kh * kw, xp.shape[3]), np.float64)
        row = np.empty((kh * kw, xp.shape[3]), row_like.dtype)
        for r in range(chunk * total // chunks, (chunk + 1) * total // chunks):
            b, y = r // ho, r % ho
            row[:] = 0
            for i in range(kh):
                for x in range(wo):
                    d = dout[b, y, x, 0]
                    for j in range(kw):
                        src, dst = xp[b, y + i, x + j], row[i * kw + j]
                        for c in range(src.shape[0]):
                            dst[c] += d * src[c]
            acc += row
        partial[chunk] = acc


conv2d_dkernel_v1 = njit(parallel=True, cache=True)(_conv2d_dkernel_v1)
conv2d_dkernel_one_output = njit(parallel=True, fastmath=True, cache=True)(_conv2d_dkernel_one_output)
conv2d_dkernel_pointwise_v8 = njit(parallel=True, cache=True)(_conv2d_dkernel_pointwise_v8)
conv2d_dkernel_pointwise_v4 = njit(parallel=True, cache=True)(_conv2d_dkernel_pointwise_v4)
conv2d_dkernel_banded = njit(parallel=True, cache=True)(_conv2d_dkernel_banded)


def _run_v1(x, dout, kh, kw, padding):
    xp = _padded(x, kh, kw, padding)
    dkernel = np.empty((kh, kw, x.shape[3], dout.shape[3]), dtype=dout.dtype)
    conv2d_dkernel_v1(xp, dout, dkernel)
    return dkernel


def _banded(transposed, pixels_per_band):
    """A version that sums im2col GEMMs over bands of output rows into CHUNKS partial sums."""

    def run(x, dout, kh, kw, padding):
        xp = _padded(x, kh, kw, padding)
        rows = max(1, -(-pixels_per_band // dout.shape[2]))
        partial = np.zeros((CHUNKS, kh * kw * x.shape[3], dout.shape[3]), dtype=dout.dtype)
        with blas_single():
            conv2d_dkernel_banded(xp, dout, partial, kh, kw, rows, transposed)
        return partial.sum(axis=0).reshape(kh, kw, x.shape[3], dout.shape[3])

    return run


def _winograd(tile_size, fast_input):
    """v3 and v9: F(r, m) with ``m = tile_size(r, out_h, out_w)``: r outputs per axis, the output
    gradient's m×m tiles as filters."""

    def run(x, dout, kh, kw, padding):
        m = tile_size(kh, dout.shape[1], dout.shape[2])
        at, gt, bt = winograd_cpu.transforms(kh, m)
        b = border(padding, kh, kw)
        alpha = bt.shape[0]
        partial = np.zeros((CHUNKS, alpha * alpha, x.shape[3], dout.shape[3]), np.float32)
        with blas_single():
            winograd_cpu.dkernel_winograd(
                np.ascontiguousarray(x, dtype=np.float32),
                np.ascontiguousarray(dout, dtype=np.float32),
                bt.astype(np.float32),
                gt.astype(np.float32),
                partial,
                b.top,
                b.left,
                b.replicate,
                fast_input,
            )
        transformed = partial.astype(np.float64).sum(axis=0).reshape(alpha, alpha, x.shape[3], dout.shape[3])
        dkernel = np.einsum("ia,abco,jb->ijco", at, transformed, at)
        return dkernel.astype(dout.dtype)

    return run


def _run_v4(x, dout, kh, kw, padding):
    partial = np.empty((CHUNKS, x.shape[3], dout.shape[3]), dtype=dout.dtype)
    with blas_single():
        conv2d_dkernel_pointwise_v4(x.reshape(-1, x.shape[3]), dout.reshape(-1, dout.shape[3]), partial)
    return partial.sum(axis=0).reshape(1, 1, x.shape[3], dout.shape[3])


def _one_output(row_dtype):
    """v6 and v7: float64 sums per chunk of rows, added in a fixed order."""

    def run(x, dout, kh, kw, padding):
        xp = _padded(x, kh, kw, padding)
        partial = np.empty((CHUNKS, kh * kw, x.shape[3]), np.float64)
        conv2d_dkernel_one_output(xp, dout, partial, kh, kw, np.empty(0, row_dtype or xp.dtype))
        return partial.sum(axis=0).reshape(kh, kw, x.shape[3], 1).astype(dout.dtype)

    return run


def _run_v8(x, dout, kh, kw, padding):
    partial = np.empty((CHUNKS, x.shape[3], dout.shape[3]), dtype=dout.dtype)
    with blas_single():
        conv2d_dkernel_pointwise_v8(x.reshape(-1, x.shape[3]), dout.reshape(-1, dout.shape[3]), partial, 256)
    return partial.sum(axis=0).reshape(1, 1, x.shape[3], dout.shape[3])


VERSIONS = {
    "v1": (_run_v1, lambda kh, kw, cin, cout: True),
    "v2": (_banded(False, 256), lambda kh, kw, cin, cout: True),
    "v3": (_winograd(winograd_cpu.tile_size, False), lambda kh, kw, cin, cout: kh == kw and 2 <= kh <= 7),
    "v4": (_run_v4, lambda kh, kw, cin, cout: kh == kw == 1),
    "v5": (_banded(True, 1024), lambda kh, kw, cin, cout: True),
    "v6": (_one_output(np.float64), lambda kh, kw, cin, cout: cout == 1),
    "v7": (_one_output(None), lambda kh, kw, cin, cout: cout == 1),
    "v8": (_run_v8, lambda kh, kw, cin, cout: kh == kw == 1),
    "v9": (_winograd(lambda r, out_h, out_w: 9 - r, True), lambda kh, kw, cin, cout: kh == kw and 2 <= kh <= 7),
}


TARGET = "cpu"


def conv2d_dkernel(x, dout, kh, kw, padding="valid", version="v1"):
    """Run one version on the *unpadded* input x: -> ``(kh, kw, C_in, C_out)``."""
    return VERSIONS[version][0](np.ascontiguousarray(x), np.ascontiguousarray(dout), kh, kw, padding)


if __name__ == "__main__":
    from npsrcnn.kernels import harness

    harness.main(sys.modules[__name__], "conv2d_dkernel")
