"""The cuda backend: the numba.cuda kernels in float32. Activations and gradients stay on the device
between layers; arrays cross to the host once per forward pass and once per gradient, and weights
are uploaded once (again only when the optimizer changes them)."""

from npsrcnn.kernels import conv2d_cuda, conv2d_dbias_cuda, conv2d_dinput_cuda, conv2d_dkernel_cuda, mse_cuda, relu_cuda
from npsrcnn.kernels.cuda_support import as_device, cached_on_device, to_host
from npsrcnn.kernels.versions import pick


def layer_forward(x, layer, padding):
    return conv2d_cuda.conv2d_device(
        as_device(x),
        cached_on_device(layer.kernel),
        cached_on_device(layer.bias),
        padding,
        layer.activation == "relu",
        pick("cuda", "conv2d", layer.kernel.shape),
    )


def layer_backward(x, layer, dout, need_dx=True, gate=None):
    x, dout = as_device(x), as_device(dout)
    shape = layer.kernel.shape
    dkernel = conv2d_dkernel_cuda.conv2d_dkernel(
        x, dout, *shape[:2], layer.padding, pick("cuda", "conv2d_dkernel", shape)
    )
    dbias = conv2d_dbias_cuda.conv2d_dbias(dout, pick("cuda", "conv2d_dbias", shape))
    dx = None
    if need_dx:
        kernel = cached_on_device(layer.kernel)
        kernel_rotated = cached_on_device(layer.kernel, "rotated", conv2d_dinput_cuda.rotated)
        dx = conv2d_dinput_cuda.conv2d_dx_device(
            dout, kernel, kernel_rotated, layer.padding, pick("cuda", "conv2d_dinput", shape)
        )
        if gate is not None:  # not fused on the GPU yet: a pass of the ReLU backward kernel
            dx = relu_backward(gate, dx)
    return dx, dkernel, dbias


def relu_backward(y, dout):
    return relu_cuda.relu_backward(as_device(y), as_device(dout), pick("cuda", "relu_backward"))


def mse(pred, target):
    return mse_cuda.mse(as_device(pred), as_device(target), pick("cuda", "mse"))


__all__ = ["layer_forward", "layer_backward", "relu_backward", "mse", "to_host"]
