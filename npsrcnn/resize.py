"""Resizing: the tutorials' degradation (down, then back up) and the bicubic upscale SRCNN starts from.

OpenCV's ``resize`` does the work here. (It differs from MATLAB's ``imresize``, which the paper
used: no antialiasing when shrinking, a = -0.75 instead of -0.5.)
"""
import cv2
import numpy as np

from npsrcnn.errors import NpsrcnnError

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


def degrade(img, scale, method="bicubic"):
    """Shrink by ``scale`` and enlarge back to the same size: a low-resolution image at full size.

    ``(H, W[, C]) -> (H, W[, C])``, same dtype; the small image is ``int(H / scale) x int(W / scale)``.
    """
    h, w = img.shape[:2]
    small = (int(h / scale), int(w / scale))
    if min(small) < 1:
        raise NpsrcnnError(f"image of {h}x{w} is too small to shrink by {scale}")
    return resize(resize(img, small, method), (h, w), method)


def upscaled_size(shape, scale):
    """``(H, W, ...)`` -> ``(round(H * scale), round(W * scale))``."""
    return int(round(shape[0] * scale)), int(round(shape[1] * scale))
