"""Training-throughput race: npsrcnn's training step against keras.Model.fit, same architecture.

    python benchmarks/train.py [--steps 10] [--batch 128] [--archs 9-1-5:64-32 9-3-5:128-64] [--json FILE]

One step = forward, MSE, backward through every layer, and an Adam update, on a batch of 33x33 luma
patches (labels cropped to the network's output), exactly what ``npsrcnn train`` runs per batch.
Keras trains the same network (same paddings, Adam 3e-4, ``mse``) with ``fit`` over the same number
of samples, after a warm-up epoch. All rows run in this one process, one after another.
"""
import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from npsrcnn import SRCNN
from npsrcnn.train import Adam

DEFAULT_ARCHS = ["9-1-5:64-32", "9-3-5:128-64"]


def npsrcnn_rate(model, x, y, batch, steps, backend):
    params = [a for layer in model.layers for a in (layer.kernel, layer.bias)]
    optimizer = Adam([3e-4] * len(params))

    def step(i):
        chosen = slice((i % (len(x) // batch)) * batch, (i % (len(x) // batch) + 1) * batch)
        _, grads = model.loss_and_grads(x[chosen], y[chosen], backend=backend)
        optimizer.step(params, [g for pair in grads for g in pair])

    step(0)  # JIT compilation
    start = time.perf_counter()
    for i in range(steps):
        step(i)
    return steps * batch / (time.perf_counter() - start)


def keras_rate(model, x, y, batch, steps):
    import keras

    twin = keras.Sequential([keras.Input((None, None, 1))] + [
        keras.layers.Conv2D(l.kernel.shape[3], l.kernel.shape[:2], padding=l.padding, activation=l.activation)
        for l in model.layers])
    twin.set_weights([a for l in model.layers for a in (l.kernel, l.bias)])
    twin.compile(optimizer=keras.optimizers.Adam(3e-4), loss="mse")
    samples = steps * batch
    twin.fit(x[:samples], y[:samples], batch_size=batch, epochs=1, verbose=0, shuffle=False)  # warm-up, tracing
    start = time.perf_counter()
    twin.fit(x[:samples], y[:samples], batch_size=batch, epochs=1, verbose=0, shuffle=False)
    return samples / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--archs", nargs="+", default=DEFAULT_ARCHS, help="f1-f2-f3:n1-n2")
    parser.add_argument("--backends", nargs="+", default=["cpu"], help="npsrcnn backends to time")
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"{os.cpu_count()} cores; batch {args.batch} of 33x33, {args.steps} steps; Adam; tutorials' paddings")
    print(f"{'arch':14} {'implementation':16} {'samples/s':>10} {'x keras.fit':>12}")
    rows = []
    for spec in args.archs:
        arch, filters = spec.split(":")
        model = SRCNN.build(arch, tuple(int(f) for f in filters.split("-")), seed=0)
        top, bottom, left, right = model.shrink
        n = args.steps * args.batch
        x = rng.random((n, 33, 33, 1), dtype=np.float32)
        y = np.ascontiguousarray(x[:, top:33 - bottom, left:33 - right])  # learn the identity: any target will do
        rates = {"keras.fit": keras_rate(model, x, y, args.batch, args.steps)}
        for backend in args.backends:
            rates[f"npsrcnn {backend}"] = npsrcnn_rate(SRCNN(model.layers), x, y, args.batch, args.steps, backend)
        for name, rate in rates.items():
            row = dict(arch=spec, implementation=name, samples_per_s=rate, speed_vs_keras=rate / rates["keras.fit"])
            rows.append(row)
            print(f"{spec:14} {name:16} {rate:10.0f} {row['speed_vs_keras']:12.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"batch": args.batch, "steps": args.steps, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
