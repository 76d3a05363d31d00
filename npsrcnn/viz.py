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
