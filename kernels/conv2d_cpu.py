"""Convolution forward on the CPU (numba.njit):
``x (N, H, W, C_in), kernel (kh, kw, C_in, C_out), bias (C_out,) -> (N, H', W', C_out)``, with
``valid`` / ``same`` / ``replicate`` / ``full`` padding or any ``reference.Border`` (a tile pads only
where it touches the image's edge) and ReLU fused. ``full`` (kh-1 zeros on each side) is what the
input gradient needs. v4 and v7 read the border in place; the others pad a copy first.

Versions (``python -m npsrcnn.kernels.conv2d_cpu --list``):
    v1  direct loops over a padded copy, C_out innermost, ``prange`` over output rows
    v2  im2col + GEMM: each thread copies a band of output rows' windows into a
        (pixels × kh·kw·C_in) matrix and multiplies it by the kernel with single-threaded BLAS;
        bias and ReLU on the way out
    v3  one output channel: per-pixel dot products over contiguous kw·C_in runs, for the
        reconstruction layer. Measured ~7 GFLOP/s: LLVM does not vectorise this reduction here, even
        with fastmath; kept as the lesson that led to v7
    v4  Winograd F(m×m, r×r) for square kernels (``winograd_cpu``), m fitted to the map with α = m+r-1
        ≤ 8 (``winograd_cpu.tile_size``: 6 for large 3×3 layers, 5 for 3×3 on 25×25 training maps, 4
        for 5×5): 4.59-5.06× (3×3) and 6.25× (5×5) fewer multiplications; padding read in place
    v5  1×1: the layer is one matrix product, cut into row bands for numba's threads
    v6  transposed im2col + GEMM: outᵀ (C_out × pixels) = Kᵀ @ colsᵀ, whose rows are shifted copies of
        input rows (a memcpy, not a gather) and whose long side suits BLAS; for few input channels
    v7  channel GEMM then shifted sum: Z = X @ K (C_in × kh·kw·C_out) for every input pixel (banded
        GEMMs), then each output sums kh·kw shifted entries of Z, padding applied to Z's reads;
        for few output channels
    v8  v6 with the product taken the other way round, ``out (pixels × C_out) = (colsᵀ)ᵀ @ K``: BLAS
        reads the transposed operand as it packs and writes NHWC rows in place, so v6's strided
        scatter of the result disappears (~10% on the first layer)
    v9  v4 with α = 8 always (m = 9 - r) and each transform's eight terms summed in registers before
        one store, where v4 skips the matrices' zeros but loads and stores its accumulator per term
    v10 v7 in bands of output rows: each band's Z (its rows and the kh - 1 rows of halo) is made and
        summed while it is in cache; v7 writes all of Z to memory and reads it back

Every version keeps to numba's thread pool: BLAS is called single-threaded from inside ``prange``.
Mixing BLAS's own threads with numba's made whole networks up to 2x slower than their layers
on 2 cores (both pools spin-wait for the cores in turn).
"""

import sys

import numpy as np
from numba import njit, prange

from npsrcnn.kernels import relu_cpu, winograd_cpu
from npsrcnn.kernels.threads import blas_single
from npsrcnn.reference import border, pad


def _conv2d_valid_v1(x, kernel, bias, out):
    # the textbook loops, as conv2d_dkernel_cpu's v1 (the same six nested loops, summed the other way)
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


@njit(inline="always")
def im2col_band(x, r0, r1, ho, kh, kw, cols):
    """Output rows ``r0..r1`` (numbered across images) -> ``cols[pixel, (i, j, c)]``: each pixel's
    kh×kw×C_in window, copied one kernel row (kw·C_in contiguous values) at a time."""
    n, hp, wp, cin = x.shape
    wo, span = wp - kw + 1, kw * cin
    x2 = x.reshape(n, hp, wp * cin)
    for r in range(r1 - r0):
        b, y = (r0 + r) // ho, (r0 + r) % ho
        for xo in range(wo):
            for i in range(kh):
                cols[r * wo + xo, i * span : (i + 1) * span] = x2[b, y + i, xo * cin : xo * cin + span]


