"""Resizing two ways: OpenCV's (the Keras tutorials) and MATLAB's ``imresize`` (the SRCNN paper).

They differ where it matters for PSNR: OpenCV's cubic uses a = -0.75 and does not antialias when
shrinking; MATLAB's uses a = -0.5, widens the kernel by 1/scale when shrinking (antialiasing), and
mirrors the image at its borders. A paper's bicubic baseline is only reproducible with the latter.

A network learns the enlargement its training inputs came from, so ``predict`` enlarges with the
model's own ``resampler``: ``matlab`` (MATLAB's bicubic, the paper's and the shipped weights'),
``opencv`` (OpenCV's bicubic), or either's bilinear (``matlab-bilinear``, ``opencv-bilinear``: the
Keras tutorials' networks learned OpenCV's). ``resize_window`` computes any window of any of them on
its own (``predict`` streams an image through the network tile by tile). ``cv2.resize`` of a crop
samples at the crop's own ratio, which is the whole image's only for crops cut at whole periods of
the scale, and never for sizes such as 1001 -> 2503; ``resize_window`` takes positions and weights
from the whole image's axes, so every window agrees with the whole to the bit.
"""

import math

import cv2
import numpy as np

from npsrcnn.errors import NpsrcnnError
from npsrcnn.image import PIXEL_MAX, to_float
from npsrcnn.modelfile import RESAMPLERS

METHODS = {"bicubic": cv2.INTER_CUBIC, "bilinear": cv2.INTER_LINEAR, "nearest": cv2.INTER_NEAREST}


def resize(img, size, method="bicubic"):
    """``(H, W[, C]) -> (h, w[, C])`` for ``size = (h, w)``; same dtype (integer types are rounded)."""
    if method not in METHODS:
        raise NpsrcnnError(f"resize method {method!r} is not one of {', '.join(METHODS)}")
    h, w = size
    if h < 1 or w < 1:
        raise NpsrcnnError(f"cannot resize a {img.shape[0]}x{img.shape[1]} image to {h}x{w}")
    out = cv2.resize(img, (int(w), int(h)), interpolation=METHODS[method])
    return out.reshape(out.shape[:2] + img.shape[2:])  # OpenCV drops a trailing channel axis of 1


LIBRARIES = ("opencv", "matlab")  # whose resizing; a resampler may add "-bilinear" to the name (else bicubic)


def parse_resampler(resampler):
    """``"opencv"`` / ``"matlab-bilinear"`` ... (``RESAMPLERS``) -> ``(library, method)``."""
    if resampler not in RESAMPLERS:
        raise NpsrcnnError(f"resampler {resampler!r} is not one of {', '.join(RESAMPLERS)}")
    library, _, method = resampler.partition("-")
    return library, method or "bicubic"


def resize_window(img, size, rows, cols, resampler="opencv", origin=(0, 0), shape=None):
    """``rows`` and ``cols`` (slices of the output) of ``img`` resized to ``size = (h, w)`` by
    ``resampler``, from only the input pixels they read: ``(H, W[, C]) -> (len(rows), len(cols)[, C])``
    float32 (float64 for float64 input). Agrees with ``cv2.resize`` (``opencv``) or ``imresize``
    (``matlab``) on the float image to float32 rounding, and with itself exactly, window or whole.

    ``img`` is the whole input, or a part of an input of ``shape = (H, W)`` that starts at pixel
    ``origin = (row, col)`` and holds ``resize_footprint`` of the window: a chunk of an image too
    large to load (``npsrcnn.chunked``) gives the same pixels as the whole.

    Rows, then columns: two passes of weighted sums, each tap in the same order for every window, so
    a pixel's arithmetic does not depend on which window computed it.
    """
    (wy, iy), (wx, ix) = _window_taps(img.shape if shape is None else shape, size, rows, cols, resampler)
    used_rows, iy = np.unique(iy, return_inverse=True)
    iy = iy.reshape(wy.shape)
    c0 = ix.min()
    block = to_float(img[used_rows - origin[0], c0 - origin[1] : ix.max() + 1 - origin[1]])
    wy, wx, ix = wy.astype(block.dtype), wx.astype(block.dtype), ix - c0
    trailing = (1,) * (img.ndim - 2)
    tmp = wy[:, 0].reshape(-1, 1, *trailing) * block[iy[:, 0]]
    for t in range(1, wy.shape[1]):
        tmp += wy[:, t].reshape(-1, 1, *trailing) * block[iy[:, t]]
    out = wx[:, 0].reshape(-1, *trailing) * tmp[:, ix[:, 0]]
    for t in range(1, wx.shape[1]):
        out += wx[:, t].reshape(-1, *trailing) * tmp[:, ix[:, t]]
    return out


