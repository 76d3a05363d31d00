"""``npsrcnn train --augment``: FSRCNN's rotations, flips and downscaled copies, drawn on the fly by
the paper's protocol, and a run that resumes to the same weights bit for bit."""

import itertools
import json

import h5py
import numpy as np
import pytest
import skimage.data
import skimage.io

import npsrcnn.train
from helpers import assert_one_line_error, run_cli
from npsrcnn import imresize, write_image
from npsrcnn.data import AUGMENT_FACTORS, AugmentedPairs, dihedral, luma_planes
from npsrcnn.train import TrainConfig, train


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("augment")
    write_image(root / "astronaut.png", skimage.data.astronaut()[100:220, 150:246])  # 120 x 96
    write_image(root / "coffee.png", skimage.data.coffee()[::4, ::4])  # 100 x 150
    return root


def test_the_eight_transforms_are_the_rotations_and_flips_of_the_square():
    plane = np.arange(12).reshape(3, 4)
    images = [dihedral(plane, k) for k in range(8)]
    assert len({(im.shape, im.tobytes()) for im in images}) == 8  # all different
    np.testing.assert_array_equal(images[0], plane)
    np.testing.assert_array_equal(images[1], np.rot90(plane))
    np.testing.assert_array_equal(images[2], plane[::-1, ::-1])
    np.testing.assert_array_equal(images[4], plane[:, ::-1])
    np.testing.assert_array_equal(images[6], plane[::-1, :])
    np.testing.assert_array_equal(images[5], plane.T[::-1, ::-1])  # the anti-diagonal mirror
    np.testing.assert_array_equal(images[7], plane.T)
    for k, m in itertools.product(range(8), repeat=2):  # a group: every composition is one of them
        assert any(np.array_equal(dihedral(dihedral(plane, k), m), im) for im in images)


@pytest.mark.parametrize("k", range(8))
def test_a_transformed_pair_is_the_pair_of_the_transformed_image(k):
    """Rotating or flipping a pair gives what the protocol makes from the rotated or flipped image:
    MATLAB's bicubic has the same weights on both axes and is symmetric, on images cut to a multiple
    of the scale. So transforming pairs, as AugmentedPairs does, is augmenting the images."""
    image = skimage.data.astronaut()[100:172, 150:216]  # 72 x 66, multiples of 3
    label, degraded = luma_planes(image, 3)
    label_t, degraded_t = luma_planes(np.ascontiguousarray(dihedral(image.transpose(2, 0, 1), k).transpose(1, 2, 0)), 3)
    np.testing.assert_array_equal(label_t, dihedral(label, k))
    np.testing.assert_allclose(degraded_t, dihedral(degraded, k), atol=1e-6)


def test_the_copies_are_the_paper_pairs_of_the_downscaled_images(folder):
    pairs = AugmentedPairs(folder, 3)
    image = skimage.io.imread(folder / "astronaut.png")
    expected = [luma_planes(image if f == 1 else imresize(image, f), 3) for f in (1.0, *AUGMENT_FACTORS)]
    assert len(pairs.planes) == 2 * (1 + len(AUGMENT_FACTORS))  # every copy of both images is large enough
    for (label, degraded), (want_label, want_degraded) in zip(pairs.planes[:5], expected):
        np.testing.assert_array_equal(label, want_label)
        np.testing.assert_array_equal(degraded, want_degraded)
    assert pairs.epoch_size == sum(  # an epoch: the plain set's stride-14 pairs
        ((h - 33) // 14 + 1) * ((w - 33) // 14 + 1) for h, w in [(120, 96), (99, 150)]
    )


def test_every_drawn_pair_is_a_transformed_crop_of_a_copy_and_all_kinds_are_drawn(folder):
    pairs = AugmentedPairs(folder, 3)
    crop = (6, 6, 6, 6)
    inputs, labels = pairs.batch(seed=7, step=3, n=64, crop=crop)
    assert inputs.shape == (64, 33, 33, 1) and labels.shape == (64, 21, 21, 1)
    seen_transforms, seen_planes = set(), set()
    for x, y in zip(inputs[..., 0], labels[..., 0]):
        found = [
            (p, k)
            for p, (label, degraded) in enumerate(pairs.planes)
            for k in range(8)
            for r, c in _positions(dihedral(x, (4 - k) % 4 if k < 4 else k), degraded)  # undo k
            if np.array_equal((dihedral(label[r : r + 33, c : c + 33], k)[6:27, 6:27] / 255.0).astype(np.float32), y)
        ]
        assert found, "a drawn pair is no crop of any copy"
        seen_planes.add(found[0][0])
        seen_transforms.add(found[0][1])
    assert len(seen_transforms) >= 6 and len(seen_planes) >= 5


def _positions(window, plane):
    """Where ``window`` sits in ``plane`` (exactly)."""
    hits = np.argwhere(np.isclose(plane[: plane.shape[0] - 32, : plane.shape[1] - 32], window[0, 0], atol=0))
    return [(r, c) for r, c in hits if np.array_equal(plane[r : r + 33, c : c + 33], window)]


def test_batches_are_a_function_of_seed_and_step(folder):
    pairs = AugmentedPairs(folder, 3)
    a, b = pairs.batch(0, 11, 8), pairs.batch(0, 11, 8)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], pairs.batch(0, 12, 8)[0]) and not np.array_equal(a[0], pairs.batch(1, 11, 8)[0])


