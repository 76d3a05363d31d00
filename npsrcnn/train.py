"""Training SRCNN with its hand-written backward pass: optimizers, the loop, checkpoints.

A run lives in one folder: ``checkpoint.h5`` (everything needed to resume: weights, optimizer
moments, the epoch's shuffling seed state, position, log), ``last.h5`` and ``best.h5``
(Keras-loadable), ``log.csv`` and ``curves.png``. Every file is written to a temporary name and
renamed, so a run killed at any moment leaves the last good checkpoint readable, and ``--resume``
continues it to exactly the weights an uninterrupted run reaches.
"""

import csv
import io
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import h5py
import numpy as np
from tqdm import tqdm

from npsrcnn.atomic import atomic_write
from npsrcnn.data import AUGMENT_FACTORS, TRAINING_RESAMPLER, AugmentedPairs, training_pairs
from npsrcnn.errors import NpsrcnnError
from npsrcnn.image import list_images, read_image
from npsrcnn.metrics import psnr
from npsrcnn.model import INITS, LOSSES, SRCNN, ConvLayer
from npsrcnn.protocol import matlab_degrade, matlab_outputs
from npsrcnn.viz import training_curves


class Adam:
    """Adam (Kingma & Ba) in Keras' form: ``m += (g - m)(1 - b1)``, ``v += (g^2 - v)(1 - b2)``,
    ``w -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)``."""

    def __init__(self, rates, beta1=0.9, beta2=0.999, eps=1e-7):
        self.rates, self.beta1, self.beta2, self.eps = rates, beta1, beta2, eps
        self.t, self.slots = 0, None

    def step(self, params, grads, factor=1.0):
        """``params``, ``grads``: lists of arrays in the same order; params are updated in place.
        ``factor`` scales every rate (the learning-rate schedule)."""
        if self.slots is None:
            self.slots = {"m": [np.zeros_like(p) for p in params], "v": [np.zeros_like(p) for p in params]}
        self.t += 1
        correction = factor * np.sqrt(1 - self.beta2**self.t) / (1 - self.beta1**self.t)
        for p, g, m, v, rate in zip(params, grads, self.slots["m"], self.slots["v"], self.rates):
            m += (g - m) * (1 - self.beta1)
            v += (g * g - v) * (1 - self.beta2)
            p -= (rate * correction) * m / (np.sqrt(v) + self.eps)


class SGD:
    """Momentum SGD as in the paper (Caffe's): ``delta = momentum * delta - lr * grad``, ``w += delta``.
    Its rates (``DEFAULT_RATES``) go with Caffe's Euclidean loss and N(0, 0.001²) initial weights,
    which ``--optimizer sgd`` brings unless ``--loss`` / ``--weight-init`` say otherwise."""

    def __init__(self, rates, momentum=0.9):
        self.rates, self.momentum = rates, momentum
        self.t, self.slots = 0, None

    def step(self, params, grads, factor=1.0):
        if self.slots is None:
            self.slots = {"delta": [np.zeros_like(p) for p in params]}
        self.t += 1
        for p, g, delta, rate in zip(params, grads, self.slots["delta"], self.rates):
            delta *= self.momentum
            delta -= (factor * rate) * g
            p += delta


# the Keras tutorials' Adam rate; the paper's SGD rates (1e-4 for the first layers, 1e-5 for the last)
DEFAULT_RATES = {"adam": (3e-4,), "sgd": (1e-4, 1e-4, 1e-5)}
# settings that shape the trajectory: a resumed run must keep them
FIXED_ON_RESUME = (
    "data",
    "scale",
    "arch",
    "filters",
    "padding",
    "optimizer",
    "lr",
    "momentum",
    "batch",
    "seed",
    "protocol",
    "schedule",
    "init",
    "warmup",
    "widen",
    "augment",
    "augment_factors",
)
SCHEDULES = ("constant", "cosine")
COSINE_FLOOR = 0.01  # the cosine schedule ends at 1% of the starting rate


