"""SRCNN as an ONNX graph, out and in, with the ``onnx`` package (an optional extra, imported only here
and only when an ONNX file is written or read: ``import npsrcnn`` never loads it).

Out: a plain chain in NCHW, the layout every ONNX runtime expects::

    input (N, C, H, W) --[Pad, mode edge]--> Conv (+ Relu) --> ... --> Conv --> output (N, C', H', W')

N, H and W are dynamic. A ``same`` layer's zeros are the Conv's own ``pads``; a ``replicate`` layer
pads through a ``Pad`` node in edge mode, then a Conv with none; a ``valid`` layer pads nothing.
Opset 17 at the IR version that opset came with, which ONNX Runtime and OpenCV's dnn both read.

In: the same chain as other programs write it (``torch.onnx.export`` of a ``nn.Sequential`` of
``Conv2d`` and ``ReLU``; tf2onnx's Keras models, wrapped in NHWC<->NCHW Transposes), weights as
initializers or ``Constant`` nodes, taken from the graph's data and nothing else: no operator runs.
A final clamp (``Clip``, or ``Max``/``Min`` with a constant) is read as far as npsrcnn's layers can
hold it: a floor at 0 is a ReLU on the last layer, exactly; a ceiling at 1 is left out, since npsrcnn
clips what it writes to [0, 1] (``forward`` then returns the unclamped values above 1). Anything
else is refused with one line naming the first node that does not fit.

Kernels travel as ONNX's ``(c_out, c_in, kh, kw)`` and come back as ``(kh, kw, c_in, c_out)``,
npsrcnn's (Keras') layout, bit for bit. This module knows graphs and tensors; what the metadata's
keys mean is ``npsrcnn.modelfile``'s.
"""

import math
from pathlib import Path

import numpy as np

from npsrcnn.atomic import atomic_write
from npsrcnn.errors import NpsrcnnError
from npsrcnn.reference import border, pad_split

OPSET = 17
INPUT, OUTPUT = "luma", "restored"
TO_NCHW, TO_NHWC = [0, 3, 1, 2], [0, 2, 3, 1]  # tf2onnx's Transposes around a Keras model's chain
CHAIN = "npsrcnn reads chains of Conv/Relu (SRCNN)"


def _onnx(doing):
    """The ``onnx`` package, or one line that says how to get it."""
    try:
        import onnx
        import onnx.external_data_helper
        import onnx.numpy_helper
    except ImportError:
        raise NpsrcnnError(f"{doing} needs the onnx package: pip install 'npsrcnn[onnx]'") from None
    return onnx


def build(layers, metadata, doc="", doing="writing ONNX"):
    """Conv layers (each with ``kernel (kh, kw, c_in, c_out)``, ``bias (c_out,)``, ``padding`` and
    ``activation``) -> a checked ``onnx.ModelProto``, its ``metadata_props`` set to ``metadata``
    (``{str: str}``) and its ``doc_string`` to ``doc``. Input ``(N, c_in, H, W)`` float32 named
    ``luma``, output ``restored``; the weights are initializers."""
    onnx = _onnx(doing)
    helper, numpy_helper = onnx.helper, onnx.numpy_helper
    nodes, initializers, current = [], [], INPUT
    for i, layer in enumerate(layers, start=1):
        kh, kw = layer.kernel.shape[:2]
        b = border(layer.padding, kh, kw)
        pads = [b.top, b.left, b.bottom, b.right]  # ONNX: every axis' start, then every axis' end
        if b.replicate:
            initializers.append(
                numpy_helper.from_array(np.array([0, 0, b.top, b.left, 0, 0, b.bottom, b.right], np.int64), f"pads{i}")
            )
            nodes.append(helper.make_node("Pad", [current, f"pads{i}"], [f"padded{i}"], f"pad{i}", mode="edge"))
            current, pads = f"padded{i}", [0, 0, 0, 0]
        initializers += [
            numpy_helper.from_array(np.ascontiguousarray(layer.kernel.transpose(3, 2, 0, 1), np.float32), f"conv{i}.W"),
            numpy_helper.from_array(np.asarray(layer.bias, np.float32), f"conv{i}.B"),
        ]
        out = f"conv{i}"
        nodes.append(
            helper.make_node(
                "Conv",
                [current, f"conv{i}.W", f"conv{i}.B"],
                [out],
                out,
                kernel_shape=[kh, kw],
                pads=pads,
                strides=[1, 1],
                dilations=[1, 1],
                group=1,
            )
        )
        if layer.activation == "relu":
            nodes.append(helper.make_node("Relu", [out], [f"relu{i}"], f"relu{i}"))
            out = f"relu{i}"
        current = out
    nodes[-1].output[0] = OUTPUT
    c_in, c_out = int(layers[0].kernel.shape[2]), int(layers[-1].kernel.shape[3])
    graph = helper.make_graph(
        nodes,
        "srcnn",
        [helper.make_tensor_value_info(INPUT, onnx.TensorProto.FLOAT, ["N", c_in, "H", "W"])],
        [helper.make_tensor_value_info(OUTPUT, onnx.TensorProto.FLOAT, ["N", c_out, None, None])],
        initializers,
    )
    opsets = [helper.make_opsetid("", OPSET)]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="npsrcnn", doc_string=doc)
    model.ir_version = helper.find_min_ir_version_for(opsets)  # not this onnx's newest: older readers refuse that
    helper.set_model_props(model, metadata)
    onnx.checker.check_model(model)
    return model


