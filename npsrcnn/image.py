"""Image files in and out, pixel scaling, and the border bookkeeping SR evaluation needs.

Arrays in the API are RGB, RGBA or gray in the file's own dtype (uint8 or uint16), shaped ``(H, W)``
for gray and ``(H, W, C)`` otherwise. OpenCV stores BGR; the swap happens here and nowhere else.

Reading takes a file as a viewer shows it: EXIF orientation applied, palettes expanded to RGB (RGBA
where a colour is transparent), gray kept gray, 16 bits kept. OpenCV decodes; Pillow reads the
header first (the size, refused above ``MAX_PIXELS`` before anything is allocated, and the EXIF
orientation) and decodes what this OpenCV cannot (TGA; GIF before OpenCV 4.11; 8-bit TIFFs with
alpha, whose colours OpenCV premultiplies). Writing refuses a format that would silently drop
alpha, bits or colour (``WRITABLE``).
"""

import io
import os
import warnings
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np

from npsrcnn.atomic import atomic_write
from npsrcnn.errors import NpsrcnnError

PIXEL_MAX = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}
IMAGE_SUFFIXES = {".bmp", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".gif", ".tga"}
MAX_PIXELS = 1 << 28  # 268 Mpx (16384 x 16384): a header claiming more is refused before decoding
U8, U16 = np.dtype(np.uint8), np.dtype(np.uint16)
# what each format written stores exactly: channels (1 gray, 3 RGB, 4 RGBA) and pixel types
WRITABLE = {
    ".png": ({1, 3, 4}, {U8, U16}),
    ".tif": ({1, 3, 4}, {U8, U16}),
    ".tiff": ({1, 3, 4}, {U8, U16}),
    ".bmp": ({1, 3, 4}, {U8}),
    ".jpg": ({1, 3}, {U8}),
    ".jpeg": ({1, 3}, {U8}),
    ".webp": ({3, 4}, {U8}),
    ".ppm": ({3}, {U8, U16}),
    ".pgm": ({1}, {U8, U16}),
}
EXIF_ORIENTATION = 0x0112


def list_images(folder, recursive=False):
    """-> ``(sorted image paths, [messages for stray files skipped])``; a missing folder, or one
    without images, is an error. Hidden files and folders are ignored; ``recursive`` walks subfolders."""
    folder = Path(folder)
    if not folder.is_dir():
        raise NpsrcnnError(f"{folder}: no such folder")
    found = folder.rglob("*") if recursive else folder.iterdir()
    files = sorted(
        p for p in found if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )
    images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
    if not images:
        raise NpsrcnnError(f"{folder}: no images in the folder ({', '.join(sorted(IMAGE_SUFFIXES))})")
    skipped = [f"{p}: not an image file; skipped" for p in files if p.suffix.lower() not in IMAGE_SUFFIXES]
    return images, skipped


def read_image(path):
    """File -> ``(H, W)`` gray or ``(H, W, 3|4)`` RGB(A), uint8 or uint16 as stored, upright."""
    path = Path(path)
    if not path.is_file():
        raise NpsrcnnError(f"{path}: no such file")
    data = np.fromfile(path, dtype=np.uint8)
    if data.size == 0:
        raise NpsrcnnError(f"{path}: empty file")
    try:
        with _pillow_header(data) as header:
            if header is not None and header.width * header.height > MAX_PIXELS:
                raise NpsrcnnError(
                    f"header claims {header.width}x{header.height} pixels, more than the {MAX_PIXELS:,} npsrcnn reads"
                )
            img = None if _opencv_premultiplies(header) else _decode(data, cv2.IMREAD_UNCHANGED)
            if img is None and header is not None:
                img = _from_pillow(header)
            elif img is not None and _orientation(header) != 1:
                img = _upright(img, _orientation(header), _decode(data, cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR))
    except NpsrcnnError as e:
        raise NpsrcnnError(f"{path}: {e}") from None
    except (cv2.error, OSError, ValueError, SyntaxError) as e:  # Pillow's decoders raise these on bad data
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


def _decode(data, flags):
    with _quiet():  # OpenCV and libpng would print their own warnings; the caller says it in one line
        return cv2.imdecode(data, flags)


@contextmanager
def _quiet():
    """Silence OpenCV's log and whatever its codec libraries write straight to file descriptor 2."""
    logging = cv2.utils.logging
    level = logging.getLogLevel()
    logging.setLogLevel(logging.LOG_LEVEL_SILENT)
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        logging.setLogLevel(level)


@contextmanager
def _pillow_header(data):
    """The file opened lazily by Pillow (only its header read), or None for a format Pillow does not know.
    Pillow's own size limit is lifted inside: ``read_image`` applies ``MAX_PIXELS`` with a clearer message."""
    from PIL import Image

    limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                header = Image.open(io.BytesIO(data.tobytes()))
            except Exception:  # noqa: BLE001 (unknown or broken header: OpenCV gets its turn)
                header = None
            yield header
    finally:
        Image.MAX_IMAGE_PIXELS = limit


