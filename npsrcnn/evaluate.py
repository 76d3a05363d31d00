"""Evaluation protocols: the SRCNN paper's (MATLAB) and the Keras tutorials' (OpenCV).

``matlab`` (the paper's ``demo_SR.m``), per image:
    Y of ``rgb2ycbcr`` rounded to uint8 (a gray file as is) -> modcrop -> /255 -> ``imresize`` 1/s
    bicubic -> ``imresize`` s (the method) -> network -> uint8 -> shave s -> PSNR, SSIM on Y.
``opencv`` (the tutorials), per image:
    RGB -> modcrop -> ``cv2.resize`` down and up (the method; ``degrade`` for SRCNN's input) ->
    network on the luma of ``cv2.cvtColor(..., YCrCb)``, chroma kept -> RGB -> crop the network's
    border -> PSNR, MSE, SSIM on the colour image.
"""
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from npsrcnn.color import rgb_to_y
from npsrcnn.errors import NpsrcnnError
from npsrcnn.image import list_images, modcrop, read_image, shave
from npsrcnn.metrics import mse, psnr, ssim
from npsrcnn.predict import run_on_luma
from npsrcnn.resize import degrade, imresize
from npsrcnn.viz import side_by_side, summary_bars
from npsrcnn.weights import resolve_model

PROTOCOLS = ("matlab", "opencv")
METHODS = ("bicubic", "bilinear", "srcnn")


@dataclass
class Row:
    """One method on one dataset at one scale: the averages and the per-image figures."""

    dataset: str
    scale: int
    method: str
    images: list = field(default_factory=list)  # [{"name", "psnr", "ssim", "mse"}]

    def mean(self, key):
        return float(np.mean([image[key] for image in self.images]))


def to_uint8(x):
    """MATLAB ``uint8(x * 255)``: round half away from zero, saturate."""
    return np.clip(np.floor(x * 255 + 0.5), 0, 255).astype(np.uint8)


def matlab_luma(img):
    """Y of MATLAB ``rgb2ycbcr`` on an RGB uint8 image, rounded to uint8 as MATLAB does; gray as is."""
    return img if img.ndim == 2 else to_uint8(rgb_to_y(img.astype(np.float64) / 255, "matlab"))


def matlab_degrade(img, scale):
    """The paper's degradation -> ``(y, low, bicubic)``: the uint8 luma cropped to a multiple of
    ``scale``, its ``imresize`` by 1/scale, and that enlarged back by bicubic (float64 in [0, 1])."""
    y = modcrop(matlab_luma(img), scale)
    low = imresize(y / 255.0, 1 / scale, "bicubic")
    return y, low, imresize(low, scale, "bicubic")


def matlab_protocol(img, scale, methods, model, backend="auto"):
    """-> ``(ground truth, {method: output})``, uint8 Y planes, shaved by ``scale``."""
    return matlab_outputs(matlab_degrade(img, scale), scale, methods, model, backend)


def matlab_outputs(degraded, scale, methods, model, backend="auto"):
    """``matlab_protocol`` from ``matlab_degrade``'s planes, for callers that degrade once and score
    many times (validation during training)."""
    y, low, bicubic = degraded
    outputs = {}
    for method in methods:
        if method == "srcnn":
            outputs[method] = run_on_luma(model, bicubic, backend)
        else:
            outputs[method] = bicubic if method == "bicubic" else imresize(low, scale, method)
    return shave(y, scale), {m: shave(to_uint8(out), scale) for m, out in outputs.items()}


def opencv_protocol(img, scale, methods, model, backend="auto", degrade_method="bilinear"):
    """-> ``(ground truth, {method: output})``, uint8 images (RGB or gray) cropped by the network's
    border (or ``scale`` pixels without a network)."""
    img = modcrop(img, scale)
    border = model.shrink if "srcnn" in methods else (scale,) * 4
    outputs = {}
    for method in methods:
        if method != "srcnn":
            outputs[method] = shave(degrade(img, scale, method), border)
            continue
        degraded = degrade(img, scale, degrade_method)
        ycrcb = degraded if degraded.ndim == 2 else cv2.cvtColor(degraded, cv2.COLOR_RGB2YCrCb)
        luma = (ycrcb if ycrcb.ndim == 2 else ycrcb[..., 0]).astype(np.float32) / 255
        restored = to_uint8(model.forward(luma, backend=backend))  # unpadded, as the tutorials run it
        ycrcb = shave(ycrcb, border).copy()
        if ycrcb.ndim == 2:
            outputs[method] = restored
        else:
            ycrcb[..., 0] = restored
            outputs[method] = cv2.cvtColor(ycrcb, cv2.COLOR_YCrCb2RGB)
    return shave(img, border), outputs


