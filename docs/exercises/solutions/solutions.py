"""Solutions to ``docs/exercises/exercises.py``. Each is the plainest correct answer, not the fastest;
the library's own versions are named in the exercises' hints."""

import numpy as np
from numba import njit, prange


def ex1_conv1x1(x, kernel, bias):
    n, h, w, cin = x.shape
    return (x.reshape(-1, cin) @ kernel.reshape(cin, -1) + bias).reshape(n, h, w, -1)


def ex2_im2col(x, kh, kw):
    n, h, w, c = x.shape
    ho, wo = h - kh + 1, w - kw + 1
    taps = [x[:, i : i + ho, j : j + wo, :] for i in range(kh) for j in range(kw)]
    return np.stack(taps, axis=3).reshape(n * ho * wo, kh * kw * c)


def ex3_conv2d(x, kernel, bias, padding):
    kh, kw, _, cout = kernel.shape
    if padding != "valid":
        rows, cols = ((kh - 1) // 2, kh - 1 - (kh - 1) // 2), ((kw - 1) // 2, kw - 1 - (kw - 1) // 2)
        x = np.pad(x, ((0, 0), rows, cols, (0, 0)), mode="edge" if padding == "replicate" else "constant")
    n, h, w, _ = x.shape
    return (ex2_im2col(x, kh, kw) @ kernel.reshape(-1, cout) + bias).reshape(n, h - kh + 1, w - kw + 1, cout)


def ex4_mse(pred, target):
    diff = pred - target
    return float(np.mean(diff**2)), 2 * diff / diff.size


def ex5_conv2d_backward(x, kernel, dout):
    kh, kw, cin, cout = kernel.shape
    ho, wo = dout.shape[1:3]
    dx, dkernel = np.zeros_like(x), np.zeros_like(kernel)
    for i in range(kh):
        for j in range(kw):
            window = x[:, i : i + ho, j : j + wo, :]
            dkernel[i, j] = window.reshape(-1, cin).T @ dout.reshape(-1, cout)
            dx[:, i : i + ho, j : j + wo, :] += dout @ kernel[i, j].T
    return dx, dkernel, dout.sum(axis=(0, 1, 2))


def ex6_pad_backward_replicate(dpadded, top, bottom, left, right):
    g = dpadded.copy()
    h, w = g.shape[1] - top - bottom, g.shape[2] - left - right
    g[:, top] += g[:, :top].sum(axis=1)
    g[:, top + h - 1] += g[:, top + h :].sum(axis=1)
    g[:, :, left] += g[:, :, :left].sum(axis=2)
    g[:, :, left + w - 1] += g[:, :, left + w :].sum(axis=2)
    return g[:, top : top + h, left : left + w]


def ex7_adam_step(w, g, m, v, t, rate, beta1=0.9, beta2=0.999, eps=1e-7):
    m = m + (g - m) * (1 - beta1)
    v = v + (g * g - v) * (1 - beta2)
    step = rate * np.sqrt(1 - beta2**t) / (1 - beta1**t)
    return w - step * m / (np.sqrt(v) + eps), m, v


@njit(parallel=True)
def ex8_bias_relu(out, bias):
    for p in prange(out.shape[0]):
        for c in range(out.shape[1]):
            out[p, c] = max(out[p, c] + bias[c], 0.0)


def ex9_input_rows(layers, out_start, out_stop, n):
    need, reach = (out_start, out_stop), (0, n)
    for k, padding in reversed(layers):
        before, after = (k - 1) // 2, k - 1 - (k - 1) // 2
        if padding == "valid":
            reach = (reach[0] - before, reach[1] + after)
        need = (max(need[0] - before, reach[0]), min(need[1] + after, reach[1]))
    return max(need[0], 0), min(need[1], n)


def ex10_psnr_y(truth, output, shave):
    weights = np.array([65.481, 128.553, 24.966]) / 255
    y_truth, y_output = (16 + img.astype(np.float64) @ weights for img in (truth, output))
    inner = (slice(shave, -shave), slice(shave, -shave)) if shave else (slice(None), slice(None))
    mse = np.mean((y_truth[inner] - y_output[inner]) ** 2)
    return float(10 * np.log10(255**2 / mse))