def _opencv_premultiplies(header):
    """An 8-bit TIFF with alpha: OpenCV reads it through libtiff's RGBA interface, which multiplies
    unassociated alpha into the colours (a transparent pixel loses its colour); Pillow keeps them."""
    return (
        header is not None
        and header.format == "TIFF"
        and header.mode in ("RGBA", "RGBa", "LA")
        and set(np.atleast_1d(header.tag_v2.get(258, 8))) == {8}
    )


def _orientation(header):
    """EXIF orientation 1-8 (1: as stored). A PNG's is read only from an ``eXIf`` before the pixels:
    Pillow would decode the whole image to look further."""
    if header is None or (header.format == "PNG" and "exif" not in header.info):
        return 1
    try:
        return int(header.getexif().get(EXIF_ORIENTATION, 1))
    except Exception:  # noqa: BLE001 (a broken EXIF block: show the pixels as stored)
        return 1


# EXIF orientation -> numpy steps that make the stored pixels upright
_UPRIGHT = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: a.swapaxes(0, 1)[:, ::-1],
    7: lambda a: a.swapaxes(0, 1)[::-1, ::-1],
    8: lambda a: a.swapaxes(0, 1)[::-1],
}


def _upright(img, orientation, shown):
    """Apply the EXIF ``orientation`` to ``img`` (decoded unchanged, alpha kept). OpenCV applies it only
    when dropping alpha (``shown``), and some decoders (TIFF) apply it themselves: so an image without
    alpha is ``shown``, and one with alpha is turned unless its colours are already ``shown``'s."""
    if not (img.ndim == 3 and img.shape[2] == 4):
        return shown
    if shown is not None and shown.shape == img.shape[:2] + (3,) and np.array_equal(img[..., :3], shown):
        return img
    return np.ascontiguousarray(_UPRIGHT[orientation](img)) if orientation in _UPRIGHT else img


def _from_pillow(header):
    """A file OpenCV cannot decode, through Pillow -> the array OpenCV would give (BGR order)."""
    from PIL import ImageOps

    img = ImageOps.exif_transpose(header)
    if img.mode.startswith("I;16"):
        return np.asarray(img).astype(np.uint16)
    if img.mode in ("1", "L"):
        return np.asarray(img.convert("L"))
    transparent = "A" in img.mode or "transparency" in img.info
    if img.mode not in ("RGB", "RGBA", "LA", "P", "PA", "CMYK", "YCbCr", "LAB", "HSV"):
        raise NpsrcnnError(f"{img.mode} images are not supported (gray, RGB, RGBA or palette)")
    rgb = np.asarray(img.convert("RGBA" if transparent else "RGB"))
    return cv2.cvtColor(rgb, cv2.COLOR_RGBA2BGRA if transparent else cv2.COLOR_RGB2BGR)


def write_image(path, img):
    """Encode by the file's extension and write atomically (a temporary file renamed into place)."""
    path = Path(path)
    if not path.parent.is_dir():
        raise NpsrcnnError(f"{path}: folder {path.parent} does not exist")
    problem = unwritable_as(path.suffix, img)
    if problem:
        raise NpsrcnnError(f"{path}: {problem}")
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


def unwritable_as(suffix, img):
    """Why ``img`` cannot be written as ``suffix`` without losing alpha, bits or colour; "" if it can."""
    suffix = suffix.lower()
    if suffix not in WRITABLE:
        return f"cannot write {suffix or 'files without an extension'!r} (writes {', '.join(WRITABLE)})"
    channels = 1 if img.ndim == 2 else img.shape[2]
    if channels in WRITABLE[suffix][0] and img.dtype in WRITABLE[suffix][1]:
        return ""
    kind = {1: "gray", 3: "RGB", 4: "RGBA"}.get(channels, f"{channels}-channel")
    fits = [s for s, (c, d) in WRITABLE.items() if channels in c and img.dtype in d]
    return f"{suffix} cannot store a {img.dtype} {kind} image" + (f" (use {', '.join(fits)})" if fits else "")


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
    return img[: h - h % scale, : w - w % scale]


def shave(img, border):
    """Drop ``border`` pixels on every side (an int) or ``(top, bottom, left, right)``: the pixels a
    valid network or a resize edge cannot get right."""
    top, bottom, left, right = (border,) * 4 if np.isscalar(border) else border
    h, w = img.shape[:2]
    if top + bottom >= h or left + right >= w:
        raise NpsrcnnError(f"image of {h}x{w} is too small to shave {border} pixels")
    return img[top : h - bottom, left : w - right]
