"""Wrote ``predict_golden.npz``: ``predict`` on Set5's butterfly shrunk x2 (``imresize(gt, 1/2)``), with the
shipped x2 weights and with the same weights in the Keras 1 weights-only layout (which loads with the
tutorials' valid-same-valid paddings), each with the default tile, ``tile=0`` and ``tile=37``.

Run once, at commit 7210d9e, before the core was restructured (issue 15); ``tests/test_golden.py``
holds every later version to these outputs. Kept to show how they were made, not to be re-run.

    NPSRCNN_DATA=../shared/datasets .venv/bin/python tests/data/make_predict_golden.py
"""
import os
import sys
from pathlib import Path

import h5py
import numpy as np

import npsrcnn

HERE = Path(__file__).resolve().parent
TILES = {"auto": None, "0": 0, "37": 37}


def write_keras1(path, model):
    with h5py.File(path, "w") as f:
        names = [f"convolution2d_{i}" for i in range(1, len(model.layers) + 1)]
        f.attrs["layer_names"] = np.array([n.encode() for n in names])
        for name, layer in zip(names, model.layers):
            g = f.create_group(name)
            g.attrs["weight_names"] = np.array([f"{name}_W:0".encode(), f"{name}_b:0".encode()])
            g[f"{name}_W:0"] = layer.kernel
            g[f"{name}_b:0"] = layer.bias


def main():
    data = Path(os.environ.get("NPSRCNN_DATA", HERE.parents[2] / "shared" / "datasets"))
    gt = npsrcnn.read_image(data / "Set5" / "butterfly_GT.bmp")
    small = npsrcnn.imresize(gt, 1 / 2)
    keras1 = HERE / "keras1_x2.h5"
    write_keras1(keras1, npsrcnn.SRCNN.from_file(npsrcnn.shipped_weights(2)))
    outputs = {}
    for label, weights in (("shipped", None), ("keras1", str(keras1))):
        for name, tile in TILES.items():
            outputs[f"{label}_tile{name}"] = npsrcnn.predict(small, scale=2, weights=weights, tile=tile)
    keras1.unlink()
    np.savez_compressed(HERE / "predict_golden.npz", **outputs)
    print({k: (v.shape, v.dtype) for k, v in outputs.items()}, file=sys.stderr)


if __name__ == "__main__":
    main()
