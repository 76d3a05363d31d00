"""Which version of each op a target runs, by layer shape: one table per target, each op a rule
``(kh, kw, C_in, C_out) -> version``. The backends (``npsrcnn.backends``) ask ``pick``; the kernels
that run another op (an input gradient computed by the forward) ask it too.

The cpu rules come from the harness on this project's 2-core machine
(``python -m npsrcnn.kernels.conv2d_cpu``; figures in benchmarks/RESULTS.md). The cuda rules are
provisional: chosen from the kernels' designs, not yet from timings on a GPU (``benchmarks/gpu.py``
measures them).
"""

from contextlib import contextmanager


def _cpu_conv2d(kh, kw, cin, cout):
    if cout <= 2:
        return "v10"  # reconstruction layer: channel GEMM then shifted sums, a band of rows at a time
    if kh == kw == 1:
        return "v5"  # a plain matrix product
    if cin <= 4:
        return "v8"  # first layer: transposed im2col GEMM, NHWC out
    if kh == kw and 3 <= kh <= 7 and cin >= 8:
        return "v9"  # Winograd F(m x m, r x r), alpha = m + r - 1 = 8: 1.4-1.7x v4's speed
    return "v2"


def _cpu_conv2d_dkernel(kh, kw, cin, cout):
    if kh == kw == 1:
        return "v8"  # x^T @ dout in cache-sized bands
    if cout == 1:
        return "v7"  # a GEMV in disguise: direct sums, no im2col, float32 row sums
    if cin <= 4:
        return "v5"  # first layer: transposed im2col
    if kh == kw == 5 and cin >= 8 and cout >= 8:
        return "v9"  # v3 with alpha = 8 and the forward v9's input transform: ~10% faster on 5x5
    if kh == kw and 3 <= kh <= 7 and cin >= 8 and cout >= 8:
        return "v3"  # Winograd F(r x r, m x m): dout's m x m tiles as filters (v9's alpha = 8 wastes 3x3's 25x25 maps)
    return "v2"


def _cuda_conv2d(kh, kw, cin, cout):
    if cout <= 4:  # the implicit GEMM fills 64-channel tiles; few output channels waste them
        return "v2" if kh <= 9 and kw <= 9 else "v1"
    return "v3"


def _always(version):
    return lambda kh, kw, cin, cout: version


TABLES = {
    "cpu": {
        "conv2d": _cpu_conv2d,
        "conv2d_dkernel": _cpu_conv2d_dkernel,
        "conv2d_dinput": _always("v2"),  # the forward's choice on the rotated kernel
        "conv2d_dbias": _always("v2"),
        "relu_backward": _always("v1"),
        "mse": _always("v1"),
    },
    "cuda": {
        "conv2d": _cuda_conv2d,
        "conv2d_dkernel": _always("v2"),
        "conv2d_dinput": _always("v2"),
        "conv2d_dbias": _always("v1"),
        "relu_backward": _always("v1"),
        "mse": _always("v1"),
    },
}


def pick(target, op, kernel_shape=(1, 1, 1, 1)):
    """The version of ``op`` that ``target`` runs for a layer whose kernel is ``(kh, kw, C_in, C_out)``
    (ops without a kernel, such as the MSE, take the default)."""
    return TABLES[target][op](*kernel_shape)


@contextmanager
def forced(target, op, version):
    """Within the block, ``target`` runs ``version`` of ``op`` for every shape (benchmarks race one
    version through whole networks)."""
    rule = TABLES[target][op]
    TABLES[target][op] = _always(version)
    try:
        yield
    finally:
        TABLES[target][op] = rule
