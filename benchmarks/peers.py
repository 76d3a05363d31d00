"""The runtimes a user would otherwise pick, each running an npsrcnn model's network with the same
weights: TensorFlow/Keras, PyTorch (CPU), ONNX Runtime and OpenVINO (the last two from one ONNX
graph: Conv + Relu, NCHW, opset 17). Each is optional: a peer whose library is not installed is
left out (``pip install -e '.[bench]'`` installs them).

``forward_peers(model, threads)`` -> ``{name: run}`` where ``run(x (N, H, W, 1) float32)`` returns the
network's output ``(N, H', W', 1)`` float32, exactly what ``model.forward(x)`` returns.
"""

import importlib

import numpy as np

from npsrcnn import onnxfile
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
    """The model as an ONNX ``ModelProto``, as ``SRCNN.save("m.onnx")`` writes it (``npsrcnn.onnxfile``):
    Conv (+ Relu) nodes, NCHW, a dynamic height and width; replicate padding through an edge-mode Pad."""
    importlib.import_module("onnx")  # without it, an ImportError leaves the ONNX peers out, as a missing runtime does
    return onnxfile.build(model.layers, {})


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
