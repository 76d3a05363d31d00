"""Which kernel version each backend uses, per op, behind one small interface per backend.

A backend provides:
    layer_forward(x (N, H, W, C_in), layer)                 -> (N, H', W', C_out), activation applied
    layer_backward(x, layer, dout (N, H', W', C_out), need_dx) -> (dx or None, dkernel, dbias)
    relu_backward(y, dout)                                  -> dout masked where y <= 0 (may reuse dout)
    mse(pred, target)                                       -> (loss, dpred)
The ``numpy`` backend is the oracle (``npsrcnn.reference``); ``cpu`` runs the njit kernels here;
``cuda`` is reserved for numba.cuda kernels. Kernel modules are imported on first use, so the numpy
backend never compiles anything.
"""
from types import SimpleNamespace

import numpy as np

from npsrcnn import reference

CPU_VERSIONS = {"conv2d": "v1", "relu": "v1", "conv2d_dinput": "v1", "conv2d_dkernel": "v1",
                "conv2d_dbias": "v1", "relu_backward": "v1", "mse": "v1"}


def _numpy_layer_forward(x, layer):
    y = reference.conv2d(x, layer.kernel.astype(x.dtype), layer.bias.astype(x.dtype), layer.padding)
    return reference.relu(y) if layer.activation == "relu" else y


def _numpy_layer_backward(x, layer, dout, need_dx=True):
    return reference.conv2d_backward(x, layer.kernel.astype(x.dtype), dout, layer.padding)


def _cpu_layer_forward(x, layer):
    from npsrcnn.kernels import conv2d_cpu, relu_cpu

    kh, kw = layer.kernel.shape[:2]
    xp = np.ascontiguousarray(reference.pad(x, kh, kw, layer.padding))
    y = conv2d_cpu.conv2d_valid(xp, layer.kernel.astype(x.dtype), layer.bias.astype(x.dtype),
                                CPU_VERSIONS["conv2d"])
    if layer.activation == "relu":
        relu_cpu.VERSIONS[CPU_VERSIONS["relu"]](y)
    return y


def _cpu_layer_backward(x, layer, dout, need_dx=True):
    from npsrcnn.kernels import conv2d_dbias_cpu, conv2d_dinput_cpu, conv2d_dkernel_cpu

    kh, kw = layer.kernel.shape[:2]
    dout = np.ascontiguousarray(dout)
    xp = np.ascontiguousarray(reference.pad(x, kh, kw, layer.padding))
    dkernel = conv2d_dkernel_cpu.conv2d_dkernel(xp, dout, kh, kw, CPU_VERSIONS["conv2d_dkernel"])
    dbias = conv2d_dbias_cpu.conv2d_dbias(dout, CPU_VERSIONS["conv2d_dbias"])
    dx = None
    if need_dx:
        dxp = conv2d_dinput_cpu.conv2d_dinput(dout, layer.kernel.astype(dout.dtype), CPU_VERSIONS["conv2d_dinput"])
        dx = reference.pad_backward(dxp, kh, kw, layer.padding)
    return dx, dkernel, dbias


def _cpu_relu_backward(y, dout):
    from npsrcnn.kernels import relu_cpu

    dout = np.ascontiguousarray(dout)
    relu_cpu.BACKWARD_VERSIONS[CPU_VERSIONS["relu_backward"]](np.ascontiguousarray(y), dout)
    return dout


def _cpu_mse(pred, target):
    from npsrcnn.kernels import mse_cpu

    return mse_cpu.mse(pred, target, CPU_VERSIONS["mse"])


BACKENDS = {
    "numpy": SimpleNamespace(layer_forward=_numpy_layer_forward, layer_backward=_numpy_layer_backward,
                             relu_backward=reference.relu_backward, mse=reference.mse),
    "cpu": SimpleNamespace(layer_forward=_cpu_layer_forward, layer_backward=_cpu_layer_backward,
                           relu_backward=_cpu_relu_backward, mse=_cpu_mse),
}