def evaluate(data_dirs, scales, methods=("bicubic", "srcnn"), protocol="matlab", models=None, backend="auto",
             degrade_method="bilinear", figures=None, warn=print):
    """Run a protocol over datasets and scales. ``models``: ``{scale: SRCNN}`` for the srcnn method,
    or a function returning that, called once the dataset folders are known to be usable.

    Returns the ``Row`` list; with ``figures`` (a folder), also writes one comparison per image and
    scale, and ``summary.png``.
    """
    if protocol not in PROTOCOLS:
        raise NpsrcnnError(f"protocol {protocol!r} is not one of {', '.join(PROTOCOLS)}")
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise NpsrcnnError(f"method {unknown[0]!r} is not one of {', '.join(METHODS)}")
    datasets = []
    for folder in data_dirs:
        images, skipped = list_images(folder)
        for message in skipped:
            warn(f"warning: {message}")
        datasets.append((Path(folder).name, images))
    if callable(models):
        models = models()
    if "srcnn" in methods and any((models or {}).get(s) is None for s in scales):
        raise NpsrcnnError("the srcnn method needs a model for every scale")
    if figures is not None:
        figures = Path(figures)
        figures.mkdir(parents=True, exist_ok=True)
    rows = {(name, s, m): Row(name, s, m) for name, _ in datasets for s in scales for m in methods}
    total = sum(len(images) for _, images in datasets) * len(scales)
    with tqdm(total=total, desc=f"evaluate ({protocol})", unit="image", disable=None, leave=False) as bar:
        for name, images in datasets:
            for path in images:
                img = read_image(path)
                for scale in scales:
                    model = (models or {}).get(scale)
                    if protocol == "matlab":
                        truth, outputs = matlab_protocol(img, scale, methods, model, backend)
                    else:
                        truth, outputs = opencv_protocol(img, scale, methods, model, backend, degrade_method)
                    panels = [("original", truth)]
                    for method, out in outputs.items():
                        score = {"name": path.stem, "psnr": psnr(truth, out), "ssim": ssim(truth, out),
                                 "mse": mse(truth, out)}
                        rows[(name, scale, method)].images.append(score)
                        panels.append((f"{method}\nPSNR {score['psnr']:.2f} dB  SSIM {score['ssim']:.4f}", out))
                    if figures is not None:
                        side_by_side(panels, figures / f"{name}_x{scale}_{path.stem}.png",
                                     title=f"{name} {path.stem} x{scale} ({protocol} protocol)")
                    bar.update()
    rows = list(rows.values())
    if figures is not None:
        summary_bars(rows, figures / "summary.png", title=f"Average PSNR ({protocol} protocol)")
    return rows


def load_models(weights, scales):
    """``{scale: SRCNN}`` from a file, a pattern with ``{scale}`` (``models/x{scale}.mat``), or None
    (the shipped weights of each scale). Every model is loaded before any image is touched."""
    if weights is not None and "{scale}" in str(weights):
        return {s: resolve_model(str(weights).replace("{scale}", str(s)), s) for s in scales}
    if weights is not None:
        model = resolve_model(weights, scales[0])
        return {s: model for s in scales}
    return {s: resolve_model(None, s) for s in scales}


def report(rows, protocol):
    """The JSON document: ``{"protocol", "rows": [{"dataset", "scale", "method", "psnr", "ssim", "images"}]}``."""
    keys = ("psnr", "ssim", "mse") if protocol == "opencv" else ("psnr", "ssim")
    return {"protocol": protocol, "rows": [
        {"dataset": r.dataset, "scale": r.scale, "method": r.method, **{k: r.mean(k) for k in keys},
         "images": [{"name": i["name"], **{k: i[k] for k in keys}} for i in r.images]} for r in rows]}


def format_tables(rows, protocol, verbose=False):
    """One table per dataset and scale, a column group per method: the average always, images with
    ``verbose``."""
    keys = ("psnr", "ssim", "mse") if protocol == "opencv" else ("psnr", "ssim")
    cell = {"psnr": "{:7.2f}", "ssim": "{:7.4f}", "mse": "{:8.2f}"}
    head = {"psnr": f"{'PSNR':>7}", "ssim": f"{'SSIM':>7}", "mse": f"{'MSE':>8}"}
    lines = []
    for dataset in dict.fromkeys(r.dataset for r in rows):
        for scale in dict.fromkeys(r.scale for r in rows):
            group = [r for r in rows if r.dataset == dataset and r.scale == scale]
            width = len(" ".join(head[k] for k in keys))
            lines.append(f"{dataset} x{scale} ({protocol} protocol, {len(group[0].images)} images)")
            lines.append(f"  {'':14}" + "".join(f"  {r.method:>{width}}" for r in group))
            lines.append(f"  {'image':14}" + "".join("  " + " ".join(head[k] for k in keys) for _ in group))
            names = [i["name"] for i in group[0].images] if verbose else []
            for n, name in enumerate(names):
                lines.append(f"  {name:14}" + "".join(
                    "  " + " ".join(cell[k].format(r.images[n][k]) for k in keys) for r in group))
            lines.append(f"  {'average':14}" + "".join(
                "  " + " ".join(cell[k].format(r.mean(k)) for k in keys) for r in group))
    return "\n".join(lines)
