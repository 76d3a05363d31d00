"""Zoomed crops: the regions where an enlargement fails most, each method's pixels side by side, with
PSNR and SSIM of each crop. A whole-image figure averages the difference away; 4x nearest-neighbour
crops show it (``npsrcnn demo``, ``explain`` and ``evaluate --figures`` draw them)."""

from npsrcnn.metrics import psnr, ssim, worst_regions
from npsrcnn.viz import image_grid

ZOOM_SIZE, ZOOM_COUNT, ZOOM = 32, 3, 4


def zoomed_crops(truth, panels, path, y_channel=True, crop_border=0, title=None):
    """``truth (H, W[, C])`` and ``panels`` ``[(label, image like truth), ...]`` -> a picture at ``path``
    of ``ZOOM_COUNT`` regions of ``ZOOM_SIZE``² (one a row: the truth, then each panel), enlarged
    ``ZOOM``× by nearest neighbour; returns ``[((top, left), {label: (psnr, ssim)}), ...]``, the metrics
    of each crop (on Y with ``y_channel``). Regions are where the first panel is furthest from the
    truth (``metrics.worst_regions``), none within ``crop_border`` of the edge."""
    size = min(ZOOM_SIZE, *(s - 2 * crop_border for s in truth.shape[:2]))
    regions = worst_regions(truth, panels[0][1], size, ZOOM_COUNT, crop_border)
    rows, scores = [], []
    for top, left in regions:
        window = slice(top, top + size), slice(left, left + size)
        crop_scores = {
            label: (
                psnr(truth[window], img[window], y_channel=y_channel),
                ssim(truth[window], img[window], y_channel=y_channel),
            )
            for label, img in panels
        }
        rows.append(
            [(f"original\nat ({top}, {left})", truth[window])]
            + [
                (f"{label}\n{p:.2f} dB\nSSIM {s:.3f}", img[window])
                for (label, img), (p, s) in zip(panels, crop_scores.values())
            ]
        )
        scores.append(((top, left), crop_scores))
    image_grid(rows, path, zoom=ZOOM, title=title)
    return scores
