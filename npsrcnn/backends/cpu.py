"""The cpu backend: the njit kernels, each op's version picked by layer shape (``kernels.versions``).

numba compiles a kernel the first time it runs on a machine and caches it (``__pycache__`` beside the
kernel files, or numba's user cache folder where the package cannot be written); ``npsrcnn warmup``
does it ahead of time. The command line says on stderr when it starts compiling and, at the end, how
many kernels in how long (``NPSRCNN_QUIET=1`` silences it).
"""

import os
import sys
import time

import numpy as np
from numba.core import event

from npsrcnn.kernels import (
    conv2d_cpu,
    conv2d_dbias_cpu,
    conv2d_dinput_cpu,
    conv2d_dkernel_cpu,
    mse_cpu,
    relu_cpu,
    threads,
)
from npsrcnn.kernels.versions import pick


class _CompileNotice(event.Listener):
    """Says on stderr when numba starts compiling the kernels, and how many it compiled in how long
    (the compiling alone: a training run computes between its kernels' first calls)."""

    def __init__(self, stream):
        self.stream, self.announced, self.depth, self.compiled, self.seconds = stream, False, 0, 0, 0.0

    def on_start(self, ev):
        if not self.announced:
            self.announced = True
            print("npsrcnn: compiling the cpu kernels for this machine, once; later runs load them", file=self.stream)
        if self.depth == 0:
            self.began = time.monotonic()
        self.depth += 1

    def on_end(self, ev):
        self.depth -= 1
        if self.depth == 0:  # a kernel, with the helpers it pulled in
            self.compiled += 1
            self.seconds += time.monotonic() - self.began

    def close(self):
        if self.announced:
            print(f"npsrcnn: compiled {self.compiled} kernels in {self.seconds:.0f} s", file=self.stream)
            self.announced, self.compiled, self.seconds = False, 0, 0.0


_notice = None


def announce_compiling(stream=None):
    """From now on, say when kernels compile (once per process; ``finish_notice`` adds the count)."""
    global _notice
    if _notice is None and os.environ.get("NPSRCNN_QUIET") != "1":
        _notice = _CompileNotice(stream or sys.stderr)
        event.register("numba:compile", _notice)
    return _notice


def finish_notice():
    """How many kernels compiled since the notice began, if any did."""
    if _notice is not None:
        _notice.close()


def layer_forward(x, layer, padding):
    threads.keep_freed_memory()
    return conv2d_cpu.conv2d(
        x, layer.kernel, layer.bias, padding, layer.activation == "relu", pick("cpu", "conv2d", layer.kernel.shape)
    )


def layer_backward(x, layer, dout, need_dx=True, gate=None):
    shape = layer.kernel.shape
    dout = np.ascontiguousarray(dout)
    dkernel = conv2d_dkernel_cpu.conv2d_dkernel(
        x, dout, *shape[:2], layer.padding, pick("cpu", "conv2d_dkernel", shape)
    )
    dbias = conv2d_dbias_cpu.conv2d_dbias(dout, pick("cpu", "conv2d_dbias", shape))
    dx = None
    if need_dx:
        dx = conv2d_dinput_cpu.conv2d_dx(dout, layer.kernel, layer.padding, pick("cpu", "conv2d_dinput", shape), gate)
    return dx, dkernel, dbias


def relu_backward(y, dout):
    return relu_cpu.relu_backward(y, np.ascontiguousarray(dout), pick("cpu", "relu_backward"))


def mse(pred, target):
    return mse_cpu.mse(pred, target, pick("cpu", "mse"))


to_host = np.asarray
