"""SRCNN as data: an ordered list of convolution layers, and a forward pass that a backend runs.

    x (N, H, W, 1) --conv f1 x f1, n1 + ReLU-->  patch extraction and representation
                   --conv f2 x f2, n2 + ReLU-->  non-linear mapping
                   --conv f3 x f3, 1 (linear)--> reconstruction   -> (N, H', W', 1)

Any number of layers, kernel sizes and channel counts are allowed; the names below only describe
the paper's three-layer case.
"""

from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from npsrcnn import backends, modelfile
from npsrcnn.errors import NpsrcnnError
from npsrcnn.reference import ACTIVATIONS, PADDINGS, border, pad_split

LOSSES = ("mse", "euclidean")
INITS = ("glorot", "gaussian")
GAUSSIAN_STD = 0.001  # the paper's initial weights: N(0, 0.001²)


@dataclass
class ConvLayer:
    """One convolution: kernel ``(kh, kw, c_in, c_out)`` float32, bias ``(c_out,)`` float32."""

    kernel: np.ndarray
    bias: np.ndarray
    padding: str = "valid"
    activation: str = "relu"

    def __post_init__(self):
        kernel = np.asarray(self.kernel)
        if kernel.ndim != 4:
            raise NpsrcnnError(f"conv kernel has shape {kernel.shape}; expected 4 dimensions (kh, kw, c_in, c_out)")
        bias = np.zeros(kernel.shape[3]) if self.bias is None else np.asarray(self.bias)
        if bias.shape != (kernel.shape[3],):
            raise NpsrcnnError(
                f"conv bias has shape {bias.shape}; the kernel {kernel.shape} needs ({kernel.shape[3]},)"
            )
        if not (np.all(np.isfinite(kernel)) and np.all(np.isfinite(bias))):
            raise NpsrcnnError(f"conv layer {kernel.shape} has NaN or infinite weights")
        if self.padding not in PADDINGS:
            raise NpsrcnnError(f"padding {self.padding!r} is not one of {', '.join(PADDINGS)}")
        if self.activation not in ACTIVATIONS:
            raise NpsrcnnError(f"activation {self.activation!r} is not one of {', '.join(ACTIVATIONS)}")
        self.kernel = np.ascontiguousarray(kernel, dtype=np.float32)
        self.bias = np.ascontiguousarray(bias, dtype=np.float32)

    @property
    def shrink(self):
        """Pixels lost ``(top, bottom, left, right)``: a valid layer loses the padding the others add."""
        if self.padding != "valid":
            return (0, 0, 0, 0)
        return pad_split(self.kernel.shape[0]) + pad_split(self.kernel.shape[1])


def parse_arch(arch):
    """``"9-1-5"`` -> ``(9, 1, 5)``, the kernel sizes f1-f2-f3 (any count of layers)."""
    try:
        sizes = tuple(int(s) for s in str(arch).split("-"))
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise NpsrcnnError(f"architecture {arch!r} is not kernel sizes like 9-1-5")
    return sizes


