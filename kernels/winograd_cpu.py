"""Winograd minimal filtering F(m×m, r×r) on the CPU: an m×m block of a correlation with an r×r
kernel costs α² = (m+r-1)² multiplications per channel pair instead of m²r².

    Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A          d: an α×α input tile, g: the r×r kernel

Summed over input channels, the ⊙ becomes α² matrix products (tiles × C_in) @ (C_in × C_out), one per
tile position, which BLAS runs; the transforms around them are small loops over contiguous channels.

The matrices come from Toom-Cook at the points 0, ±1, ±2, ±1/2, ... and ∞: correlation is the
transpose of polynomial multiplication, so with E_n the α×n matrix of each point's powers 0..n-1
(∞ contributing the leading coefficient), Aᵀ = E_mᵀ, G = E_r and Bᵀ = (E_α)⁻ᵀ. Accuracy in float32
is about 1e-6 (F(4,3)) to 1e-5 (F(4,5)) of the output's scale, measured in the tests.
"""

from functools import cache

import numpy as np
from numba import njit, prange

POINTS = (0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5, 3.0, -3.0, 1 / 3, -1 / 3)


def _powers(points, n):
    return np.array([[p**k for k in range(n)] for p in points] + [[0.0] * (n - 1) + [1.0]])


@cache
def transforms(m, r):
    """``(Aᵀ (m, α), G (α, r), Bᵀ (α, α))`` in float64 for F(m, r), α = m + r - 1 ≤ 12."""
    points = POINTS[: m + r - 2]
    return _powers(points, m).T, _powers(points, r), np.linalg.inv(_powers(points, m + r - 1)).T


MAX_ALPHA = 8  # larger tiles save multiplications but amplify float32 rounding (α = 8: ~1e-5)


