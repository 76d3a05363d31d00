"""Look inside SRCNN on one image: the pictures of ``docs/how-srcnn-works.md``.

The path is ``predict(small, scale)``'s, unrolled so that every step can be drawn:

    original --MATLAB bicubic down by s--> small --up by s, the model's resampler--> degraded (same size)
             --YCbCr--> luma Y (H, W) + chroma Cb, Cr
        luma --edge-pad--> conv1 + ReLU (n1 maps) --> conv2 + ReLU (n2 maps) --> conv3 --> restored luma
        restored luma + degraded chroma --RGB, round--> recombined    -- against original: error, PSNR
"""

from pathlib import Path

import numpy as np
import skimage.data

from npsrcnn.color import luma, replace_luma, rgb_to_ycbcr
from npsrcnn.errors import NpsrcnnError
from npsrcnn.figures import ZOOM, zoomed_crops
from npsrcnn.image import from_float, modcrop, read_image, to_float
from npsrcnn.metrics import psnr
from npsrcnn.model import resolve_model
from npsrcnn.predict import YCBCR, model_resampler, run_on_luma
from npsrcnn.resize import imresize, resize_window
from npsrcnn.viz import feature_maps, filter_grid, image_row

BUILTIN_CROP = (40, 168, 128)  # (top, left, size): the astronaut's face, where detail is easy to judge


def pipeline(original, scale, model, backend="auto", resampler=None):
    """Every image on the way: ``original`` ``(H, W, 3)`` RGB or ``(H, W)`` gray, uint8/uint16 ->
    a dict of ``original`` (cropped to a multiple of ``scale``), ``small`` (shrunk by the paper's
    MATLAB bicubic), ``degraded`` (``small`` enlarged back by the model's resampler, or
    ``resampler``: what the network is given, in the original's type), ``luma`` (the network's
    input, ``(H, W)`` float32 in [0, 1]), ``restored`` (the network's output, ``(H, W)`` float32, not
    yet clipped) and ``recombined`` (restored luma with the enlarged chroma, back to the original's
    type): ``predict(small, scale)``."""
    original = modcrop(np.asarray(original), scale)
    if original.ndim == 3:
        original = original[..., :3]  # alpha plays no part
    small = imresize(original, 1 / scale)
    resampler = model_resampler(model, resampler)
    pixels = resize_window(small, original.shape[:2], slice(None), slice(None), resampler)
    degraded = from_float(pixels, original.dtype)
    ycbcr = rgb_to_ycbcr(pixels, YCBCR) if pixels.ndim == 3 else None
    y = pixels if ycbcr is None else ycbcr[..., 0].copy()
    restored = run_on_luma(model, y, backend)
    recombined = from_float(restored if ycbcr is None else replace_luma(ycbcr, restored, YCBCR), original.dtype)
    return {
        "original": original,
        "small": small,
        "degraded": degraded,
        "resampler": resampler,
        "luma": y,
        "restored": restored,
        "recombined": recombined,
    }


def output_files(out_dir, model):
    """The pictures ``explain`` writes: filters, stages, error maps, one per layer's maps, zoomed crops."""
    out_dir = Path(out_dir)
    return (
        [out_dir / name for name in ("filters.png", "stages.png", "error.png")]
        + [out_dir / f"maps{k}.png" for k in range(1, len(model.layers) + 1)]
        + [out_dir / "zoom.png"]
    )


