"""Test session set-up: quiet TensorFlow before anything imports it."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest


@pytest.fixture(scope="session")
def keras():
    """Keras 3 on TensorFlow: the reference every file kind and forward pass is checked against."""
    import keras

    return keras
