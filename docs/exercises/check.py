"""The checkers of ``exercises.py``: each runs one exercise on seeded random inputs against the NumPy
oracle (``npsrcnn.reference``) or the library, and where an oracle could share a mistake, against a
property too (finite differences, the adjoint identity). A wrong answer raises ``AssertionError``
saying what differs.

    python docs/exercises/check.py [N ...] [--solutions]

exits 1 if any exercise fails. ``tests/test_exercises.py`` runs every checker on its solution (it
must pass) and on its placeholder (it must fail).
"""

import argparse
import importlib.util
import sys
from pathlib import Path

import numpy as np
from numba import config

from npsrcnn import reference
from npsrcnn.metrics import psnr
from npsrcnn.model import SRCNN, ConvLayer
from npsrcnn.tiling import input_window
from npsrcnn.train import Adam

HERE = Path(__file__).resolve().parent
SOURCES = {"exercises": HERE / "exercises.py", "solutions": HERE / "solutions" / "solutions.py"}


def load(which="exercises"):
    """The exercises module (yours) or the solutions, loaded from its file."""
    spec = importlib.util.spec_from_file_location(f"srcnn_{which}", SOURCES[which])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _close(what, got, want, tol=1e-9):
    got = np.asarray(got)
    assert got.shape == np.shape(want), f"{what}: shape {got.shape}, expected {np.shape(want)}"
    err = float(np.max(np.abs(got - want))) if got.size else 0.0
    assert err <= tol * max(1.0, float(np.max(np.abs(want)))), f"{what}: off by up to {err:.3g}"


def _rng(n):
    return np.random.default_rng(1000 + n)


def check_ex1(fn):
    rng = _rng(1)
    x, kernel, bias = rng.normal(size=(2, 5, 6, 4)), rng.normal(size=(1, 1, 4, 3)), rng.normal(size=3)
    _close("1x1 convolution", fn(x, kernel, bias), reference.conv2d(x, kernel, bias))


def check_ex2(fn):
    rng = _rng(2)
    for kh, kw in ((3, 3), (2, 4), (1, 1)):
        x, kernel = rng.normal(size=(2, 7, 6, 3)), rng.normal(size=(kh, kw, 3, 5))
        cols = np.asarray(fn(x, kh, kw))
        n_rows = 2 * (7 - kh + 1) * (6 - kw + 1)
        assert cols.shape == (n_rows, kh * kw * 3), f"{kh}x{kw} windows: shape {cols.shape}"
        want = reference.conv2d(x, kernel, np.zeros(5)).reshape(n_rows, 5)
        _close(f"im2col({kh}x{kw}) @ kernel", cols @ kernel.reshape(-1, 5), want)


def check_ex3(fn):
    rng = _rng(3)
    for padding in reference.PADDINGS:
        for kh, kw in ((3, 3), (4, 2), (5, 1)):
            x, kernel, bias = rng.normal(size=(1, 6, 7, 2)), rng.normal(size=(kh, kw, 2, 3)), rng.normal(size=3)
            want = reference.conv2d(x, kernel, bias, padding)
            _close(f"{padding} {kh}x{kw} convolution", fn(x, kernel, bias, padding), want)


def check_ex4(fn):
    rng = _rng(4)
    pred, target = rng.normal(size=(2, 3, 3, 1)), rng.normal(size=(2, 3, 3, 1))
    loss, grad = fn(pred, target)
    want_loss, want_grad = reference.mse(pred, target)
    _close("loss", loss, want_loss)
    _close("gradient", grad, want_grad)
    step = 1e-6  # and the gradient is the loss's slope, element by element
    for index in [(0, 0, 0, 0), (1, 2, 1, 0)]:
        bumped = pred.copy()
        bumped[index] += step
        slope = (fn(bumped, target)[0] - loss) / step
        _close(f"slope at {index}", slope, grad[index], tol=1e-4)


def check_ex5(fn):
    rng = _rng(5)
    x, kernel = rng.normal(size=(2, 6, 5, 3)), rng.normal(size=(3, 2, 3, 4))
    dout = rng.normal(size=(2, 4, 4, 4))
    got = fn(x, kernel, dout)
    for name, g, want in zip(("dx", "dkernel", "dbias"), got, reference.conv2d_backward(x, kernel, dout)):
        _close(name, g, want)

    # finite differences of L = sum(conv(x) * dout), which has exactly these gradients
    def loss(x, kernel):
        return float(np.sum(reference.conv2d(x, kernel, np.zeros(4)) * dout))

    step = 1e-6
    for name, array, grad in (("dx", x, got[0]), ("dkernel", kernel, got[1])):
        index = tuple(int(rng.integers(s)) for s in array.shape)
        bumped = array.copy()
        bumped[index] += step
        slope = (loss(*((bumped, kernel) if name == "dx" else (x, bumped))) - loss(x, kernel)) / step
        _close(f"{name} slope at {index}", slope, grad[index], tol=1e-4)


