"""ONNX out and in, each checked against real runtimes on real pixels.

Out: ``SRCNN.save("m.onnx")`` runs in ONNX Runtime and in OpenCV's dnn to npsrcnn's forward (1e-5).
In: graphs as PyTorch (``torch.onnx.export``, where torch is installed; else the same structure built
with ``onnx.helper``) and tf2onnx write them read back to what ONNX Runtime computes from the very
same file. Keras .h5 -> ONNX -> .h5 keeps every weight bit. The bad files' one-line errors through
the CLI are in ``tests/test_bad_inputs.py``.
"""

import subprocess
import sys

import cv2
import h5py
import numpy as np
import onnx
import onnxruntime
import pytest
import skimage.data
from onnx import helper, numpy_helper

import npsrcnn
from helpers import real_luma, run_cli, small_model, torch_style_onnx
from npsrcnn import SRCNN, NpsrcnnError

PADDINGS = ["same", "valid", "replicate", None]  # None: the tutorials' valid-same-valid


def _ort(path_or_model, x):
    """ONNX Runtime's output for the graph's one input ``x``."""
    source = path_or_model if isinstance(path_or_model, str) else path_or_model.SerializeToString()
    session = onnxruntime.InferenceSession(source, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def _nchw(x):
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


@pytest.mark.parametrize("padding", PADDINGS)
def test_an_export_runs_in_onnxruntime_and_opencv_dnn_as_npsrcnn(tmp_path, padding):
    model = SRCNN.build("9-3-5", (16, 8), padding=padding, seed=3)
    model.resampler, model.scale = "opencv-bilinear", 3
    path = tmp_path / "m.onnx"
    model.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]  # no temporary left behind
    worst = {}
    for height, width in ((41, 37), (30, 52)):  # one file, any size and batch: the axes are dynamic
        x = np.stack([real_luma(height, width), real_luma(height, width, top=200, left=250)])[..., None]
        expected = _nchw(model.forward(x, backend="numpy"))
        got_ort = _ort(str(path), _nchw(x))
        net = cv2.dnn.readNetFromONNX(str(path))
        net.setInput(_nchw(x))
        got_cv = net.forward()
        assert got_ort.shape == got_cv.shape == expected.shape
        worst["ort"] = max(worst.get("ort", 0), np.abs(got_ort - expected).max())
        worst["cv"] = max(worst.get("cv", 0), np.abs(got_cv - expected).max())
    print(f"max |runtime - npsrcnn| ({padding}): {worst}")
    assert worst["ort"] <= 1e-5 and worst["cv"] <= 1e-5

    proto = onnx.load(path)
    onnx.checker.check_model(proto, full_check=True)
    assert [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")] == [17]
    assert [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim] == ["N", 1, "H", "W"]
    pads = [n for n in proto.graph.node if n.op_type == "Pad"]
    assert len(pads) == (3 if padding == "replicate" else 0)
    assert all(helper.get_attribute_value(n.attribute[0]) == b"edge" for n in pads)
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["npsrcnn_resampler"] == "opencv-bilinear" and meta["npsrcnn_scale"] == "3"
    lost = {"valid": 7, None: 6}.get(padding, 0)  # 9-3-5: a valid 9 loses 4 a side, 3 loses 1, 5 loses 2
    assert meta["npsrcnn_border"] == " ".join([str(lost)] * 4)
    assert "Y of YCbCr" in meta["npsrcnn_input"] and "opencv-bilinear" in meta["npsrcnn_input"]


def test_keras_h5_to_onnx_and_back_keeps_every_weight_bit(tmp_path):
    model = small_model(seed=6)
    model.resampler, model.scale = "matlab", 2.5
    model.save(tmp_path / "a.h5")
    SRCNN.from_file(tmp_path / "a.h5").save(tmp_path / "m.onnx")
    back = SRCNN.from_file(tmp_path / "m.onnx")
    back.save(tmp_path / "b.h5")
    with h5py.File(tmp_path / "a.h5") as a, h5py.File(tmp_path / "b.h5") as b:
        names = list(a["model_weights"].attrs["layer_names"])
        assert names and names == list(b["model_weights"].attrs["layer_names"])
        for name in (n.decode() for n in names):
            for kind in ("kernel", "bias"):
                key = f"model_weights/{name}/{name}/{kind}:0"
                assert a[key][()].tobytes() == b[key][()].tobytes() and a[key].dtype == b[key].dtype
        assert a.attrs["model_config"] == b.attrs["model_config"]  # paddings and activations too
    assert (back.resampler, back.scale) == ("matlab", 2.5)

    unknown = small_model("replicate")  # a model that says nothing of its training stays silent
    unknown.save(tmp_path / "r.onnx")
    again = SRCNN.from_file(tmp_path / "r.onnx")
    assert (again.resampler, again.scale) == (None, None)
    assert [l.padding for l in again.layers] == ["replicate"] * 3


def _spread(layers, x_nhwc, low=-0.4, high=1.4):
    """Rescale the last layer so that the network's output on ``x`` spans [low, high]: a clamp to
    [0, 1] then has work to do on both sides."""
    model = SRCNN(layers)
    out = model.forward(x_nhwc, backend="numpy")
    a = (high - low) / np.ptp(out)
    last = model.layers[-1]
    last.kernel *= np.float32(a)
    last.bias[:] = low - a * out.min() + a * last.bias
    return model


@pytest.mark.parametrize(
    "arch,padding,clamp,constants",
    [
        ("9-5-5", "same", None, False),  # nn.Conv2d(..., padding=k // 2)
        ("9-1-5", "valid", None, False),  # padding=0
        ("9-5-5", "same", (0.0, 1.0), False),  # torch.clamp(out, 0, 1)
        ("9-1-5", "valid", (0.0, 1.0), True),  # weights as Constant nodes
        ("9-5-5", "same", (None, 1.0), True),  # clamp(max=1)
    ],
)
def test_a_pytorch_style_graph_reads_back_as_onnxruntime_runs_it(tmp_path, arch, padding, clamp, constants):
    x = np.stack([real_luma(40, 44), real_luma(40, 44, top=250, left=200)])[..., None]
    model = _spread(SRCNN.build(arch, (16, 8), padding=padding, seed=11).layers, x)
    proto = torch_style_onnx(
        model.layers, clamp=clamp and tuple(-np.inf if c is None else c for c in clamp), constants=constants
    )
    onnx.save(proto, tmp_path / "torch.onnx")
    expected = _ort(str(tmp_path / "torch.onnx"), _nchw(x))
    if clamp is not None:
        assert (expected == 1).any() and ((expected == 0).any() or clamp[0] is None)  # the clamp clamped
    loaded = SRCNN.from_file(tmp_path / "torch.onnx")
    assert [l.padding for l in loaded.layers] == [padding] * 3
    assert [l.activation for l in loaded.layers][-1] == ("relu" if clamp and clamp[0] == 0 else "linear")
    got = _nchw(loaded.forward(x, backend="numpy"))
    if clamp is not None:  # npsrcnn clips to 1 when it writes pixels; forward leaves the values above
        assert got.max() > 1.1
        got = np.minimum(got, 1)
    assert np.abs(got - expected).max() <= 1e-5


def _tf2onnx_style(model):
    """A Keras model as tf2onnx converts it: NHWC input, a Transpose to NCHW, Conv with ``auto_pad``
    SAME_UPPER or VALID, Relu, a Transpose back and an Identity to the output; each kernel an
    initializer read through an Identity node."""
    nodes = [helper.make_node("Transpose", ["input_1"], ["nchw"], perm=[0, 3, 1, 2])]
    initializers, current = [], "nchw"
    for i, layer in enumerate(model.layers):
        w, b = f"sequential/conv2d_{i}/Conv2D/ReadVariableOp:0", f"sequential/conv2d_{i}/BiasAdd/ReadVariableOp:0"
        initializers += [
            numpy_helper.from_array(np.ascontiguousarray(layer.kernel.transpose(3, 2, 0, 1)), w + "raw"),
            numpy_helper.from_array(layer.bias, b),
        ]
        nodes.append(helper.make_node("Identity", [w + "raw"], [w]))
        pad = "SAME_UPPER" if layer.padding == "same" else "VALID"
        nodes.append(helper.make_node("Conv", [current, w, b], [f"conv{i}"], auto_pad=pad))
        current = f"conv{i}"
        if layer.activation == "relu":
            nodes.append(helper.make_node("Relu", [current], [f"relu{i}"]))
            current = f"relu{i}"
    nodes += [
        helper.make_node("Transpose", [current], ["nhwc"], perm=[0, 2, 3, 1]),
        helper.make_node("Identity", ["nhwc"], ["conv2d_2"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tf2onnx",
        [helper.make_tensor_value_info("input_1", onnx.TensorProto.FLOAT, ["unk__1", "unk__2", "unk__3", 1])],
        [helper.make_tensor_value_info("conv2d_2", onnx.TensorProto.FLOAT, ["unk__4", "unk__5", "unk__6", 1])],
        initializers,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="tf2onnx")


@pytest.mark.parametrize("padding", [None, "same"])
def test_a_tf2onnx_style_graph_in_nhwc_reads_back_as_onnxruntime_runs_it(tmp_path, padding):
    model = SRCNN.build("9-3-5", (16, 8), padding=padding, seed=12)
    path = tmp_path / "keras.onnx"
    onnx.save(_tf2onnx_style(model), path)
    x = np.stack([real_luma(33, 35), real_luma(33, 35, top=300)])[..., None]  # NHWC, as the graph takes it
    expected = _ort(str(path), x)
    loaded = SRCNN.from_file(path)
    assert [l.padding for l in loaded.layers] == [l.padding for l in model.layers]
    assert np.abs(loaded.forward(x, backend="numpy") - expected).max() <= 1e-5


@pytest.mark.filterwarnings("ignore:You are using the legacy TorchScript:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:The feature will be removed:DeprecationWarning")  # the same exporter, inside
def test_a_pytorch_export_reads_back_as_pytorch_computes(tmp_path):
    torch = pytest.importorskip("torch")

    class SRCNN915(torch.nn.Module):  # the common PyTorch SRCNN, 9-5-5 or 9-1-5
        def __init__(self, f2=5, same=True, clamp=False):
            super().__init__()
            self.conv1 = torch.nn.Conv2d(1, 16, 9, padding=4 if same else 0)
            self.conv2 = torch.nn.Conv2d(16, 8, f2, padding=f2 // 2 if same else 0)
            self.conv3 = torch.nn.Conv2d(8, 1, 5, padding=2 if same else 0)
            self.relu = torch.nn.ReLU(inplace=True)
            self.clamp = clamp

        def forward(self, x):
            out = self.conv3(self.relu(self.conv2(self.relu(self.conv1(x)))))
            return out.clamp(0.0, 1.0) if self.clamp else out

    x = np.stack([real_luma(40, 44), real_luma(40, 44, top=250, left=200)])[:, None]
    worst = 0.0
    for kwargs in (dict(), dict(f2=1, same=False), dict(clamp=True)):
        torch.manual_seed(0)
        net = SRCNN915(**kwargs).eval()
        with torch.no_grad():
            net.conv3.weight *= 20  # outputs beyond [0, 1] on both sides, so that a clamp clamps
            net.conv3.bias.fill_(0.5)
            expected = net(torch.from_numpy(x)).numpy()
        path = tmp_path / "torch.onnx"
        torch.onnx.export(
            net,
            (torch.from_numpy(x),),
            str(path),
            dynamo=False,  # the TorchScript exporter: the dynamo one needs onnxscript
            input_names=["input"],
            output_names=["output"],
            dynamic_axes={"input": {0: "n", 2: "h", 3: "w"}, "output": {0: "n", 2: "h", 3: "w"}},
            opset_version=17,
        )
        ops = [n.op_type for n in onnx.load(path).graph.node]
        assert ops[:5] == ["Conv", "Relu", "Conv", "Relu", "Conv"] and ("Clip" in ops) == bool(kwargs.get("clamp"))
        got = _nchw(SRCNN.from_file(path).forward(np.ascontiguousarray(x.transpose(0, 2, 3, 1)), backend="numpy"))
        if kwargs.get("clamp"):
            assert (expected == 1).any() and (expected == 0).any()
            got = np.minimum(got, 1)
        worst = max(worst, np.abs(got - expected).max())
    print(f"max |npsrcnn - pytorch|: {worst}")
    assert worst <= 1e-5


def _conv_of(layers, **attrs):
    return torch_style_onnx(layers, conv_attrs={1: attrs})


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda l: _conv_of(l, pads=[2, 2, 1, 2]), "node 2 is Conv with pads [2, 2, 1, 2]: npsrcnn reads 0 (valid)"),
        (lambda l: _conv_of(l, group=2), "node 2 is Conv with group=2 (SRCNN convolutions use 1)"),
        (lambda l: _conv_of(l, dilations=[2, 2]), "node 2 is Conv with dilations=[2, 2]"),
        (lambda l: _conv_of(l, strides=[1, 2]), "node 2 is Conv with strides=[1, 2]"),
        (lambda l: _conv_of(l, auto_pad="SAME_LOWER", pads=None), None),  # odd kernels: the same as SAME_UPPER
        (
            lambda l: torch_style_onnx(l, clamp=(0, 255)),
            "node 7 is Clip clamping to [0.0, 255.0] (npsrcnn reads a final clamp to [0, 1] only)",
        ),
        (
            lambda l: torch_style_onnx(l, tail=[helper.make_node("Upsample", ["x", "scales"], ["y"], mode="nearest")]),
            "node 5 is Upsample; npsrcnn reads chains of Conv/Relu (SRCNN)",
        ),
        (
            lambda l: torch_style_onnx(l, tail=[helper.make_node("Add", ["x", "input"], ["y"])]),  # a residual SRCNN
            "node 5 is Add; npsrcnn reads chains of Conv/Relu (SRCNN)",
        ),
        (
            lambda l: torch_style_onnx(
                l, tail=[helper.make_node("Relu", ["x"], ["y"]), helper.make_node("Relu", ["x"], ["y"])]
            ),
            "node 6 is Relu not right after a Conv",
        ),
        (
            lambda l: torch_style_onnx(l, tail=[helper.make_node("Pad", ["x", "p"], ["y"], mode="reflect")]),
            "node 5 is Pad",
        ),
    ],
)
def test_graphs_that_are_not_srcnn_chains_are_one_line_errors_naming_the_node(tmp_path, make, message):
    layers = SRCNN.build("9-3-5", (4, 4), padding="same", seed=1).layers
    proto = make(layers)
    path = tmp_path / "m.onnx"
    onnx.save(proto, path)
    if message is None:
        assert [l.padding for l in SRCNN.from_file(path).layers] == ["same"] * 3
        return
    with pytest.raises(NpsrcnnError) as info:
        SRCNN.from_file(path)
    assert str(info.value).startswith(f"{path}: ") and message in str(info.value)
    assert "\n" not in str(info.value)


def _external(tmp_path, where):
    """A model whose weights live in a file beside it or, for ``where`` != "inside", outside its folder."""
    folder = tmp_path / "model"
    folder.mkdir()
    small_model(seed=8).save(tmp_path / "plain.onnx")
    proto = onnx.load(tmp_path / "plain.onnx")
    onnx.save_model(proto, folder / "m.onnx", save_as_external_data=True, location="m.bin", size_threshold=0)
    if where == "inside":
        return folder / "m.onnx"
    (folder / "m.bin").rename(tmp_path / "m.bin")
    location = {
        "parent": "../m.bin",
        "absolute": str(tmp_path / "m.bin"),
        "link": "link.bin",
    }[where]
    if where == "link":
        (folder / "link.bin").symlink_to(tmp_path / "m.bin")
    proto = onnx.load(folder / "m.onnx", load_external_data=False)
    for tensor in proto.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = location
    (folder / "m.onnx").write_bytes(proto.SerializeToString())
    return folder / "m.onnx"


@pytest.mark.parametrize("where", ["parent", "absolute", "link"])
def test_external_data_outside_the_folder_is_refused_unread(tmp_path, monkeypatch, where):
    (tmp_path / "beside").mkdir()
    beside = SRCNN.from_file(_external(tmp_path / "beside", "inside"))  # weights in the model's folder: read
    assert all(np.array_equal(a.kernel, b.kernel) for a, b in zip(beside.layers, small_model(seed=8).layers))
    path = _external(tmp_path, where)

    def never(*args, **kwargs):
        raise AssertionError("external data was read")

    monkeypatch.setattr(onnx.external_data_helper, "load_external_data_for_tensor", never)
    with pytest.raises(NpsrcnnError, match="outside the model's folder; refusing the file") as info:
        SRCNN.from_file(path)
    assert str(info.value).startswith(f"{path}: tensor 'conv1.W' keeps its data at ")


def test_without_the_onnx_package_one_line_says_how_to_get_it(tmp_path, monkeypatch):
    small_model().save(tmp_path / "m.onnx")
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ImportError
    with pytest.raises(NpsrcnnError) as info:
        SRCNN.from_file(tmp_path / "m.onnx")
    assert str(info.value) == f"{tmp_path / 'm.onnx'}: reading ONNX needs the onnx package: pip install 'npsrcnn[onnx]'"
    with pytest.raises(NpsrcnnError, match=r"writing .*w\.onnx needs the onnx package: pip install 'npsrcnn\[onnx\]'"):
        small_model().save(tmp_path / "w.onnx")
    assert not (tmp_path / "w.onnx").exists()


def test_import_npsrcnn_does_not_import_onnx():
    code = "import sys, npsrcnn; npsrcnn.SRCNN.from_file(npsrcnn.shipped_weights(2)); print('onnx' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "False", result.stderr


def test_export_info_and_upscale_a_folder_with_the_onnx_model(tmp_path):
    """The CLI end to end: export a Keras file and the shipped weights, show one, upscale a folder with it."""
    folder = tmp_path / "in"
    folder.mkdir()
    face = skimage.data.astronaut()[90:150, 160:230]
    npsrcnn.write_image(folder / "face.png", face)
    npsrcnn.write_image(folder / "gray.png", face[..., 1])
    model = small_model(seed=9)
    model.resampler, model.scale = "opencv", 2
    model.save(tmp_path / "w.h5")
    exported = run_cli("export", "--weights", tmp_path / "w.h5", "-o", tmp_path / "m.onnx")
    assert exported.returncode == 0, exported.stderr
    shipped = run_cli("export", "-s", 2, "-o", tmp_path / "x2.onnx")
    assert shipped.returncode == 0 and "shipped x2 -> " in shipped.stdout, shipped.stderr
    reference = SRCNN.from_file(npsrcnn.shipped_weights(2))
    assert all(
        np.array_equal(a.kernel, b.kernel)
        for a, b in zip(SRCNN.from_file(tmp_path / "x2.onnx").layers, reference.layers)
    )

    info = run_cli("info", tmp_path / "m.onnx")
    assert info.returncode == 0, info.stderr
    assert f"{tmp_path / 'm.onnx'}: 9-3-5 / 8-4, padding valid-same-valid, relu-relu-linear" in info.stdout
    assert "resampler opencv: its training inputs" in info.stdout and "scale 2" in info.stdout

    out = {}
    for name in ("w.h5", "m.onnx"):
        result = run_cli("upscale", "-i", folder, "-o", tmp_path / f"out-{name}", "-s", 2, "--model", tmp_path / name)
        assert result.returncode == 0, result.stderr
        out[name] = {p.name: npsrcnn.read_image(p) for p in (tmp_path / f"out-{name}").iterdir()}
    assert sorted(out["m.onnx"]) == ["face_x2.png", "gray_x2.png"]
    for name, image in out["m.onnx"].items():  # the same weights and record: the same pixels
        np.testing.assert_array_equal(image, out["w.h5"][name])
