"""Training pairs cut from a folder of images, the way the SRCNN authors' ``generate_train.m`` does.

Per image (``matlab`` protocol): the uint8 Y of MATLAB ``rgb2ycbcr``, cropped to a multiple of the
scale, is the label; its MATLAB-bicubic shrink and re-enlargement is the input. Both are cut into
33x33 patches every 14 pixels. The labels are kept whole here; the trainer crops each to the
network's output (21x21 for 9-1-5 or the tutorials' 9-3-5, 17x17 for an all-valid 9-5-5).
The ``opencv`` protocol degrades the RGB image as the Keras tutorials do (``cv2.resize`` bilinear,
down and up: ``protocol.OPENCV_DEGRADE``) and takes OpenCV's luma.

Pairs are cached in an HDF5 file keyed by the images and the settings, so a second run starts at once.
"""

import hashlib
import json
import os
from pathlib import Path

import cv2
import h5py
import numpy as np

from npsrcnn.atomic import atomic_write
from npsrcnn.errors import NpsrcnnError
from npsrcnn.image import list_images, modcrop, read_image
from npsrcnn.protocol import OPENCV_DEGRADE, PROTOCOLS, matlab_degrade
from npsrcnn.resize import degrade, imresize

PATCH, STRIDE = 33, 14
# the enlargement each protocol's inputs get (MATLAB's bicubic imresize; cv2.resize bilinear): the
# network learns to undo that one, so the files the trainer writes record it for predict
TRAINING_RESAMPLER = {"matlab": "matlab", "opencv": f"opencv-{OPENCV_DEGRADE}"}
CACHE_VERSION = 2  # 2: the opencv protocol's pairs are degraded by OPENCV_DEGRADE, not bicubic


def luma_planes(img, scale, protocol="matlab"):
    """-> ``(label uint8 (H, W), input float32 (H, W))`` for one image, H and W multiples of ``scale``."""
    if protocol == "matlab":
        y, _, bicubic = matlab_degrade(img, scale)
        return y, bicubic.astype(np.float32)
    if protocol not in PROTOCOLS:
        raise NpsrcnnError(f"protocol {protocol!r} is not one of {', '.join(PROTOCOLS)}")
    img = modcrop(img, scale)
    luma = lambda rgb: rgb if rgb.ndim == 2 else cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb)[..., 0]
    return luma(img), luma(degrade(img, scale, OPENCV_DEGRADE)).astype(np.float32) / 255


def cut_patches(plane, size=PATCH, stride=STRIDE):
    """``(H, W) -> (n, size, size)``: top-left corners every ``stride`` pixels, as MATLAB's
    ``for x = 1 : stride : hei - size + 1``."""
    rows = range(0, plane.shape[0] - size + 1, stride)
    cols = range(0, plane.shape[1] - size + 1, stride)
    return np.array([plane[r : r + size, c : c + size] for r in rows for c in cols]).reshape(-1, size, size)


def training_pairs(folder, scale, protocol="matlab", size=PATCH, stride=STRIDE, cache_dir=None):
    """-> ``(inputs float32 (n, size, size, 1), labels float32 (n, size, size, 1))`` in [0, 1].

    ``cache_dir`` (default ``$NPSRCNN_CACHE`` or ``~/.cache/npsrcnn``) holds one HDF5 file per
    folder and settings; ``cache_dir=False`` skips caching.
    """
    images, _ = list_images(folder)
    settings = {
        "version": CACHE_VERSION,
        "scale": scale,
        "protocol": protocol,
        "size": size,
        "stride": stride,
        "images": [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in images],
    }
    cache = None
    if cache_dir is not False:
        key = hashlib.sha256(json.dumps(settings).encode()).hexdigest()[:16]
        root = Path(cache_dir or os.environ.get("NPSRCNN_CACHE") or Path.home() / ".cache" / "npsrcnn")
        cache = root / f"pairs-{Path(folder).name}-{protocol}-x{scale}-{key}.h5"
        if cache.exists():
            return _read_cache(cache)
    inputs, labels = [], []
    for path in images:
        label, degraded = luma_planes(read_image(path), scale, protocol)
        labels.append(cut_patches(label, size, stride))
        inputs.append(cut_patches(degraded, size, stride))
    labels, inputs = np.concatenate(labels), np.concatenate(inputs)
    if len(labels) == 0:
        raise NpsrcnnError(f"{folder}: no image is {size}x{size} pixels or larger; no training patches")
    if cache is not None:
        _write_cache(cache, inputs, labels, settings)
    return inputs[..., None], (labels.astype(np.float32) / 255)[..., None]


