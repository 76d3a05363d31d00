"""The inference path, step by step:

    image --enlarged x scale (the model's resampler)--> RGB in [0, 1] --to YCbCr--> luma --edge-pad--> SRCNN
          --> restored luma + enlarged chroma --to RGB--> clip, round --> image of the input's dtype

Only the luma goes through the network (the paper's choice: the eye sees detail in brightness;
chroma is smooth enough for bicubic). The enlargement is the one the network was trained on, as a
network learns to undo a particular blur. The path runs one output tile at a time
(``npsrcnn.tiling``), from the enlargement on: memory holds the input, the output and one tile's
work, whatever the size.
"""

import operator
import os
from typing import NamedTuple

import numpy as np

from npsrcnn.color import replace_luma, rgb_to_ycbcr
from npsrcnn.errors import NpsrcnnError
from npsrcnn.image import check_pixel_type, from_float, read_image
from npsrcnn.model import resolve_model
from npsrcnn.modelfile import DEFAULT_RESAMPLER
from npsrcnn.resize import parse_resampler, resize_footprint, resize_window, upscaled_size
from npsrcnn.tiling import auto_tile, forward_tile, input_window, tile_grid

YCBCR = "matlab"  # the paper's luma, which the shipped weights are trained on


def predict(image, scale=3, model=None, backend="auto", tile=None, progress=None, resampler=None):
    """Upscale (``scale > 1``) or restore (``scale = 1``) an image with SRCNN.

    ``image``: a path, or an array ``(H, W)`` or ``(H, W, 1)`` gray, ``(H, W, 3)`` RGB or ``(H, W, 4)`` RGBA, uint8,
    uint16 or float in [0, 1]. Returns ``(round(H*scale), round(W*scale)[, C])`` in the input's dtype.
    ``model``: an ``SRCNN``, a model file, or None for the shipped weights of ``scale``.
    ``resampler``: how the image is enlarged before the network (``modelfile.RESAMPLERS``); None: the
    one the model was trained on (its file's record; the paper's MATLAB bicubic if it has none).
    ``tile``: side of the output tiles the image is computed in; None sizes them to a memory budget
    (``tiling.auto_tile``), 0 computes the whole image at once. The result is the same either way.
    ``progress``: called as ``progress(tiles_done, tiles_total)`` after each tile.
    Alpha, if any, is resized by bicubic alone.
    """
    img = read_image(image) if isinstance(image, (str, os.PathLike)) else np.asarray(image)
    run = prepare(img, scale, model, resampler, tile)
    whole = (slice(0, run.size[0]), slice(0, run.size[1]))
    out = predict_region(run.img, run.size, *whole, run.model, run.resampler, backend, run.tile, progress)
    return out[:, :, None] if run.channel_axis else out


class Prepared(NamedTuple):
    """A checked run of ``predict`` (or ``chunked.predict_dask``) before any pixel is computed."""

    img: object  # (H, W) or (H, W, 3|4): a channel axis of 1 taken off
    channel_axis: bool  # the input was (H, W, 1): the output gets the axis back
    model: object  # the SRCNN
    resampler: str
    tile: int
    size: tuple  # the output's (h, w)


def prepare(img, scale, model, resampler, tile):
    """Check an image and the options, fill in the defaults -> ``Prepared``. Looks at ``img``'s shape
    and dtype only, so a Dask array is not computed."""
    channel_axis = img.ndim == 3 and img.shape[2] == 1
    img = _check_image(img[:, :, 0] if channel_axis else img)
    if not scale > 0:
        raise NpsrcnnError(f"scale must be positive, got {scale}")
    model = resolve_model(model, scale)
    if model.channels != 1 or model.layers[-1].kernel.shape[3] != 1:
        raise NpsrcnnError(f"predict runs a luma network (1 -> 1 channels); this one is {model.describe()}")
    resampler = model_resampler(model, resampler)
    tile = auto_tile(model) if tile is None else _check_tile(tile)
    size = upscaled_size(img.shape, scale)
    if min(size) < 1:
        raise NpsrcnnError(f"image of {img.shape[0]}x{img.shape[1]} pixels scaled by {scale} has no pixels left")
    return Prepared(img, channel_axis, model, resampler, tile, size)