class SRCNN:
    """An ordered list of ``ConvLayer``; channels must chain from one layer to the next.

    ``resampler``: what enlarged the inputs it was trained on (``modelfile.RESAMPLERS``; None: not
    known, and ``predict`` then assumes the paper's), ``scale``: the scale it was trained for (None:
    not known). ``npsrcnn train`` sets both, and files npsrcnn writes keep them.
    """

    def __init__(self, layers, resampler=None, scale=None):
        if resampler is not None and resampler not in modelfile.RESAMPLERS:
            raise NpsrcnnError(f"resampler {resampler!r} is not one of {', '.join(modelfile.RESAMPLERS)}")
        self.resampler, self.scale = resampler, scale
        self.layers = list(layers)
        if not self.layers:
            raise NpsrcnnError("a model needs at least one conv layer")
        for i, (a, b) in enumerate(zip(self.layers, self.layers[1:]), start=1):
            if a.kernel.shape[3] != b.kernel.shape[2]:
                raise NpsrcnnError(
                    f"layer {i} gives {a.kernel.shape[3]} channels but layer {i + 1} takes {b.kernel.shape[2]}"
                )

    @classmethod
    def build(cls, arch="9-1-5", filters=(64, 32), padding=None, channels=1, seed=0, init="glorot"):
        """A freshly initialised model, biases zero. ``init="glorot"``: Glorot-uniform kernels, as Keras
        does; ``"gaussian"``: N(0, 0.001²), the paper's (with its SGD rates).

        ``padding`` is one mode for every layer or one per layer; None means the tutorials' convention.
        """
        if init not in INITS:
            raise NpsrcnnError(f"initialisation {init!r} is not one of {', '.join(INITS)}")
        sizes = parse_arch(arch)
        filters = tuple(filters)
        if len(filters) != len(sizes) - 1:
            raise NpsrcnnError(
                f"architecture {arch} has {len(sizes)} layers and needs {len(sizes) - 1} "
                f"filter counts, got {len(filters)}"
            )
        paddings = modelfile.per_layer(padding, len(sizes))
        widths = (channels, *filters, channels)
        rng = np.random.default_rng(seed)
        layers = []
        for i, k in enumerate(sizes):
            shape = (k, k, widths[i], widths[i + 1])
            if init == "gaussian":
                kernel = rng.normal(0.0, GAUSSIAN_STD, shape)
            else:
                limit = np.sqrt(6.0 / (k * k * widths[i] + k * k * widths[i + 1]))  # fan in + fan out
                kernel = rng.uniform(-limit, limit, shape)
            layers.append(
                ConvLayer(kernel, np.zeros(widths[i + 1]), paddings[i], "relu" if i < len(sizes) - 1 else "linear")
            )
        return cls(layers)

    @classmethod
    def from_file(cls, path, padding=None):
        """Read Keras 1/2/3 ``.h5``, ``.weights.h5``, ``.keras``, the authors' ``.mat`` or an ``.onnx``
        Conv/Relu chain (``npsrcnn.modelfile.read``); ``padding`` overrides the file's. Every error
        names the file."""
        specs, record = modelfile.read(path, padding)  # its errors name the file already
        layers = []
        try:
            for spec in specs:
                try:
                    layers.append(ConvLayer(spec.kernel, spec.bias, spec.padding, spec.activation))
                except NpsrcnnError as e:
                    raise NpsrcnnError(f"layer {spec.name}: {e}") from None
            return cls(layers, record.resampler, record.scale)
        except NpsrcnnError as e:
            raise NpsrcnnError(f"{Path(path)}: {e}") from None

    def save(self, path):
        """Write ``path`` by its suffix: ``.onnx``, an ONNX graph any ONNX runtime runs (NCHW, input
        ``(N, C, H, W)``; its metadata say what to feed it); anything else, a full-model Keras ``.h5``
        that ``keras.models.load_model`` reads. Both keep the resampler and scale."""
        record = modelfile.Record(self.resampler, self.scale)
        if Path(path).suffix.lower() == ".onnx":
            modelfile.write_onnx(self.layers, path, record, self.shrink)
        else:
            modelfile.write_keras_h5(self.layers, path, record)

    def widened(self, arch):
        """The same network with larger kernels ``arch`` (e.g. 9-5-5 from a 9-1-5): each old kernel sits
        at the centre of its new one with zeros around it.

        The wider model computes exactly the old function (a same-padded layer reads its padding only
        through the new zeros; a valid one just outputs fewer pixels), so fine-tuning it starts where
        the trained narrow one ended instead of from scratch. Every new size must be at least the old
        one and differ from it by an even number, so that the centres line up.
        """
        sizes = parse_arch(arch)
        if len(sizes) != len(self.layers):
            raise NpsrcnnError(f"cannot widen a {len(self.layers)}-layer model to {arch} ({len(sizes)} layers)")
        layers = []
        for i, (layer, k) in enumerate(zip(self.layers, sizes), start=1):
            kh, kw, c_in, c_out = layer.kernel.shape
            if k < max(kh, kw) or (k - kh) % 2 or (k - kw) % 2:
                raise NpsrcnnError(
                    f"layer {i}: a {kh}x{kw} kernel cannot be centred in a {k}x{k} one "
                    f"(it must not shrink, and must grow by an even number)"
                )
            kernel = np.zeros((k, k, c_in, c_out), np.float32)
            top, left = (k - kh) // 2, (k - kw) // 2
            kernel[top : top + kh, left : left + kw] = layer.kernel
            layers.append(ConvLayer(kernel, layer.bias.copy(), layer.padding, layer.activation))
        return SRCNN(layers, self.resampler, self.scale)

    @property
    def channels(self):
        return self.layers[0].kernel.shape[2]

    @property
    def shrink(self):
        """Total pixels lost ``(top, bottom, left, right)`` by the valid layers."""
        return tuple(int(sum(s)) for s in zip(*(layer.shrink for layer in self.layers)))

    @property
    def receptive_field(self):
        """Input pixels that one output pixel sees, per axis: ``(sum(kh) - n + 1, sum(kw) - n + 1)``."""
        top, bottom, left, right = self.margin
        return top + bottom + 1, left + right + 1

    @property
    def margin(self):
        """The receptive field around an output pixel ``(top, bottom, left, right)``: every layer's
        half-kernel, summed whatever its padding (a tile needs this much input beyond itself)."""
        return tuple(
            int(sum(s))
            for s in zip(*(pad_split(l.kernel.shape[0]) + pad_split(l.kernel.shape[1]) for l in self.layers))
        )

    def describe(self):
        """One line, e.g. ``9-3-5 / 128-64, padding valid-same-valid, relu-relu-linear``."""
        sizes = "-".join(
            f"{l.kernel.shape[0]}"
            if l.kernel.shape[0] == l.kernel.shape[1]
            else f"{l.kernel.shape[0]}x{l.kernel.shape[1]}"
            for l in self.layers
        )
        filters = "-".join(str(l.kernel.shape[3]) for l in self.layers[:-1])
        params = sum(l.kernel.size + l.bias.size for l in self.layers)
        return (
            f"{sizes} / {filters or '-'}, padding {'-'.join(l.padding for l in self.layers)}, "
            f"{'-'.join(l.activation for l in self.layers)}, {self.channels} -> "
            f"{self.layers[-1].kernel.shape[3]} channels, {params} parameters"
        )

    def forward(self, x, backend="numpy", borders=None):
        """``(H, W)`` or ``(N, H, W, C)`` float in [0, 1] -> the network's output, shaped alike.

        Each valid layer shrinks the image by its kernel size minus one; ``same`` and ``replicate``
        layers keep it. Computes in the input's float dtype (float32 or float64).
        ``borders``: one ``reference.Border`` per layer, padded instead of the layer's own padding
        (with zeros, or the edge for a replicate layer). A tile of a larger image passes them
        (``npsrcnn.tiling``): each of its layers pads only where the tile touches the image's edge.
        """
        x, ops = np.asarray(x), backends.get(backend)
        # only the last layer's output is kept: earlier ones are freed as the next is made
        batch = ops.to_host(deque(self.layer_outputs(self._as_batch(x, borders), ops, borders), maxlen=1)[0])
        if x.ndim == 2 and batch.shape[3] == 1:
            return batch[0, :, :, 0]
        return batch[0] if x.ndim == 2 else batch

    def activations(self, x, backend="numpy"):
        """Every layer's output, in order, for looking inside the network (``npsrcnn.viz``).

        ``(H, W)`` -> ``[(H1, W1, C1), (H2, W2, C2), ...]``; ``(N, H, W, C)`` -> ``[(N, H1, W1, C1), ...]``,
        where layer k gives ``C_k`` maps (its kernel's ``c_out``: n1, n2, then 1 for the paper's
        model), each after the layer's activation. The last entry is what ``forward`` returns.
        Keeps every map in memory (64 float32 maps of a 512x512 image are 64 MB): meant for crops.
        """
        x, ops = np.asarray(x), backends.get(backend)
        outputs = [ops.to_host(out) for out in self.layer_outputs(self._as_batch(x), ops)]
        return [out[0] for out in outputs] if x.ndim == 2 else outputs

    def silent(self, x, backend="auto", chunk=256):
        """``(N, H, W, C)`` patches -> for each ReLU layer, a ``(C_out,)`` bool array: which of its units
        never fire on any of them. A unit whose pre-activation is negative on every input gets no
        gradient, so once dead in training it stays dead, and the network is narrower than its shapes
        say. Patches go through ``chunk`` at a time (64 maps of 256 33x33 patches are 70 MB)."""
        x = np.asarray(x)
        relu = [k for k, layer in enumerate(self.layers) if layer.activation == "relu"]
        fired = [np.zeros(self.layers[k].kernel.shape[3], bool) for k in relu]
        for start in range(0, len(x), chunk):
            outputs = self.activations(x[start : start + chunk], backend)
            for seen, k in zip(fired, relu):
                seen |= (outputs[k] > 0).any(axis=(0, 1, 2))
        return [~seen for seen in fired]

    def silent_units(self, x, backend="auto", chunk=256):
        """How many units of each ReLU layer never fire on the patches ``x`` (``silent``)."""
        return [int(mask.sum()) for mask in self.silent(x, backend, chunk)]

    def layer_outputs(self, batch, ops, borders=None):
        """The one forward loop: ``(N, H, W, C)`` -> each layer's ``(N, H_k, W_k, C_k)`` output in turn,
        left where the backend ``ops`` (``npsrcnn.backends.get(name)``) keeps it (on cuda, the device)."""
        for layer, padding in zip(self.layers, self._paddings(borders)):
            batch = ops.layer_forward(batch, layer, padding)
            yield batch

    def _paddings(self, borders):
        """Each layer's padding: its own mode, or the ``Border`` given for it (None keeps its own)."""
        if borders is None:
            return [layer.padding for layer in self.layers]
        if len(borders) != len(self.layers):
            raise NpsrcnnError(f"{len(borders)} borders given for {len(self.layers)} layers")
        return [layer.padding if b is None else b for layer, b in zip(self.layers, borders)]

    def loss_and_grads(self, x, y, backend="numpy", loss="mse"):
        """The loss of a batch and its gradient for every layer: ``x (N, H, W, C)``, ``y`` shaped like
        the output -> ``(loss, [(dkernel, dbias), ...])`` in layer order, shapes as the weights.

        ``loss="mse"``: Keras' mean of the squared error over every output value (the tutorials');
        ``"euclidean"``: Caffe's Euclidean loss, ``1/(2N) Σ_i ‖F(x_i) − y_i‖²``, summed over each
        output's values and averaged over the batch, the loss the paper's SGD rates were set for. It
        is the mean times P/2 (P values per output), and every gradient is linear in the output's,
        so the same P/2 scales the gradients.

        Forward keeps each layer's input and output; backward walks the layers in reverse. Each
        layer's convolution backward gives its kernel and bias gradients and the gradient of its
        input, which is the layer below's ReLU output: that ReLU's backward (zero where the unit did
        not fire) is passed along as a gate, so a backend can apply it as it writes the input
        gradient. The first layer's input gradient is never computed.
        """
        if loss not in LOSSES:
            raise NpsrcnnError(f"loss {loss!r} is not one of {', '.join(LOSSES)}")
        ops = backends.get(backend)
        batch = self._as_batch(np.asarray(x))
        activations = [batch, *self.layer_outputs(batch, ops)]
        y = np.asarray(y)
        if y.shape != activations[-1].shape:
            raise NpsrcnnError(f"target has shape {y.shape}; the network's output is {activations[-1].shape}")
        mse, grad = ops.mse(activations[-1], y.astype(activations[-1].dtype))
        if self.layers[-1].activation == "relu":  # the only ReLU backward no layer above has applied
            grad = ops.relu_backward(activations[-1], grad)
        grads = []
        for k in reversed(range(len(self.layers))):
            below_is_relu = k > 0 and self.layers[k - 1].activation == "relu"
            grad, dkernel, dbias = ops.layer_backward(
                activations[k], self.layers[k], grad, need_dx=k > 0, gate=activations[k] if below_is_relu else None
            )
            grads.append((ops.to_host(dkernel), ops.to_host(dbias)))
        if loss == "euclidean":
            factor = np.prod(activations[-1].shape[1:]) / 2
            return mse * factor, [(dk * dk.dtype.type(factor), db * db.dtype.type(factor)) for dk, db in grads[::-1]]
        return mse, grads[::-1]

    def _as_batch(self, x, borders=None):
        if x.dtype not in (np.float32, np.float64):
            raise NpsrcnnError(f"forward takes float32 or float64 input, got {x.dtype}")
        if x.ndim == 2 and self.channels == 1:
            x = x[None, :, :, None]
        elif x.ndim != 4 or x.shape[3] != self.channels:
            raise NpsrcnnError(f"forward takes (H, W) or (N, H, W, {self.channels}) input, got shape {x.shape}")
        h, w = x.shape[1:3]
        for layer, padding in zip(self.layers, self._paddings(borders)):
            kh, kw = layer.kernel.shape[:2]
            b = border(padding, kh, kw)
            h, w = h + b.top + b.bottom - kh + 1, w + b.left + b.right - kw + 1
        if h < 1 or w < 1:
            top, bottom, left, right = self.shrink
            raise NpsrcnnError(
                f"input of {x.shape[1]}x{x.shape[2]} pixels is smaller than the network's "
                f"{top + bottom + 1}x{left + right + 1} minimum"
            )
        return np.ascontiguousarray(x)


def resolve_model(model, scale):
    """An ``SRCNN`` from a model, a model file, or None (the shipped weights for ``scale``)."""
    if isinstance(model, SRCNN):
        return model
    if model is None:
        if scale != int(scale) or scale < 2:
            raise NpsrcnnError(
                f"no shipped weights for scale {scale}; pass model= (for restoring an "
                f"image degraded by s, the x{{s}} weights: npsrcnn.shipped_weights(s))"
            )
        model = modelfile.shipped_weights(int(scale))
    return SRCNN.from_file(model)