def tile_size(r, out_h, out_w):
    """The output tile m for an r×r kernel that minimises tiles × α² over the map (α = m + r - 1 ≤ 8,
    so m ≤ 9 - r). 3×3 kernels: m = 6 on large maps (m²r²/α² = 5.06× fewer multiplications than
    direct), 5 on the 25×25 maps of 33×33 training patches (4.59×, no partial tiles). 5×5 kernels:
    always m = 4 (6.25×)."""
    candidates = range(2, MAX_ALPHA - r + 2)
    return min(candidates, key=lambda m: (-(-out_h // m)) * (-(-out_w // m)) * (m + r - 1) ** 2)


def kernel_transform(kernel, m):
    """``(r, r, C_in, C_out) -> (α², C_in, C_out)`` float32: G g Gᵀ for every channel pair, in float64."""
    _, g, _ = transforms(m, kernel.shape[0])
    u = np.einsum("ia,abco,jb->ijco", g, kernel.astype(np.float64), g)
    return np.ascontiguousarray(u.reshape(-1, kernel.shape[2], kernel.shape[3]), dtype=np.float32)


@njit(inline="always")
def _second_half(coefs, tmp, out, col):
    """The second half of a 2-D transform, whose first half (``tmp``, ``(n, q, C)``) took the rows:
    ``out[i * n + j, col, :] = Σ_b coefs[j, b] · tmp[i, b, :]`` for ``coefs (n, q)``, skipping the
    matrices' zeros. The forward's input tiles (Bᵀ d B) and the kernel gradient's output-gradient
    tiles (G' w G'ᵀ) both end in it."""
    n = coefs.shape[0]
    for i in range(tmp.shape[0]):
        for j in range(n):
            k = i * n + j
            out[k, col, :] = 0.0
            for b in range(tmp.shape[1]):
                coef = coefs[j, b]
                if coef != 0.0:
                    for c in range(tmp.shape[2]):
                        out[k, col, c] += coef * tmp[i, b, c]


@njit(inline="always")
def _gather_tile(x, g, tiles_h, tiles_w, m, pad_top, pad_left, replicate, d):
    """The α×α input tile of flat tile index ``g`` (tiles run image by image, row by row) -> ``d[a, b,
    :]``. Reads outside ``x`` are zeros or, with ``replicate``, the nearest edge pixel: padding costs
    no copy."""
    _, h, w, _ = x.shape
    alpha = d.shape[0]
    b, ty, tx = g // (tiles_h * tiles_w), (g // tiles_w) % tiles_h, g % tiles_w
    for a in range(alpha):
        yy = ty * m + a - pad_top
        for bb in range(alpha):
            xx = tx * m + bb - pad_left
            if replicate:
                yc, xc = min(max(yy, 0), h - 1), min(max(xx, 0), w - 1)
                d[a, bb, :] = x[b, yc, xc, :]
            elif 0 <= yy < h and 0 <= xx < w:
                d[a, bb, :] = x[b, yy, xx, :]
            else:
                d[a, bb, :] = 0.0


@njit(inline="always")
def _input_tiles(x, g0, count, tiles_h, tiles_w, m, pad_top, pad_left, replicate, bt, v, t0=0):
    """Bᵀ d B for ``count`` tiles from flat tile index ``g0`` -> ``v[(i, j), t0 + t, c]``."""
    cin = x.shape[3]
    alpha = bt.shape[0]
    d = np.empty((alpha, alpha, cin), np.float32)
    tmp = np.empty((alpha, alpha, cin), np.float32)
    for t in range(count):
        _gather_tile(x, g0 + t, tiles_h, tiles_w, m, pad_top, pad_left, replicate, d)
        for i in range(alpha):
            for bb in range(alpha):
                tmp[i, bb, :] = 0.0
                for a in range(alpha):
                    coef = bt[i, a]
                    if coef != 0.0:
                        for c in range(cin):
                            tmp[i, bb, c] += coef * d[a, bb, c]
        _second_half(bt, tmp, v, t0 + t)


def _conv2d_winograd(x, u, at, bt, bias, out, pad_top, pad_left, replicate, relu, gate, band_tiles):
    """``x (N, H, W, C_in)`` unpadded, ``u`` from ``kernel_transform`` -> ``out (N, Ho, Wo, C_out)``,
    where output pixel (y, x) reads input rows from ``y - pad_top``. Tiles, numbered image by image
    and row by row, are cut into bands of ``band_tiles`` (across images for small patches, inside a
    row for wide ones), so a band's transformed tiles stay in cache; bands run in parallel. BLAS must
    be single-threaded (the caller's job). ``gate`` (None, or shaped like ``out``) zeroes the output
    where it is not positive."""
    n = x.shape[0]
    _, ho, wo, cout = out.shape
    alpha, m = bt.shape[0], at.shape[0]
    cin = x.shape[3]
    tiles_h, tiles_w = (ho + m - 1) // m, (wo + m - 1) // m
    total = n * tiles_h * tiles_w
    for band in prange((total + band_tiles - 1) // band_tiles):
        g0 = band * band_tiles
        count = min(total, g0 + band_tiles) - g0
        v = np.empty((alpha * alpha, count, cin), np.float32)
        mm = np.empty((alpha * alpha, count, cout), np.float32)
        _input_tiles(x, g0, count, tiles_h, tiles_w, m, pad_top, pad_left, replicate, bt, v)
        for k in range(alpha * alpha):
            np.dot(v[k], u[k], mm[k])
        t2 = np.empty((m, alpha, cout), np.float32)
        for t in range(count):
            g = g0 + t
            b, ty, tx = g // (tiles_h * tiles_w), (g // tiles_w) % tiles_h, g % tiles_w
            for p in range(m):
                for j in range(alpha):
                    t2[p, j, :] = 0.0
                    for i in range(alpha):
                        coef = at[p, i]
                        if coef != 0.0:
                            for o in range(cout):
                                t2[p, j, o] += coef * mm[i * alpha + j, t, o]
            for p in range(min(m, ho - ty * m)):
                for q in range(min(m, wo - tx * m)):
                    for o in range(cout):
                        acc = bias[o]
                        for j in range(alpha):
                            acc += at[q, j] * t2[p, j, o]
                        if gate is not None and gate[b, ty * m + p, tx * m + q, o] <= 0:
                            acc = 0.0
                        out[b, ty * m + p, tx * m + q, o] = max(acc, 0.0) if relu else acc


conv2d_winograd = njit(parallel=True, fastmath=True, cache=True)(_conv2d_winograd)


# F(m×m, r×r) with α = 8 fixed (m = 9 - r): each transform's eight terms summed in registers. v4's
# transforms skip the matrices' zeros but read and write their accumulator once per term, so they run
# at a fraction of the GEMMs' rate (perf: 4/5 of v4's time outside BLAS at 1920×1080, 64->32 5×5).


@njit(inline="always")
def _comb8(k, src, r0, step, dst, rd):
    """``dst[rd] = Σ_a k[a] · src[r0 + a·step]`` over rows of channels: eight products summed before
    one store."""
    k0, k1, k2, k3, k4, k5, k6, k7 = k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7]
    s = step
    for c in range(dst.shape[1]):
        dst[rd, c] = (
            k0 * src[r0, c]
            + k1 * src[r0 + s, c]
            + k2 * src[r0 + 2 * s, c]
            + k3 * src[r0 + 3 * s, c]
            + k4 * src[r0 + 4 * s, c]
            + k5 * src[r0 + 5 * s, c]
            + k6 * src[r0 + 6 * s, c]
            + k7 * src[r0 + 7 * s, c]
        )


@njit(inline="always")
def _input_tile8(x, g, tiles_h, tiles_w, m, pad_top, pad_left, replicate, bt, d, tmp, v, t, stride):
    """Bᵀ d B of tile ``g`` (``_gather_tile``'s numbering), α = 8 -> rows ``(i·8 + j)·stride + t`` of
    ``v``: ``tmp[i, j] = Σ_a Bᵀ[i, a] d[a, j]``, then ``Σ_b Bᵀ[j, b] tmp[i, b]``. An inner tile is
    read in place; one that overlaps the padding is gathered into ``d (8, 8, C)`` first."""
    _, h, w, cin = x.shape
    b, ty, tx = g // (tiles_h * tiles_w), (g // tiles_w) % tiles_h, g % tiles_w
    y0, x0 = ty * m - pad_top, tx * m - pad_left
    if 0 <= y0 and y0 + 8 <= h and 0 <= x0 and x0 + 8 <= w:
        src, first, width = x[b].reshape(h * w, cin), y0 * w + x0, w
    else:
        _gather_tile(x, g, tiles_h, tiles_w, m, pad_top, pad_left, replicate, d)
        src, first, width = d.reshape(64, cin), 0, 8
    for i in range(8):
        for j in range(8):
            _comb8(bt[i], src, first + j, width, tmp, i * 8 + j)
    for i in range(8):
        for j in range(8):
            _comb8(bt[j], tmp, i * 8, 1, v, (i * 8 + j) * stride + t)


def _conv2d_winograd8(x, u, at, bt, bias, out, pad_top, pad_left, replicate, relu, gate, band_tiles):
    """``_conv2d_winograd`` with α = 8 (``at (m, 8)``, ``bt (8, 8)``): the same bands, tiles and
    GEMMs, the transforms as ``_comb8`` sums. Bᵀ d B: ``tmp[i, j] = Σ_a Bᵀ[i, a] d[a, j]``, then
    ``v[(i, j)] = Σ_b Bᵀ[j, b] tmp[i, b]``; Aᵀ M A the same way with Aᵀ's m rows."""
    n, cin = x.shape[0], x.shape[3]
    _, ho, wo, cout = out.shape
    m = at.shape[0]
    tiles_h, tiles_w = (ho + m - 1) // m, (wo + m - 1) // m
    total = n * tiles_h * tiles_w
    for band in prange((total + band_tiles - 1) // band_tiles):
        g0 = band * band_tiles
        count = min(total, g0 + band_tiles) - g0
        v = np.empty((64 * count, cin), np.float32)  # rows (i, j, tile)
        mm = np.empty((64 * count, cout), np.float32)
        d = np.empty((8, 8, cin), np.float32)
        tmp = np.empty((64, cin), np.float32)
        for t in range(count):
            _input_tile8(x, g0 + t, tiles_h, tiles_w, m, pad_top, pad_left, replicate, bt, d, tmp, v, t, count)
        v3, mm3 = v.reshape(64, count, cin), mm.reshape(64, count, cout)
        for k in range(64):
            np.dot(v3[k], u[k], mm3[k])
        t2 = np.empty((m * 8, cout), np.float32)
        res = np.empty((1, cout), np.float32)
        for t in range(count):
            g = g0 + t
            b, ty, tx = g // (tiles_h * tiles_w), (g // tiles_w) % tiles_h, g % tiles_w
            for p in range(m):
                for j in range(8):
                    _comb8(at[p], mm, j * count + t, 8 * count, t2, p * 8 + j)
            for p in range(min(m, ho - ty * m)):
                for q in range(min(m, wo - tx * m)):
                    _comb8(at[q], t2, p * 8, 1, res, 0)
                    for o in range(cout):
                        acc = res[0, o] + bias[o]
                        if gate is not None and gate[b, ty * m + p, tx * m + q, o] <= 0:
                            acc = 0.0
                        out[b, ty * m + p, tx * m + q, o] = max(acc, 0.0) if relu else acc


conv2d_winograd8 = njit(parallel=True, fastmath=True, cache=True)(_conv2d_winograd8)


@njit(inline="always")
def _output_gradient_tiles(dout, b, ty, tiles_w, m, gt, g, w, t0):
    """G' w G'ᵀ for the m×m tiles of ``dout``'s tile row ``ty`` in image ``b`` -> ``w[(i, j), t0 + tx,
    o]``, zero beyond the output's edge; ``g (α, m, C_out)`` is scratch."""
    _, ho, wo, cout = dout.shape
    alpha = gt.shape[0]
    for tx in range(tiles_w):
        for i in range(alpha):
            for q in range(m):
                g[i, q, :] = 0.0
                if tx * m + q < wo:
                    for p in range(min(m, ho - ty * m)):
                        coef = gt[i, p]
                        if coef != 0.0:
                            for o in range(cout):
                                g[i, q, o] += coef * dout[b, ty * m + p, tx * m + q, o]
        _second_half(gt, g, w, t0 + tx)


def _dkernel_winograd(x, dout, bt, gt, partial, pad_top, pad_left, replicate, fast_input):
    """Kernel gradient as F(r×r, m×m): the m×m tiles of ``dout`` act as filters over the same α×α
    input tiles as the forward. Tiles are gathered ~256 at a time, then one GEMM per tile position
    (Vᵀ @ W) accumulates into ``partial[chunk, (i, j), C_in, C_out]``; the caller sums the chunks and
    applies Aᵀ · A. ``fast_input`` (α = 8 only) transforms the input tiles as the forward v9 does."""
    n = x.shape[0]
    _, ho, wo, cout = dout.shape
    cin = x.shape[3]
    alpha, m = bt.shape[0], gt.shape[1]
    tiles_h, tiles_w = (ho + m - 1) // m, (wo + m - 1) // m
    chunks = partial.shape[0]
    jobs = n * tiles_h
    rows_per_gemm = max(1, 256 // tiles_w)
    for chunk in prange(chunks):
        v = np.empty((alpha * alpha, rows_per_gemm * tiles_w, cin), np.float32)
        w = np.empty((alpha * alpha, rows_per_gemm * tiles_w, cout), np.float32)
        g = np.empty((alpha, m, cout), np.float32)
        d = np.empty((alpha, alpha, cin), np.float32)
        tmp = np.empty((alpha * alpha, cin), np.float32)
        v2 = v.reshape(alpha * alpha * rows_per_gemm * tiles_w, cin)
        first, last = chunk * jobs // chunks, (chunk + 1) * jobs // chunks
        for start in range(first, last, rows_per_gemm):
            stop = min(last, start + rows_per_gemm)
            for job in range(start, stop):
                b, ty = job // tiles_h, job % tiles_h
                t0 = (job - start) * tiles_w
                if fast_input:
                    for tx in range(tiles_w):
                        _input_tile8(
                            x, job * tiles_w + tx, tiles_h, tiles_w, m, pad_top, pad_left, replicate, bt, d, tmp, v2,
                            t0 + tx, rows_per_gemm * tiles_w,
                        )  # fmt: skip
                else:
                    _input_tiles(
                        x, job * tiles_w, tiles_w, tiles_h, tiles_w, m, pad_top, pad_left, replicate, bt, v, t0
                    )
                _output_gradient_tiles(dout, b, ty, tiles_w, m, gt, g, w, t0)
            used = (stop - start) * tiles_w
            for k in range(alpha * alpha):
                partial[chunk, k] += np.dot(v[k, :used].T, w[k, :used])


dkernel_winograd = njit(parallel=True, fastmath=True, cache=True)(_dkernel_winograd)
