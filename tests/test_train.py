"""Training pairs, optimizers, the trainer: it learns, it survives SIGKILL, it refuses bad input."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest
import skimage.data

import npsrcnn.train
from helpers import assert_one_line_error, backends_to_test, dataset_dir, real_luma, run_cli, tf_loss_and_grads
from npsrcnn import SRCNN, ConvLayer, NpsrcnnError, write_image
from npsrcnn.data import cut_patches, training_pairs
from npsrcnn.train import COSINE_FLOOR, SGD, Adam, TrainConfig, rate_factor, train

SMALL_NET = dict(scale=3, arch="9-1-5", filters=(32, 16), batch=16, lr=(1e-3,), backend="cpu")


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Three scikit-image photos to train on and two to validate on, at half size."""
    root = tmp_path_factory.mktemp("images")
    (root / "train").mkdir()
    (root / "val").mkdir()
    for name in ("astronaut", "coffee", "chelsea"):
        write_image(root / "train" / f"{name}.png", getattr(skimage.data, name)()[::2, ::2])
    for name in ("rocket", "camera"):
        write_image(root / "val" / f"{name}.png", getattr(skimage.data, name)()[::2, ::2])
    return root


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NPSRCNN_CACHE", str(tmp_path / "cache"))


def test_the_papers_t91_patches():
    """generate_train.m on T91 at x3 gives 21,884 pairs of 33x33."""
    inputs, labels = training_pairs(dataset_dir("T91"), 3, cache_dir=False)
    assert inputs.shape == labels.shape == (21884, 33, 33, 1)
    assert inputs.dtype == labels.dtype == np.float32
    assert 0 <= labels.min() and labels.max() <= 1
    levels = labels * 255
    np.testing.assert_allclose(levels, np.round(levels), atol=1e-4)  # labels are the uint8 Y


def test_patches_are_cut_like_matlab_loops():
    plane = np.arange(50 * 40).reshape(50, 40)
    patches = cut_patches(plane, 33, 14)  # rows start at 0, 14 (28 + 33 > 50); columns at 0
    assert patches.shape == (2, 33, 33)
    np.testing.assert_array_equal(patches[1], plane[14:47, 0:33])


def test_pairs_are_cached_and_a_corrupt_cache_is_an_error(images, tmp_path):
    first = training_pairs(images / "train", 3, cache_dir=tmp_path / "c")
    (cache,) = (tmp_path / "c").iterdir()
    again = training_pairs(images / "train", 3, cache_dir=tmp_path / "c")
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    cache.write_bytes(cache.read_bytes()[:2000])
    with pytest.raises(NpsrcnnError, match="corrupt training cache"):
        training_pairs(images / "train", 3, cache_dir=tmp_path / "c")


@pytest.mark.parametrize("name", ["adam", "sgd"])
def test_optimizers_match_keras(keras, name):
    rng = np.random.default_rng(0)
    start = [rng.normal(size=(3, 3, 1, 4)).astype(np.float32), rng.normal(size=4).astype(np.float32)]
    grads = [[rng.normal(size=p.shape).astype(np.float32) for p in start] for _ in range(5)]
    ours = [p.copy() for p in start]
    optimizer = Adam([1e-2, 1e-2]) if name == "adam" else SGD([1e-2, 1e-2], momentum=0.9)
    reference = (
        keras.optimizers.Adam(1e-2, epsilon=1e-7) if name == "adam" else keras.optimizers.SGD(1e-2, momentum=0.9)
    )
    variables = [keras.Variable(p) for p in start]
    for g in grads:
        optimizer.step(ours, g)
        reference.apply_gradients(zip(g, variables))
    for a, b in zip(ours, variables):
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-5, atol=1e-6)


def test_training_beats_bicubic_on_validation(images, tmp_path, keras):
    messages = []
    cfg = TrainConfig(
        data=str(images / "train"), out=str(tmp_path / "run"), val=str(images / "val"), epochs=12, **SMALL_NET
    )
    state = train(cfg, progress_bar=False, log=messages.append)
    rows = list(csv.DictReader(open(tmp_path / "run" / "log.csv")))
    assert len(rows) == 12 and state.step == 12 * 39  # 622 patches in batches of 16
    first, best, bicubic = float(rows[0]["val_psnr"]), state.best_psnr, float(rows[0]["bicubic_psnr"])
    assert first < bicubic < best - 0.1  # starts below bicubic, ends clearly above
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"]) / 5
    assert any("validation PSNR" in m for m in messages)
    for name in ("last.h5", "best.h5", "curves.png", "checkpoint.h5"):
        assert (tmp_path / "run" / name).is_file()
    best_model = keras.models.load_model(tmp_path / "run" / "best.h5")  # Keras-loadable
    assert len(best_model.layers) == 3