@njit(inline="always")
def im2col_band_transposed(x, r0, r1, ho, kh, kw, cols_t):
    """The same windows as ``im2col_band``, transposed: ``cols_t[(i, j, c), pixel]``, each row a
    shifted copy of an input row."""
    cin = x.shape[3]
    wo = x.shape[2] - kw + 1
    for r in range(r1 - r0):
        b, y = (r0 + r) // ho, (r0 + r) % ho
        for i in range(kh):
            for j in range(kw):
                for c in range(cin):
                    cols_t[(i * kw + j) * cin + c, r * wo : (r + 1) * wo] = x[b, y + i, j : j + wo, c]


def _conv2d_valid_im2col_v2(x, k2, bias, out, kh, kw, rows, relu):
    _, ho, wo, cout = out.shape
    o2 = out.reshape(-1, cout)
    total = x.shape[0] * ho
    for band in prange((total + rows - 1) // rows):
        r0 = band * rows
        r1 = min(total, r0 + rows)
        cols = np.empty(((r1 - r0) * wo, k2.shape[0]), x.dtype)
        im2col_band(x, r0, r1, ho, kh, kw, cols)
        res = np.dot(cols, k2)
        for p in range(res.shape[0]):
            for o in range(cout):
                v = res[p, o] + bias[o]
                o2[r0 * wo + p, o] = max(v, 0.0) if relu else v


def _conv2d_valid_one_output_v3(x, k2, bias, out, relu):
    n, hp, wp, cin = x.shape
    kh, span = k2.shape
    _, ho, wo, _ = out.shape
    x2 = x.reshape(n, hp, wp * cin)
    for row in prange(n * ho):
        b, y = row // ho, row % ho
        for xo in range(wo):
            acc = 0.0
            for i in range(kh):
                for t in range(span):
                    acc += x2[b, y + i, xo * cin + t] * k2[i, t]
            v = acc + bias[0]
            out[b, y, xo, 0] = max(v, 0.0) if relu else v


def _conv2d_valid_transposed_v6(x, kt, bias, out, kh, kw, rows, relu):
    _, ho, wo, cout = out.shape
    total = x.shape[0] * ho
    for band in prange((total + rows - 1) // rows):
        r0 = band * rows
        r1 = min(total, r0 + rows)
        cols_t = np.empty((kt.shape[1], (r1 - r0) * wo), x.dtype)
        im2col_band_transposed(x, r0, r1, ho, kh, kw, cols_t)
        res = np.dot(kt, cols_t)
        for p in range(res.shape[1]):
            b, y, xo = (r0 + p // wo) // ho, (r0 + p // wo) % ho, p % wo
            for o in range(cout):
                v = res[o, p] + bias[o]
                out[b, y, xo, o] = max(v, 0.0) if relu else v


def _gemm_bands(a, b, bias, out, rows, relu, gate):
    """``out = a @ b + bias`` (ReLU'd if asked, zeroed where ``gate`` is not positive if given) as row
    bands in parallel, single-threaded BLAS each."""
    for band in prange((a.shape[0] + rows - 1) // rows):
        r0 = band * rows
        r1 = min(a.shape[0], r0 + rows)
        block = out[r0:r1]
        np.dot(a[r0:r1], b, block)
        for p in range(block.shape[0]):
            for o in range(block.shape[1]):
                v = block[p, o] + bias[o]
                if gate is not None and gate[r0 + p, o] <= 0:
                    v = 0.0
                block[p, o] = max(v, 0.0) if relu else v


@njit(inline="always")
def _source(index, size, replicate):
    """Where a padded read lands: clamped into [0, size) for replicate, -1 (a zero) outside otherwise."""
    if replicate:
        return min(max(index, 0), size - 1)
    return index if 0 <= index < size else -1


@njit(inline="always")
def _shifted_sum_row(z, z_top, h, bias, out, b, y, kh, kw, top, left, replicate, relu):
    """Output row ``y`` of image ``b``: each output sums the kh·kw entries of ``z (rows, W, kh·kw·C_out)``
    its window reads, the padded read of input row ``y + i - top`` found at z's row ``yy - z_top`` (z
    holds the rows of an image ``h`` rows high from ``z_top`` on)."""
    w = z.shape[1]
    _, _, wo, cout = out.shape
    for xo in range(wo):
        for o in range(cout):
            acc = bias[o]
            for i in range(kh):
                yy = _source(y + i - top, h, replicate)
                for j in range(kw):
                    xx = _source(xo + j - left, w, replicate)
                    if yy >= 0 and xx >= 0:
                        acc += z[yy - z_top, xx, (i * kw + j) * cout + o]
            out[b, y, xo, o] = max(acc, 0.0) if relu else acc


def _shifted_sum_v7(z, bias, out, kh, kw, top, left, replicate, relu):
    n, h = z.shape[:2]
    ho = out.shape[1]
    for row in prange(n * ho):
        b, y = row // ho, row % ho
        _shifted_sum_row(z[b], 0, h, bias, out, b, y, kh, kw, top, left, replicate, relu)


def _channel_gemm_shifted_sum_v10(x, k2, bias, out, kh, kw, top, left, replicate, relu, rows):
    # v7 a band of output rows at a time: the band's Z (its input rows and the kh - 1 rows of halo)
    # is made and summed while it is in cache, where v7 writes the whole Z out and reads it back
    n, h, w, cin = x.shape
    ho = out.shape[1]
    bands = (ho + rows - 1) // rows
    for job in prange(n * bands):
        b, y0 = job // bands, (job % bands) * rows
        y1 = min(ho, y0 + rows)
        ya = min(max(0, y0 - top), h - 1)  # the input rows [ya, yb) the band reads, at least one
        yb = max(ya + 1, min(h, y1 - 1 - top + kh))
        z = np.empty(((yb - ya) * w, k2.shape[1]), x.dtype)
        np.dot(x[b, ya:yb].reshape(-1, cin), k2, z)
        z3 = z.reshape(yb - ya, w, k2.shape[1])
        for y in range(y0, y1):
            _shifted_sum_row(z3, ya, h, bias, out, b, y, kh, kw, top, left, replicate, relu)


def _conv2d_valid_transposed_v8(x, k2, bias, out, kh, kw, rows, relu, gate):
    # v2's band prologue, kept inline: numba's prange wants the band loop in the kernel itself, and v8
    # differs from v2 only in the matrix it fills (transposed) and the product it takes
    _, ho, wo, cout = out.shape
    o2 = out.reshape(-1, cout)
    total = x.shape[0] * ho
    for band in prange((total + rows - 1) // rows):
        r0 = band * rows
        r1 = min(total, r0 + rows)
        cols_t = np.empty((k2.shape[0], (r1 - r0) * wo), x.dtype)
        im2col_band_transposed(x, r0, r1, ho, kh, kw, cols_t)
        block = o2[r0 * wo : r1 * wo]
        np.dot(cols_t.T, k2, block)
        for p in range(block.shape[0]):
            for o in range(cout):
                v = block[p, o] + bias[o]
                if gate is not None and gate[r0 * wo + p, o] <= 0:
                    v = 0.0
                block[p, o] = max(v, 0.0) if relu else v


conv2d_valid_v1 = njit(parallel=True, cache=True)(_conv2d_valid_v1)
conv2d_valid_transposed_v8 = njit(parallel=True, cache=True)(_conv2d_valid_transposed_v8)
conv2d_valid_transposed_v6 = njit(parallel=True, cache=True)(_conv2d_valid_transposed_v6)
shifted_sum_v7 = njit(parallel=True, cache=True)(_shifted_sum_v7)
channel_gemm_shifted_sum_v10 = njit(parallel=True, cache=True)(_channel_gemm_shifted_sum_v10)
gemm_bands = njit(parallel=True, cache=True)(_gemm_bands)


def gemm(a, b, bias=None, relu=False, gate=None):
    """``a @ b (+ bias)``, ReLU'd if asked, zeroed where ``gate`` (shaped like the result) is not
    positive, on numba's threads."""
    out = np.empty((a.shape[0], b.shape[1]), a.dtype)
    bias = np.zeros(b.shape[1], a.dtype) if bias is None else bias
    with blas_single():
        gemm_bands(np.ascontiguousarray(a), np.ascontiguousarray(b), bias, out, 2048, relu, gate)
    return out


conv2d_valid_im2col_v2 = njit(parallel=True, cache=True)(_conv2d_valid_im2col_v2)
conv2d_valid_one_output_v3 = njit(parallel=True, fastmath=True, cache=True)(_conv2d_valid_one_output_v3)


def _out_shape(x, kernel, padding):
    kh, kw, _, cout = kernel.shape
    b = border(padding, kh, kw)
    return x.shape[0], x.shape[1] + b.top + b.bottom - kh + 1, x.shape[2] + b.left + b.right - kw + 1, cout


def _padded(x, kh, kw, padding):
    return np.ascontiguousarray(pad(x, kh, kw, padding))


def _run_v1(x, kernel, bias, padding, relu):
    xp = _padded(x, *kernel.shape[:2], padding)
    out = np.empty(_out_shape(x, kernel, padding), x.dtype)
    conv2d_valid_v1(xp, kernel, bias, out)
    return np.maximum(out, 0, out=out) if relu else out


def _run_v2(x, kernel, bias, padding, relu):
    kh, kw, cin, cout = kernel.shape
    xp = _padded(x, kh, kw, padding)
    out = np.empty(_out_shape(x, kernel, padding), x.dtype)
    rows = max(1, -(-256 // out.shape[2]))  # at least ~256 pixels per GEMM
    with blas_single():
        conv2d_valid_im2col_v2(
            xp, np.ascontiguousarray(kernel.reshape(kh * kw * cin, cout)), bias, out, kh, kw, rows, relu
        )
    return out


def _run_v3(x, kernel, bias, padding, relu):
    kh, kw, cin, _ = kernel.shape
    xp = _padded(x, kh, kw, padding)
    out = np.empty(_out_shape(x, kernel, padding), x.dtype)
    conv2d_valid_one_output_v3(xp, np.ascontiguousarray(kernel.reshape(kh, kw * cin)), bias, out, relu)
    return out


def _winograd(kernel_fn, tile_size):
    """v4 and v9: ``tile_size(r, out_h, out_w) -> m``; padding read in place, bands of 32 tiles."""

    def run(x, kernel, bias, padding, relu, gate=None):
        out = np.empty(_out_shape(x, kernel, padding), np.float32)
        m = tile_size(kernel.shape[0], out.shape[1], out.shape[2])
        at, _, bt = winograd_cpu.transforms(m, kernel.shape[0])
        b = border(padding, *kernel.shape[:2])
        with blas_single():
            kernel_fn(
                np.ascontiguousarray(x, dtype=np.float32),
                winograd_cpu.kernel_transform(kernel, m),
                at.astype(np.float32),
                bt.astype(np.float32),
                bias.astype(np.float32),
                out,
                b.top,
                b.left,
                b.replicate,
                relu,
                gate,
                32,
            )
        return out.astype(x.dtype, copy=False)

    return run


def _run_v5(x, kernel, bias, padding, relu, gate=None):
    out = gemm(
        x.reshape(-1, kernel.shape[2]),
        kernel.reshape(kernel.shape[2], kernel.shape[3]),
        bias,
        relu,
        None if gate is None else gate.reshape(-1, kernel.shape[3]),
    )
    return out.reshape(x.shape[:3] + (kernel.shape[3],))


def _transposed_im2col(kernel_fn, transposed_kernel):
    """v6 and v8: bands of about 256 output pixels (a 64-channel band's result fits the L2 cache)."""

    def run(x, kernel, bias, padding, relu, gate=None):
        kh, kw, cin, cout = kernel.shape
        xp = _padded(x, kh, kw, padding)
        out = np.empty(_out_shape(x, kernel, padding), x.dtype)
        rows = max(1, -(-256 // out.shape[2]))
        k2 = np.ascontiguousarray(
            kernel.reshape(kh * kw * cin, cout).T if transposed_kernel else kernel.reshape(kh * kw * cin, cout)
        )
        with blas_single():
            if transposed_kernel:
                kernel_fn(xp, k2, bias, out, kh, kw, rows, relu)
            else:
                kernel_fn(xp, k2, bias, out, kh, kw, rows, relu, None if gate is None else gate.reshape(-1, cout))
        return out

    return run


def _channel_kernel(kernel):
    """v7's and v10's K: ``(kh, kw, C_in, C_out) -> (C_in, kh·kw·C_out)``, so that a pixel's row of
    ``X @ K`` holds every tap's contribution of that pixel, tap-major."""
    kh, kw, cin, cout = kernel.shape
    return np.ascontiguousarray(kernel.transpose(2, 0, 1, 3).reshape(cin, kh * kw * cout))


def _run_v7(x, kernel, bias, padding, relu):
    kh, kw, cin, cout = kernel.shape
    b = border(padding, kh, kw)
    z = gemm(x.reshape(-1, cin), _channel_kernel(kernel))
    out = np.empty(_out_shape(x, kernel, padding), x.dtype)
    shifted_sum_v7(z.reshape(x.shape[:3] + (kh * kw * cout,)), bias, out, kh, kw, b.top, b.left, b.replicate, relu)
    return out


def _run_v10(x, kernel, bias, padding, relu):
    """Bands of ROWS_V10 output rows (raced 8 to 128 on 5×5 32→1 at 288² to 1920×1080: 32 was best or
    near it everywhere; a band's halo recomputes (kh - 1) / 32 of Z)."""
    kh, kw = kernel.shape[:2]
    b = border(padding, kh, kw)
    out = np.empty(_out_shape(x, kernel, padding), x.dtype)
    k2 = _channel_kernel(kernel)
    with blas_single():
        channel_gemm_shifted_sum_v10(x, k2, bias, out, kh, kw, b.top, b.left, b.replicate, relu, ROWS_V10)
    return out


ROWS_V10 = 32


VERSIONS = {
    "v1": (_run_v1, lambda kh, kw, cin, cout: True),
    "v2": (_run_v2, lambda kh, kw, cin, cout: True),
    "v3": (_run_v3, lambda kh, kw, cin, cout: cout == 1),
    "v4": (
        _winograd(winograd_cpu.conv2d_winograd, winograd_cpu.tile_size),
        lambda kh, kw, cin, cout: kh == kw and 2 <= kh <= 7,
    ),
    "v5": (_run_v5, lambda kh, kw, cin, cout: kh == kw == 1),
    "v6": (_transposed_im2col(conv2d_valid_transposed_v6, True), lambda kh, kw, cin, cout: True),
    "v7": (_run_v7, lambda kh, kw, cin, cout: True),
    "v8": (_transposed_im2col(conv2d_valid_transposed_v8, False), lambda kh, kw, cin, cout: True),
    "v9": (
        _winograd(winograd_cpu.conv2d_winograd8, lambda r, out_h, out_w: 9 - r),
        lambda kh, kw, cin, cout: kh == kw and 2 <= kh <= 7,
    ),
    "v10": (_run_v10, lambda kh, kw, cin, cout: True),
}


TARGET = "cpu"
GATED = ("v4", "v5", "v8", "v9")  # versions that apply a gate in their epilogue (the input gradients' shapes)


def gate_in_place(out, gate):
    """Zero ``out`` where ``gate`` (shaped like it) is not positive, in a pass of its own: the ReLU
    backward for the versions and routes that cannot gate as they write."""
    if gate.shape != out.shape:
        raise ValueError(f"gate has shape {gate.shape}; the output is {out.shape}")
    relu_cpu.relu_backward_inplace_v1(np.ascontiguousarray(gate, dtype=out.dtype), out)
    return out


def conv2d(x, kernel, bias, padding="valid", relu=False, version="v1", gate=None):
    """Run one version: ``(N, H, W, C_in) -> (N, H', W', C_out)``, in x's float dtype (v4 computes
    in float32 whatever it is given).

    ``gate``, shaped like the output, zeroes it wherever the gate is not positive: an input gradient
    computed as a convolution, gated by the ReLU output of the layer below, is that ReLU's backward
    too, without another pass over the largest arrays of a training step. The ``GATED`` versions do it
    as they write; the others in a pass after."""
    x = np.ascontiguousarray(x)
    kernel = np.ascontiguousarray(kernel, dtype=x.dtype)
    bias = np.ascontiguousarray(np.broadcast_to(bias, kernel.shape[3]), dtype=x.dtype)
    run = VERSIONS[version][0]
    if gate is None:
        return run(x, kernel, bias, padding, relu)
    if version not in GATED:
        return gate_in_place(run(x, kernel, bias, padding, relu), gate)
    if gate.shape != _out_shape(x, kernel, padding):  # the kernels index it unchecked
        raise ValueError(f"gate has shape {gate.shape}; the output is {_out_shape(x, kernel, padding)}")
    return run(x, kernel, bias, padding, relu, np.ascontiguousarray(gate, dtype=x.dtype))


if __name__ == "__main__":
    from npsrcnn.kernels import harness

    harness.main(sys.modules[__name__], "conv2d")
