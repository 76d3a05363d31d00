"""The inference path, step by step:

    image --to float--> RGB in [0, 1] --bicubic x scale--> --to YCbCr--> luma --edge-pad--> SRCNN
          --> restored luma + bicubic chroma --to RGB--> clip, round --> image of the input's dtype

Only the luma goes through the network (the paper's choice: the eye sees detail in brightness;
chroma is smooth enough for bicubic).
"""
import os

import numpy as np

from npsrcnn.color import rgb_to_ycbcr, ycbcr_to_rgb
from npsrcnn.errors import NpsrcnnError
from npsrcnn.image import check_pixel_type, from_float, read_image, to_float
from npsrcnn.resize import resize, upscaled_size
from npsrcnn.weights import resolve_model

YCBCR = "matlab"  # the paper's luma, which the shipped weights are trained on


def predict(image, scale=3, weights=None, backend="auto"):
    """Upscale (``scale > 1``) or restore (``scale = 1``) an image with SRCNN.

    ``image``: a path, or an array ``(H, W)`` or ``(H, W, 1)`` gray, ``(H, W, 3)`` RGB or ``(H, W, 4)`` RGBA, uint8,
    uint16 or float in [0, 1]. Returns ``(round(H*scale), round(W*scale)[, C])`` in the input's dtype.
    ``weights``: an ``SRCNN``, a weights file, or None for the shipped weights of ``scale``.
    Alpha, if any, is resized by bicubic alone.
    """
    img = read_image(image) if isinstance(image, (str, os.PathLike)) else np.asarray(image)
    keep_channel_axis = img.ndim == 3 and img.shape[2] == 1
    img = _check_image(img[:, :, 0] if keep_channel_axis else img)
    if not scale > 0:
        raise NpsrcnnError(f"scale must be positive, got {scale}")
    model = resolve_model(weights, scale)
    if model.channels != 1 or model.layers[-1].kernel.shape[3] != 1:
        raise NpsrcnnError(f"predict runs a luma network (1 -> 1 channels); this one is {model.describe()}")
    pixels = to_float(img)
    size = upscaled_size(img.shape, scale)
    if size != img.shape[:2]:
        pixels = resize(pixels, size, "bicubic")
    color, alpha = (pixels[..., :3], pixels[..., 3:]) if pixels.ndim == 3 and pixels.shape[2] == 4 \
        else (pixels, None)
    if color.ndim == 2:
        out = run_on_luma(model, color, backend)
    else:
        ycbcr = rgb_to_ycbcr(color, YCBCR)
        ycbcr[..., 0] = run_on_luma(model, ycbcr[..., 0], backend)
        out = ycbcr_to_rgb(ycbcr, YCBCR)
    if alpha is not None:
        out = np.concatenate([out, alpha], axis=2)
    out = from_float(out, img.dtype)
    return out[:, :, None] if keep_channel_axis else out


def run_on_luma(model, luma, backend="auto"):
    """``(H, W)`` float -> ``(H, W)`` float32: the network on a luma plane, keeping its size.

    The plane is first padded by edge replication with exactly the pixels the valid layers will
    remove (``model.shrink``), so the output lines up with the input pixel for pixel.
    """
    top, bottom, left, right = model.shrink
    padded = np.pad(luma.astype(np.float32), ((top, bottom), (left, right)), mode="edge")
    return model.forward(padded, backend=backend)


def _check_image(img):
    if not (img.ndim == 2 or (img.ndim == 3 and img.shape[2] in (3, 4))):
        raise NpsrcnnError(f"image of shape {img.shape} is not (H, W), (H, W, 3) or (H, W, 4)")
    if min(img.shape[:2]) < 1:
        raise NpsrcnnError(f"image of shape {img.shape} is empty")
    return check_pixel_type(img)
