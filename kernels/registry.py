"""Which kernel version each backend uses, per op and layer shape, behind one small interface.

A backend provides:
    layer_forward(x (N, H, W, C_in), layer)                    -> (N, H', W', C_out), activation applied
    layer_backward(x, layer, dout (N, H', W', C_out), need_dx, gate)
                                                               -> (dx or None, dkernel, dbias), where
                                                                  gate (None, or shaped like x) zeroes
                                                                  dx where not positive: the ReLU
                                                                  backward of the layer below, fused
    relu_backward(y, dout)                                     -> dout masked where y <= 0 (may reuse dout)
    mse(pred, target)                                          -> (loss, dpred)
    to_host(array)                                             -> a NumPy array (the results leave the backend)
The ``numpy`` backend is the oracle (``npsrcnn.reference``); ``cpu`` runs the njit kernels here;
``cuda`` the numba.cuda kernels, float32, keeping activations and gradients on the device between
layers (arrays cross to the host once per forward pass and once per gradient). Kernel modules are
imported on first use, so the numpy backend never compiles anything.

The cpu choices below come from the harness on this project's 2-core machine
(``python -m npsrcnn.kernels.conv2d_cpu``; figures in benchmarks/RESULTS.md).
"""
import functools
import glob
from types import SimpleNamespace

import numpy as np

from npsrcnn import reference


def conv2d_version(kernel_shape):
    """The fastest forward version for a kernel ``(kh, kw, C_in, C_out)``."""
    kh, kw, cin, cout = kernel_shape
    if cout <= 2:
        return "v7"  # reconstruction layer: one BLAS call, then shifted sums
    if kh == kw == 1:
        return "v5"  # a plain matrix product
    if cin <= 4:
        return "v8"  # first layer: transposed im2col GEMM, NHWC out
    if kh == kw and 3 <= kh <= 7 and cin >= 8:
        return "v4"  # Winograd F(4x4, 3x3) / F(4x4, 5x5)
    return "v2"


def dkernel_version(kernel_shape):
    kh, kw, cin, cout = kernel_shape
    if kh == kw == 1:
        return "v8"  # x^T @ dout in cache-sized bands
    if cout == 1:
        return "v7"  # a GEMV in disguise: direct sums, no im2col, float32 row sums
    if cin <= 4:
        return "v5"  # first layer: transposed im2col
    if kh == kw and 3 <= kh <= 7 and cin >= 8 and cout >= 8:
        return "v3"  # Winograd F(r x r, 4x4)
    return "v2"


DINPUT_VERSION = "v2"  # the forward's choice on the rotated kernel


def simulated():
    """True when numba runs CUDA kernels in its simulator (``NUMBA_ENABLE_CUDASIM=1``)."""
    from numba import config

    return bool(config.ENABLE_CUDASIM)


@functools.lru_cache(maxsize=None)
def gpu_present():
    """True when numba can use a real CUDA GPU (never in the simulator). Without an NVIDIA device
    node it answers at once: importing ``numba.cuda`` costs most of a second of every start."""
    if simulated() or not glob.glob("/dev/nvidia[0-9]*"):
        return False
    try:
        from numba import cuda

        return bool(cuda.is_available())
    except Exception:  # no driver, or numba-cuda missing: no GPU as far as we are concerned
        return False


def cuda_conv2d_version(kernel_shape):
    """Provisional: chosen from the kernels' designs, not yet from timings on a GPU (none was lent so
    far; ``benchmarks/gpu.py`` measures them). The implicit GEMM fills 64-channel tiles; few output
    channels waste them."""
    kh, kw, cin, cout = kernel_shape
    if cout <= 4:
        return "v2" if kh <= 9 and kw <= 9 else "v1"
    return "v3"


CUDA_VERSIONS = {"conv2d_dinput": "v2", "conv2d_dkernel": "v2", "conv2d_dbias": "v1", "relu_backward": "v1",
                 "mse": "v1"}
SMALL_VERSIONS = {"conv2d_dbias": "v2", "relu_backward": "v1", "mse": "v1"}


def _numpy_layer_forward(x, layer):
    y = reference.conv2d(x, layer.kernel.astype(x.dtype), layer.bias.astype(x.dtype), layer.padding)
    return reference.relu(y) if layer.activation == "relu" else y


def _numpy_layer_backward(x, layer, dout, need_dx=True, gate=None):
    dx, dkernel, dbias = reference.conv2d_backward(x, layer.kernel.astype(x.dtype), dout, layer.padding)
    return (dx if gate is None else reference.relu_backward(gate, dx)), dkernel, dbias