def resize_footprint(shape, size, rows, cols, resampler="opencv"):
    """The ``(rows, cols)`` slices of an input of ``shape = (H, W)`` that ``resize_window`` reads for the
    output window ``rows x cols`` of its enlargement to ``size``: the window's taps, bicubic support
    and mirrored or clamped borders included."""
    (_, iy), (_, ix) = _window_taps(shape, size, rows, cols, resampler)
    return slice(int(iy.min()), int(iy.max()) + 1), slice(int(ix.min()), int(ix.max()) + 1)


def _window_taps(shape, size, rows, cols, resampler):
    """``((row weights, row indices), (column weights, column indices))`` of an output window, each
    ``(window length, taps)``, indices into the whole input of ``shape``."""
    library, method = parse_resampler(resampler)
    return tuple(
        tuple(a[s] for a in _axis(library, method, n, m))
        for n, m, s in ((shape[0], size[0], rows), (shape[1], size[1], cols))
    )


def _axis(library, method, in_len, out_len):
    """One axis of a resize from ``in_len`` to ``out_len`` pixels -> ``(weights, indices)``, both
    ``(out_len, taps)``: which input pixels each output pixel reads, and with what weights."""
    if library == "matlab":
        return _contributions(in_len, out_len, out_len / in_len, method)
    return _opencv_axis(in_len, out_len, method)


def _opencv_axis(in_len, out_len, method):
    """OpenCV's ``INTER_CUBIC`` or ``INTER_LINEAR`` along one axis: output pixel i sits at input
    ``(i + 0.5) * in_len / out_len - 0.5`` and reads the 4 (cubic, Keys' weights with a = -0.75) or 2
    (linear) pixels around it, clamped: the edge pixel repeats. Weights are float32."""
    pos = (np.arange(out_len) + 0.5) * (in_len / out_len) - 0.5
    left = np.floor(pos)
    if method == "bicubic":
        taps = np.arange(-1, 3)
        weights = _cubic((pos - left)[:, None] - taps, a=-0.75)  # each tap at distance in [0, 2]
    else:
        taps = np.arange(2)
        weights = _triangle((pos - left)[:, None] - taps)
    indices = np.clip(left[:, None] + taps, 0, in_len - 1).astype(np.int64)
    return weights.astype(np.float32), indices


def degrade(img, scale, method="bicubic", resampler="opencv"):
    """Shrink by ``scale`` and enlarge back to the same size: a low-resolution image at full size.

    ``(H, W[, C]) -> (H, W[, C])``, same dtype. ``resampler="opencv"``: ``cv2.resize`` both ways, as
    the Keras tutorials (the small image is ``int(H / scale) x int(W / scale)``; shrinking does not
    antialias); ``"matlab"``: ``imresize`` both ways, as the paper (antialiased shrinking; cropped
    back to H x W where ``ceil`` made it larger).
    """
    h, w = img.shape[:2]
    small = shrink(img, scale, method, resampler)
    if resampler == "matlab":
        return imresize(small, scale, method)[:h, :w]
    return resize(small, (h, w), method)


def shrink(img, scale, method="bicubic", resampler="opencv"):
    """The first half of ``degrade``: ``(H, W[, C]) -> (int(H / scale), int(W / scale)[, C])`` by
    ``cv2.resize`` (``opencv``, no antialiasing), or ``(ceil(H / scale), ceil(W / scale)[, C])`` by
    ``imresize`` (``matlab``, antialiased); same dtype."""
    if resampler not in LIBRARIES:
        raise NpsrcnnError(f"resampler {resampler!r} is not one of {', '.join(LIBRARIES)}")
    if resampler == "matlab":
        return imresize(img, 1 / scale, method)
    h, w = img.shape[:2]
    small = (int(h / scale), int(w / scale))
    if min(small) < 1:
        raise NpsrcnnError(f"image of {h}x{w} is too small to shrink by {scale}")
    return resize(img, small, method)