def write(layers, path, metadata, doc=""):
    """``build``'s graph to ``path``, through a temporary beside it (``atomic_write``)."""
    data = build(layers, metadata, doc, doing=f"writing {path}").SerializeToString()
    with atomic_write(path) as tmp:
        tmp.write_bytes(data)


def read(path):
    """An ONNX file -> ``([(name, [kernel (kh, kw, c_in, c_out), bias (c_out,)?]), ...],
    [(name, padding, activation), ...], metadata {str: str})``: ``modelfile``'s entries and specs.

    The graph is parsed without its external data; each tensor stored outside the file must lie in
    the file's own folder, or the file is refused before any of it is read. Errors are
    ``NpsrcnnError`` without the path (``modelfile.read`` adds it).
    """
    onnx = _onnx("reading ONNX")
    from google.protobuf.message import DecodeError  # protobuf comes with onnx

    path = Path(path)
    try:
        model = onnx.load_model(path, load_external_data=False)
    except DecodeError as e:
        raise NpsrcnnError(f"not a readable ONNX model (truncated or not ONNX: {e})") from None
    if not model.HasField("graph") or not model.graph.node:
        raise NpsrcnnError("not a readable ONNX model (it holds no graph)")
    graph = model.graph
    tensors = {t.name: t for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx") and len(node.attribute) == 1:
            attribute = node.attribute[0]
            if attribute.name == "value":
                tensors[node.output[0]] = attribute.t
            elif attribute.name in ("value_float", "value_floats", "value_int", "value_ints"):
                value = np.array(onnx.helper.get_attribute_value(attribute))
                tensors[node.output[0]] = onnx.numpy_helper.from_array(value, node.output[0])
    _check_external_data(onnx, tensors.values(), path.parent)
    entries, specs = _Chain(onnx, graph, tensors, path.parent).walk()
    return entries, specs, {p.key: p.value for p in model.metadata_props}


def _check_external_data(onnx, tensors, folder):
    """Refuse the file if any tensor's external data lies outside ``folder`` (``../x.bin``, an absolute
    path, a link that leads out): checked for every tensor before any is loaded."""
    inside = folder.resolve()
    for tensor in tensors:
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        location = {e.key: e.value for e in tensor.external_data}.get("location", "")
        target = (inside / location).resolve()
        if not location or Path(location).is_absolute() or not target.is_relative_to(inside) or target == inside:
            raise NpsrcnnError(
                f"tensor {tensor.name!r} keeps its data at {location!r}, outside the model's folder; refusing the file"
            )


class _Chain:
    """One walk over a graph's nodes in their (topological) order, keeping the tensor the chain has
    reached; every node but a ``Constant`` must take that tensor as its first input."""

    def __init__(self, onnx, graph, tensors, folder):
        self.onnx, self.graph, self.tensors, self.folder = onnx, graph, tensors, folder
        inputs = [v.name for v in graph.input if v.name not in tensors]  # old exporters list weights too
        if len(inputs) != 1 or len(graph.output) != 1:
            raise NpsrcnnError(
                f"graph has {len(inputs)} inputs and {len(graph.output)} outputs; an SRCNN has one of each"
            )
        self.current = inputs[0]
        self.layers = []  # [name, kernel, bias, padding, activation]
        self.pad = None  # a Pad node's (top, bottom, left, right, mode), waiting for its Conv
        self.transposed = [False, False]  # the NHWC->NCHW Transpose in front, the NCHW->NHWC one after
        self.clamp = None  # (index, op) of the first Clip/Min/Max: the final clamp, to [floor, ceiling]
        self.floor, self.ceiling = -math.inf, math.inf
        self.previous = None  # the op of the chain's last node but Identities

    def walk(self):
        handlers = {
            "Identity": lambda: None,
            "Transpose": self._transpose,
            "Pad": self._pad,
            "Conv": self._conv,
            "Relu": self._relu,
            "Clip": self._clip,
            "Max": lambda: self._clamp(self._scalar_operand(), math.inf),
            "Min": lambda: self._clamp(-math.inf, self._scalar_operand()),
        }
        for index, node in enumerate(self.graph.node):
            self.index, self.node, self.op = index, node, node.op_type
            if node.domain not in ("", "ai.onnx"):
                raise self.misfit(f"from the {node.domain} domain")
            if self.op == "Constant":
                continue
            if self.op == "Identity" and node.input[0] in self.tensors:  # a weight passed along
                self.tensors[node.output[0]] = self.tensors[node.input[0]]
                continue
            if self.op not in handlers:
                raise self.misfit()
            if not node.input or node.input[0] != self.current:
                raise self.misfit("off the chain (it does not take the previous node's output)")
            if self.op != "Identity":
                self._check_order()
                handlers[self.op]()
                self.previous = self.op
            self.current = node.output[0]
        if not self.layers:
            raise NpsrcnnError("graph holds no Conv node; " + CHAIN)
        if self.current != self.graph.output[0].name:
            raise NpsrcnnError(f"the chain ends at {self.current!r}, not at the graph's output; " + CHAIN)
        self._settle_clamp()
        entries = [(name, [kernel] + ([] if bias is None else [bias])) for name, kernel, bias, _, _ in self.layers]
        return entries, [(name, padding, activation) for name, _, _, padding, activation in self.layers]

    def _check_order(self):
        """Where in the chain each op may stand: a Transpose back to NHWC ends it; a Pad feeds a Conv;
        a Relu follows a Conv; a clamp follows the last Conv (or its Relu) and nothing but another
        clamp or the Transpose back follows it."""
        if self.transposed[1]:
            raise self.misfit("after the Transpose back to NHWC")
        if self.pad is not None and self.op != "Conv":
            raise self.misfit("after a Pad (a Pad must feed a Conv)")
        if self.clamp is not None and self.op not in ("Clip", "Min", "Max", "Transpose"):
            raise self.misfit(f"after the final clamp (node {self.clamp[0]}, {self.clamp[1]})")
        if self.op == "Relu" and self.previous != "Conv":
            raise self.misfit("not right after a Conv")
        if self.op in ("Clip", "Min", "Max") and not self.layers:
            raise self.misfit("before the first Conv")

    def misfit(self, why=None, index=None, op=None):
        """The one-line refusal naming the first node that does not fit."""
        index, op = (self.index, self.op) if index is None else (index, op)
        return NpsrcnnError(f"node {index} is {op}{f' {why}' if why else ''}; {CHAIN}")

    def attributes(self):
        return {a.name: self.onnx.helper.get_attribute_value(a) for a in self.node.attribute}

    def constant(self, name, what):
        """The array behind a node input that must be data (an initializer or a Constant node's)."""
        if name not in self.tensors:
            raise self.misfit(f"whose {what} {name!r} is computed, not stored in the file")
        tensor = self.tensors[name]
        if tensor.data_location == self.onnx.TensorProto.EXTERNAL:
            self.onnx.external_data_helper.load_external_data_for_tensor(tensor, str(self.folder))
        return self.onnx.numpy_helper.to_array(tensor)

    def _transpose(self):
        perm = list(self.attributes().get("perm", []))
        if perm == TO_NCHW and not self.layers and self.pad is None and not self.transposed[0]:
            self.transposed[0] = True
        elif perm == TO_NHWC and self.layers:
            self.transposed[1] = True
        else:
            raise self.misfit(f"with perm {perm} (only NHWC->NCHW before the first Conv and back after the last)")

    def _pad(self):
        attrs = self.attributes()
        inputs = list(self.node.input) + [""] * 3
        mode = attrs.get("mode", b"constant").decode()
        pads = attrs.get("pads") if inputs[1] == "" else self.constant(inputs[1], "pads")
        value = attrs.get("value", 0.0) if inputs[2] == "" else self.constant(inputs[2], "constant value")
        if inputs[3] != "":
            raise self.misfit("with axes (npsrcnn reads Pads over all four axes)")
        pads = [int(p) for p in np.ravel(pads)]
        if len(pads) != 8 or any(pads[k] for k in (0, 1, 4, 5)):
            raise self.misfit(f"with pads {pads} (npsrcnn pads height and width only)")
        if mode not in ("edge", "constant") or (mode == "constant" and np.any(np.ravel(value) != 0)):
            raise self.misfit(f"in mode {mode} (npsrcnn pads with zeros or the edge)")
        self.pad = (pads[2], pads[6], pads[3], pads[7], mode)

    def _conv(self):
        node, attrs = self.node, self.attributes()
        for key, plain in (("group", 1), ("dilations", [1, 1]), ("strides", [1, 1])):
            value = attrs.get(key, plain)
            if np.any(np.ravel(value) != 1):
                raise self.misfit(f"with {key}={value} (SRCNN convolutions use 1)")
        if len(node.input) < 2:
            raise self.misfit("without weights")
        weight = self.constant(node.input[1], "weight")
        bias = self.constant(node.input[2], "bias") if len(node.input) > 2 and node.input[2] else None
        if weight.ndim != 4:
            raise self.misfit(f"with a weight of shape {weight.shape} (a 2-D Conv's is (c_out, c_in, kh, kw))")
        kh, kw = weight.shape[2:]
        if list(attrs.get("kernel_shape", [kh, kw])) != [kh, kw]:
            raise self.misfit(f"whose kernel_shape {attrs['kernel_shape']} is not its weight's {kh}x{kw}")
        padding = self._padding(attrs, kh, kw)
        name = node.name or f"conv{len(self.layers) + 1}"
        self.layers.append([name, np.ascontiguousarray(weight.transpose(2, 3, 1, 0)), bias, padding, "linear"])

    def _padding(self, attrs, kh, kw):
        """A Conv's ``pads`` or ``auto_pad`` (with the Pad before it, if any) -> valid, same or replicate."""
        auto = attrs.get("auto_pad", b"NOTSET").decode()
        (top, bottom), (left, right) = pad_split(kh), pad_split(kw)
        if auto == "VALID":
            pads = [0, 0, 0, 0]
        elif auto in ("SAME_UPPER", "SAME_LOWER"):
            pads = [top, left, bottom, right] if auto == "SAME_UPPER" else [bottom, right, top, left]
        else:
            pads = [int(p) for p in attrs.get("pads", [0, 0, 0, 0])]
        half = [top, left, bottom, right]  # npsrcnn's same: the odd pixel of an even kernel after
        if self.pad is not None:
            pad_top, pad_bottom, pad_left, pad_right, mode = self.pad
            self.pad = None
            if any(pads) or [pad_top, pad_left, pad_bottom, pad_right] != half:
                raise self.misfit(
                    f"with a Pad of {[pad_top, pad_left, pad_bottom, pad_right]} before it and pads {pads}: npsrcnn "
                    f"reads a Pad of the kernel's half {half} before a Conv without pads"
                )
            return "replicate" if mode == "edge" else "same"
        if pads == [0, 0, 0, 0]:
            return "valid"
        if pads == half:
            return "same"
        given = f"pads {pads}" if auto == "NOTSET" else f"auto_pad {auto} (pads {pads})"
        raise self.misfit(f"with {given}: npsrcnn reads 0 (valid) or the kernel's half {half} (same)")

    def _relu(self):
        self.layers[-1][4] = "relu"

    def _clip(self):
        attrs, inputs = self.attributes(), list(self.node.input) + ["", ""]
        floor = attrs.get("min", -math.inf) if inputs[1] == "" else self.constant(inputs[1], "min")
        ceiling = attrs.get("max", math.inf) if inputs[2] == "" else self.constant(inputs[2], "max")
        self._clamp(floor, ceiling)

    def _scalar_operand(self):
        if len(self.node.input) != 2:
            raise self.misfit(f"of {len(self.node.input)} inputs (a clamp takes the chain and one constant)")
        value = self.constant(self.node.input[1], "operand")
        if value.size != 1:
            raise self.misfit(f"with an operand of shape {value.shape} (a clamp's is one number)")
        return value

    def _clamp(self, floor, ceiling):
        if self.clamp is None:
            self.clamp = (self.index, self.op)
        self.floor = max(self.floor, float(np.ravel(floor)[0]))
        self.ceiling = min(self.ceiling, float(np.ravel(ceiling)[0]))

    def _settle_clamp(self):
        """A floor at 0 is the last layer's ReLU; a ceiling at 1 is npsrcnn's own clip when it writes."""
        if self.clamp is None:
            return
        if self.floor not in (-math.inf, 0.0) or self.ceiling not in (1.0, math.inf):
            raise self.misfit(
                f"clamping to [{self.floor}, {self.ceiling}] (npsrcnn reads a final clamp to [0, 1] only)",
                *self.clamp,
            )
        if self.floor == 0.0:
            self.layers[-1][4] = "relu"
