"""Evaluation: a protocol (``npsrcnn.protocol``, the paper's or the tutorials') over datasets and
scales, scored by PSNR and SSIM (and MSE for the tutorials' colour images), as tables, JSON and figures.
"""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from npsrcnn.errors import NpsrcnnError
from npsrcnn.figures import zoomed_crops
from npsrcnn.image import list_images, read_image
from npsrcnn.metrics import mse, psnr, ssim
from npsrcnn.model import resolve_model
from npsrcnn.protocol import OPENCV_DEGRADE, PROTOCOLS, matlab_protocol, opencv_protocol
from npsrcnn.viz import side_by_side, summary_bars

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


def evaluate(
    data_dirs,
    scales,
    methods=("bicubic", "srcnn"),
    protocol="matlab",
    models=None,
    backend="auto",
    degrade_method=OPENCV_DEGRADE,
    figures=None,
    warn=print,
    resampler=None,
):
    """Run a protocol over datasets and scales. ``models``: ``{scale: SRCNN}`` for the srcnn method,
    or a function returning that, called once the dataset folders are known to be usable.
    ``resampler`` (the paper's protocol): how SRCNN's input is enlarged, as in ``predict``; None, each
    model's own.

    Returns the ``Row`` list; with ``figures`` (a folder), also writes one comparison per image and
    scale, its zoomed crops where the first method errs most (``_zoom.png``), and ``summary.png``.
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
                        truth, outputs = matlab_protocol(img, scale, methods, model, backend, resampler)
                    else:
                        truth, outputs = opencv_protocol(img, scale, methods, model, backend, degrade_method)
                    panels = [("original", truth)]
                    for method, out in outputs.items():
                        score = {
                            "name": path.stem,
                            "psnr": psnr(truth, out),
                            "ssim": ssim(truth, out),
                            "mse": mse(truth, out),
                        }
                        rows[(name, scale, method)].images.append(score)
                        panels.append((f"{method}\nPSNR {score['psnr']:.2f} dB  SSIM {score['ssim']:.4f}", out))
                    if figures is not None:
                        stem = figures / f"{name}_x{scale}_{path.stem}"
                        title = f"{name} {path.stem} x{scale} ({protocol} protocol)"
                        side_by_side(panels, f"{stem}.png", title=title)
                        zoomed_crops(truth, list(outputs.items()), f"{stem}_zoom.png", y_channel=False, title=title)
                    bar.update()
    rows = list(rows.values())
    if figures is not None:
        summary_bars(rows, figures / "summary.png", title=f"Average PSNR ({protocol} protocol)")
    return rows


def load_models(model, scales):
    """``{scale: SRCNN}`` from a model file, a pattern with ``{scale}`` (``models/x{scale}.mat``), or
    None (the shipped weights of each scale). Every model is loaded before any image is touched."""
    if model is not None and "{scale}" in str(model):
        return {s: resolve_model(str(model).replace("{scale}", str(s)), s) for s in scales}
    if model is not None:
        model = resolve_model(model, scales[0])
        return {s: model for s in scales}
    return {s: resolve_model(None, s) for s in scales}


def report(rows, protocol):
    """The JSON document: ``{"protocol", "rows": [{"dataset", "scale", "method", "psnr", "ssim", "images"}]}``."""
    keys = ("psnr", "ssim", "mse") if protocol == "opencv" else ("psnr", "ssim")
    return {
        "protocol": protocol,
        "rows": [
            {
                "dataset": r.dataset,
                "scale": r.scale,
                "method": r.method,
                **{k: r.mean(k) for k in keys},
                "images": [{"name": i["name"], **{k: i[k] for k in keys}} for i in r.images],
            }
            for r in rows
        ],
    }


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
                lines.append(
                    f"  {name:14}"
                    + "".join("  " + " ".join(cell[k].format(r.images[n][k]) for k in keys) for r in group)
                )
            lines.append(
                f"  {'average':14}" + "".join("  " + " ".join(cell[k].format(r.mean(k)) for k in keys) for r in group)
            )
    return "\n".join(lines)
