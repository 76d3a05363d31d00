"""The benchmarks' own checks: every peer installed here runs the same network as npsrcnn, and a peer
that disagrees stops the race before anything is timed."""

import sys
from pathlib import Path

import numpy as np
import pytest

from npsrcnn import SRCNN

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
try:
    import forward
    import peers
finally:
    sys.path.pop(0)


def test_every_installed_peer_computes_the_same_network():
    model = SRCNN.build("9-3-5", (8, 4), seed=2)  # the tutorials' valid-same-valid
    x = np.random.default_rng(0).random((1, 31, 29, 1), dtype=np.float32)
    expected = model.forward(x, backend="cpu")
    found = peers.forward_peers(model, threads=1)
    assert "tensorflow" in found  # the test extra always has it
    for name, run in found.items():
        got = run(x)
        assert got.shape == expected.shape and np.abs(got - expected).max() <= 1e-5, name


def test_a_peer_that_disagrees_stops_the_race():
    reference = np.zeros((1, 5, 5, 1), np.float32)
    forward.check_outputs({"close": reference + 1e-6}, reference)  # float32 rounding passes
    with pytest.raises(SystemExit, match="far disagrees with npsrcnn"):
        forward.check_outputs({"close": reference, "far": reference + 0.01}, reference)
    with pytest.raises(SystemExit, match="shape"):
        forward.check_outputs({"cropped": reference[:, 1:]}, reference)
