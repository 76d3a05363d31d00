"""RGB <-> YCbCr, as the two conventions SR code uses. Channels come out in the order Y, Cb, Cr.

``opencv``: full range, what ``cv2.cvtColor(..., COLOR_RGB2YCrCb)`` computes (the Keras tutorials).
    Y = 0.299 R + 0.587 G + 0.114 B,  Cb = 0.564 (B - Y) + 1/2,  Cr = 0.713 (R - Y) + 1/2.
``matlab``: BT.601 studio swing, MATLAB ``rgb2ycbcr`` (the SRCNN paper): Y in [16, 235] / 255.

Inputs of integer dtype are scaled to [0, 1] first; outputs are float in [0, 1] units, float64 for
float64 input and float32 otherwise.
"""

import numpy as np

from npsrcnn.errors import NpsrcnnError
from npsrcnn.image import PIXEL_MAX, to_float

# rows: Y, Cb, Cr as combinations of R, G, B; then the offset added to each
_OPENCV = np.array(
    [
        [0.299, 0.587, 0.114],
        [-0.564 * 0.299, -0.564 * 0.587, 0.564 * (1 - 0.114)],
        [0.713 * (1 - 0.299), -0.713 * 0.587, -0.713 * 0.114],
    ]
)
# OpenCV's inverse uses its own rounded coefficients, not the exact inverse matrix
_OPENCV_INVERSE = np.array([[1.0, 0.0, 1.403], [1.0, -0.344, -0.714], [1.0, 1.773, 0.0]])
_MATLAB = np.array([[65.481, 128.553, 24.966], [-37.797, -74.203, 112.0], [112.0, -93.786, -18.214]]) / 255.0

CONVENTIONS = {
    "opencv": (_OPENCV, np.array([0.0, 0.5, 0.5]), _OPENCV_INVERSE),
    "matlab": (_MATLAB, np.array([16.0, 128.0, 128.0]) / 255.0, np.linalg.inv(_MATLAB)),
}


def _convention(name):
    if name not in CONVENTIONS:
        raise NpsrcnnError(f"YCbCr convention {name!r} is not one of {', '.join(CONVENTIONS)}")
    return CONVENTIONS[name]


def rgb_to_ycbcr(rgb, convention="opencv"):
    """``(..., 3)`` RGB -> ``(..., 3)`` Y, Cb, Cr."""
    forward, offset, _ = _convention(convention)
    rgb = to_float(rgb)
    return rgb @ forward.T.astype(rgb.dtype) + offset.astype(rgb.dtype)


def ycbcr_to_rgb(ycbcr, convention="opencv"):
    """``(..., 3)`` Y, Cb, Cr -> ``(..., 3)`` RGB, not clipped."""
    _, offset, inverse = _convention(convention)
    ycbcr = to_float(ycbcr)
    return (ycbcr - offset.astype(ycbcr.dtype)) @ inverse.T.astype(ycbcr.dtype)


def rgb_to_y(rgb, convention="opencv"):
    """``(..., 3)`` RGB -> ``(...)`` luma, the first row of ``rgb_to_ycbcr`` alone."""
    forward, offset, _ = _convention(convention)
    rgb = to_float(rgb)
    return rgb @ forward[0].astype(rgb.dtype) + offset[0].astype(rgb.dtype)


def luma(img, data_range=None):
    """The paper's Y (MATLAB ``rgb2ycbcr``, unrounded) of an ``(H, W, 3)`` RGB image or the RGB of an
    RGBA one, in the image's own units, float64: what PSNR "on Y" compares. ``data_range`` is the
    value of white (default: 255 for uint8, 65535 for uint16, else 1). A gray ``(H, W)`` image is
    its own luma."""
    img = np.asarray(img)
    if data_range is None:
        data_range = PIXEL_MAX.get(img.dtype, 1.0)
    img = img.astype(np.float64)
    if img.ndim == 2:
        return img
    return rgb_to_y(img[..., :3] / data_range, "matlab") * data_range


def replace_luma(ycbcr, y, convention="matlab"):
    """``(H, W, 3)`` Y, Cb, Cr with its Y replaced by ``y (H, W)`` -> ``(H, W, 3)`` RGB, not clipped:
    how a restored luma is put back with the chroma it came with. ``ycbcr`` is overwritten."""
    ycbcr[..., 0] = y
    return ycbcr_to_rgb(ycbcr, convention)
