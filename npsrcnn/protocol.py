"""The protocols' steps, each written once: how the SRCNN paper (MATLAB) and the Keras tutorials
(OpenCV) turn an image into a ground truth, a degraded input and scored outputs.

``matlab`` (the paper's ``demo_SR.m``), per image:
    Y of ``rgb2ycbcr`` rounded to uint8 (a gray file as is) -> modcrop -> /255 -> ``imresize`` 1/s
    bicubic -> ``imresize`` s (the method) -> network -> uint8 -> shave s.
``opencv`` (the tutorials), per image:
    RGB -> modcrop -> ``cv2.resize`` down and up (the method; for SRCNN's input ``OPENCV_DEGRADE``) ->
    network on the luma of ``cv2.cvtColor(..., YCrCb)``, chroma kept -> RGB -> crop the network's border.

Evaluation scores these outputs, the trainer cuts its pairs from ``matlab_degrade`` and validates
with ``matlab_outputs``, and ``explain`` draws the same degradation.
"""

import cv2
import numpy as np

from npsrcnn.color import luma
from npsrcnn.image import modcrop, shave
from npsrcnn.predict import model_resampler, run_on_luma
from npsrcnn.resize import degrade, imresize, resize_window

# how the Keras tutorials degrade (cv2.resize's default, INTER_LINEAR, down and up): their networks
# learned to undo this, their scripts evaluate it, and the opencv protocol's training pairs use it
OPENCV_DEGRADE = "bilinear"

PROTOCOLS = ("matlab", "opencv")


def to_uint8(x):
    """MATLAB ``uint8(x * 255)``: round half away from zero, saturate."""
    return np.clip(np.floor(x * 255 + 0.5), 0, 255).astype(np.uint8)


def matlab_luma(img):
    """Y of MATLAB ``rgb2ycbcr`` on an RGB uint8 image, rounded to uint8 as MATLAB does; gray as is."""
    return img if img.ndim == 2 else to_uint8(luma(img, 255) / 255)


def matlab_degrade(img, scale):
    """The paper's degradation -> ``(y, low, bicubic)``: the uint8 luma cropped to a multiple of
    ``scale``, its ``imresize`` by 1/scale, and that enlarged back by bicubic (float64 in [0, 1])."""
    y = modcrop(matlab_luma(img), scale)
    low = imresize(y / 255.0, 1 / scale, "bicubic")
    return y, low, imresize(low, scale, "bicubic")


def matlab_protocol(img, scale, methods, model, backend="auto", resampler=None):
    """-> ``(ground truth, {method: output})``, uint8 Y planes, shaved by ``scale``. SRCNN's input is
    the small plane enlarged by the model's resampler (or ``resampler``), as ``predict`` does: the
    paper's bicubic for the paper's networks."""
    return matlab_outputs(matlab_degrade(img, scale), scale, methods, model, backend, resampler)


def matlab_outputs(degraded, scale, methods, model, backend="auto", resampler=None):
    """``matlab_protocol`` from ``matlab_degrade``'s planes, for callers that degrade once and score
    many times (validation during training)."""
    y, low, bicubic = degraded
    outputs = {}
    for method in methods:
        if method == "srcnn":
            resampler = model_resampler(model, resampler)
            everywhere = slice(None), slice(None)
            enlarged = bicubic if resampler == "matlab" else resize_window(low, y.shape, *everywhere, resampler)
            outputs[method] = run_on_luma(model, enlarged, backend)
        else:
            outputs[method] = bicubic if method == "bicubic" else imresize(low, scale, method)
    return shave(y, scale), {m: shave(to_uint8(out), scale) for m, out in outputs.items()}


def opencv_protocol(img, scale, methods, model, backend="auto", degrade_method=OPENCV_DEGRADE):
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
