"""Forward-pass race: npsrcnn's kernels against TensorFlow/Keras (and PyTorch if installed) on the
same weights and luma images.

    python benchmarks/forward.py [--sizes 512x512 1920x1080] [--repeat 3] [--threads N] [--json FILE]

Rows per architecture and size: the cpu backend as ``kernels.versions`` picks per layer ("npsrcnn cpu"),
the same network with every layer forced to one version (v1 direct, v2 im2col+GEMM), the NumPy
oracle, Keras ``predict`` and a direct Keras call, and PyTorch's ``conv2d`` when torch is importable.
The slow rows (oracle, v1) run only on images up to 512x512 (``--all-rows`` for every size).
Everything runs in this one process, one row after another, so the ratios are comparable even on a
noisy machine. GFLOP/s counts 2 flops per multiply-add of a direct convolution (Winograd's
fewer multiplications show up as more "effective" GFLOP/s); "% GEMM" is against a float32 matrix
product measured here first.
"""

import argparse
import json
import os
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from npsrcnn import SRCNN
from npsrcnn.kernels import versions
from npsrcnn.kernels.harness import best_ms

ARCHS = ["9-1-5:64-32", "9-5-5:64-32", "9-3-5:128-64"]


def say(line):
    """Print a result line at once: a race takes minutes, and its rows show as they come."""
    print(line, flush=True)


def save_json(path, document):
    """Write the results as JSON where ``--json`` says (nothing without it)."""
    if path:
        with open(path, "w") as f:
            json.dump(document, f, indent=1)


def race(candidates, rounds, slow=(), sync=None):
    """Best time of each candidate over ``rounds`` interleaved rounds (A, B, C, A, B, C, ...): this
    machine's speed drifts by tens of percent within minutes, and interleaving spreads the drift
    over every contender instead of favouring whichever ran in a fast patch. ``slow`` ones run once.
    ``sync`` (a GPU's) is called before and after each timed call."""
    sync = sync or (lambda: None)
    for fn in candidates.values():
        fn()  # warm-up: JIT compilation, TensorFlow graph tracing, allocator pools
        sync()
    best = {name: float("inf") for name in candidates}
    for r in range(rounds):
        for name, fn in candidates.items():
            if name in slow and r > 0:
                continue
            sync()
            start = time.perf_counter()
            fn()
            sync()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


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
    return 2 * n**3 / (best_ms(lambda: a @ a, repeat) / 1e3) / 1e9


def forced(model, x, version):
    """The cpu backend with every layer on one forward version."""
    with versions.forced("cpu", "conv2d", version):
        return model.forward(x, backend="cpu")


def torch_forward(model):
    try:
        import torch
    except ImportError:
        return None
    weights = [
        (torch.from_numpy(l.kernel.transpose(3, 2, 0, 1).copy()), torch.from_numpy(l.bias)) for l in model.layers
    ]

    def run(x):
        with torch.no_grad():
            t = torch.from_numpy(x.transpose(0, 3, 1, 2))
            for layer, (k, b) in zip(model.layers, weights):
                t = torch.nn.functional.conv2d(t, k, b, padding=0 if layer.padding == "valid" else "same")
                t = torch.relu(t) if layer.activation == "relu" else t
            return t.numpy()

    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["512x512", "1920x1080"], help="WxH")
    parser.add_argument("--archs", nargs="+", default=ARCHS, help="f1-f2-f3:n1-n2")
    parser.add_argument("--repeat", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--threads", type=int, help="numba and BLAS threads (default: all cores)")
    parser.add_argument("--all-rows", action="store_true", help="the oracle and v1 at every size too")
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args()
    if args.threads:
        from npsrcnn.kernels.threads import set_threads

        set_threads(args.threads)
    import keras

    gemm = gemm_gflops()
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; float32 GEMM {gemm:.0f} GFLOP/s; "
        f"best of {args.repeat} interleaved rounds"
    )
    print(f"{'arch':14} {'size':10} {'implementation':18} {'ms':>9} {'GFLOP/s':>8} {'% GEMM':>7} {'x TF':>6}")
    rows = []
    for size in args.sizes:
        w, h = (int(v) for v in size.split("x"))
        x = np.random.default_rng(0).random((1, h, w, 1), dtype=np.float32)
        for spec in args.archs:
            arch, filters = spec.split(":")
            model = SRCNN.build(arch, tuple(int(f) for f in filters.split("-")), seed=0)
            twin = keras.Sequential(
                [keras.Input((None, None, 1))]
                + [
                    keras.layers.Conv2D(
                        l.kernel.shape[3], l.kernel.shape[:2], padding=l.padding, activation=l.activation
                    )
                    for l in model.layers
                ]
            )
            twin.set_weights([a for l in model.layers for a in (l.kernel, l.bias)])
            candidates = {
                "keras.predict": lambda: twin.predict(x, verbose=0),
                "keras call": lambda: twin(x, training=False).numpy(),
                "npsrcnn cpu": lambda: model.forward(x, backend="cpu"),
                "npsrcnn cpu v2": lambda: forced(model, x, "v2"),
            }
            if args.all_rows or w * h <= 512 * 512:
                candidates["npsrcnn cpu v1"] = lambda: forced(model, x, "v1")
                candidates["npsrcnn numpy"] = lambda: model.forward(x, backend="numpy")
            torch_run = torch_forward(model)
            if torch_run is not None:
                candidates["pytorch cpu"] = lambda: torch_run(x)
            seconds = race(candidates, args.repeat, slow={"npsrcnn cpu v1", "npsrcnn numpy"})
            tf_best = min(seconds["keras.predict"], seconds["keras call"])
            flops = conv_flops(model, h, w)
            for name, s in seconds.items():
                row = dict(
                    arch=spec,
                    size=size,
                    implementation=name,
                    ms=s * 1e3,
                    gflops=flops / s / 1e9,
                    pct_gemm=100 * flops / s / 1e9 / gemm,
                    speed_vs_tf=tf_best / s,
                )
                rows.append(row)
                say(
                    f"{spec:14} {size:10} {name:18} {row['ms']:9.1f} {row['gflops']:8.1f} {row['pct_gemm']:7.1f} "
                    f"{row['speed_vs_tf']:6.2f}"
                )
    save_json(args.json, {"gemm_gflops": gemm, "rows": rows})


if __name__ == "__main__":
    main()
