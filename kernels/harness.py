"""The kernel lab's one harness: check every version against the NumPy oracle, then time it.

    python -m npsrcnn.kernels.conv2d_cpu --list
    python -m npsrcnn.kernels.conv2d_cpu                          # every version, SRCNN's layer shapes
    python -m npsrcnn.kernels.conv2d_cpu --version v4 --shape 1 256 256 128 3 3 64 --padding same
    python -m npsrcnn.kernels.mse_cuda --shape 128 33 33 1 9 9 64

Every op file ends in ``harness.main(module, op, ...)``. Its docstring lists its versions, one line
of idea each; its tables (``VERSIONS``, and ``BACKWARD_VERSIONS`` for ReLU's second op) map each
version to ``(function, supports)``, where ``supports(kh, kw, C_in, C_out)`` says which layer shapes
it takes; and it names its ``TARGET`` (``cpu`` or ``cuda``). A case is one layer,
``N H W C_in kh kw C_out``: the convolutions run on it, the bias gradient, ReLU and MSE on its output.

First every version is checked on every case against the float64 oracle; a mismatch prints the op,
version and case on stderr and exits 1 before anything is timed. Only then is each version timed
(the best of ``--repeat``; CUDA versions on device arrays, synchronised, so no copy is counted) and
printed as ``ms | GFLOP/s | x reference`` (the oracle in float32 on the host).
"""

import argparse
import sys
import time
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from npsrcnn import reference

# SRCNN's layers at 512x512 (N, H, W, C_in, kh, kw, C_out): 9-1-5/64-32, 9-5-5/64-32, 9-3-5/128-64
SRCNN_LAYERS = [
    (1, 512, 512, 1, 9, 9, 64),
    (1, 504, 504, 64, 1, 1, 32),
    (1, 504, 504, 32, 5, 5, 1),
    (1, 504, 504, 64, 5, 5, 32),
    (1, 512, 512, 1, 9, 9, 128),
    (1, 504, 504, 128, 3, 3, 64),
    (1, 504, 504, 64, 5, 5, 1),
]
# errors relative to the output's scale: any indexing mistake is of order 1; float32 rounding of
# the longest sums (and Winograd's transforms) stays below 1e-4
TOLERANCE = 1e-4


def make_case(shape, padding="same", seed=0):
    """Inputs in [0, 1], Glorot-scaled weights and a unit-normal output gradient, so forward outputs
    are of order 1; ``y`` (a ReLU's output) and ``target`` are shaped like the layer's output."""
    n, h, w, cin, kh, kw, cout = shape
    rng = np.random.default_rng(seed)
    x = rng.random((n, h, w, cin), dtype=np.float32)
    kernel = (rng.normal(size=(kh, kw, cin, cout)) / np.sqrt(kh * kw * cin)).astype(np.float32)
    bias = rng.normal(0, 0.1, cout).astype(np.float32)
    case = {"x": x, "kernel": kernel, "bias": bias, "padding": padding}
    out_shape = _forward_reference(case, np.float32).shape
    case["dout"] = rng.normal(size=out_shape).astype(np.float32)
    case["y"] = rng.normal(size=out_shape).astype(np.float32)
    case["target"] = rng.random(out_shape, dtype=np.float32)
    return case


def _forward_reference(case, dtype=np.float64):
    return reference.conv2d(
        case["x"].astype(dtype), case["kernel"].astype(dtype), case["bias"].astype(dtype), case["padding"]
    )


def _backward_reference(case, dtype=np.float64):
    return reference.conv2d_backward(
        case["x"].astype(dtype), case["kernel"].astype(dtype), case["dout"].astype(dtype), case["padding"]
    )


def _mse_reference(case, dtype=np.float64):
    loss, grad = reference.mse(case["y"].astype(dtype), case["target"].astype(dtype))
    return np.append(grad.ravel(), loss)


class Op(NamedTuple):
    """How the harness runs one op: the module's function and table of that name, its arguments
    from a case, what to compare (``finish`` turns the host result into the reference's form), the
    float64/float32 reference and the flops counted."""

    table: str
    args: Callable
    reference: Callable
    flops: Callable
    finish: Callable = lambda result, case: result


def _conv_flops(case):
    kh, kw, cin, _ = case["kernel"].shape
    return 2 * case["dout"].size * kh * kw * cin


OPS = {
    "conv2d": Op(
        "VERSIONS",
        lambda c, v: (c["x"], c["kernel"], c["bias"], c["padding"], False, v),
        _forward_reference,
        _conv_flops,
    ),
    "conv2d_dinput": Op(
        "VERSIONS",
        lambda c, v: (c["dout"], c["kernel"], v),
        lambda c, dtype=np.float64: _backward_reference(c, dtype)[0],
        _conv_flops,
        lambda result, c: reference.pad_backward(result, *c["kernel"].shape[:2], c["padding"]),
    ),
    "conv2d_dkernel": Op(
        "VERSIONS",
        lambda c, v: (c["x"], c["dout"], *c["kernel"].shape[:2], c["padding"], v),
        lambda c, dtype=np.float64: _backward_reference(c, dtype)[1],
        _conv_flops,
    ),
    "conv2d_dbias": Op(
        "VERSIONS",
        lambda c, v: (c["dout"], v),
        lambda c, dtype=np.float64: c["dout"].astype(dtype).sum(axis=(0, 1, 2)),
        lambda c: c["dout"].size,
    ),
    "relu": Op(  # in place: calling it again on its own output changes nothing, so timing needs no copy
        "VERSIONS",
        lambda c, v: (c["y"].copy(), v),
        lambda c, dtype=np.float64: reference.relu(c["y"].astype(dtype)),
        lambda c: c["y"].size,
    ),
    "relu_backward": Op(  # in place on the gradient, as idempotent as the forward
        "BACKWARD_VERSIONS",
        lambda c, v: (c["y"], c["dout"].copy(), v),
        lambda c, dtype=np.float64: reference.relu_backward(c["y"].astype(dtype), c["dout"].astype(dtype)),
        lambda c: c["y"].size,
    ),
    "mse": Op(
        "VERSIONS",
        lambda c, v: (c["y"], c["target"], v),
        _mse_reference,
        lambda c: 3 * c["y"].size,
        lambda result, c: np.append(np.ravel(result[1]), result[0]),
    ),
}


