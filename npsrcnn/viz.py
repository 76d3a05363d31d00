"""Pictures: images side by side with their metrics, training curves, and the inside of a network
(first-layer filters, feature maps, error maps). Uses matplotlib's object API on the Agg canvas (no
pyplot state, no display needed).
"""

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from npsrcnn.atomic import atomic_write
from npsrcnn.errors import NpsrcnnError


def side_by_side(panels, path, title=None):
    """``panels``: ``[(label, image), ...]`` with images of one size; writes a PNG at ``path``."""
    h, w = panels[0][1].shape[:2]
    fig = Figure(figsize=(4.2 * len(panels), 4.2 * h / w + 0.8), layout="constrained")
    FigureCanvasAgg(fig)
    for ax, (label, img) in zip(fig.subplots(1, len(panels), squeeze=False)[0], panels):
        ax.imshow(
            img,
            cmap="gray" if img.ndim == 2 else None,
            vmin=0,
            vmax=np.iinfo(img.dtype).max if np.issubdtype(img.dtype, np.integer) else 1,
            interpolation="nearest",
        )
        ax.set_xlabel(label, fontsize=11)
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title)
    save_png(fig, path)


def summary_bars(rows, path, title=None):
    """Average PSNR of each method, one group of bars per dataset and scale (``evaluate.Row`` list)."""
    groups = list(dict.fromkeys((r.dataset, r.scale) for r in rows))
    methods = list(dict.fromkeys(r.method for r in rows))
    fig = Figure(figsize=(max(5.0, 1.2 * len(groups) * len(methods) * 0.6 + 2), 4), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    width = 0.8 / len(methods)
    for k, method in enumerate(methods):
        values = [next(r.mean("psnr") for r in rows if (r.dataset, r.scale, r.method) == (*g, method)) for g in groups]
        bars = ax.bar(np.arange(len(groups)) + k * width, values, width, label=method)
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.set_xticks(np.arange(len(groups)) + width * (len(methods) - 1) / 2, [f"{d} x{s}" for d, s in groups])
    ax.set_ylabel("PSNR (dB)")
    low = min(r.mean("psnr") for r in rows)
    ax.set_ylim(max(0.0, low - 3), None)
    ax.legend()
    if title:
        ax.set_title(title)
    save_png(fig, path)


def training_curves(rows, path):
    """Training loss (log scale) and validation PSNR against bicubic, per epoch, from ``log.csv`` rows."""
    epochs = [r["epoch"] for r in rows]
    has_val = any("val_psnr" in r for r in rows)
    fig = Figure(figsize=(10 if has_val else 5, 3.6), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2 if has_val else 1, squeeze=False)[0]
    axes[0].plot(epochs, [r["loss"] for r in rows], marker="o")
    axes[0].set_yscale("log")
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("training MSE")
    if has_val:
        axes[1].plot(epochs, [r["val_psnr"] for r in rows], marker="o", label="SRCNN")
        axes[1].axhline(rows[0]["bicubic_psnr"], color="gray", linestyle="--", label="bicubic")
        axes[1].set_xlabel("epoch")
        axes[1].set_ylabel("validation PSNR on Y (dB)")
        axes[1].legend()
    save_png(fig, path)


def save_png(fig, path, palette=False):
    """Render ``fig`` and write it as a PNG at ``path``, atomically.

    ``palette``: store at most 256 colours (8-bit indexed PNG) instead of RGBA: 3-4x smaller for
    pictures of gray maps and a few colours, which is what the docs commit.
    """
    with atomic_write(path) as tmp:
        if not palette:
            fig.savefig(tmp, format="png", dpi=fig.dpi)
            return
        from PIL import Image

        fig.canvas.draw()
        rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3]
        Image.fromarray(rgb).quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
            tmp, format="PNG", optimize=True
        )


