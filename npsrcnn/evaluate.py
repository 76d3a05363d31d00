"""Evaluation: a protocol (``npsrcnn.protocol``, the paper's or the tutorials') over datasets and
scales, scored by PSNR and SSIM (and MSE for the tutorials' colour images), as tables, JSON and figures.
"""

from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from npsrcnn.errors import NpsrcnnError
from npsrcnn.figures import zoomed_crops
from npsrcnn.image import list_images, read_image
from npsrcnn.jobs import in_process, message
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
    mapper=in_process,
):
    """Run a protocol over datasets and scales. ``models``: ``{scale: SRCNN}`` for the srcnn method,
    or a function returning that, called once the dataset folders are known to be usable.
    ``resampler`` (the paper's protocol): how SRCNN's input is enlarged, as in ``predict``; None, each
    model's own. ``mapper`` (``npsrcnn.jobs``): where each image is scored, here or on a cluster.

    Returns the ``Row`` list, images in folder order wherever they were scored; with ``figures`` (a
    folder), also writes one comparison per image and scale, its zoomed crops where the first method
    errs most (``_zoom.png``), and ``summary.png``.
    """
    if protocol not in PROTOCOLS:
        raise NpsrcnnError(f"protocol {protocol!r} is not one of {', '.join(PROTOCOLS)}")
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise NpsrcnnError(f"method {unknown[0]!r} is not one of {', '.join(METHODS)}")
    jobs = []
    for folder in data_dirs:
        images, skipped = list_images(folder)
        for line in skipped:
            warn(f"warning: {line}")
        jobs.extend((path, Path(folder).name) for path in images)
    if callable(models):
        models = models()
    if "srcnn" in methods and any((models or {}).get(s) is None for s in scales):
        raise NpsrcnnError("the srcnn method needs a model for every scale")
    if figures is not None:
        figures = Path(figures).absolute()  # written where the image is scored: maybe another machine
        figures.mkdir(parents=True, exist_ok=True)
    scoring = Scoring(
        tuple(scales), tuple(methods), protocol, models or {}, backend, degrade_method, resampler, figures
    )
    scores = {}
    with tqdm(
        total=len(jobs) * len(scales), desc=f"evaluate ({protocol})", unit="image", disable=None, leave=False
    ) as bar:
        with closing(mapper(score_image, jobs, scoring)) as outcomes:
            for job, result, error in outcomes:
                if error is not None:
                    raise NpsrcnnError(message(job, error)) from None
                scores[job] = result
                bar.update(len(scales))
    rows = {
        (name, s, m): Row(name, s, m) for name in dict.fromkeys(n for _, n in jobs) for s in scales for m in methods
    }
    for job in jobs:
        for scale, method, score in scores[job]:
            rows[(job[1], scale, method)].images.append(score)
    rows = list(rows.values())
    if figures is not None:
        summary_bars(rows, figures / "summary.png", title=f"Average PSNR ({protocol} protocol)")
    return rows


@dataclass
class Scoring:
    """What ``score_image`` needs besides the image: the run's options and models, as data (a cluster
    sends it to each worker once)."""

    scales: tuple
    methods: tuple
    protocol: str
    models: dict  # {scale: SRCNN}
    backend: str = "auto"
    degrade_method: str = "bilinear"
    resampler: str = None
    figures: Path = None

    def warm_up(self):
        """The models' kernels compiled (or loaded from numba's cache) on a few pixels, before the first image."""
        image = np.zeros((24, 24), np.uint8)
        for scale, model in self.models.items():
            if "srcnn" in self.methods and scale in self.scales:
                matlab_protocol(image, scale, ("srcnn",), model, self.backend, self.resampler)


def score_image(job, scoring):
    """One ``(image path, dataset name)`` job: every method at every scale -> ``[(scale, method,
    {"name", "psnr", "ssim", "mse"}), ...]``; with ``scoring.figures``, its comparison figures too."""
    path, dataset = job
    img = read_image(path)
    scores = []
    for scale in scoring.scales:
        model = scoring.models.get(scale)
        if scoring.protocol == "matlab":
            truth, outputs = matlab_protocol(img, scale, scoring.methods, model, scoring.backend, scoring.resampler)
        else:
            truth, outputs = opencv_protocol(
                img, scale, scoring.methods, model, scoring.backend, scoring.degrade_method
            )
        panels = [("original", truth)]
        for method, out in outputs.items():
            score = {"name": path.stem, "psnr": psnr(truth, out), "ssim": ssim(truth, out), "mse": mse(truth, out)}
            scores.append((scale, method, score))
            panels.append((f"{method}\nPSNR {score['psnr']:.2f} dB  SSIM {score['ssim']:.4f}", out))
        if scoring.figures is not None:
            stem = scoring.figures / f"{dataset}_x{scale}_{path.stem}"
            title = f"{dataset} {path.stem} x{scale} ({scoring.protocol} protocol)"
            side_by_side(panels, f"{stem}.png", title=title)
            zoomed_crops(truth, list(outputs.items()), f"{stem}_zoom.png", y_channel=False, title=title)
    return scores


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
