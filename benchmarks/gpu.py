"""GPU race: npsrcnn's numba.cuda kernels against PyTorch's conv2d on cuDNN, on the same weights.

    python benchmarks/gpu.py [--sizes 1920x1080 3840x2160] [--rounds 5] [--json FILE]

Needs a CUDA GPU with numba-cuda and torch (the device machine has both). Rows per architecture:
forward on a luma image of each size with every layer forced to one CUDA version, ``kernels.versions``'
choice per layer ("npsrcnn cuda"), and cuDNN in float32 with TF32 off, then on; and one training
step on a batch of 128 33×33 patches (forward, MSE, backward, Adam): npsrcnn's cuda backend (Adam on
the host: the weights are kilobytes) against PyTorch (autograd, torch.optim.Adam). Times are the best
of ``--rounds`` interleaved rounds, synchronised; TFLOP/s counts 2 flops per multiply-add of the
direct convolution; "% peak" is against the GPU's float32 (non-tensor) peak, SMs × 128 lanes × 2 ×
clock; "x cuDNN" is the ratio to cuDNN float32 with TF32 off (higher is faster).
"""

import argparse
import json
import sys
from collections import deque
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from forward import ARCHS, conv_flops, race  # noqa: E402

from npsrcnn import SRCNN, backends  # noqa: E402
from npsrcnn.kernels import conv2d_cuda, harness, versions  # noqa: E402
from npsrcnn.train import Adam  # noqa: E402


def fp32_peak_tflops():
    from numba import cuda

    device = cuda.get_current_device()
    return device.MULTIPROCESSOR_COUNT * 128 * 2 * device.CLOCK_RATE * 1e3 / 1e12, device.name


def best(times):
    """``{name: [seconds per round]}`` -> ``{name: the best round}``."""
    return {name: min(seconds) for name, seconds in times.items()}


def forced_forward(model, x, version):
    def run():
        with versions.forced("cuda", "conv2d", version):
            return _device_forward(model, x)

    return run


def _device_forward(model, x):
    """The cuda backend's layers without the final copy to the host (cuDNN's rows do not copy either)."""
    return deque(model.layer_outputs(x, backends.get("cuda")), maxlen=1)[0]


def torch_model(model, tf32):
    import torch

    layers = []
    for layer in model.layers:
        kh, kw, c_in, c_out = layer.kernel.shape
        conv = torch.nn.Conv2d(c_in, c_out, (kh, kw), padding=0 if layer.padding == "valid" else "same")
        with torch.no_grad():
            conv.weight.copy_(torch.from_numpy(layer.kernel.transpose(3, 2, 0, 1).copy()))
            conv.bias.copy_(torch.from_numpy(layer.bias))
        layers += [conv] + ([torch.nn.ReLU()] if layer.activation == "relu" else [])
    net = torch.nn.Sequential(*layers).cuda()

    def configure():
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = tf32

    return net, configure


def main():
    import torch
    from numba import cuda

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["1920x1080", "3840x2160"])
    parser.add_argument("--archs", nargs="+", default=ARCHS)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()
    torch.backends.cudnn.benchmark = True
    peak, name = fp32_peak_tflops()
    print(f"{name}: float32 peak {peak:.1f} TFLOP/s; best of {args.rounds} interleaved rounds")
    print(f"{'arch':14} {'pass':22} {'implementation':18} {'ms':>9} {'TFLOP/s':>8} {'% peak':>7} {'x cuDNN':>8}")
    rows = []

    def report(arch, what, best, flops):
        reference = best["cuDNN fp32"]
        for impl, seconds in best.items():
            tflops = flops / seconds / 1e12
            rows.append(
                dict(
                    arch=arch,
                    what=what,
                    implementation=impl,
                    ms=1e3 * seconds,
                    tflops=tflops,
                    percent_peak=100 * tflops / peak,
                    x_cudnn=reference / seconds,
                )
            )
            print(
                f"{arch:14} {what:22} {impl:18} {1e3 * seconds:9.2f} {tflops:8.2f} {100 * tflops / peak:7.1f} "
                f"{reference / seconds:8.2f}"
            )

    def sync():
        cuda.synchronize()
        torch.cuda.synchronize()

    for arch in args.archs:
        sizes, filters = arch.split(":")
        model = SRCNN.build(sizes, tuple(int(f) for f in filters.split("-")), seed=0)
        top, bottom, left, right = model.shrink
        for size in args.sizes:
            w, h = (int(v) for v in size.split("x"))
            x = np.random.default_rng(0).random((1, h + top + bottom, w + left + right, 1), dtype=np.float32)
            x_device, x_torch = cuda.to_device(x), torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).cuda()
            candidates = {
                f"cuda {v}": forced_forward(model, x_device, v)
                for v in conv2d_cuda.VERSIONS
                if all(v in harness.supported(conv2d_cuda, "conv2d", l.kernel.shape) for l in model.layers)
            }
            candidates["npsrcnn cuda"] = lambda: _device_forward(model, x_device)
            for tf32 in (False, True):
                net, configure = torch_model(model, tf32)

                def run(net=net, configure=configure):
                    configure()
                    with torch.no_grad():
                        return net(x_torch)

                candidates[f"cuDNN {'tf32' if tf32 else 'fp32'}"] = run
            report(
                arch,
                f"forward {size}",
                best(race(candidates, args.rounds, sync=sync)),
                conv_flops(model, *x.shape[1:3]),
            )
        batch = np.random.default_rng(1).random((128, 33, 33, 1), dtype=np.float32)
        target = np.random.default_rng(2).random((128, 33 - top - bottom, 33 - left - right, 1), dtype=np.float32)
        params = [a for layer in model.layers for a in (layer.kernel, layer.bias)]
        optimizer = Adam([1e-5] * len(params))

        def ours():
            _, grads = model.loss_and_grads(batch, target, backend="cuda")
            optimizer.step(params, [g for pair in grads for g in pair])

        candidates = {"npsrcnn cuda": ours}
        batch_t = torch.from_numpy(batch.transpose(0, 3, 1, 2).copy()).cuda()
        target_t = torch.from_numpy(target.transpose(0, 3, 1, 2).copy()).cuda()
        for tf32 in (False, True):
            net, configure = torch_model(model, tf32)
            opt = torch.optim.Adam(net.parameters(), 1e-5)

            def step(net=net, configure=configure, opt=opt):
                configure()
                opt.zero_grad()
                torch.nn.functional.mse_loss(net(batch_t), target_t).backward()
                opt.step()

            candidates[f"cuDNN {'tf32' if tf32 else 'fp32'}"] = step
        report(
            arch,
            "train step 128x33x33",
            best(race(candidates, args.rounds, sync=sync)),
            3 * conv_flops(model, 33, 33) * 128,
        )
    if args.json:
        Path(args.json).write_text(json.dumps(dict(device=name, peak_tflops=peak, rows=rows), indent=1))


if __name__ == "__main__":
    main()
