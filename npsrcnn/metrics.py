"""PSNR, MSE and SSIM between two images, BasicSR-style: ``crop_border`` and ``y_channel`` options.

Images are compared in their own units (0-255 for uint8, 0-65535 for uint16, 0-1 for float), and
``data_range`` defaults to that dtype's full range. ``y_channel=True`` compares only the luma of
MATLAB's ``rgb2ycbcr`` (unrounded), as SR papers and BasicSR do.
"""

import numpy as np

from npsrcnn.color import luma
from npsrcnn.errors import NpsrcnnError
from npsrcnn.image import PIXEL_MAX, shave


def _prepare(img1, img2, crop_border, y_channel, data_range):
    img1, img2 = np.asarray(img1), np.asarray(img2)
    if img1.shape != img2.shape:
        raise NpsrcnnError(f"images differ in shape: {img1.shape} and {img2.shape}")
    if img1.dtype != img2.dtype:
        raise NpsrcnnError(f"images differ in pixel type: {img1.dtype} and {img2.dtype}")
    if data_range is None:
        data_range = PIXEL_MAX.get(img1.dtype, 1.0)
    img1, img2 = img1.astype(np.float64), img2.astype(np.float64)
    if y_channel and img1.ndim == 3 and img1.shape[2] >= 3:
        img1, img2 = luma(img1, data_range), luma(img2, data_range)
    return shave(img1, crop_border), shave(img2, crop_border), data_range


def mse(img1, img2, crop_border=0, y_channel=False):
    """Mean of the squared differences over every pixel and channel, in the images' units."""
    a, b, _ = _prepare(img1, img2, crop_border, y_channel, None)
    return float(np.mean((a - b) ** 2))


def psnr(img1, img2, crop_border=0, y_channel=False, data_range=None):
    """``10 log10(data_range^2 / MSE)`` in dB; ``inf`` for identical images."""
    a, b, data_range = _prepare(img1, img2, crop_border, y_channel, data_range)
    err = np.mean((a - b) ** 2)
    return float("inf") if err == 0 else float(10 * np.log10(data_range**2 / err))


def ssim(img1, img2, crop_border=0, y_channel=False, data_range=None):
    """SSIM of Wang et al. 2004 (11x11 Gaussian window, sigma 1.5), averaged over channels.

    scikit-image computes it; the settings are the paper's (and BasicSR's), not scikit-image's
    defaults (a 7x7 uniform window), which give different numbers.
    """
    from skimage.metrics import structural_similarity  # scipy.ndimage under it: a third of `import npsrcnn`

    a, b, data_range = _prepare(img1, img2, crop_border, y_channel, data_range)
    return float(
        structural_similarity(
            a,
            b,
            data_range=data_range,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            channel_axis=-1 if a.ndim == 3 else None,
        )
    )


def worst_regions(truth, approx, size, count=3, crop_border=0):
    """-> up to ``count`` ``(top, left)`` corners of non-overlapping ``size x size`` squares where
    ``approx`` is furthest from ``truth`` (squared error summed over the square, on the luma of colour
    images), largest first, none within ``crop_border`` of the edge. Where an enlargement fails most
    is where a zoomed look is worth having. Candidates lie on a grid of step ``size // 2``."""
    a, b, _ = _prepare(truth, approx, crop_border, True, None)
    error = (a - b) ** 2 if a.ndim == 2 else ((a - b) ** 2).sum(axis=2)
    h, w = error.shape
    if h < size or w < size:
        raise NpsrcnnError(f"a {size}x{size} region does not fit in a {h}x{w} image")
    integral = np.pad(error.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    step = max(1, size // 2)
    tops, lefts = np.meshgrid(np.arange(0, h - size + 1, step), np.arange(0, w - size + 1, step), indexing="ij")
    tops, lefts = tops.ravel(), lefts.ravel()
    sums = integral[tops + size, lefts + size] - integral[tops, lefts + size] - integral[tops + size, lefts]
    sums += integral[tops, lefts]
    chosen = []
    for k in np.argsort(-sums, kind="stable"):
        t, l = int(tops[k]), int(lefts[k])
        if all(abs(t - ct) >= size or abs(l - cl) >= size for ct, cl in chosen):
            chosen.append((t, l))
            if len(chosen) == count:
                break
    return [(t + crop_border, l + crop_border) for t, l in chosen]
