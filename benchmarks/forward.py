"""Forward-pass race: npsrcnn backends against TensorFlow/Keras on the same weights and luma image.

    python benchmarks/forward.py [--size 512 512] [--repeat 3] [--archs 9-1-5:64-32 ...] [--json FILE]

Every row runs in this one process, one after another, so ratios are comparable even on a noisy
machine. GFLOP/s counts 2 flops per multiply-add of the convolutions; "% GEMM" is relative to a
float32 matrix product measured here first.
"""
import argparse
import json
import os
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from npsrcnn import SRCNN

DEFAULT_ARCHS = ["9-1-5:64-32", "9-5-5:64-32", "9-3-5:128-64"]


def best_seconds(fn, repeat):
    fn()  # warm-up: JIT compilation, TensorFlow graph tracing
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def conv_flops(model, h, w):
    flops = 0
    for layer in model.layers:
        kh, kw, c_in, c_out = layer.kernel.shape
        if layer.padding == "valid":
            h, w = h - kh + 1, w - kw + 1
        flops += 2 * h * w * kh * kw * c_in * c_out
    return flops


def gemm_gflops(n=2048, repeat=5):
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    return 2 * n ** 3 / best_seconds(lambda: a @ a, repeat) / 1e9


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, nargs=2, default=[512, 512], metavar=("H", "W"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--archs", nargs="+", default=DEFAULT_ARCHS, help="f1-f2-f3:n1-n2")
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args()

    import keras

    h, w = args.size
    x = np.random.default_rng(0).random((1, h, w, 1), dtype=np.float32)
    gemm = gemm_gflops()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; float32 GEMM {gemm:.0f} GFLOP/s; "
          f"image {h}x{w}; best of {args.repeat}")
    print(f"{'arch':14} {'implementation':16} {'ms':>9} {'GFLOP/s':>8} {'% GEMM':>7} {'x TF':>6}")
    rows = []
    for spec in args.archs:
        arch, filters = spec.split(":")
        model = SRCNN.build(arch, tuple(int(f) for f in filters.split("-")), seed=0)
        twin = keras.Sequential([keras.Input((None, None, 1))] + [
            keras.layers.Conv2D(l.kernel.shape[3], l.kernel.shape[:2], padding=l.padding, activation=l.activation)
            for l in model.layers])
        twin.set_weights([a for l in model.layers for a in (l.kernel, l.bias)])
        candidates = {
            "keras.predict": lambda: twin.predict(x, verbose=0),
            "keras call": lambda: twin(x, training=False).numpy(),
            "npsrcnn numpy": lambda: model.forward(x, backend="numpy"),
            "npsrcnn cpu": lambda: model.forward(x, backend="cpu"),
        }
        seconds = {name: best_seconds(fn, args.repeat) for name, fn in candidates.items()}
        tf_best = min(seconds["keras.predict"], seconds["keras call"])
        flops = conv_flops(model, h, w)
        for name, s in seconds.items():
            row = dict(arch=spec, implementation=name, ms=s * 1e3, gflops=flops / s / 1e9,
                       pct_gemm=100 * flops / s / 1e9 / gemm, speed_vs_tf=tf_best / s)
            rows.append(row)
            print(f"{spec:14} {name:16} {row['ms']:9.1f} {row['gflops']:8.1f} {row['pct_gemm']:7.1f} "
                  f"{row['speed_vs_tf']:6.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"size": [h, w], "gemm_gflops": gemm, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
