"""ReLU and its backward on the GPU (numba.cuda), in place, one thread per element. The forward is
also fused into every convolution version; this one is for activations computed elsewhere.

Versions:
    v1  forward: ``max(x, 0)``
    v1 backward: zero ``dout`` wherever the forward's output ``y`` is not positive
"""
from numba import cuda, float32

from npsrcnn.kernels.cuda_support import blocks


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


def relu_inplace(x):
    """Device array, any shape; returns it."""
    relu_inplace_v1[blocks(x.size, 256), 256](x.reshape(x.size))
    return x


def relu_backward_inplace(y, dout):
    """Device arrays of one shape; ``dout`` is masked and returned."""
    relu_backward_inplace_v1[blocks(dout.size, 256), 256](y.reshape(y.size), dout.reshape(dout.size))
    return dout


VERSIONS = {"v1": relu_inplace}
BACKWARD_VERSIONS = {"v1": relu_backward_inplace}
