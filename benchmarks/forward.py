"""Forward-pass race: npsrcnn's cpu backend against the runtimes a user would otherwise pick, on the
same weights and luma images.

    python benchmarks/forward.py [--sizes 512x512 1920x1080] [--archs 9-5-5:64-32] [--rounds 7]
                                 [--threads N] [--json FILE]

Contenders per architecture and size: the cpu backend as ``kernels.versions`` picks per layer
("npsrcnn cpu"), the same network with every layer forced to v2 (im2col + GEMM), and every peer that
is installed (``benchmarks/peers.py``: TensorFlow, PyTorch, ONNX Runtime, OpenVINO; ``pip install -e
'.[bench]'``); on images up to 512x512 also v1 (direct loops) and the NumPy oracle (``--all-rows``
for every size), run once. Every contender's output is checked against npsrcnn's first: a mismatch
exits 1 before anything is timed. Then rounds, each running every contender once in a shuffled
order, all in this one process with the same thread count: "x npsrcnn" is the median over rounds
of (contender's time / npsrcnn's time in that round), above 1 where npsrcnn is faster, with the
range; "ms" is the best round. GFLOP/s counts 2 flops per multiply-add of a direct convolution
(Winograd's fewer multiplications show up as more "effective" GFLOP/s); "% GEMM" is against a float32
matrix product measured here first. A second table times npsrcnn's layers one by one: the roofline
column says how far each kernel is from the machine's GEMM rate.
"""

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
from peers import forward_peers

from npsrcnn import SRCNN, backends
from npsrcnn.kernels import versions
from npsrcnn.kernels.harness import best_ms
from npsrcnn.kernels.threads import set_threads

ARCHS = ["9-1-5:64-32", "9-5-5:64-32", "9-3-5:128-64"]


def say(line):
    """Print a result line at once: a race takes minutes, and its rows show as they come."""
    print(line, flush=True)


def save_json(path, document):
    """Write the results as JSON where ``--json`` says (nothing without it)."""
    if path:
        with open(path, "w") as f:
            json.dump(document, f, indent=1)


def race(candidates, rounds, slow=(), sync=None, seed=0):
    """Each candidate's time in each of ``rounds`` rounds -> ``{name: [seconds, ...]}``. Every round
    runs each candidate once, in an order shuffled anew: this machine's speed drifts by tens of
    percent within minutes, and interleaving spreads the drift over every contender. ``slow`` ones
    run in the first round only. ``sync`` (a GPU's) is called before and after each timed call."""
    sync = sync or (lambda: None)
    for fn in candidates.values():
        fn()  # warm-up: JIT compilation, TensorFlow graph tracing, allocator pools
        sync()
    times = {name: [] for name in candidates}
    order = list(candidates)
    rng = np.random.default_rng(seed)
    for r in range(rounds):
        for name in rng.permutation(order):
            if name in slow and r > 0:
                continue
            sync()
            start = time.perf_counter()
            candidates[name]()
            sync()
            times[name].append(time.perf_counter() - start)
    return times


def ratio(theirs, ours):
    """Round by round, ``theirs / ours`` -> ``(median, low, high)``: above 1 where ours is faster."""
    n = min(len(theirs), len(ours))
    per_round = np.array(theirs[:n]) / np.array(ours[:n])
    return float(np.median(per_round)), float(per_round.min()), float(per_round.max())


def conv_flops(model, h, w):
    flops = 0
    for layer in model.layers:
        kh, kw, c_in, c_out = layer.kernel.shape
        if layer.padding == "valid":
            h, w = h - kh + 1, w - kw + 1
        flops += 2 * h * w * kh * kw * c_in * c_out
    return flops


def blas_kernels():
    """Which BLAS and which of its kernel sets numpy and numba's np.dot call: OpenBLAS picks them by
    CPU, unless OPENBLAS_CORETYPE forces one (some machines here force Haswell's AVX2 kernels on
    AVX-512 processors, which halves the float32 GEMM rate)."""
    from threadpoolctl import threadpool_info

    found = {
        f"{Path(i['filepath']).name.split('-')[0]} {i.get('architecture', '?')}"
        for i in threadpool_info()
        if i["user_api"] == "blas"
    }
    return ", ".join(sorted(found))


def gemm_gflops(n=2048, repeat=5):
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    return 2 * n**3 / (best_ms(lambda: a @ a, repeat) / 1e3) / 1e9


def forced(model, x, version):
    """The cpu backend with every layer on one forward version."""
    with versions.forced("cpu", "conv2d", version):
        return model.forward(x, backend="cpu")


