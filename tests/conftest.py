"""Test session set-up, before anything imports TensorFlow or numba: quiet TensorFlow, and run the
CUDA kernels in numba's simulator unless this machine has an NVIDIA GPU (then they run for real;
``NUMBA_ENABLE_CUDASIM`` set by the caller wins either way)."""

import glob
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "0" if glob.glob("/dev/nvidia[0-9]*") else "1")

import pytest


@pytest.fixture(scope="session")
def keras():
    """Keras 3 on TensorFlow: the reference every file kind and forward pass is checked against."""
    import keras

    return keras
