"""The cpu backend: the njit kernels, each op's version picked by layer shape (``kernels.versions``)."""

import numpy as np

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


def layer_forward(x, layer, border=None):
    threads.keep_freed_memory()
    padding = layer.padding if border is None else border
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
