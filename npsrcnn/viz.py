"""Pictures: images side by side with their metrics. Uses matplotlib's object API (no pyplot state)."""
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from npsrcnn.atomic import atomic_write


def side_by_side(panels, path, title=None):
    """``panels``: ``[(label, image), ...]`` with images of one size; writes a PNG at ``path``."""
    h, w = panels[0][1].shape[:2]
    fig = Figure(figsize=(4.2 * len(panels), 4.2 * h / w + 0.8), layout="constrained")
    FigureCanvasAgg(fig)
    for ax, (label, img) in zip(fig.subplots(1, len(panels), squeeze=False)[0], panels):
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=np.iinfo(img.dtype).max
                  if np.issubdtype(img.dtype, np.integer) else 1, interpolation="nearest")
        ax.set_xlabel(label, fontsize=11)
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title)
    with atomic_write(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)


def summary_bars(rows, path, title=None):
    """Average PSNR of each method, one group of bars per dataset and scale (``evaluate.Row`` list)."""
    groups = list(dict.fromkeys((r.dataset, r.scale) for r in rows))
    methods = list(dict.fromkeys(r.method for r in rows))
    fig = Figure(figsize=(max(5.0, 1.2 * len(groups) * len(methods) * 0.6 + 2), 4), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    width = 0.8 / len(methods)
    for k, method in enumerate(methods):
        values = [next(r.mean("psnr") for r in rows if (r.dataset, r.scale, r.method) == (*g, method))
                  for g in groups]
        bars = ax.bar(np.arange(len(groups)) + k * width, values, width, label=method)
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.set_xticks(np.arange(len(groups)) + width * (len(methods) - 1) / 2, [f"{d} x{s}" for d, s in groups])
    ax.set_ylabel("PSNR (dB)")
    low = min(r.mean("psnr") for r in rows)
    ax.set_ylim(max(0.0, low - 3), None)
    ax.legend()
    if title:
        ax.set_title(title)
    with atomic_write(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)


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
    with atomic_write(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