def explain(out_dir, image=None, scale=3, model=None, backend="auto", crop=None, overwrite=False, resampler=None):
    """Write the pictures for ``image`` (a path or an array; None: the astronaut of scikit-image)
    into ``out_dir`` -> ``{"files": [...], "psnr": {"bicubic": dB, "srcnn": dB}, "silent": {layer: how
    many of its units never fire on the image}, "crop": (top, left, size), "zoomed": the zoomed crops'
    regions and scores (``figures.zoomed_crops``)}``. PSNR is on Y, ``scale``
    pixels shaved, over the whole image; the pictures show the ``crop`` square (default: the
    astronaut's face, or the centre of another image), the feature maps its central half.

    ``model``: an ``SRCNN``, a model file, or None for the shipped weights of ``scale``; ``resampler``
    as in ``predict``. Existing files are an error unless ``overwrite``.
    """
    model = resolve_model(model, scale)
    if model.channels != 1 or model.layers[0].kernel.shape[2] != 1:
        raise NpsrcnnError(f"explain shows a luma network (1 input channel); this one is {model.describe()}")
    files = output_files(out_dir, model)
    for path in files:
        if path.exists() and not overwrite:
            raise NpsrcnnError(f"{path}: exists (use --overwrite to replace it)")
    if image is None:
        img = skimage.data.astronaut()
    else:
        img = read_image(image) if isinstance(image, (str, Path)) else np.asarray(image)
    steps = pipeline(img, scale, model, backend, resampler)
    if crop is None and image is None:
        crop = BUILTIN_CROP
    top, left, size = _crop(steps["original"].shape, crop)
    window = np.s_[top : top + size, left : left + size]
    Path(out_dir).mkdir(parents=True, exist_ok=True)

    # units that never fire on the whole image (its luma with the border the network is given):
    # framed in red in the filter and feature-map pictures
    t, b, l, r = model.shrink
    padded = np.pad(steps["luma"], ((t, b), (l, r)), mode="edge")
    relu_layers = [k for k, layer in enumerate(model.layers) if layer.activation == "relu"]
    silent = dict(zip(relu_layers, model.silent(padded[None, :, :, None], backend)))
    n_filters = model.layers[0].kernel.shape[3]
    filter_grid(
        model.layers[0].kernel,
        files[0],
        silent=silent.get(0),
        title=f"layer 1: {n_filters} filters"
        + (f"; red: {int(silent[0].sum())} never fire on this image" if 0 in silent else ""),
    )
    original, degraded, recombined = steps["original"], steps["degraded"], steps["recombined"]
    panels = [
        ("original", original[window]),
        (f"degraded\n({steps['resampler']} x{scale})", degraded[window]),
        ("luma Y\n(network input)", steps["luma"][window]),
        ("network output\n(restored Y)", np.clip(steps["restored"][window], 0, 1)),
        ("recombined\n(+ degraded CbCr)", recombined[window]),
    ]
    image_row(panels if original.ndim == 3 else panels[:2] + panels[3:4], files[1])  # gray: Y is the image

    scores = {
        "bicubic": psnr(original, degraded, scale, y_channel=True),
        "srcnn": psnr(original, recombined, scale, y_channel=True),
    }
    truth = _luma255(original)
    errors = [np.abs(_luma255(degraded) - truth)[window], np.abs(_luma255(recombined) - truth)[window]]
    image_row(
        [
            (f"|bicubic - original|\n{scores['bicubic']:.2f} dB", errors[0]),
            (f"|SRCNN - original|\n{scores['srcnn']:.2f} dB", errors[1]),
        ],
        files[2],
        cmap="inferno",
        vmax=max(1.0, float(np.percentile(errors[0], 99.5))),  # one scale for both
        colorbar="error on Y (8-bit levels)",
    )

    # the feature maps of the crop's central half (64 maps of 128x128 would make a 1000-pixel
    # picture), with the border run_on_luma gives the network, so they line up with the output
    y, x, half = top + size // 4, left + size // 4, max(1, size // 2)
    for k, (layer, maps) in enumerate(
        zip(model.layers, model.activations(padded[y : y + half + t + b, x : x + half + l + r], backend)), start=1
    ):
        kh, kw, c_in, c_out = layer.kernel.shape
        feature_maps(
            maps,
            files[2 + k],
            silent=silent.get(k - 1),
            title=f"layer {k}: {kh}x{kw} conv, {c_in} -> {c_out}, {layer.activation}"
            f" ({maps.shape[0]}x{maps.shape[1]} each)",
        )
    crops = zoomed_crops(
        original,
        [(f"bicubic x{scale}", degraded), ("SRCNN", recombined)],
        files[-1],
        crop_border=scale,
        title=f"where bicubic x{scale} errs most, {ZOOM}x; PSNR / SSIM on Y",
    )
    silent_counts = {k + 1: int(mask.sum()) for k, mask in silent.items()}
    return {"files": files, "psnr": scores, "crop": (top, left, size), "silent": silent_counts, "zoomed": crops}


def _luma255(img):
    """The paper's Y in 8-bit levels, float64, whatever the image's type: what PSNR on Y compares."""
    return luma(to_float(img), 1.0) * 255


def _crop(shape, crop):
    """``(top, left, size)`` fitted inside the image; None: the centre square of up to 128 pixels."""
    h, w = shape[:2]
    if crop is None:
        size = min(128, h, w)
        return (h - size) // 2, (w - size) // 2, size
    top, left, size = (int(v) for v in crop)
    if size < 1 or not (0 <= top and top + size <= h and 0 <= left and left + size <= w):
        raise NpsrcnnError(f"crop {size}x{size} at ({top}, {left}) does not fit in the {h}x{w} image")
    return top, left, size
