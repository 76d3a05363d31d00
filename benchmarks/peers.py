"""The runtimes a user would otherwise pick, each running an npsrcnn model's network with the same
weights: TensorFlow/Keras, PyTorch (CPU), ONNX Runtime and OpenVINO (the last two from one ONNX
graph: Conv + Relu, NCHW, opset 17). Each is optional: a peer whose library is not installed is
left out (``pip install -e '.[bench]'`` installs them).

``forward_peers(model, threads)`` -> ``{name: run}`` where ``run(x (N, H, W, 1) float32)`` returns the
network's output ``(N, H', W', 1)`` float32, exactly what ``model.forward(x)`` returns.
"""

import numpy as np

from npsrcnn.reference import border


def forward_peers(model, threads):
    peers = {}
    for name, make in (
        ("tensorflow", _tensorflow),
        ("pytorch", _pytorch),
        ("onnxruntime", _onnxruntime),
        ("openvino", _openvino),
    ):
        try:
            peers[name] = make(model, threads)
        except ImportError:
            continue
    return peers


def keras_twin(model):
    """The model as a Keras Sequential of Conv2D layers, same weights (valid and same paddings)."""
    import keras

    twin = keras.Sequential(
        [keras.Input((None, None, model.channels))]
        + [
            keras.layers.Conv2D(l.kernel.shape[3], l.kernel.shape[:2], padding=l.padding, activation=l.activation)
            for l in model.layers
        ]
    )
    twin.set_weights([a for l in model.layers for a in (l.kernel, l.bias)])
    return twin


def _tensorflow(model, threads):
    twin = keras_twin(model)
    return lambda x: twin(x, training=False).numpy()


def torch_layers(model):
    """The model as a list of ``torch.nn.Conv2d`` (+ ReLU) modules, NCHW, same weights."""
    import torch

    layers = []
    for layer in model.layers:
        kh, kw, c_in, c_out = layer.kernel.shape
        b = border(layer.padding, kh, kw)
        if b.replicate:
            layers.append(torch.nn.ReplicationPad2d((b.left, b.right, b.top, b.bottom)))
        elif b.top or b.bottom or b.left or b.right:
            layers.append(torch.nn.ZeroPad2d((b.left, b.right, b.top, b.bottom)))
        conv = torch.nn.Conv2d(c_in, c_out, (kh, kw))
        with torch.no_grad():
            conv.weight.copy_(torch.from_numpy(layer.kernel.transpose(3, 2, 0, 1).copy()))
            conv.bias.copy_(torch.from_numpy(layer.bias))
        layers.append(conv)
        if layer.activation == "relu":
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def _pytorch(model, threads):
    import torch

    torch.set_num_threads(threads)
    net = torch_layers(model).eval()

    def run(x):
        with torch.inference_mode():
            return net(torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))).numpy().transpose(0, 2, 3, 1)

    return run


def onnx_graph(model):
    """The model as an ONNX ``ModelProto``: Conv (+ Relu) nodes, NCHW, a dynamic height and width;
    replicate padding through a ``Pad`` node in edge mode."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, initializers, current = [], [], "luma"
    for i, layer in enumerate(model.layers):
        kh, kw = layer.kernel.shape[:2]
        b = border(layer.padding, kh, kw)
        pads = [b.top, b.left, b.bottom, b.right]
        if b.replicate:
            initializers.append(
                numpy_helper.from_array(np.array([0, 0, b.top, b.left, 0, 0, b.bottom, b.right]), f"pads{i}")
            )
            nodes.append(helper.make_node("Pad", [current, f"pads{i}"], [f"padded{i}"], mode="edge"))
            current, pads = f"padded{i}", [0, 0, 0, 0]
        initializers += [
            numpy_helper.from_array(np.ascontiguousarray(layer.kernel.transpose(3, 2, 0, 1)), f"w{i}"),
            numpy_helper.from_array(layer.bias, f"b{i}"),
        ]
        out = f"conv{i}"
        nodes.append(helper.make_node("Conv", [current, f"w{i}", f"b{i}"], [out], kernel_shape=[kh, kw], pads=pads))
        if layer.activation == "relu":
            nodes.append(helper.make_node("Relu", [out], [f"relu{i}"]))
            out = f"relu{i}"
        current = out
    graph = helper.make_graph(
        nodes,
        "srcnn",
        [helper.make_tensor_value_info("luma", TensorProto.FLOAT, ["N", model.channels, "H", "W"])],
        [helper.make_tensor_value_info(current, TensorProto.FLOAT, ["N", model.layers[-1].kernel.shape[3], "h", "w"])],
        initializers,
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(proto)
    return proto


def _onnxruntime(model, threads):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = onnxruntime.InferenceSession(
        onnx_graph(model).SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    return lambda x: session.run(None, {"luma": np.ascontiguousarray(x.transpose(0, 3, 1, 2))})[0].transpose(0, 2, 3, 1)


def _openvino(model, threads):
    import openvino

    core = openvino.Core()
    compiled = core.compile_model(
        core.read_model(onnx_graph(model).SerializeToString()),
        "CPU",
        {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"},
    )
    request = compiled.create_infer_request()

    def run(x):
        request.infer({0: np.ascontiguousarray(x.transpose(0, 3, 1, 2))})
        return request.get_output_tensor(0).data.transpose(0, 2, 3, 1).copy()

    return run
