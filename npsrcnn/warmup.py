"""Compile ahead of time: run every kernel that ``predict`` and ``train`` use, on tiny inputs, so that
numba compiles and caches them now rather than during a user's first real run.

numba compiles one machine-code version of a kernel per argument types, not per image size, so a
few pixels run through the networks users meet (the shipped 9-5-5, the paper's 9-1-5, the
tutorials' 9-3-5 / 128-64) reach every kernel version the backend picks for them.
"""

import time

import numpy as np

from npsrcnn.model import SRCNN
from npsrcnn.predict import predict

NETWORKS = [("9-5-5", (64, 32)), ("9-1-5", (64, 32)), ("9-3-5", (128, 64))]


def warm_up(backend="auto"):
    """-> seconds taken. Forward passes as ``predict`` runs them (whole and in tiles), and one
    training step of each network."""
    started = time.monotonic()
    image = np.random.default_rng(0).integers(0, 256, (14, 15, 3), dtype=np.uint8)
    for arch, filters in NETWORKS:
        model = SRCNN.build(arch, filters)
        for tile in (0, 16):
            predict(image, scale=2, model=model, backend=backend, tile=tile)
        patches = np.random.default_rng(1).random((2, 33, 33, 1), dtype=np.float32)
        target = model.forward(patches, backend="numpy")
        model.loss_and_grads(patches, target, backend)
    return time.monotonic() - started