def upscaled_size(shape, scale):
    """``(H, W, ...)`` -> ``(round(H * scale), round(W * scale))``."""
    return int(round(shape[0] * scale)), int(round(shape[1] * scale))


def _cubic(x, a=-0.5):
    """Keys' cubic convolution kernel, support [-2, 2]: a = -0.5 is MATLAB's, -0.75 OpenCV's."""
    ax = np.abs(x)
    return ((a + 2) * ax**3 - (a + 3) * ax**2 + 1) * (ax <= 1) + (
        a * ax**3 - (5 * a) * ax**2 + (8 * a) * ax - 4 * a
    ) * ((ax > 1) & (ax <= 2))


def _triangle(x):
    """The linear-interpolation kernel, support [-1, 1]."""
    return np.maximum(0.0, 1 - np.abs(x))


MATLAB_KERNELS = {"bicubic": (_cubic, 4.0), "bilinear": (_triangle, 2.0)}


def _contributions(in_len, out_len, scale, method, antialiasing=True):
    """For each output index along one axis: the input indices it reads and their weights.

    Output pixel i (1-based, as in MATLAB) sits at input coordinate ``u = i/scale + (1 - 1/scale)/2``.
    Shrinking stretches the kernel by 1/scale so that every input pixel contributes (antialiasing).
    Indices outside the image are mirrored back in (symmetric padding). Returns ``(weights, indices)``,
    both ``(out_len, taps)``, indices 0-based.
    """
    kernel, width = MATLAB_KERNELS[method]
    if scale < 1 and antialiasing:
        kernel, width = (lambda x: scale * MATLAB_KERNELS[method][0](scale * x)), width / scale
    u = np.arange(1, out_len + 1) / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - width / 2)
    indices = left[:, None] + np.arange(math.ceil(width) + 2)[None, :]
    weights = kernel(u[:, None] - indices)
    weights /= weights.sum(axis=1, keepdims=True)
    mirror = np.concatenate([np.arange(in_len), np.arange(in_len)[::-1]])
    indices = mirror[np.mod(indices - 1, 2 * in_len).astype(np.int64)]
    used = np.any(weights != 0, axis=0)
    return weights[:, used], indices[:, used]


def imresize(img, scale, method="bicubic", antialiasing=True):
    """MATLAB ``imresize(img, scale, method)``: ``(H, W[, C]) -> (ceil(H*scale), ceil(W*scale)[, C])``.

    Float in, float64 out (no clipping, as MATLAB for doubles); uint8/uint16 in, the same type out,
    rounded and saturated, as MATLAB does. Axes are resized one at a time, the one shrinking most
    first, each as a small weighted sum of rows (or columns).
    """
    if method not in MATLAB_KERNELS:
        raise NpsrcnnError(f"imresize method {method!r} is not one of {', '.join(MATLAB_KERNELS)}")
    if not scale > 0:
        raise NpsrcnnError(f"imresize scale must be positive, got {scale}")
    img = np.asarray(img)
    out = img.astype(np.float64)
    # round before ceil: 1/3 * 255 must give 85, not 86 from a last-bit error
    size = [math.ceil(round(n * scale, 9)) for n in img.shape[:2]]
    if min(size) < 1:
        raise NpsrcnnError(f"cannot resize a {img.shape[0]}x{img.shape[1]} image by {scale}")
    for axis in sorted((0, 1), key=lambda a: size[a] / img.shape[a]):
        weights, indices = _contributions(img.shape[axis], size[axis], scale, method, antialiasing)
        moved = np.moveaxis(out, axis, 0)
        resized = np.zeros((size[axis],) + moved.shape[1:])
        for tap in range(weights.shape[1]):  # one tap at a time: memory stays one output's worth
            resized += weights[:, tap].reshape((-1,) + (1,) * (moved.ndim - 1)) * moved[indices[:, tap]]
        out = np.moveaxis(resized, 0, axis)
    if img.dtype in PIXEL_MAX:
        return np.clip(np.floor(out + 0.5), 0, PIXEL_MAX[img.dtype]).astype(img.dtype)
    return out
