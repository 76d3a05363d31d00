"""Image files in and out, pixel scaling, and the border bookkeeping SR evaluation needs.

Arrays in the API are RGB, RGBA or gray in the file's own dtype (uint8 or uint16), shaped ``(H, W)``
for gray and ``(H, W, C)`` otherwise. OpenCV stores BGR; the swap happens here and nowhere else.
"""
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np

from npsrcnn.atomic import atomic_write
from npsrcnn.errors import NpsrcnnError

PIXEL_MAX = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}
IMAGE_SUFFIXES = {".bmp", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}


def list_images(folder):
    """-> ``(sorted image paths, [messages for stray files skipped])``; a missing folder, or one
    without images, is an error. Hidden files are ignored."""
    folder = Path(folder)
    if not folder.is_dir():
        raise NpsrcnnError(f"{folder}: no such folder")
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
    if not images:
        raise NpsrcnnError(f"{folder}: no images in the folder ({', '.join(sorted(IMAGE_SUFFIXES))})")
    skipped = [f"{p}: not an image file; skipped" for p in files if p.suffix.lower() not in IMAGE_SUFFIXES]
    return images, skipped


def read_image(path):
    """File -> ``(H, W)`` gray or ``(H, W, 3|4)`` RGB(A), uint8 or uint16 as stored."""
    path = Path(path)
    if not path.is_file():
        raise NpsrcnnError(f"{path}: no such file")
    data = np.fromfile(path, dtype=np.uint8)
    if data.size == 0:
        raise NpsrcnnError(f"{path}: empty file")
    try:
        with _opencv_quiet():  # OpenCV would print its own warnings; the error below says it in one line
            img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    except cv2.error as e:
        raise NpsrcnnError(f"{path}: not a readable image ({str(e).strip().splitlines()[-1]})") from None
    if img is None:
        raise NpsrcnnError(f"{path}: not a readable image (unknown format or corrupt data)")
    if img.dtype not in PIXEL_MAX:
        raise NpsrcnnError(f"{path}: {img.dtype} pixels are not supported (uint8 or uint16)")
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    elif img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB if img.shape[2] == 3 else cv2.COLOR_BGRA2RGBA)
    return img


@contextmanager
def _opencv_quiet():
    logging = cv2.utils.logging
    level = logging.getLogLevel()
    logging.setLogLevel(logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        logging.setLogLevel(level)


def write_image(path, img):
    """Encode by the file's extension and write atomically (a temporary file renamed into place)."""
    path = Path(path)
    if not path.parent.is_dir():
        raise NpsrcnnError(f"{path}: folder {path.parent} does not exist")
    if img.ndim == 3 and img.shape[2] in (3, 4):
        img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR if img.shape[2] == 3 else cv2.COLOR_RGBA2BGRA)
    try:
        ok, encoded = cv2.imencode(path.suffix or ".png", img)
    except cv2.error:
        ok = False
    if not ok:
        raise NpsrcnnError(f"{path}: cannot encode a {img.dtype} image of shape {img.shape} as {path.suffix!r}")
    try:
        with atomic_write(path) as tmp:
            tmp.write_bytes(encoded.tobytes())
    except OSError as e:
        raise NpsrcnnError(f"{path}: cannot write ({e.strerror})") from None


def to_float(img):
    """uint8/uint16 -> float32 in [0, 1]; float32/float64 input passes through unchanged."""
    img = check_pixel_type(np.asarray(img))
    if img.dtype in PIXEL_MAX:
        return img.astype(np.float32) / np.float32(PIXEL_MAX[img.dtype])
    return img


def check_pixel_type(img):
    """``img`` itself if its pixels are uint8, uint16, float32 or float64; a clear error otherwise."""
    if img.dtype not in PIXEL_MAX and img.dtype not in (np.float32, np.float64):
        raise NpsrcnnError(f"{img.dtype} pixels are not supported (uint8, uint16 or float)")
    return img


def from_float(img, dtype):
    """float in [0, 1] -> ``dtype``: clipped, and rounded to the nearest level for integer types."""
    img = np.clip(img, 0.0, 1.0)
    dtype = np.dtype(dtype)
    if dtype in PIXEL_MAX:
        return np.rint(img * PIXEL_MAX[dtype]).astype(dtype)
    return img.astype(dtype)


def modcrop(img, scale):
    """Crop the bottom and right so that H and W are multiples of ``scale`` (as the SR papers do)."""
    h, w = img.shape[:2]
    return img[:h - h % scale, :w - w % scale]


def shave(img, border):
    """Drop ``border`` pixels on every side (an int) or ``(top, bottom, left, right)``: the pixels a
    valid network or a resize edge cannot get right."""
    top, bottom, left, right = (border,) * 4 if np.isscalar(border) else border
    h, w = img.shape[:2]
    if top + bottom >= h or left + right >= w:
        raise NpsrcnnError(f"image of {h}x{w} is too small to shave {border} pixels")
    return img[top:h - bottom, left:w - right]
