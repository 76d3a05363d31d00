"""Training-throughput race: npsrcnn's training step against keras.Model.fit, same architecture.

    python benchmarks/train.py [--steps 10] [--batch 128] [--rounds 7] [--archs 9-1-5:64-32 9-3-5:128-64] [--json FILE]

One step = forward, MSE, backward through every layer, and an Adam update, on a batch of 33x33 luma
patches (labels cropped to the network's output), exactly what ``npsrcnn train`` runs per batch.
Keras trains the same network (same paddings, Adam 3e-4, ``mse``) with ``fit`` over the same number
of samples. The two alternate in rounds within this one process; the ratio reported is the median of
the rounds' ratios, with their range, and the best round of each beside it.
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
from forward import save_json, say

from npsrcnn import SRCNN
from npsrcnn.train import Adam

DEFAULT_ARCHS = ["9-1-5:64-32", "9-3-5:128-64"]


def npsrcnn_step(model, x, y, batch, backend):
    """One training step per call, on the next batch: loss, backward, Adam."""
    params = [a for layer in model.layers for a in (layer.kernel, layer.bias)]
    optimizer = Adam([3e-4] * len(params))
    position = [0]

    def step():
        i = position[0] % (len(x) // batch)
        position[0] += 1
        _, grads = model.loss_and_grads(x[i * batch : (i + 1) * batch], y[i * batch : (i + 1) * batch], backend=backend)
        optimizer.step(params, [g for pair in grads for g in pair])

    return step


def keras_step(model, x, y, batch):
    """``fit`` for one epoch of ``steps`` batches per call (Keras' own loop, as users train)."""
    import keras

    twin = keras.Sequential(
        [keras.Input((None, None, 1))]
        + [
            keras.layers.Conv2D(l.kernel.shape[3], l.kernel.shape[:2], padding=l.padding, activation=l.activation)
            for l in model.layers
        ]
    )
    twin.set_weights([a for l in model.layers for a in (l.kernel, l.bias)])
    twin.compile(optimizer=keras.optimizers.Adam(3e-4), loss="mse")
    return lambda: twin.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=False)


def race(keras_epoch, npsrcnn_step, steps, rounds):
    """Interleaved rounds of (one Keras epoch of ``steps`` batches, then ``steps`` npsrcnn steps) ->
    ``{"keras.fit": [seconds per round], "npsrcnn": [...]}``. Both contenders of a round run within a
    few seconds of each other, so each round's ratio sees the same machine: on a shared machine whose
    speed drifts by tens of percent, the median of those ratios is steadier than best against best."""
    keras_epoch()  # warm-up: tracing
    npsrcnn_step()  # warm-up: JIT
    seconds = {"keras.fit": [], "npsrcnn": []}
    for _ in range(rounds):
        start = time.perf_counter()
        keras_epoch()
        seconds["keras.fit"].append(time.perf_counter() - start)
        start = time.perf_counter()
        for _ in range(steps):
            npsrcnn_step()
        seconds["npsrcnn"].append(time.perf_counter() - start)
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--archs", nargs="+", default=DEFAULT_ARCHS, help="f1-f2-f3:n1-n2")
    parser.add_argument("--backend", default="cpu", help="npsrcnn backend to time")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds")
    parser.add_argument("--threads", type=int, help="numba and BLAS threads (default: all cores)")
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args()
    if args.threads:
        from npsrcnn.kernels.threads import set_threads

        set_threads(args.threads)
    rng = np.random.default_rng(0)
    print(
        f"{os.cpu_count()} cores; batch {args.batch} of 33x33, {args.steps} steps a round, {args.rounds} "
        f"interleaved rounds; Adam; tutorials' paddings"
    )
    print("samples/s: the best round; x keras.fit: the median of the rounds' ratios (their range), then best vs best")
    print(f"{'arch':14} {'implementation':16} {'samples/s':>10} {'x keras.fit':>12} {'range':>11} {'best/best':>9}")
    rows = []
    for spec in args.archs:
        arch, filters = spec.split(":")
        model = SRCNN.build(arch, tuple(int(f) for f in filters.split("-")), seed=0)
        top, bottom, left, right = model.shrink
        n = args.steps * args.batch
        x = rng.random((n, 33, 33, 1), dtype=np.float32)
        y = np.ascontiguousarray(x[:, top : 33 - bottom, left : 33 - right])  # learn the identity: any target will do
        keras_epoch = keras_step(model, x, y, args.batch)
        seconds = race(
            keras_epoch, npsrcnn_step(SRCNN(model.layers), x, y, args.batch, args.backend), args.steps, args.rounds
        )
        ratios = np.array(seconds["keras.fit"]) / np.array(seconds["npsrcnn"])
        best = {name: n / min(times) for name, times in seconds.items()}
        for name, rate in (("keras.fit", best["keras.fit"]), (f"npsrcnn {args.backend}", best["npsrcnn"])):
            mine = name != "keras.fit"
            row = dict(
                arch=spec,
                implementation=name,
                samples_per_s=rate,
                speed_vs_keras=float(np.median(ratios)) if mine else 1.0,
                ratio_range=[float(ratios.min()), float(ratios.max())] if mine else [1.0, 1.0],
                best_vs_best=rate / best["keras.fit"],
            )
            rows.append(row)
            spread = f"{row['ratio_range'][0]:.2f}-{row['ratio_range'][1]:.2f}"
            ratio, best_ratio = row["speed_vs_keras"], row["best_vs_best"]
            say(f"{spec:14} {name:16} {rate:10.0f} {ratio:12.2f} {spread:>11} {best_ratio:9.2f}")
    save_json(args.json, {"batch": args.batch, "steps": args.steps, "rows": rows})


if __name__ == "__main__":
    main()
