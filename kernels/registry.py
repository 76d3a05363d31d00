"""Which kernel version each backend uses, per op.

A backend's layer function maps ``(x (N, H, W, C_in), layer) -> (N, H', W', C_out)``, padding included.
The ``numpy`` backend is the oracle (``npsrcnn.reference``); ``cpu`` runs the njit kernels here;
``cuda`` is reserved for numba.cuda kernels. Kernel modules are imported on first use, so the numpy
backend never compiles anything.
"""
import numpy as np

from npsrcnn import reference

CPU_VERSIONS = {"conv2d": "v1", "relu": "v1"}


def _numpy_layer(x, layer):
    y = reference.conv2d(x, layer.kernel.astype(x.dtype), layer.bias.astype(x.dtype), layer.padding)
    return reference.relu(y) if layer.activation == "relu" else y


def _cpu_layer(x, layer):
    from npsrcnn.kernels import conv2d_cpu, relu_cpu

    kh, kw = layer.kernel.shape[:2]
    xp = np.ascontiguousarray(reference.pad(x, kh, kw, layer.padding))
    y = conv2d_cpu.conv2d_valid(xp, layer.kernel.astype(x.dtype), layer.bias.astype(x.dtype),
                                CPU_VERSIONS["conv2d"])
    if layer.activation == "relu":
        relu_cpu.VERSIONS[CPU_VERSIONS["relu"]](y)
    return y


LAYER_FORWARD = {"numpy": _numpy_layer, "cpu": _cpu_layer}