def check_outputs(outputs, reference, tolerance=1e-4):
    """Every contender's output against npsrcnn's: the same shape, and within ``tolerance`` of the
    output's scale (float32 rounding in other orders; Winograd's is ~1e-5). Exits 1 on a mismatch."""
    scale = max(1.0, float(np.abs(reference).max()))
    for name, out in outputs.items():
        error = float(np.abs(out - reference).max()) / scale if out.shape == reference.shape else float("inf")
        if not error <= tolerance:
            sys.exit(f"forward.py: {name} disagrees with npsrcnn (shape {out.shape}, error {error:.1e}); nothing timed")


def layer_times(model, x, repeat):
    """The cpu backend's layers one by one on their real inputs -> ``[(layer, seconds, flops)]``."""
    ops = backends.get("cpu")
    outputs = list(model.layer_outputs(x, ops))
    rows = []
    for layer, inp, out in zip(model.layers, [x, *outputs[:-1]], outputs):
        seconds = best_ms(lambda: ops.layer_forward(inp, layer, layer.padding), repeat) / 1e3
        kh, kw, c_in, c_out = layer.kernel.shape
        out_h, out_w = out.shape[1:3]
        rows.append((layer, seconds, 2 * out_h * out_w * kh * kw * c_in * c_out))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["512x512", "1920x1080"], help="WxH")
    parser.add_argument("--archs", nargs="+", default=ARCHS, help="f1-f2-f3:n1-n2")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="threads for every contender")
    parser.add_argument("--all-rows", action="store_true", help="the oracle and v1 at every size too")
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args()
    set_threads(args.threads)
    gemm = gemm_gflops()
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {args.threads} threads each; "
        f"BLAS {blas_kernels()}; float32 GEMM {gemm:.0f} GFLOP/s; {args.rounds} shuffled rounds"
    )
    rows, layer_rows = [], []
    for size in args.sizes:
        w, h = (int(v) for v in size.split("x"))
        x = np.random.default_rng(0).random((1, h, w, 1), dtype=np.float32)
        for spec in args.archs:
            arch, filters = spec.split(":")
            model = SRCNN.build(arch, tuple(int(f) for f in filters.split("-")), seed=0)
            candidates = {
                "npsrcnn cpu": lambda: model.forward(x, backend="cpu"),
                "npsrcnn cpu v2": lambda: forced(model, x, "v2"),
            }
            if args.all_rows or w * h <= 512 * 512:
                candidates["npsrcnn cpu v1"] = lambda: forced(model, x, "v1")
                candidates["npsrcnn numpy"] = lambda: model.forward(x, backend="numpy")
            for name, run in forward_peers(model, args.threads).items():
                candidates[name] = lambda run=run: run(x)
            reference = candidates["npsrcnn cpu"]()
            check_outputs({name: fn() for name, fn in candidates.items() if name != "npsrcnn cpu"}, reference)
            times = race(candidates, args.rounds, slow={"npsrcnn cpu v1", "npsrcnn numpy"})
            flops = conv_flops(model, h, w)
            say(
                f"\n{spec} {size}: {'implementation':16} {'ms':>9} {'GFLOP/s':>8} {'% GEMM':>7} {'x npsrcnn':>10} range"
            )
            for name, seconds in times.items():
                best = min(seconds)
                median, low, high = ratio(seconds, times["npsrcnn cpu"])
                row = dict(
                    arch=spec,
                    size=size,
                    implementation=name,
                    ms=best * 1e3,
                    gflops=flops / best / 1e9,
                    pct_gemm=100 * flops / best / 1e9 / gemm,
                    x_npsrcnn=median,
                    range=[low, high],
                )
                rows.append(row)
                say(
                    f"{'':{len(spec) + len(size) + 3}}{name:16} {row['ms']:9.1f} {row['gflops']:8.1f} "
                    f"{row['pct_gemm']:7.1f} {median:10.2f} {low:.2f}-{high:.2f}"
                )
            for layer, seconds, layer_flops in layer_times(model, x, args.rounds):
                kh, kw, c_in, c_out = layer.kernel.shape
                shape = f"{kh}x{kw} {c_in}->{c_out}"
                version = versions.pick("cpu", "conv2d", layer.kernel.shape)
                layer_rows.append(
                    dict(
                        arch=spec,
                        size=size,
                        layer=shape,
                        version=version,
                        ms=seconds * 1e3,
                        pct_gemm=100 * layer_flops / seconds / 1e9 / gemm,
                    )
                )
    say(f"\nnpsrcnn cpu, layer by layer (best of {args.rounds}); roofline: % of the float32 GEMM rate")
    say(f"{'arch':14} {'size':10} {'layer':14} {'version':8} {'ms':>9} {'% GEMM':>7}")
    for r in layer_rows:
        say(f"{r['arch']:14} {r['size']:10} {r['layer']:14} {r['version']:8} {r['ms']:9.1f} {r['pct_gemm']:7.1f}")
    save_json(args.json, {"gemm_gflops": gemm, "threads": args.threads, "rows": rows, "layers": layer_rows})


if __name__ == "__main__":
    main()