def mosaic(tiles, columns, gap=1):
    """``(n, h, w)`` tiles -> one ``(rows·(h+gap)-gap, columns·(w+gap)-gap)`` float image, tiles
    placed row by row; the gaps and unused cells are NaN, which the pictures draw as background."""
    tiles = np.asarray(tiles, dtype=np.float64)
    n, h, w = tiles.shape
    rows = -(-n // columns)
    out = np.full((rows * (h + gap) - gap, columns * (w + gap) - gap), np.nan)
    for k, tile in enumerate(tiles):
        r, c = divmod(k, columns)
        out[r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = tile
    return out


def normalise_each(tiles):
    """``(n, h, w)`` -> each tile scaled to [0, 1] by its own minimum and maximum (a flat tile -> 0).

    Filters and feature maps differ in range by orders of magnitude; one scale for all would show
    a few and black out the rest. The paper's filter figure is drawn the same way.
    """
    tiles = np.asarray(tiles, dtype=np.float64)
    lo = tiles.min(axis=(1, 2), keepdims=True)
    span = tiles.max(axis=(1, 2), keepdims=True) - lo
    return np.divide(tiles - lo, span, out=np.zeros_like(tiles), where=span > 0)


# Layout in screen pixels, so that every image pixel is exactly ``zoom`` screen pixels: resampling
# (what a figure in inches does) would blur the very detail super-resolution is about.
_DPI, _GAP, _LABEL, _TITLE = 100, 6, 20, 26


def _pixel_figure(width, height):
    fig = Figure(figsize=(width / _DPI, height / _DPI), dpi=_DPI)
    FigureCanvasAgg(fig)
    return fig


def _image_axes(fig, image, left, top, zoom, **imshow):
    """An axes showing ``image`` with its top-left corner at pixel ``(left, top)`` of ``fig``."""
    width, height = fig.bbox.width, fig.bbox.height
    h, w = image.shape[:2]
    ax = fig.add_axes((left / width, 1 - (top + h * zoom) / height, w * zoom / width, h * zoom / height))
    ax.imshow(image, interpolation="nearest", **imshow)
    ax.set_axis_off()
    return ax


def _grid_picture(tiles, columns, gap, path, title, zoom, marked=None):
    """``(n, h, w)`` tiles in [0, 1] as one mosaic, gaps white, under a title: the filter and
    feature-map pictures. Tiles where ``marked`` (``(n,)`` bool) is true get a red frame."""
    image = mosaic(tiles, columns, gap)
    h, w = image.shape
    zoom = max(zoom, 256 // w)  # a single small map still makes a picture one can see
    fig = _pixel_figure(max(w * zoom, 8 * len(title)) + 2 * _GAP, h * zoom + _TITLE + _GAP)
    cmap = matplotlib.colormaps["gray"].with_extremes(bad="white")
    ax = _image_axes(fig, image, (fig.bbox.width - w * zoom) // 2, _TITLE, zoom, cmap=cmap, vmin=0, vmax=1)
    th, tw = np.shape(tiles)[1:]
    for k in np.flatnonzero(marked if marked is not None else []):
        r, c = divmod(int(k), columns)
        corner = (c * (tw + gap) - 0.5, r * (th + gap) - 0.5)
        ax.add_patch(Rectangle(corner, tw, th, fill=False, edgecolor="red", linewidth=1.5))
    fig.text(0.5, 1 - _TITLE / 2 / fig.bbox.height, title, ha="center", va="center", fontsize=11)
    save_png(fig, path, palette=True)


def filter_grid(kernel, path, columns=8, zoom=4, title=None, silent=None):
    """A layer's filters, as the paper's figure of first-layer filters: ``kernel (f, f, 1, n)`` ->
    ``n`` f×f tiles, ``columns`` to a row, each scaled by its own range (gray: its smallest weight
    black, its largest white). Only one-channel filters (the luma network's first layer) are drawn.
    ``silent`` (``(n,)`` bool, ``SRCNN.silent``): units that never fire, framed in red."""
    kernel = np.asarray(kernel)
    if kernel.ndim != 4 or kernel.shape[2] != 1:
        raise NpsrcnnError(f"filter_grid draws one-channel filters (f, f, 1, n); got a kernel {kernel.shape}")
    f1, f2, _, n = kernel.shape
    tiles = normalise_each(kernel[:, :, 0, :].transpose(2, 0, 1))  # (n, f1, f2)
    _grid_picture(tiles, min(columns, n), 1, path, title or f"layer 1: {n} filters of {f1}x{f2}", zoom, silent)


def feature_maps(maps, path, columns=8, zoom=1, title=None, silent=None):
    """A layer's output ``(H, W, C)`` -> ``C`` maps, ``columns`` to a row, each scaled by its own range.

    Dark is little response and white the map's strongest; a map black everywhere is a filter that
    never fired on this image (a "dead" ReLU); ``silent`` (``(C,)`` bool) frames the units that
    never fire on the whole image in red.
    """
    maps = np.asarray(maps)
    if maps.ndim != 3:
        raise NpsrcnnError(f"feature_maps takes one layer's output (H, W, C); got shape {maps.shape}")
    h, w, c = maps.shape
    tiles = normalise_each(maps.transpose(2, 0, 1))  # (c, h, w)
    _grid_picture(tiles, min(columns, c), 2, path, title or f"{c} feature maps of {h}x{w}", zoom, silent)


def image_row(panels, path, zoom=2, title=None, cmap="gray", vmax=None, colorbar=None):
    """``panels``: ``[(label, image), ...]`` of one size, drawn pixel for pixel (``zoom`` screen pixels
    each) in a row, labels beneath: crops of an image at the steps of a pipeline.

    uint8/uint16 and float-in-[0, 1] images are shown as they are (gray for ``(H, W)``). With ``vmax``,
    ``(H, W)`` panels are values from 0 to ``vmax`` in ``cmap`` (error maps), and ``colorbar`` labels a
    colour bar at the right.
    """
    image_grid([panels], path, zoom, title, cmap, vmax, colorbar)


def image_grid(rows, path, zoom=2, title=None, cmap="gray", vmax=None, colorbar=None):
    """``image_row`` for several rows, ``[[(label, image), ...], ...]``, every image of one size:
    zoomed crops, one region a row, one method a column. ``zoom`` repeats each pixel (nearest
    neighbour), so the pixels themselves show."""
    h, w = rows[0][0][1].shape[:2]
    lines = max(label.count("\n") + 1 for panels in rows for label, _ in panels)
    bar = 70 if colorbar else 0
    top = _TITLE if title else _GAP
    row_height = h * zoom + _LABEL * lines + _GAP
    columns = max(len(panels) for panels in rows)
    content = columns * (w * zoom + _GAP) + _GAP + bar
    width = max(content, 7 * len(title or ""))  # a title wider than the images widens the picture
    fig = _pixel_figure(width, top + len(rows) * row_height)
    for r, panels in enumerate(rows):
        row_top = top + r * row_height
        for k, (label, img) in enumerate(panels):
            if img.shape[:2] != (h, w):
                raise NpsrcnnError(f"panel {label!r} is {img.shape[:2]}; the first is {(h, w)}")
            integer = np.issubdtype(img.dtype, np.integer)
            limit = vmax if vmax is not None else np.iinfo(img.dtype).max if integer else 1
            left = (width - content) // 2 + _GAP + k * (w * zoom + _GAP)
            ax = _image_axes(fig, img, left, row_top, zoom, cmap=cmap if img.ndim == 2 else None, vmin=0, vmax=limit)
            fig.text(
                (left + w * zoom / 2) / fig.bbox.width,
                1 - (row_top + h * zoom + 3) / fig.bbox.height,
                label,
                ha="center",
                va="top",
                fontsize=10,
            )
    if colorbar:
        cax = fig.add_axes(
            (
                (fig.bbox.width - bar + 8) / fig.bbox.width,
                1 - (top + h * zoom) / fig.bbox.height,
                12 / fig.bbox.width,
                h * zoom / fig.bbox.height,
            )
        )
        fig.colorbar(ax.images[0], cax=cax, label=colorbar)
    if title:
        fig.text(0.5, 1 - _TITLE / 2 / fig.bbox.height, title, ha="center", va="center", fontsize=11)
    save_png(fig, path, palette=True)
