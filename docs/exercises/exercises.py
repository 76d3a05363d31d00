"""SRCNN from the inside, in ten exercises: fill in each function, then check it against the NumPy
oracle (``npsrcnn.reference``) and the library:

    python docs/exercises/check.py 3          # one exercise
    python docs/exercises/check.py            # all of them
    pytest docs/exercises -k ex3              # the same, through pytest

Each placeholder returns zeros of the right shape, so the checker runs and tells you what is wrong.
Arrays are NHWC and kernels ``(kh, kw, C_in, C_out)``, as everywhere in npsrcnn. Convolution means
cross-correlation (no kernel flip). The hints say which part of the walkthrough
(``docs/how-srcnn-works.md``) or the code answers the question; the solutions are in
``solutions/solutions.py``: try first.
"""

import numpy as np
from numba import njit, prange


def ex1_conv1x1(x, kernel, bias):
    """A 1×1 convolution is one matrix product: ``(N, H, W, C_in)``, ``(1, 1, C_in, C_out)``,
    ``(C_out,)`` -> ``(N, H, W, C_out)``.

    Hint: every pixel is a row of C_in numbers; the kernel is a ``(C_in, C_out)`` matrix. ``reshape``
    twice and use ``@``. (SRCNN's middle layer of 9-1-5 is exactly this: the walkthrough's
    "non-linear mapping".)
    """
    return np.zeros(x.shape[:3] + (kernel.shape[3],), x.dtype)


def ex2_im2col(x, kh, kw):
    """Every kh×kw window as a row: ``(N, H, W, C) -> (N·H'·W', kh·kw·C)`` with H' = H-kh+1,
    W' = W-kw+1, rows in NHW order, each row ordered (i, j, c) like ``kernel.reshape(-1, C_out)``.

    Hint: then ``im2col(x) @ kernel.reshape(-1, C_out)`` is the valid convolution. Loop over the kh·kw
    taps, not over pixels: tap (i, j) contributes the shifted slice ``x[:, i:i+H', j:j+W', :]``.
    (``kernels/conv2d_cpu.py`` v2 does this band by band.)
    """
    n, h, w, c = x.shape
    return np.zeros((n * (h - kh + 1) * (w - kw + 1), kh * kw * c), x.dtype)


def ex3_conv2d(x, kernel, bias, padding):
    """The convolution for any padding: ``(N, H, W, C_in) -> (N, H', W', C_out)``, ``padding`` one of
    ``valid`` (H' = H-kh+1), ``same`` (zeros around, H' = H) and ``replicate`` (the edge pixel
    repeated, H' = H).

    Hint: pad first, then reuse ex2. An even kernel cannot be centred: put ``(k-1)//2`` rows before and
    the rest after, as TensorFlow and MATLAB do. ``np.pad`` has ``mode="edge"``.
    """
    n, h, w, _ = x.shape
    kh, kw, _, cout = kernel.shape
    if padding == "valid":
        h, w = h - kh + 1, w - kw + 1
    return np.zeros((n, h, w, cout), x.dtype)


def ex4_mse(pred, target):
    """The training loss and its gradient: ``-> (loss, dloss/dpred)``, the loss being the mean of the
    squared differences over every element (Keras' ``mse``), the gradient shaped like ``pred``.

    Hint: d/dp of mean((p - t)²) for one element p among M is 2 (p - t) / M.
    """
    return 0.0, np.zeros_like(pred)


def ex5_conv2d_backward(x, kernel, dout):
    """Gradients of the valid convolution ``out = conv(x, kernel) + bias`` given ``dout = dL/dout``
    ``(N, H', W', C_out)`` -> ``(dx (N, H, W, C_in), dkernel (kh, kw, C_in, C_out), dbias (C_out,))``.

    Hint: tap (i, j) computed ``window_ij @ kernel[i, j]`` with ``window_ij = x[:, i:i+H', j:j+W', :]``.
    A matrix product ``Y = A @ B`` sends back ``dA = dY @ Bᵀ`` and ``dB = Aᵀ @ dY``: do that per tap,
    and add each window's gradient into the right place of dx. The bias was added to every pixel.
    """
    return np.zeros_like(x), np.zeros_like(kernel), np.zeros(kernel.shape[3], x.dtype)


def ex6_pad_backward_replicate(dpadded, top, bottom, left, right):
    """The adjoint of replicate padding: ``(N, H+top+bottom, W+left+right, C) -> (N, H, W, C)``.

    Hint: replicate padding copied each edge pixel outward, so every copy's gradient flows back into
    the pixel it was copied from. Fold rows first, then columns (the corners then come right by
    themselves). The checker also tests the defining property: ``<pad(x), g> = <x, pad_backward(g)>``.
    """
    n, hp, wp, c = dpadded.shape
    return np.zeros((n, hp - top - bottom, wp - left - right, c), dpadded.dtype)


def ex7_adam_step(w, g, m, v, t, rate, beta1=0.9, beta2=0.999, eps=1e-7):
    """One Adam step in Keras' form for step number ``t`` (1, 2, ...): returns the new ``(w, m, v)``.

        m ← m + (g - m)(1 - β1)      v ← v + (g² - v)(1 - β2)
        w ← w - rate · sqrt(1 - β2ᵗ) / (1 - β1ᵗ) · m / (sqrt(v) + ε)

    Hint: the bias corrections are folded into the rate, not applied to m and v (``npsrcnn/train.py``).
    """
    return w.copy(), m.copy(), v.copy()


@njit(parallel=True)
def ex8_bias_relu(out, bias):
    """A numba kernel: ``out (P, C)`` += bias, then ReLU, in place, rows shared among numba's threads.

    This is the epilogue every GEMM-based convolution in ``kernels/conv2d_cpu.py`` runs after its
    matrix product. Hint: ``for p in prange(out.shape[0])`` splits the rows among the threads; the
    inner loop over C stays serial so that LLVM vectorises it. Keep ``@njit(parallel=True)``: the
    checker runs it compiled, and with ``NUMBA_DISABLE_JIT=1`` you can step through it in a debugger.
    """
    for p in prange(out.shape[0]):  # noqa: B007  (your loop body goes here)
        pass


def ex9_input_rows(layers, out_start, out_stop, n):
    """Which rows ``(start, stop)`` of an ``n``-row plane the output rows ``[out_start, out_stop)``
    depend on, for ``layers`` a list of ``(kernel size, padding)`` from first to last, padding
    ``valid`` or ``same``. Tiled prediction reads exactly these rows for one tile.

    As ``predict`` runs the network, the output has ``n`` rows too: the plane is first extended by
    repeating its edge rows as many times as the valid layers will eat. So the last layer's output map
    spans rows ``[0, n)``, and each valid layer's input map spans its half-kernel more on each side.

    Hint: walk the layers from the last to the first. Each widens the rows needed by its half-kernel,
    ``(k-1)//2`` before and the rest after, but never beyond its input map's span (a same layer reads
    zeros there, not rows). Clip to ``[0, n)`` at the end: rows before 0 are copies of row 0.
    (``npsrcnn/tiling.py``'s ``_axis_plan`` also tracks the padding; you need only the rows.)
    """
    return 0, 0


def ex10_psnr_y(truth, output, shave):
    """The paper's figure: PSNR in dB of two uint8 RGB images ``(H, W, 3)``, on the luma of MATLAB's
    ``rgb2ycbcr`` (unrounded), after removing ``shave`` pixels on every side.

    Hint: Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255 for R, G, B in [0, 255];
    PSNR = 10 log10(255² / MSE).
    """
    return 0.0
