"""The Keras tutorials' flow on a built-in image: degrade, restore with SRCNN, measure, show."""

from pathlib import Path

import skimage.data

from npsrcnn.errors import NpsrcnnError
from npsrcnn.figures import ZOOM, zoomed_crops
from npsrcnn.image import modcrop, write_image
from npsrcnn.metrics import mse, psnr, ssim
from npsrcnn.model import resolve_model
from npsrcnn.predict import predict
from npsrcnn.resize import degrade, shrink
from npsrcnn.viz import side_by_side


def run_demo(
    out_dir, scale=3, model=None, backend="auto", method="bicubic", image=None, degradation="matlab", resampler=None
):
    """Returns ``{"rows": [(label, psnr, mse, ssim)], "files": [...], "note": str or None, "crops": [...]}``
    (``crops``: ``figures.zoomed_crops``'s regions and their scores, drawn in ``zoom.png``).

    The astronaut (scikit-image) is cropped to a multiple of ``scale``, shrunk and enlarged back by
    ``method``; SRCNN enlarges the same small image by the model's own resampler (or ``resampler``,
    as ``predict``) and restores it. ``degradation="matlab"`` resizes as the paper
    (and the shipped weights' training) did, MATLAB's antialiased ``imresize``; ``"opencv"`` as the
    Keras tutorials do, ``cv2.resize``, whose shrinking does not antialias: its aliased images are
    not what SRCNN learned to restore, and it scores below bicubic on them. Metrics compare with the original, shaving
    ``scale`` pixels as the papers do. Without weights for ``scale`` the SRCNN column is left out
    and ``note`` says why.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    original = modcrop(skimage.data.astronaut() if image is None else image, scale)
    small = shrink(original, scale, method, resampler=degradation)
    degraded = degrade(original, scale, method, resampler=degradation)
    panels = [("original", original), (f"{method} x{scale}", degraded)]
    note = None
    try:
        model = resolve_model(model, scale)
    except NpsrcnnError as e:
        if model is not None:
            raise
        note = f"{e}; showing the degraded image only"
    if model is not None:
        panels.append(("SRCNN", predict(small, scale=scale, model=model, backend=backend, resampler=resampler)))
    rows, files = [], []
    for label, img in panels:
        name = label.split()[0].lower()
        files.append(out_dir / f"{name}.png")
        write_image(files[-1], img)
        if label != "original":
            rows.append((label, psnr(original, img, scale), mse(original, img, scale), ssim(original, img, scale)))
    labelled = [(panels[0][0], panels[0][1])] + [
        (f"{label}\nPSNR {p:.2f} dB  SSIM {s:.4f}", img) for (label, p, _, s), (_, img) in zip(rows, panels[1:])
    ]
    files.append(out_dir / "comparison.png")
    side_by_side(labelled, files[-1])
    files.append(out_dir / "zoom.png")
    crops = zoomed_crops(
        original,
        panels[1:],
        files[-1],
        y_channel=False,
        crop_border=scale,
        title=f"where {method} x{scale} errs most, {ZOOM}x; PSNR / SSIM on RGB",
    )
    return {"rows": rows, "files": files, "note": note, "crops": crops}