def rate_factor(schedule, step, total_steps, warmup_steps=0):
    """The learning-rate multiplier at ``step`` (0-based).

    First a linear ramp from ``1/warmup_steps`` to 1 over ``warmup_steps``: full-rate Adam steps on a
    fresh network push many first-layer biases so far down that those ReLUs never fire again (the
    luma input is all positive, so a unit's sign is set by its mean weight); the ramp lets the
    moment estimates settle first. Then 1 for ``constant``, or for ``cosine`` half a cosine from 1
    down to ``COSINE_FLOOR`` over the remaining steps, which anneals the weights into a minimum
    (worth about 0.1 dB over a constant rate for the same number of steps).
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant":
        return 1.0
    progress = min((step - warmup_steps) / max(total_steps - warmup_steps, 1), 1.0)
    return COSINE_FLOOR + (1 - COSINE_FLOOR) * 0.5 * (1 + np.cos(np.pi * progress))


@dataclass
class TrainConfig:
    data: str
    out: str
    scale: int = 3
    arch: str = "9-1-5"
    filters: tuple = (64, 32)
    padding: str = None  # None: the tutorials' convention (valid first and last layers, same between)
    optimizer: str = "adam"
    lr: tuple = None  # one rate, or one per layer; None: DEFAULT_RATES
    momentum: float = 0.9
    batch: int = 128
    epochs: int = None
    minutes: float = None
    val: str = None
    patience: int = None
    seed: int = 0
    backend: str = "auto"
    protocol: str = "matlab"
    checkpoint_every: float = 60.0  # seconds between checkpoints inside an epoch
    resume: bool = False
    schedule: str = "constant"  # or "cosine" over --epochs
    init: str = None  # start from these weights (their architecture) instead of a random network
    warmup: float = 0.0  # epochs of linear learning-rate ramp before the schedule
    widen: str = None  # with init: larger kernel sizes (e.g. 9-5-5), the old kernels at their centres
    loss: str = None  # "mse" or "euclidean"; None: the optimizer's (the paper's euclidean for sgd)
    weight_init: str = None  # "glorot" or "gaussian" for a fresh network; None: the optimizer's
    augment: bool = False  # pairs drawn on the fly from rotated, flipped and downscaled copies (FSRCNN's)
    augment_factors: tuple = AUGMENT_FACTORS  # the downscaled copies' factors, with augment

    def loss_name(self):
        return self.loss or ("euclidean" if self.optimizer == "sgd" else "mse")

    def weight_init_name(self):
        return self.weight_init or ("gaussian" if self.optimizer == "sgd" else "glorot")

    def check(self):
        """One line for the first setting that cannot work, before anything is read or written."""
        if self.epochs is None and self.minutes is None:
            raise NpsrcnnError("say how long to train: --epochs N or --minutes M")
        if self.optimizer not in DEFAULT_RATES:
            raise NpsrcnnError(f"optimizer {self.optimizer!r} is not one of adam, sgd")
        if self.loss_name() not in LOSSES:
            raise NpsrcnnError(f"loss {self.loss!r} is not one of {', '.join(LOSSES)}")
        if self.weight_init_name() not in INITS:
            raise NpsrcnnError(f"--weight-init {self.weight_init!r} is not one of {', '.join(INITS)}")
        if self.patience is not None and self.val is None:
            raise NpsrcnnError("--patience needs --val: early stopping watches the validation PSNR")
        if self.schedule not in SCHEDULES:
            raise NpsrcnnError(f"schedule {self.schedule!r} is not one of {', '.join(SCHEDULES)}")
        if self.schedule != "constant" and self.epochs is None:
            raise NpsrcnnError(f"the {self.schedule} schedule needs --epochs: it decays over the whole run")
        if not 0 <= self.warmup or (self.epochs is not None and self.warmup >= self.epochs):
            raise NpsrcnnError(f"--warmup {self.warmup:g} must be at least 0 and shorter than --epochs")
        if self.widen and not self.init:
            raise NpsrcnnError("--widen needs --init: it enlarges a trained model's kernels (a fresh one takes --arch)")
        if not all(0 < f < 1 for f in self.augment_factors):
            raise NpsrcnnError(f"--augment-factors {self.augment_factors} must each lie between 0 and 1 (downscaling)")

    def layer_rates(self, n_layers):
        rates = tuple(self.lr or DEFAULT_RATES[self.optimizer])
        if len(rates) == 1:
            return rates * n_layers
        if len(rates) == n_layers:
            return rates
        if self.lr is None and self.optimizer == "sgd":  # the paper's rule for any depth
            return (rates[0],) * (n_layers - 1) + (rates[-1],)
        raise NpsrcnnError(f"{len(rates)} learning rates given for {n_layers} layers (give 1 or {n_layers})")


@dataclass
class Progress:
    """Where the run is; saved in every checkpoint."""

    epoch: int = 0  # epochs completed
    position: int = 0  # batches done in the current epoch
    step: int = 0
    epoch_rng_state: dict = None  # the shuffling generator's state when this epoch's order was drawn
    epoch_loss_sum: float = 0.0
    epoch_samples: int = 0
    best_psnr: float = None
    bad_epochs: int = 0
    rows: list = field(default_factory=list)  # the log, one dict per epoch


def train(cfg, progress_bar=True, log=print):
    """Run (or resume) training; returns the final ``Progress``."""
    cfg.check()
    out = Path(cfg.out)
    checkpoint = out / "checkpoint.h5"
    model, optimizer, state = _start(cfg, checkpoint)
    fetch, n_pairs, described = _training_data(cfg, model)
    validation = _validation_set(cfg.val, cfg.scale) if cfg.val else None
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob(".*.partial"):  # what a killed run was writing when it died
        stale.unlink()
    log(
        f"training {model.describe()} on {described} ({cfg.data}, x{cfg.scale}), "
        f"{-(-n_pairs // cfg.batch)} batches of {cfg.batch} per epoch, {cfg.optimizer}, backend {cfg.backend}"
    )
    clock = _Clock(cfg.minutes, cfg.checkpoint_every)

    def save():
        _save_checkpoint(checkpoint, cfg, model, optimizer, state)
        clock.saved()

    for order in _epoch_orders(cfg, state, n_pairs):
        epoch_started = time.monotonic()
        if not _run_batches(cfg, model, optimizer, state, fetch, order, clock, save, progress_bar):
            log(
                f"time budget of {cfg.minutes} min reached at epoch {state.epoch + 1}, batch {state.position}; "
                f"continue with --resume"
            )
            return state
        stop = _end_epoch(cfg, model, state, validation, time.monotonic() - epoch_started, log)
        save()
        model.save(out / "last.h5")
        _write_log(out, state.rows)
        if stop:
            log(f"early stop: validation PSNR has not improved for {cfg.patience} epochs")
            break
    return state


def _start(cfg, checkpoint):
    """-> ``(model, optimizer, Progress)``: from the checkpoint when resuming, else fresh (a new network,
    or ``cfg.init``'s, widened if asked)."""
    if cfg.resume:
        model, (t, slots), state = _load_checkpoint(checkpoint, cfg)
    else:
        if checkpoint.exists():
            raise NpsrcnnError(
                f"{checkpoint.parent}: holds a run already; continue it with --resume or choose another --out"
            )
        model = (
            SRCNN.from_file(cfg.init)
            if cfg.init
            else SRCNN.build(cfg.arch, cfg.filters, cfg.padding, seed=cfg.seed, init=cfg.weight_init_name())
        )
        if cfg.widen:
            model = model.widened(cfg.widen)
        (t, slots), state = (0, None), Progress()
    model.resampler, model.scale = TRAINING_RESAMPLER[cfg.protocol], cfg.scale  # what the saved files record
    rates = [r for r in cfg.layer_rates(len(model.layers)) for _ in (0, 1)]  # a kernel's and its bias's
    optimizer = Adam(rates) if cfg.optimizer == "adam" else SGD(rates, cfg.momentum)
    optimizer.t, optimizer.slots = t, slots
    return model, optimizer, state


def _training_data(cfg, model):
    """-> ``(fetch, pairs an epoch, description)``: ``fetch(chosen, step)`` gives the batch of inputs and
    labels (cropped to the network's output) for the epoch order's ``chosen`` indices at ``step``.
    Cached pairs are indexed by ``chosen``; augmented ones are drawn afresh for each ``step``."""
    if cfg.augment:
        pairs = AugmentedPairs(cfg.data, cfg.scale, cfg.augment_factors, cfg.protocol)
        n, factors = pairs.epoch_size, ", ".join(f"{f:g}" for f in cfg.augment_factors)
        described = f"{len(pairs.planes)} copies (x1, {factors}) in 8 rotations and flips, {n} pairs an epoch"
        fetch = lambda chosen, step: pairs.batch(cfg.seed, step, len(chosen), model.shrink)
    else:
        inputs, labels = training_pairs(cfg.data, cfg.scale, cfg.protocol)
        top, bottom, left, right = model.shrink
        labels = np.ascontiguousarray(labels[:, top : labels.shape[1] - bottom, left : labels.shape[2] - right])
        n, described = len(inputs), f"{len(inputs)} patches"
        fetch = lambda chosen, step: (inputs[chosen], labels[chosen])
    if n < cfg.batch:
        raise NpsrcnnError(f"{cfg.data}: only {n} training patches, fewer than one batch of {cfg.batch}")
    return fetch, n, described


def _epoch_orders(cfg, state, n):
    """Each epoch's shuffled order of the ``n`` patches, until ``cfg.epochs`` (forever without it).
    A resumed run first replays the checkpointed epoch's draw, which also leaves the generator where
    the uninterrupted run had it, so the run goes on exactly as if never stopped."""
    rng = np.random.default_rng(cfg.seed)
    if state.epoch_rng_state is not None:
        rng.bit_generator.state = state.epoch_rng_state
        order = rng.permutation(n)
    while cfg.epochs is None or state.epoch < cfg.epochs:
        if state.position == 0:
            state.epoch_rng_state = rng.bit_generator.state
            order = rng.permutation(n)
        yield order


class _Clock:
    """The run's time budget (``minutes``) and when the next checkpoint inside an epoch is due."""

    def __init__(self, minutes, checkpoint_every):
        self.minutes, self.checkpoint_every = minutes, checkpoint_every
        self.started = self.last_save = time.monotonic()

    def out_of_time(self):
        return self.minutes is not None and time.monotonic() - self.started > 60 * self.minutes

    def checkpoint_due(self):
        return time.monotonic() - self.last_save >= self.checkpoint_every

    def saved(self):
        self.last_save = time.monotonic()


def _run_batches(cfg, model, optimizer, state, fetch, order, clock, save, progress_bar):
    """The rest of the epoch's batches from ``state.position``: a step each (loss, gradients, update),
    checkpoints as they fall due. -> True at the epoch's end, False when the time budget ran out
    (after a checkpoint to resume from)."""
    batches = -(-len(order) // cfg.batch)
    params = [a for layer in model.layers for a in (layer.kernel, layer.bias)]
    warmup_steps = round(cfg.warmup * batches)
    started, samples_before = time.monotonic(), state.epoch_samples
    bar = tqdm(
        total=batches,
        initial=state.position,
        desc=f"epoch {state.epoch + 1}",
        unit="batch",
        disable=None if progress_bar else True,
        leave=False,
    )
    with bar:
        while state.position < batches:
            chosen = np.sort(order[state.position * cfg.batch : (state.position + 1) * cfg.batch])
            loss, grads = model.loss_and_grads(*fetch(chosen, state.step), cfg.backend, cfg.loss_name())
            factor = rate_factor(cfg.schedule, state.step, (cfg.epochs or 0) * batches, warmup_steps)
            optimizer.step(params, [g for pair in grads for g in pair], factor)
            state.position += 1
            state.step += 1
            state.epoch_loss_sum += loss * len(chosen)
            state.epoch_samples += len(chosen)
            rate = (state.epoch_samples - samples_before) / max(time.monotonic() - started, 1e-9)
            bar.update()
            bar.set_postfix(loss=f"{state.epoch_loss_sum / state.epoch_samples:.5f}", samples_s=f"{rate:.0f}")
            out_of_time = clock.out_of_time()
            if out_of_time or clock.checkpoint_due():
                save()
            if out_of_time:
                return False
    return True


def _end_epoch(cfg, model, state, validation, seconds, log):
    """Log the epoch, validate, keep the best weights; True when early stopping says stop."""
    row = {
        "epoch": state.epoch + 1,
        "step": state.step,
        "loss": state.epoch_loss_sum / state.epoch_samples,
        "samples_per_s": state.epoch_samples / seconds if seconds > 0 else 0.0,
    }
    message = f"epoch {row['epoch']}: loss {row['loss']:.6f}"
    if validation is not None:
        row["val_psnr"] = validate(model, validation, cfg.scale, cfg.backend)
        row["bicubic_psnr"] = validation["bicubic_psnr"]
        message += f", validation PSNR {row['val_psnr']:.2f} dB (bicubic {row['bicubic_psnr']:.2f})"
        if state.best_psnr is None or row["val_psnr"] > state.best_psnr:
            state.best_psnr, state.bad_epochs = row["val_psnr"], 0
            model.save(Path(cfg.out) / "best.h5")
        else:
            state.bad_epochs += 1
    log(message + f", {row['samples_per_s']:.0f} samples/s")
    state.rows.append(row)
    state.epoch += 1
    state.position = state.epoch_samples = 0
    state.epoch_loss_sum = 0.0
    return cfg.patience is not None and state.bad_epochs >= cfg.patience


def _validation_set(folder, scale):
    """The paper's protocol, degraded once: per image ``matlab_degrade``'s planes, and bicubic's PSNR."""
    images, _ = list_images(folder)
    validation = {"degraded": [matlab_degrade(read_image(path), scale) for path in images]}
    validation["bicubic_psnr"] = validate(None, validation, scale, method="bicubic")
    return validation


def validate(model, validation, scale, backend="auto", method="srcnn"):
    """Mean PSNR on Y (the paper's protocol) of ``method`` over a prepared validation set."""
    scores = []
    for degraded in validation["degraded"]:
        truth, outputs = matlab_outputs(degraded, scale, [method], model, backend)
        scores.append(psnr(truth, outputs[method]))
    return float(np.mean(scores))


def _save_checkpoint(path, cfg, model, optimizer, state):
    with atomic_write(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["config"] = json.dumps(asdict(cfg))
            f.attrs["progress"] = json.dumps(asdict(state))
            f.attrs["optimizer_t"] = optimizer.t
            for i, layer in enumerate(model.layers):
                g = f.create_group(f"model/{i}")
                g["kernel"], g["bias"] = layer.kernel, layer.bias
                g.attrs["padding"], g.attrs["activation"] = layer.padding, layer.activation
            for name, arrays in (optimizer.slots or {}).items():
                for i, a in enumerate(arrays):
                    f[f"optimizer/{name}/{i}"] = a


def _load_checkpoint(path, cfg):
    if not path.exists():
        raise NpsrcnnError(f"{path}: no checkpoint to resume")
    try:
        with h5py.File(path, "r") as f:
            saved = json.loads(f.attrs["config"])
            state = Progress(**json.loads(f.attrs["progress"]))
            layers = [
                ConvLayer(
                    f[f"model/{i}/kernel"][()],
                    f[f"model/{i}/bias"][()],
                    f[f"model/{i}"].attrs["padding"],
                    f[f"model/{i}"].attrs["activation"],
                )
                for i in range(len(f["model"]))
            ]
            slots = {
                name: [f[f"optimizer/{name}/{i}"][()] for i in range(len(group))]
                for name, group in f.get("optimizer", {}).items()
            } or None
            t = int(f.attrs["optimizer_t"])
    except (OSError, KeyError, ValueError, TypeError) as e:
        raise NpsrcnnError(f"{path}: unreadable checkpoint ({type(e).__name__}: {e})") from None
    current = asdict(cfg)
    fixed = FIXED_ON_RESUME + (("epochs",) if cfg.schedule != "constant" else ())  # the schedule's horizon
    defaults = asdict(TrainConfig(data=cfg.data, out=cfg.out))  # settings added since the checkpoint was written
    changed = [k for k in fixed if _jsonable(current[k]) != saved.get(k, _jsonable(defaults[k]))]
    # runs from before the loss was a setting all minimised Keras' mean, whatever their optimizer
    if cfg.loss_name() != (TrainConfig(**{**defaults, **saved}).loss_name() if "loss" in saved else "mse"):
        changed.append("loss")
    if changed:
        raise NpsrcnnError(
            f"{path}: the run was started with other settings ({', '.join(changed)}); resume with the same ones"
        )
    return SRCNN(layers), (t, slots), state


def _jsonable(value):
    return json.loads(json.dumps(value))


def _write_log(out, rows):
    """``log.csv`` and ``curves.png`` from the checkpoint's rows (so they always agree with it)."""
    columns = list(dict.fromkeys(k for row in rows for k in row))
    text = io.StringIO()
    writer = csv.DictWriter(text, columns)
    writer.writeheader()
    writer.writerows(rows)
    with atomic_write(out / "log.csv") as tmp:
        tmp.write_text(text.getvalue())
    training_curves(rows, out / "curves.png")