def test_an_augmented_run_stopped_and_resumed_reaches_the_same_weights(folder, tmp_path, monkeypatch):
    settings = dict(scale=3, arch="9-1-5", filters=(8, 4), batch=8, lr=(1e-3,), backend="cpu", augment=True, seed=3)
    steps = 2 * -(-AugmentedPairs(folder, 3).epoch_size // 8)  # two epochs
    whole = TrainConfig(data=str(folder), out=str(tmp_path / "whole"), epochs=2, **settings)
    train(whole, progress_bar=False, log=lambda m: None)
    calls = itertools.count(1)
    monkeypatch.setattr(npsrcnn.train._Clock, "out_of_time", lambda self: next(calls) == 7)  # stop after step 7
    stopped = TrainConfig(data=str(folder), out=str(tmp_path / "stopped"), epochs=2, **settings)
    assert train(stopped, progress_bar=False, log=lambda m: None).step == 7
    stopped.resume = True
    train(stopped, progress_bar=False, log=lambda m: None)
    with h5py.File(tmp_path / "whole" / "checkpoint.h5") as a, h5py.File(tmp_path / "stopped" / "checkpoint.h5") as b:
        assert a.attrs["optimizer_t"] == b.attrs["optimizer_t"] == steps
        for i in range(3):
            np.testing.assert_array_equal(a[f"model/{i}/kernel"][()], b[f"model/{i}/kernel"][()])
            np.testing.assert_array_equal(a[f"model/{i}/bias"][()], b[f"model/{i}/bias"][()])


def test_the_command_line_trains_with_augment_and_refuses_bad_factors(folder, tmp_path):
    args = ["train", "--data", folder, "--scale", 3, "--filters", 8, 4, "--batch", 8, "--epochs", 1, "--augment"]
    result = run_cli(*args, "--out", tmp_path / "run")
    assert result.returncode == 0, result.stderr
    assert "10 copies (x1, 0.9, 0.8, 0.7, 0.6) in 8 rotations and flips, 80 pairs an epoch" in result.stdout
    assert (tmp_path / "run" / "last.h5").is_file()
    assert_one_line_error(
        run_cli(*args, "--out", tmp_path / "bad", "--augment-factors", "0.9", "1.5"), "between 0 and 1"
    )
    assert not (tmp_path / "bad").exists()


def test_a_long_run_goes_in_chunks_of_minutes_toward_its_epochs(folder, tmp_path):
    """--epochs fixes the run (the cosine's horizon), --minutes the chunk: the first chunk stops with a
    checkpoint before the end, a resumed one finishes the epochs."""
    args = ["train", "--data", folder, "--filters", 8, 4, "--batch", 8, "--augment", "--schedule", "cosine"]
    first = run_cli(*args, "--epochs", 50, "--minutes", 0.002, "--out", tmp_path / "run")
    assert first.returncode == 0, first.stderr
    assert "continue with --resume" in first.stdout
    with h5py.File(tmp_path / "run" / "checkpoint.h5") as f:
        assert 1 <= json.loads(f.attrs["progress"])["step"] < 50 * 10
