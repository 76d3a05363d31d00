"""Where SRCNN's layers run: one module per device, each behind the same small interface.

    layer_forward(x (N, H, W, C_in), layer, padding)       -> (N, H', W', C_out), activation applied;
                                                              ``padding``: the layer's own mode, or
                                                              the ``reference.Border`` the model
                                                              gives it (a tile pads only at the
                                                              image's edge)
    layer_backward(x, layer, dout (N, H', W', C_out), need_dx, gate)
                                                           -> (dx or None, dkernel, dbias), where
                                                              gate (None, or shaped like x) zeroes
                                                              dx where not positive: the ReLU
                                                              backward of the layer below, fused
    relu_backward(y, dout)                                 -> dout masked where y <= 0 (may reuse dout)
    mse(pred, target)                                      -> (loss, dpred)
    to_host(array)                                         -> a NumPy array (results leave the device)

``numpy`` is the oracle (``npsrcnn.reference``); ``cpu`` runs the njit kernels of ``npsrcnn.kernels``;
``cuda`` the numba.cuda ones, float32, keeping activations and gradients on the device between layers.
Which version of each kernel runs is ``npsrcnn.kernels.versions``' business. A backend's module is
imported when first asked for, so the numpy backend never loads numba, nor the cpu one numba.cuda.
"""

import functools
import glob
import importlib

from npsrcnn.errors import NpsrcnnError

NAMES = ("numpy", "cpu", "cuda")


def simulated():
    """True when numba runs CUDA kernels in its simulator (``NUMBA_ENABLE_CUDASIM=1``)."""
    from numba import config

    return bool(config.ENABLE_CUDASIM)


@functools.cache
def gpu_present():
    """True when numba can use a real CUDA GPU (never in the simulator). Without an NVIDIA device
    node it answers at once: importing ``numba.cuda`` costs most of a second of every start."""
    if not glob.glob("/dev/nvidia[0-9]*") or simulated():
        return False
    try:
        from numba import cuda

        return bool(cuda.is_available())
    except Exception:  # no driver, or numba-cuda missing: no GPU as far as we are concerned
        return False


def resolve(name):
    """``auto`` picks the fastest backend this machine has (``cuda`` on a CUDA GPU, else ``cpu``); an
    unknown or unusable name is an error. ``cuda`` also runs in numba's simulator
    (``NUMBA_ENABLE_CUDASIM=1``), which is how the tests exercise it without a GPU."""
    if name == "auto":
        return "cuda" if gpu_present() else "cpu"
    if name not in NAMES:
        raise NpsrcnnError(f"backend {name!r} is not one of auto, {', '.join(NAMES)}")
    if name == "cuda" and not (gpu_present() or simulated()):
        raise NpsrcnnError(
            "backend cuda: numba finds no CUDA GPU on this machine (use --backend cpu, or "
            "NUMBA_ENABLE_CUDASIM=1 for the simulator)"
        )
    return name


def get(name):
    """The module of backend ``name`` (or ``auto``), which provides the interface above."""
    return importlib.import_module(f"{__name__}.{resolve(name)}")
