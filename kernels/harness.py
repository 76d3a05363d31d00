"""The kernel lab's one harness: check every version against the NumPy oracle, then time it.

    python -m npsrcnn.kernels.conv2d_cpu --list
    python -m npsrcnn.kernels.conv2d_cpu                          # every version, SRCNN's layer shapes
    python -m npsrcnn.kernels.conv2d_cpu --version v4 --shape 1 256 256 128 3 3 64 --padding same
    python -m npsrcnn.kernels.conv2d_dkernel_cpu --shape 128 33 33 128 3 3 64

Each op module provides ``VERSIONS``, ``supports(version, kernel_shape)`` and its module docstring
(one line per version); this file knows, per op, how to make a case, run a version and the reference,
and count the flops. Errors are relative to the output's scale (float32 rounding grows with it).
"""
import argparse
import time

import numpy as np

from npsrcnn import reference

# SRCNN's layers at 512x512 (N, H, W, C_in, kh, kw, C_out): 9-1-5/64-32, 9-5-5/64-32, 9-3-5/128-64
SRCNN_LAYERS = [(1, 512, 512, 1, 9, 9, 64), (1, 504, 504, 64, 1, 1, 32), (1, 504, 504, 32, 5, 5, 1),
                (1, 504, 504, 64, 5, 5, 32), (1, 512, 512, 1, 9, 9, 128), (1, 504, 504, 128, 3, 3, 64),
                (1, 504, 504, 64, 5, 5, 1)]


def make_case(shape, padding="same", seed=0):
    """Inputs in [0, 1], Glorot-scaled weights and a unit-normal output gradient, so forward outputs
    are of order 1."""
    n, h, w, cin, kh, kw, cout = shape
    rng = np.random.default_rng(seed)
    x = rng.random((n, h, w, cin), dtype=np.float32)
    kernel = (rng.normal(size=(kh, kw, cin, cout)) / np.sqrt(kh * kw * cin)).astype(np.float32)
    bias = rng.normal(0, 0.1, cout).astype(np.float32)
    case = {"x": x, "kernel": kernel, "bias": bias, "padding": padding}
    case["dout"] = rng.normal(size=_forward_reference(case, np.float32).shape).astype(np.float32)
    return case


def _forward_reference(case, dtype=np.float64):
    pad = case["padding"]
    x, kernel = case["x"].astype(dtype), case["kernel"].astype(dtype)
    if pad == "full":
        kh, kw = kernel.shape[:2]
        x, pad = np.pad(x, ((0, 0), (kh - 1, kh - 1), (kw - 1, kw - 1), (0, 0))), "valid"
    return reference.conv2d(x, kernel, case["bias"].astype(dtype), pad)


def _backward_reference(case, dtype=np.float64):
    return reference.conv2d_backward(case["x"].astype(dtype), case["kernel"].astype(dtype),
                                     case["dout"].astype(dtype), case["padding"])


def _conv_flops(case):
    kh, kw, cin, _ = case["kernel"].shape
    return 2 * case["dout"].size * kh * kw * cin


# op: (run one version, float64/float32 reference, flops); paddings each op takes
OPS = {
    "conv2d": (lambda module, v, c: module.conv2d(c["x"], c["kernel"], c["bias"], c["padding"], False, v),
               _forward_reference, _conv_flops),
    "conv2d_dinput": (lambda module, v, c: reference.pad_backward(module.conv2d_dinput(c["dout"], c["kernel"], v),
                                                                  *c["kernel"].shape[:2], c["padding"]),
                      lambda c, dtype=np.float64: _backward_reference(c, dtype)[0], _conv_flops),
    "conv2d_dkernel": (lambda module, v, c: module.conv2d_dkernel(c["x"], c["dout"], *c["kernel"].shape[:2],
                                                                  c["padding"], v),
                       lambda c, dtype=np.float64: _backward_reference(c, dtype)[1], _conv_flops),
}


def relative_error(got, expected):
    """max |got - expected| / max(1, max |expected|): float32 rounding grows with the values' scale."""
    return float(np.abs(got - expected).max() / max(1.0, float(np.abs(expected).max())))


def check(module, op, version, case, tolerance):
    """Run one version on one case against the float64 reference; AssertionError above ``tolerance``."""
    run, ref, _ = OPS[op]
    got, expected = run(module, version, case), ref(case)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    err = relative_error(got, expected)
    assert err <= tolerance, f"{op} {version} {case['kernel'].shape} {case['padding']}: error {err:.1e} > {tolerance:.0e}"
    return err


def best_ms(fn, repeat):
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * min(times)


def main(module, op):
    parser = argparse.ArgumentParser(description=module.__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="list the versions and stop")
    parser.add_argument("--version", nargs="+", help="versions to run (default: all that apply)")
    parser.add_argument("--shape", type=int, nargs=7, action="append", metavar=("N", "H", "W", "CIN", "KH", "KW", "COUT"))
    parser.add_argument("--padding", default="same", choices=["valid", "same", "replicate", "full"])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.list:
        print(module.__doc__)
        return
    run, ref, flops = OPS[op]
    print(f"{'shape (N H W Cin kh kw Cout)':30} {'version':8} {'ms':>9} {'GFLOP/s':>8} {'x reference':>11} {'error':>8}")
    for shape in args.shape or SRCNN_LAYERS:
        case = make_case(tuple(shape), args.padding)
        expected = ref(case, np.float32)
        ref_ms = best_ms(lambda: ref(case, np.float32), 1)
        for version in args.version or list(module.VERSIONS):
            if not module.supports(version, case["kernel"].shape):
                continue
            out = run(module, version, case)
            ms = best_ms(lambda: run(module, version, case), args.repeat)
            print(f"{' '.join(map(str, shape)):30} {version:8} {ms:9.1f} {flops(case) / ms / 1e6:8.1f} "
                  f"{ref_ms / ms:11.1f} {relative_error(out, expected):8.1e}")