def check_ex6(fn):
    rng = _rng(6)
    for top, bottom, left, right in ((1, 1, 1, 1), (4, 4, 2, 2), (2, 3, 0, 1)):
        x = rng.normal(size=(2, 5, 6, 3))
        g = rng.normal(size=(2, 5 + top + bottom, 6 + left + right, 3))
        got = fn(g, top, bottom, left, right)
        border = reference.Border(top, bottom, left, right, replicate=True)
        _close(f"pads {top, bottom, left, right}", got, reference.pad_backward(g, 0, 0, border))
        padded = reference.pad(x, 0, 0, border)
        _close("<pad(x), g> - <x, pad_backward(g)>", np.sum(padded * g) - np.sum(x * got), 0.0, tol=1e-9 * g.size)


def check_ex7(fn):
    rng = _rng(7)
    w, rate = rng.normal(size=(3, 4)), 0.01
    optimizer = Adam([rate])
    want = [w.copy()]
    m, v = np.zeros_like(w), np.zeros_like(w)
    for t in (1, 2, 3):
        g = rng.normal(size=w.shape)
        optimizer.step(want, [g])
        w, m, v = fn(w, g, m, v, t, rate)
        _close(f"weights after step {t}", w, want[0])


def check_ex8(fn):
    if not config.DISABLE_JIT:
        assert getattr(fn, "targetoptions", {}).get("parallel"), "ex8_bias_relu must be @njit(parallel=True)"
    rng = _rng(8)
    out, bias = rng.normal(size=(37, 5)).astype(np.float32), rng.normal(size=5).astype(np.float32)
    want = np.maximum(out + bias, 0)
    fn(out, bias)
    _close("out after bias and ReLU", out, want, tol=1e-6)


def check_ex9(fn):
    rng = _rng(9)
    for _ in range(40):
        sizes = [int(k) for k in rng.choice([1, 3, 5, 9], size=3)]
        paddings = [str(p) for p in rng.choice(["valid", "same"], size=3)]
        model = SRCNN([ConvLayer(np.zeros((k, k, 1, 1)), np.zeros(1), p) for k, p in zip(sizes, paddings)])
        n = int(rng.integers(8, 40))
        start = int(rng.integers(0, n))
        stop = int(rng.integers(start + 1, n + 1))
        rows, _ = input_window(model, slice(start, stop), slice(0, 1), (n, 1))
        got = tuple(int(r) for r in fn(list(zip(sizes, paddings)), start, stop, n))
        assert got == (rows.start, rows.stop), (
            f"layers {list(zip(sizes, paddings))}, output rows [{start}, {stop}) of {n}: "
            f"got {got}, expected ({rows.start}, {rows.stop})"
        )


def check_ex10(fn):
    rng = _rng(10)
    truth = rng.integers(0, 256, (20, 18, 3), dtype=np.uint8)
    output = np.clip(truth + rng.integers(-9, 10, truth.shape), 0, 255).astype(np.uint8)
    for shave in (0, 2, 3):
        want = psnr(truth, output, crop_border=shave, y_channel=True)
        _close(f"PSNR, {shave} pixels shaved", fn(truth, output, shave), want, tol=1e-9)


CHECKS = {n: globals()[f"check_ex{n}"] for n in range(1, 11)}


def run(n, module):
    """Exercise ``n`` of ``module``: None if it passes, else what is wrong."""
    fn = getattr(module, next(name for name in dir(module) if name.startswith(f"ex{n}_")))
    try:
        CHECKS[n](fn)
    except AssertionError as e:
        return str(e) or "wrong"
    return None


def main(argv=None):
    parser = argparse.ArgumentParser(description="check the SRCNN exercises against the oracle")
    parser.add_argument("numbers", nargs="*", type=int, default=sorted(CHECKS))
    parser.add_argument("--solutions", action="store_true", help="check the solutions instead")
    args = parser.parse_args(argv)
    module = load("solutions" if args.solutions else "exercises")
    failed = 0
    for n in args.numbers:
        problem = run(n, module)
        print(f"ex{n}: " + ("passes" if problem is None else f"FAILS: {problem}"))
        failed += problem is not None
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
