"""Training-throughput race: npsrcnn's training step against keras.Model.fit and PyTorch, same networks.

    python benchmarks/train.py [--steps 10] [--batch 128] [--rounds 7] [--archs 9-5-5:64-32] [--json FILE]

One step = forward, MSE, backward through every layer, and an Adam update, on a batch of 33x33 luma
patches (labels cropped to the network's output), exactly what ``npsrcnn train`` runs per batch.
Keras trains the same network (same paddings, Adam 3e-4, ``mse``) with ``fit`` over the same number
of samples; PyTorch (when installed) with ``loss.backward()`` and ``torch.optim.Adam``, the same
threads. A round runs each contender's ``steps`` batches once, in a shuffled order, all in this one
process; "x npsrcnn" is the median over rounds of (contender's time / npsrcnn's), above 1 where
npsrcnn is faster, with the range; samples/s is the best round.
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
from forward import blas_kernels, race, ratio, save_json, say
from peers import keras_twin, torch_layers

from npsrcnn import SRCNN
from npsrcnn.kernels.threads import set_threads
from npsrcnn.train import Adam

DEFAULT_ARCHS = ["9-1-5:64-32", "9-5-5:64-32", "9-3-5:128-64"]


def npsrcnn_steps(model, x, y, batch, backend):
    """All of ``x``'s batches per call: loss, backward, Adam each."""
    params = [a for layer in model.layers for a in (layer.kernel, layer.bias)]
    optimizer = Adam([3e-4] * len(params))

    def steps():
        for i in range(len(x) // batch):
            _, grads = model.loss_and_grads(x[i * batch : (i + 1) * batch], y[i * batch : (i + 1) * batch], backend)
            optimizer.step(params, [g for pair in grads for g in pair])

    return steps


def keras_epoch(model, x, y, batch):
    """``fit`` for one epoch of the same batches per call (Keras' own loop, as users train)."""
    import keras

    twin = keras_twin(model)
    twin.compile(optimizer=keras.optimizers.Adam(3e-4), loss="mse")
    return lambda: twin.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=False)


def torch_steps(model, x, y, batch, threads):
    """PyTorch's loop over the same batches, or None without torch."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    net = torch_layers(model).train()
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-4, eps=1e-7)  # Keras' epsilon
    xs = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    ys = torch.from_numpy(np.ascontiguousarray(y.transpose(0, 3, 1, 2)))

    def steps():
        for i in range(len(x) // batch):
            optimizer.zero_grad(set_to_none=True)
            loss = torch.nn.functional.mse_loss(net(xs[i * batch : (i + 1) * batch]), ys[i * batch : (i + 1) * batch])
            loss.backward()
            optimizer.step()

    return steps


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--archs", nargs="+", default=DEFAULT_ARCHS, help="f1-f2-f3:n1-n2")
    parser.add_argument("--backend", default="cpu", help="npsrcnn backend to time")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="threads for every contender")
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args()
    set_threads(args.threads)
    rng = np.random.default_rng(0)
    print(
        f"{os.cpu_count()} cores, {args.threads} threads each; BLAS {blas_kernels()}; batch {args.batch} of 33x33, "
        f"{args.steps} steps a "
        f"round, {args.rounds} shuffled rounds; Adam 3e-4; tutorials' paddings"
    )
    print(f"{'arch':14} {'implementation':16} {'samples/s':>10} {'x npsrcnn':>10} {'range':>11}")
    rows = []
    ours = f"npsrcnn {args.backend}"
    for spec in args.archs:
        arch, filters = spec.split(":")
        model = SRCNN.build(arch, tuple(int(f) for f in filters.split("-")), seed=0)
        top, bottom, left, right = model.shrink
        n = args.steps * args.batch
        x = rng.random((n, 33, 33, 1), dtype=np.float32)
        y = np.ascontiguousarray(x[:, top : 33 - bottom, left : 33 - right])  # learn the identity: any target will do
        candidates = {
            ours: npsrcnn_steps(SRCNN(model.layers), x, y, args.batch, args.backend),
            "keras.fit": keras_epoch(model, x, y, args.batch),
        }
        pytorch = torch_steps(model, x, y, args.batch, args.threads)
        if pytorch is not None:
            candidates["pytorch"] = pytorch
        times = race(candidates, args.rounds)
        for name, seconds in times.items():
            median, low, high = ratio(seconds, times[ours])
            row = dict(
                arch=spec, implementation=name, samples_per_s=n / min(seconds), x_npsrcnn=median, range=[low, high]
            )
            rows.append(row)
            say(f"{spec:14} {name:16} {row['samples_per_s']:10.0f} {median:10.2f} {f'{low:.2f}-{high:.2f}':>11}")
    save_json(args.json, {"batch": args.batch, "steps": args.steps, "threads": args.threads, "rows": rows})


if __name__ == "__main__":
    main()