def _train_command(images, out, *extra):
    return [
        sys.executable,
        "-m",
        "npsrcnn.cli",
        "train",
        "--data",
        str(images / "train"),
        "--out",
        str(out),
        "--scale",
        "3",
        "--filters",
        "32",
        "16",
        "--batch",
        "16",
        "--lr",
        "1e-3",
        "--backend",
        "cpu",
        "--seed",
        "5",
        *extra,
    ]


def _progress(checkpoint):
    with h5py.File(checkpoint) as f:
        return json.loads(f.attrs["progress"])


def _weights(path):
    return [layer.kernel for layer in SRCNN.from_file(path).layers] + [l.bias for l in SRCNN.from_file(path).layers]


def test_a_killed_run_resumes_to_the_same_weights(images, tmp_path):
    env = dict(os.environ, NPSRCNN_CACHE=str(tmp_path / "cache"))
    whole = subprocess.run(
        _train_command(images, tmp_path / "whole", "--epochs", "4"),
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert whole.returncode == 0, whole.stderr
    victim = subprocess.Popen(
        _train_command(images, tmp_path / "killed", "--epochs", "4", "--checkpoint-every", "0"),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    checkpoint = tmp_path / "killed" / "checkpoint.h5"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and victim.poll() is None:
        if checkpoint.exists() and _progress(checkpoint)["step"] >= 60:  # inside epoch 2 of 4
            break
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)  # checkpoints are written every step, so likely mid-write
    assert victim.wait() == -signal.SIGKILL  # it was killed, not finished
    killed_at = _progress(checkpoint)  # the last good checkpoint is readable
    assert 60 <= killed_at["step"] < 4 * 39
    resumed = subprocess.run(
        _train_command(images, tmp_path / "killed", "--epochs", "4", "--resume"),
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert resumed.returncode == 0, resumed.stderr
    for a, b in zip(_weights(tmp_path / "whole" / "last.h5"), _weights(tmp_path / "killed" / "last.h5")):
        np.testing.assert_array_equal(a, b)
    assert not list((tmp_path / "killed").glob(".*.partial"))
    rows = list(csv.DictReader(open(tmp_path / "killed" / "log.csv")))
    assert [r["epoch"] for r in rows] == ["1", "2", "3", "4"]


def test_a_time_budget_stops_with_a_checkpoint_that_resumes(images, tmp_path):
    cfg = TrainConfig(data=str(images / "train"), out=str(tmp_path / "run"), minutes=0.001, **SMALL_NET)
    state = train(cfg, progress_bar=False, log=lambda m: None)
    assert state.epoch == 0 and state.step >= 1
    cfg.minutes, cfg.epochs, cfg.resume = None, 1, True
    assert train(cfg, progress_bar=False, log=lambda m: None).epoch == 1


@pytest.mark.parametrize(
    "args,fragments",
    [
        (["--data", "{d}/nowhere"], ["nowhere", "no such folder"]),
        (["--data", "{d}/train", "--batch", "1000"], ["only 622 training patches, fewer than one batch of 1000"]),
        (["--data", "{d}/train", "--resume"], ["checkpoint.h5", "no checkpoint to resume"]),
        (["--data", "{d}/train", "--patience", "2"], ["--patience needs --val"]),
        (["--data", "{d}/train", "--arch", "9-x"], ["9-x"]),
        (["--data", "{d}/train", "--schedule", "cosine", "--minutes", "1"], ["cosine schedule needs --epochs"]),
        (["--data", "{d}/train", "--init", "{d}/missing.h5"], ["missing.h5"]),
        (["--data", "{d}/train", "--warmup", "-1"], ["--warmup -1", "at least 0"]),
        (["--data", "{d}/train", "--warmup", "1"], ["--warmup 1", "shorter than --epochs"]),
    ],
)
def test_bad_training_input_is_one_line(images, tmp_path, args, fragments):
    length = [] if "--minutes" in args else ["--epochs", "1"]
    result = run_cli("train", "--out", tmp_path / "run", *length, *[a.format(d=images) for a in args])
    assert_one_line_error(result, *fragments)


def test_a_run_is_never_overwritten_and_resumes_only_with_its_settings(images, tmp_path):
    base = [
        "train",
        "--data",
        images / "train",
        "--out",
        tmp_path / "run",
        "--epochs",
        "1",
        "--batch",
        "64",
        "--filters",
        "8",
        "4",
    ]
    assert run_cli(*base).returncode == 0
    assert_one_line_error(run_cli(*base), "holds a run already")
    assert_one_line_error(run_cli(*base[:-2], "16", "4", "--resume"), "other settings (filters)")


def test_the_cosine_schedule_decays_from_the_rate_to_its_floor():
    total = 1000
    factors = [rate_factor("cosine", step, total) for step in range(total + 1)]
    assert factors[0] == 1.0 and factors[-1] == pytest.approx(COSINE_FLOOR)
    assert factors[total // 2] == pytest.approx((1 + COSINE_FLOOR) / 2)
    assert all(a > b for a, b in zip(factors, factors[1:]))
    assert rate_factor("constant", 500, total) == 1.0
    # the factor scales Adam's step exactly: a factor-f step equals a step at rate f * lr
    rng = np.random.default_rng(1)
    start, grad = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    scaled, reference = [start.copy()], [start.copy()]
    Adam([1e-2]).step(scaled, [grad], factor=0.25)
    Adam([2.5e-3]).step(reference, [grad])
    np.testing.assert_allclose(scaled[0], reference[0], rtol=1e-12)


def test_warmup_ramps_the_rate_up_then_the_schedule_runs_over_the_remaining_steps():
    total, warmup = 1000, 100
    ramp = [rate_factor("cosine", step, total, warmup) for step in range(warmup)]
    np.testing.assert_allclose(ramp, np.arange(1, warmup + 1) / warmup)
    after = [rate_factor("cosine", step, total, warmup) for step in range(warmup, total + 1)]
    assert after[0] == 1.0 and after[-1] == pytest.approx(COSINE_FLOOR)
    assert after[(total - warmup) // 2] == pytest.approx((1 + COSINE_FLOOR) / 2)  # the cosine's midpoint moved
    assert rate_factor("constant", 10, total, warmup) == pytest.approx(0.11)
    assert rate_factor("constant", warmup, total, warmup) == 1.0


def test_a_checkpoint_from_before_warmup_existed_still_resumes(images, tmp_path):
    cfg = TrainConfig(
        data=str(images / "train"),
        out=str(tmp_path / "run"),
        epochs=1,
        scale=2,
        batch=64,
        filters=(8, 4),
        backend="cpu",
    )
    train(cfg, progress_bar=False, log=lambda m: None)
    with h5py.File(tmp_path / "run" / "checkpoint.h5", "r+") as f:  # as an older npsrcnn wrote it
        saved = json.loads(f.attrs["config"])
        del saved["warmup"]
        f.attrs["config"] = json.dumps(saved)
    cfg.epochs, cfg.resume = 2, True
    assert train(cfg, progress_bar=False, log=lambda m: None).epoch == 2
    cfg.warmup = 0.5  # but a different warmup is a different run
    with pytest.raises(NpsrcnnError, match="other settings \\(warmup\\)"):
        train(cfg, progress_bar=False, log=lambda m: None)


def tune_a_donor(images, tmp_path, arch, **settings):
    """One epoch at a vanishing rate from a saved random ``arch``: ``(donor, tuned, cfg)``."""
    donor = SRCNN.build(arch, (8, 4), None, seed=3)
    donor.save(tmp_path / "donor.h5")
    cfg = TrainConfig(
        data=str(images / "train"),
        out=str(tmp_path / "run"),
        epochs=1,
        init=str(tmp_path / "donor.h5"),
        scale=2,
        batch=16,
        lr=(1e-7,),
        backend="cpu",
        **settings,
    )
    train(cfg, progress_bar=False, log=lambda m: None)
    return donor, SRCNN.from_file(tmp_path / "run" / "last.h5"), cfg


def test_a_run_started_from_weights_keeps_their_architecture_and_values(images, tmp_path):
    donor, tuned, cfg = tune_a_donor(images, tmp_path, "9-3-5", schedule="cosine")
    assert [l.kernel.shape for l in tuned.layers] == [l.kernel.shape for l in donor.layers]
    for a, b in zip(tuned.layers, donor.layers):  # a vanishing rate: the donor's weights, barely moved
        np.testing.assert_allclose(a.kernel, b.kernel, atol=1e-4)
        assert not np.array_equal(a.kernel, b.kernel)
    cfg.resume, cfg.epochs = True, 2  # the cosine horizon is part of the run
    with pytest.raises(NpsrcnnError, match="other settings"):
        train(cfg, progress_bar=False, log=lambda m: None)


def test_a_widened_run_starts_from_the_narrow_models_function(images, tmp_path):
    donor, tuned, cfg = tune_a_donor(images, tmp_path, "9-1-5", widen="9-3-5")
    middle = tuned.layers[1].kernel
    assert middle.shape == (3, 3, 8, 4)
    np.testing.assert_allclose(middle[1, 1], donor.layers[1].kernel[0, 0], atol=1e-4)  # the donor at the centre
    ring = middle.copy()
    ring[1, 1] = 0
    assert 0 < np.abs(ring).max() < 1e-4  # new taps start at zero and do get gradient
    cfg.resume, cfg.epochs, cfg.widen = True, 2, "9-5-5"  # the widening is part of the run
    with pytest.raises(NpsrcnnError, match="other settings \\(widen\\)"):
        train(cfg, progress_bar=False, log=lambda m: None)


def test_widen_without_init_is_an_error(images, tmp_path):
    cfg = TrainConfig(data=str(images / "train"), out=str(tmp_path / "run"), epochs=1, widen="9-5-5")
    with pytest.raises(NpsrcnnError, match="--widen needs --init"):
        train(cfg, progress_bar=False, log=lambda m: None)


@pytest.mark.parametrize("backend", backends_to_test())
def test_the_trainer_runs_on_every_backend(tmp_path, monkeypatch, backend):
    """The training loop end to end (tiny patches stand in for T91's 33x33: the CUDA simulator is slow):
    two Adam steps from the same start land where the oracle's do."""
    patches = np.stack([real_luma(7, 7, top=40 * k) for k in range(2)])[..., None]
    monkeypatch.setattr(npsrcnn.train, "training_pairs", lambda *args: (patches, patches.copy()))
    runs = {}
    for name in dict.fromkeys([backend, "numpy"]):
        cfg = TrainConfig(
            data="unused",
            out=str(tmp_path / name),
            arch="3-1-3",
            filters=(3, 2),
            batch=2,
            epochs=2,
            lr=(1e-2,),
            backend=name,
            seed=4,
        )
        train(cfg, progress_bar=False, log=lambda m: None)
        runs[name] = SRCNN.from_file(tmp_path / name / "last.h5")
    for ours, oracle in zip(runs[backend].layers, runs["numpy"].layers):
        np.testing.assert_allclose(ours.kernel, oracle.kernel, atol=1e-4)
    # the saved network says what enlarged its training inputs (the paper's protocol) and its scale
    assert (runs[backend].resampler, runs[backend].scale) == ("matlab", 3)


def test_the_papers_sgd_is_the_formula(tmp_path, monkeypatch):
    """``--optimizer sgd``: N(0, 0.001²) weights and zero biases; Caffe's Euclidean loss
    1/(2N) Σ ‖F(x_i) − y_i‖²; momentum 0.9; rates 1e-4, 1e-4 and 1e-5 for the last layer. Two steps
    of the trainer against the same update written out in float64, TensorFlow giving the gradients."""
    rng = np.random.default_rng(5)
    inputs = np.stack([real_luma(13, 13, top=30 * k) for k in range(4)])[..., None]
    labels = np.clip(inputs + rng.normal(0, 0.05, inputs.shape), 0, 1).astype(np.float32)
    monkeypatch.setattr(npsrcnn.train, "training_pairs", lambda *args: (inputs, labels))
    cfg = TrainConfig(
        data="unused",
        out=str(tmp_path / "run"),
        arch="5-1-3",
        filters=(8, 4),
        optimizer="sgd",
        batch=4,
        epochs=2,
        seed=6,
        backend="cpu",
    )
    start = SRCNN.build("5-1-3", (8, 4), seed=6, init="gaussian")  # the network the trainer starts from
    kernels = np.concatenate([layer.kernel.ravel() for layer in start.layers])
    assert abs(kernels.std() - 0.001) < 1e-4 and all((layer.bias == 0).all() for layer in start.layers)
    train(cfg, progress_bar=False, log=lambda m: None)
    trained = SRCNN.from_file(tmp_path / "run" / "last.h5")

    weights = [a.astype(np.float64) for layer in start.layers for a in (layer.kernel, layer.bias)]
    deltas = [np.zeros_like(w) for w in weights]
    rates = [1e-4, 1e-4, 1e-4, 1e-4, 1e-5, 1e-5]  # kernel and bias of each layer
    top, bottom, left, right = start.shrink
    target = labels[:, top : 13 - bottom, left : 13 - right].astype(np.float64)
    for _ in range(2):
        model = SRCNN(
            [ConvLayer(w, b, l.padding, l.activation) for w, b, l in zip(weights[::2], weights[1::2], start.layers)]
        )
        _, grads = tf_loss_and_grads(model, inputs.astype(np.float64), target, np.float64, "euclidean")
        for i, g in enumerate(g for pair in grads for g in pair):
            deltas[i] = 0.9 * deltas[i] - rates[i] * g
            weights[i] = weights[i] + deltas[i]
    moved = [w - s for w, s in zip(weights, (a for layer in start.layers for a in (layer.kernel, layer.bias)))]
    for got, want, step in zip((a for layer in trained.layers for a in (layer.kernel, layer.bias)), weights, moved):
        # the steps are ~1e-8 on weights of ~1e-3 (the paper's rates learn slowly): float32 weights hold
        # them to a few units in their last place, while a wrong loss scale (24.5x here), rate or
        # momentum would miss by the size of a step
        ulps = np.spacing(np.abs(want).astype(np.float32)).astype(np.float64)
        assert (np.abs(got - want) <= 4 * ulps + 1e-3 * np.abs(step)).all()
        assert np.abs(step).max() > 20 * ulps.max()