def predict_region(
    img, size, rows, cols, model, resampler, backend="auto", tile=0, progress=None, origin=(0, 0), shape=None
):
    """The output pixels ``rows x cols`` of ``predict`` on an image enlarged to ``size = (h, w)``:
    ``(len(rows), len(cols)[, C])`` in ``img``'s dtype, tile by tile (``tile`` pixels a side, 0: the
    region at once). ``model``: an ``SRCNN``, ``resampler`` a checked name (``model_resampler``).

    ``img``: the whole input, ``(H, W[, C])``; or, for a region of an image too large to load
    (``npsrcnn.chunked``), the part of an input of ``shape = (H, W)`` that starts at ``origin = (row,
    col)`` and holds ``region_footprint``. Every tile reads the input through the whole image's
    coordinates, so the region equals that part of the whole image's result.
    """
    out = np.empty((rows.stop - rows.start, cols.stop - cols.start) + img.shape[2:], img.dtype)
    whole = (rows, cols) == (slice(0, size[0]), slice(0, size[1]))
    grid = tile_grid(out.shape, tile)
    for done, (out_rows, out_cols) in enumerate(grid, start=1):
        tile_rows, tile_cols = (
            slice(s.start + r.start, s.stop + r.start) for s, r in ((out_rows, rows), (out_cols, cols))
        )
        window = input_window(model, tile_rows, tile_cols, size)
        pixels = resize_window(img, size, *window, resampler, origin, shape)
        color, alpha = (
            (pixels[..., :3], pixels[..., 3:]) if pixels.ndim == 3 and pixels.shape[2] == 4 else (pixels, None)
        )
        ycbcr = rgb_to_ycbcr(color, YCBCR) if color.ndim == 3 else None
        luma = color if ycbcr is None else ycbcr[..., 0]
        restored = (
            run_on_luma(model, luma, backend, tile=0)
            if whole and not tile
            else forward_tile(model, luma, tile_rows, tile_cols, size, backend)
        )
        inner = tuple(slice(s.start - w.start, s.stop - w.start) for s, w in zip((tile_rows, tile_cols), window))
        if ycbcr is not None:
            restored = replace_luma(ycbcr[inner], restored, YCBCR)
        if alpha is not None:
            restored = np.concatenate([restored, alpha[inner]], axis=2)
        out[out_rows, out_cols] = from_float(restored, img.dtype)
        if progress is not None:
            progress(done, len(grid))
    return out


def region_footprint(model, shape, size, rows, cols, resampler):
    """The ``(rows, cols)`` slices of an input of ``shape = (H, W)`` that ``predict_region`` reads for the
    output region ``rows x cols`` of its enlargement to ``size``: the network's receptive field
    (``tiling.input_window``) around the region, then the resampler's support around that."""
    return resize_footprint(shape, size, *input_window(model, rows, cols, size), resampler)


def run_on_luma(model, luma, backend="auto", tile=None):
    """``(H, W)`` float -> ``(H, W)`` float32: the network on a luma plane, keeping its size.

    The plane is first padded by edge replication with exactly the pixels the valid layers will
    remove (``model.shrink``), so the output lines up with the input pixel for pixel. ``tile`` as in
    ``predict``; 0 runs the whole padded plane through ``model.forward``, the reference tiles match.
    """
    tile = auto_tile(model) if tile is None else _check_tile(tile)
    if tile == 0:
        top, bottom, left, right = model.shrink
        padded = np.pad(luma.astype(np.float32), ((top, bottom), (left, right)), mode="edge")
        return model.forward(padded, backend=backend)
    out = np.empty(luma.shape, np.float32)
    for rows, cols in tile_grid(luma.shape, tile):
        window = luma[input_window(model, rows, cols, luma.shape)]
        out[rows, cols] = forward_tile(model, window, rows, cols, luma.shape, backend)
    return out


def model_resampler(model, resampler=None):
    """The enlargement a model's input gets: ``resampler`` if given, else the one it was trained on,
    else the paper's (``modelfile.DEFAULT_RESAMPLER``); checked."""
    resampler = resampler or model.resampler or DEFAULT_RESAMPLER
    parse_resampler(resampler)
    return resampler


def _check_tile(tile):
    """``tile`` as a whole number of pixels, at least 0 (0: untiled); a clear error otherwise."""
    try:
        side = operator.index(tile)
    except TypeError:
        side = -1
    if side < 0:
        raise NpsrcnnError(f"tile must be a whole number of pixels (0: untiled), got {tile!r}")
    return side


def _check_image(img):
    """``img`` itself if it is ``(H, W)``, ``(H, W, 3)`` or ``(H, W, 4)``, not empty, of a supported pixel
    type; only its shape and dtype are looked at (a Dask array is not computed)."""
    if not (img.ndim == 2 or (img.ndim == 3 and img.shape[2] in (3, 4))):
        raise NpsrcnnError(f"image of shape {img.shape} is not (H, W), (H, W, 3) or (H, W, 4)")
    if min(img.shape[:2]) < 1:
        raise NpsrcnnError(f"image of shape {img.shape} is empty")
    return check_pixel_type(img)