def _cpu_layer_forward(x, layer):
    from npsrcnn.kernels import conv2d_cpu, threads

    threads.keep_freed_memory()
    return conv2d_cpu.conv2d(x, layer.kernel, layer.bias, layer.padding, layer.activation == "relu",
                             conv2d_version(layer.kernel.shape))


def _cpu_layer_backward(x, layer, dout, need_dx=True, gate=None):
    from npsrcnn.kernels import conv2d_dbias_cpu, conv2d_dinput_cpu, conv2d_dkernel_cpu

    kh, kw = layer.kernel.shape[:2]
    dout = np.ascontiguousarray(dout)
    dkernel = conv2d_dkernel_cpu.conv2d_dkernel(x, dout, kh, kw, layer.padding, dkernel_version(layer.kernel.shape))
    dbias = conv2d_dbias_cpu.conv2d_dbias(dout, SMALL_VERSIONS["conv2d_dbias"])
    dx = conv2d_dinput_cpu.conv2d_dx(dout, layer.kernel, layer.padding, DINPUT_VERSION, gate) if need_dx else None
    return dx, dkernel, dbias


def _cpu_relu_backward(y, dout):
    from npsrcnn.kernels import relu_cpu

    dout = np.ascontiguousarray(dout)
    relu_cpu.BACKWARD_VERSIONS[SMALL_VERSIONS["relu_backward"]](np.ascontiguousarray(y), dout)
    return dout


def _cpu_mse(pred, target):
    from npsrcnn.kernels import mse_cpu

    return mse_cpu.mse(pred, target, SMALL_VERSIONS["mse"])


def _cuda_layer_forward(x, layer):
    from npsrcnn.kernels import conv2d_cuda
    from npsrcnn.kernels.cuda_support import as_device, cached_on_device

    return conv2d_cuda.conv2d_device(as_device(x), cached_on_device(layer.kernel), cached_on_device(layer.bias),
                                     layer.padding, layer.activation == "relu",
                                     cuda_conv2d_version(layer.kernel.shape))


def _cuda_layer_backward(x, layer, dout, need_dx=True, gate=None):
    from npsrcnn.kernels import conv2d_dbias_cuda, conv2d_dinput_cuda, conv2d_dkernel_cuda
    from npsrcnn.kernels.cuda_support import as_device, cached_on_device

    x, dout = as_device(x), as_device(dout)
    kh, kw = layer.kernel.shape[:2]
    dkernel = conv2d_dkernel_cuda.conv2d_dkernel_device(x, dout, kh, kw, layer.padding,
                                                        CUDA_VERSIONS["conv2d_dkernel"])
    dbias = conv2d_dbias_cuda.conv2d_dbias_device(dout, CUDA_VERSIONS["conv2d_dbias"])
    dx = None
    if need_dx:
        kernel = cached_on_device(layer.kernel)
        kernel_rotated = cached_on_device(layer.kernel, "rotated", conv2d_dinput_cuda.rotated)
        dx = conv2d_dinput_cuda.conv2d_dx_device(dout, kernel, kernel_rotated, layer.padding,
                                                 CUDA_VERSIONS["conv2d_dinput"])
        if gate is not None:  # not fused on the GPU yet: a pass of the ReLU backward kernel
            dx = _cuda_relu_backward(gate, dx)
    return dx, dkernel, dbias


def _cuda_relu_backward(y, dout):
    from npsrcnn.kernels import relu_cuda
    from npsrcnn.kernels.cuda_support import as_device

    return relu_cuda.BACKWARD_VERSIONS[CUDA_VERSIONS["relu_backward"]](as_device(y), as_device(dout))


def _cuda_mse(pred, target):
    from npsrcnn.kernels import mse_cuda
    from npsrcnn.kernels.cuda_support import as_device

    return mse_cuda.mse_device(as_device(pred), target, CUDA_VERSIONS["mse"])


def _cuda_to_host(a):
    from npsrcnn.kernels.cuda_support import to_host

    return to_host(a)


BACKENDS = {
    "numpy": SimpleNamespace(layer_forward=_numpy_layer_forward, layer_backward=_numpy_layer_backward,
                             relu_backward=reference.relu_backward, mse=reference.mse, to_host=np.asarray),
    "cpu": SimpleNamespace(layer_forward=_cpu_layer_forward, layer_backward=_cpu_layer_backward,
                           relu_backward=_cpu_relu_backward, mse=_cpu_mse, to_host=np.asarray),
    "cuda": SimpleNamespace(layer_forward=_cuda_layer_forward, layer_backward=_cuda_layer_backward,
                            relu_backward=_cuda_relu_backward, mse=_cuda_mse, to_host=_cuda_to_host),
}
