"""ReLU and its backward on the GPU (numba.cuda), in place, one thread per element. The forward is
also fused into every convolution version; this one is for activations computed elsewhere.

Versions:
    v1  forward: ``max(x, 0)``
    v1 backward: zero ``dout`` wherever the forward's output ``y`` is not positive
"""

import sys

from numba import cuda, float32

from npsrcnn.kernels.cuda_support import as_device, blocks, where_given


def _relu_inplace_v1(x):
    i = cuda.grid(1)
    if i < x.size and x[i] < 0:
        x[i] = float32(0)


def _relu_backward_inplace_v1(y, dout):
    i = cuda.grid(1)
    if i < dout.size and y[i] <= 0:
        dout[i] = float32(0)


relu_inplace_v1 = cuda.jit(_relu_inplace_v1)
relu_backward_inplace_v1 = cuda.jit(_relu_backward_inplace_v1)


def _run_v1(x):
    relu_inplace_v1[blocks(x.size, 256), 256](x.reshape(x.size))
    return x


def _run_backward_v1(y, dout):
    relu_backward_inplace_v1[blocks(dout.size, 256), 256](y.reshape(y.size), dout.reshape(dout.size))
    return dout


VERSIONS = {"v1": (_run_v1, lambda kh, kw, cin, cout: True)}
BACKWARD_VERSIONS = {"v1": (_run_backward_v1, lambda kh, kw, cin, cout: True)}
TARGET = "cuda"


def relu(x, version="v1"):
    """Negative values zeroed: in place for a device array, into a copy for a host one."""
    return where_given(VERSIONS[version][0](as_device(x)), x)


def relu_backward(y, dout, version="v1"):
    """``dout`` zeroed where ``y`` (same shape) is not positive: in place for a device ``dout``, into a
    copy for a host one."""
    if y.shape != dout.shape:
        raise ValueError(f"ReLU output {y.shape} and gradient {dout.shape} differ in shape")
    return where_given(BACKWARD_VERSIONS[version][0](as_device(y), as_device(dout)), dout)


if __name__ == "__main__":
    from npsrcnn.kernels import harness

    harness.main(sys.modules[__name__], "relu", "relu_backward")