def relative_error(got, expected):
    """max |got - expected| / max(1, max |expected|): float32 rounding grows with the values' scale."""
    return float(np.abs(got - expected).max() / max(1.0, float(np.abs(expected).max())))


class Mismatch(Exception):
    """A version disagrees with the oracle (wrong shape, or an error above the tolerance)."""


def supported(module, op, kernel_shape):
    """The versions of ``op`` in ``module`` that take a layer whose kernel is ``kernel_shape``."""
    table = getattr(module, OPS[op].table)
    return [v for v, (_, supports) in table.items() if supports(*kernel_shape)]


def _device(module):
    """The CUDA support module for a cuda op file (arrays up and down, synchronise); None on the CPU."""
    if getattr(module, "TARGET", "cpu") != "cuda":
        return None
    from npsrcnn.kernels import cuda_support

    return cuda_support


def _call(module, op, version, case):
    """Run one version on a case (on the device for a cuda op) -> ``(function, args)`` ready to time."""
    device = _device(module)
    args = OPS[op].args(case, version)
    if device is not None:
        args = tuple(device.as_device(a) if isinstance(a, np.ndarray) else a for a in args)
    return getattr(module, op), args


def _to_host(result, device):
    if device is None:
        return result
    if isinstance(result, tuple):
        return tuple(device.to_host(r) if device.is_device_array(r) else r for r in result)
    return device.to_host(result)


def check(module, op, version, case, tolerance=TOLERANCE):
    """One version on one case against the float64 reference -> its relative error; ``Mismatch``
    above ``tolerance`` or for a wrong shape."""
    fn, args = _call(module, op, version, case)
    got = OPS[op].finish(_to_host(fn(*args), _device(module)), case)
    expected = OPS[op].reference(case)
    where = f"{op} {version} {case['kernel'].shape} {case['padding']}"
    if np.shape(got) != expected.shape:
        raise Mismatch(f"{where}: shape {np.shape(got)}, the reference's {expected.shape}")
    err = relative_error(got, expected)
    if not err <= tolerance:  # NaN fails too
        raise Mismatch(f"{where}: error {err:.1e} > {tolerance:.0e}")
    return err


def best_ms(fn, repeat, synchronize=None):
    """The best of ``repeat`` timed calls after one warm-up, in milliseconds."""
    fn()
    times = []
    for _ in range(repeat):
        if synchronize:
            synchronize()
        start = time.perf_counter()
        fn()
        if synchronize:
            synchronize()
        times.append(time.perf_counter() - start)
    return 1e3 * min(times)


def parse_args(module, argv=None):
    parser = argparse.ArgumentParser(description=module.__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="list the versions and stop")
    parser.add_argument("--version", nargs="+", help="versions to run (default: all that apply)")
    parser.add_argument(
        "--shape", type=int, nargs=7, action="append", metavar=("N", "H", "W", "CIN", "KH", "KW", "COUT")
    )
    parser.add_argument("--padding", default="same", choices=["valid", "same", "replicate", "full"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tolerance", type=float, default=TOLERANCE, help="relative to the output's scale")
    return parser.parse_args(argv)


def main(module, *ops, argv=None):
    """The op file's command line: ``--list``; or check every chosen version on every shape, exit 1
    on the first mismatch, then time them."""
    args = parse_args(module, argv)
    if args.list:
        print(module.__doc__)
        return
    shapes = [tuple(s) for s in args.shape or SRCNN_LAYERS]
    cases = [make_case(shape, args.padding, seed=sum(shape)) for shape in shapes]
    runs = []
    for op in ops:
        for case in cases:
            for version in supported(module, op, case["kernel"].shape):
                if args.version and version not in args.version:
                    continue
                try:
                    check(module, op, version, case, args.tolerance)
                except Mismatch as e:
                    print(f"harness: mismatch, nothing timed: {e}", file=sys.stderr)
                    sys.exit(1)
                runs.append((op, version, case))
    device = _device(module)
    synchronize = device.synchronize if device is not None else None
    print(f"{'op':15} {'shape (N H W Cin kh kw Cout)':30} {'version':8} {'ms':>9} {'GFLOP/s':>8} {'x reference':>11}")
    reference_ms = {}
    for op, version, case in runs:
        key = (op, id(case))
        if key not in reference_ms:
            reference_ms[key] = best_ms(lambda: OPS[op].reference(case, np.float32), 1)
        fn, fn_args = _call(module, op, version, case)
        ms = best_ms(lambda: fn(*fn_args), args.repeat, synchronize)
        shape = case["x"].shape + case["kernel"].shape[:2] + case["kernel"].shape[3:]
        print(
            f"{op:15} {' '.join(map(str, shape)):30} {version:8} {ms:9.2f} "
            f"{OPS[op].flops(case) / ms / 1e6:8.1f} {reference_ms[key] / ms:11.1f}"
        )