def _write_cache(path, inputs, labels, settings):
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path) as tmp:
            with h5py.File(tmp, "w") as f:
                f.attrs["settings"] = json.dumps(settings)
                f.create_dataset("inputs", data=inputs)
                f.create_dataset("labels", data=labels)  # uint8: labels are exact 8-bit levels
    except OSError as e:
        raise NpsrcnnError(f"{path}: cannot write the training cache ({e.strerror or e})") from None


def _read_cache(path):
    try:
        with h5py.File(path, "r") as f:
            inputs, labels = f["inputs"][()], f["labels"][()]
    except (OSError, KeyError) as e:
        raise NpsrcnnError(f"{path}: corrupt training cache ({type(e).__name__}); delete it to rebuild") from None
    if inputs.shape != labels.shape or inputs.ndim != 3 or labels.dtype != np.uint8:
        raise NpsrcnnError(f"{path}: corrupt training cache (shapes {inputs.shape}, {labels.shape}); delete it")
    return inputs.astype(np.float32)[..., None], (labels.astype(np.float32) / 255)[..., None]


# FSRCNN's augmentation of the 91 images (Dong, Loy, Tang, ECCV 2016): each image also downscaled by
# these factors (MATLAB's imresize), and every pair in any of the 8 rotations and flips
AUGMENT_FACTORS = (0.9, 0.8, 0.7, 0.6)


def dihedral(plane, k):
    """``(..., H, W)`` in the ``k``-th of the 8 rotations and flips (``k`` in 0..7): rotated by
    ``k % 4`` quarter turns counter-clockwise, then mirrored left-right when ``k >= 4``."""
    turned = np.rot90(plane, k % 4, axes=(-2, -1))
    return turned[..., ::-1] if k >= 4 else turned


class AugmentedPairs:
    """Training pairs drawn on the fly from a folder's images, their downscaled copies and the 8
    rotations and flips: ``(1 + len(factors)) x 8`` times the plain set's variety, while memory holds
    only the planes (about 3.3 times the images' pixels for FSRCNN's factors), never the pairs.

    Each copy's pair of planes is made by the paper's protocol (``luma_planes``): the MATLAB luma as
    the label, its bicubic shrink and re-enlargement as the input. A batch is a pure function of
    ``(seed, step)``, so a resumed run draws exactly what an uninterrupted one would.
    """

    def __init__(self, folder, scale, factors=AUGMENT_FACTORS, protocol="matlab", size=PATCH):
        self.size, self.planes, self.epoch_size = size, [], 0
        images, _ = list_images(folder)
        for path in images:
            img = read_image(path)
            for factor in (1.0, *factors):
                copy = img if factor == 1.0 else imresize(img, factor)
                label, degraded = luma_planes(copy, scale, protocol)
                if min(label.shape) < size:
                    continue
                self.planes.append((label, degraded))
                if factor == 1.0:  # an epoch is as many pairs as the plain set has, so epochs keep their length
                    self.epoch_size += len(cut_patches(label, size, STRIDE))
        if not self.planes:
            raise NpsrcnnError(f"{folder}: no image is {size}x{size} pixels or larger; no training patches")
        corners = np.array([(lab.shape[0] - size + 1) * (lab.shape[1] - size + 1) for lab, _ in self.planes])
        self.weights = corners / corners.sum()  # every crop position of every copy equally likely

    def batch(self, seed, step, n, crop=(0, 0, 0, 0)):
        """``n`` pairs for training step ``step`` -> ``(inputs float32 (n, size, size, 1), labels
        float32 (n, size - top - bottom, size - left - right, 1))`` in [0, 1], the labels cropped by
        ``crop = (top, bottom, left, right)`` (the network's ``shrink``)."""
        rng = np.random.default_rng([seed, step])
        which = rng.choice(len(self.planes), n, p=self.weights)
        transforms = rng.integers(0, 8, n)
        top, bottom, left, right = crop
        inputs = np.empty((n, self.size, self.size, 1), np.float32)
        labels = np.empty((n, self.size - top - bottom, self.size - left - right, 1), np.float32)
        for i, (plane, k) in enumerate(zip(which, transforms)):
            label, degraded = self.planes[plane]
            r = rng.integers(0, label.shape[0] - self.size + 1)
            c = rng.integers(0, label.shape[1] - self.size + 1)
            window = np.s_[r : r + self.size, c : c + self.size]
            inputs[i, :, :, 0] = dihedral(degraded[window], k)
            turned = dihedral(label[window], k)
            labels[i, :, :, 0] = turned[top : self.size - bottom, left : self.size - right] / 255.0
        return inputs, labels
