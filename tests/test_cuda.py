"""The numba.cuda kernels against the NumPy oracle, through the same harness as the CPU kernels.

Without a GPU these run in numba's CUDA simulator (tests/conftest.py sets NUMBA_ENABLE_CUDASIM=1):
the same kernel code, each thread a Python thread, so shapes are tiny but chosen to cross every tile
edge (v2's 16-pixel tiles and 8-channel groups, v3's 64-pixel and 64-channel tiles, v2 dkernel's
16-wide tiles and 2048-pixel chunks). On a GPU the same tests run for real, plus SRCNN-sized layers.

Tolerance: 2e-6 relative to the output's scale (``harness.relative_error``), as for the CPU's direct
sums: every version sums at most a few thousand float32 products per output, so rounding stays near
sqrt(K) * 2^-24, while an indexing mistake is of order 1.
"""
import numpy as np
import pytest

from npsrcnn import NpsrcnnError, SRCNN
from npsrcnn.kernels import (conv2d_cuda, conv2d_dbias_cuda, conv2d_dinput_cuda, conv2d_dkernel_cuda, cuda_support,
                             harness, mse_cuda, registry, relu_cuda)
from npsrcnn.model import resolve_backend
from npsrcnn.predict import predict

from helpers import real_luma

pytestmark = pytest.mark.cuda
ON_GPU = registry.gpu_present()
TOLERANCE = 2e-6
# (N, H, W, C_in, kh, kw, C_out): first-layer, mapping and reconstruction kinds, an even kernel
SHAPES = [(1, 5, 6, 2, 3, 3, 3), (2, 4, 5, 3, 1, 1, 2), (1, 7, 6, 1, 5, 5, 1), (1, 6, 5, 3, 2, 4, 2)]
TILE_EDGES = {  # op: shapes whose outputs straddle that op's tiles
    "conv2d": [(1, 17, 3, 1, 3, 3, 9), (1, 9, 8, 1, 1, 1, 3), (1, 2, 1, 1, 1, 1, 65)],
    "conv2d_dkernel": [(1, 5, 4, 5, 2, 2, 17), (1, 46, 46, 1, 1, 1, 1)],
    "conv2d_dinput": [(1, 17, 3, 2, 3, 3, 1)],
}
GPU_SHAPES = [(2, 64, 64, 1, 9, 9, 64), (2, 56, 56, 64, 5, 5, 32), (2, 60, 60, 128, 3, 3, 64), (2, 56, 56, 32, 5, 5, 1)]
MODULES = {"conv2d": conv2d_cuda, "conv2d_dinput": conv2d_dinput_cuda, "conv2d_dkernel": conv2d_dkernel_cuda}
PADDINGS = {"conv2d": ["valid", "same", "replicate", "full"], "conv2d_dinput": ["valid"],
            "conv2d_dkernel": ["valid", "same", "replicate"]}


def _cases():
    for op, module in MODULES.items():
        for shape in SHAPES + TILE_EDGES[op] + (GPU_SHAPES if ON_GPU else []):
            for padding in PADDINGS[op] if shape in SHAPES or ON_GPU else PADDINGS[op][-1:]:
                for version in module.VERSIONS:
                    if module.supports(version, shape[4:6] + shape[3:4] + shape[6:]):
                        yield pytest.param(op, version, shape, padding, id=f"{op}-{version}-{padding}-{shape}")


@pytest.mark.parametrize("op,version,shape,padding", list(_cases()))
def test_every_cuda_version_matches_the_reference(op, version, shape, padding):
    harness.check(MODULES[op], op, version, harness.make_case(shape, padding), TOLERANCE)


@pytest.mark.parametrize("padding", ["valid", "same", "replicate"])
def test_the_input_gradient_folds_back_through_each_padding(padding):
    from npsrcnn import reference

    case = harness.make_case((1, 6, 7, 2, 3, 3, 3), padding)
    for version in conv2d_dinput_cuda.VERSIONS:
        kernel = cuda_support.as_device(case["kernel"])
        got = conv2d_dinput_cuda.conv2d_dx_device(cuda_support.as_device(case["dout"]), kernel,
                                                  cuda_support.as_device(conv2d_dinput_cuda.rotated(case["kernel"])),
                                                  padding, version)
        expected = reference.conv2d_backward(case["x"].astype(np.float64), case["kernel"].astype(np.float64),
                                             case["dout"].astype(np.float64), padding)[0]
        assert harness.relative_error(cuda_support.to_host(got), expected) <= TOLERANCE


def test_small_kernels_match_the_reference():
    rng = np.random.default_rng(0)
    dout = rng.normal(size=(2, 5, 3, 3)).astype(np.float32)
    np.testing.assert_allclose(conv2d_dbias_cuda.conv2d_dbias(dout), dout.sum(axis=(0, 1, 2)), rtol=1e-5, atol=1e-5)
    pred, target = rng.random((2, 7, 5, 1), dtype=np.float32), rng.random((2, 7, 5, 1), dtype=np.float32)
    loss, grad = mse_cuda.mse(pred, target)
    diff = pred.astype(np.float64) - target
    assert loss == pytest.approx(np.mean(diff ** 2), rel=1e-6)
    np.testing.assert_allclose(grad, 2 * diff / diff.size, rtol=1e-5, atol=1e-9)
    y = cuda_support.as_device(rng.normal(size=300))
    masked = cuda_support.to_host(relu_cuda.relu_backward_inplace(y, cuda_support.as_device(np.ones(300))))
    np.testing.assert_array_equal(masked, (cuda_support.to_host(y) > 0).astype(np.float32))
    np.testing.assert_array_equal(cuda_support.to_host(relu_cuda.relu_inplace(y)),
                                  np.maximum(cuda_support.to_host(y), 0))


@pytest.mark.parametrize("padding", [None, "same", "replicate"])
def test_the_cuda_backend_trains_like_the_reference(padding):
    """A whole network's loss and gradients, and its forward pass, on the cuda backend."""
    model = SRCNN.build("5-1-3", (4, 2), padding, seed=1)
    x = np.stack([real_luma(9, 8), real_luma(9, 8, top=100)])[..., None]
    target = model.forward(x, "numpy") * 0.9
    loss, grads = model.loss_and_grads(x, target, "cuda")
    expected_loss, expected = model.loss_and_grads(x.astype(np.float64), target.astype(np.float64), "numpy")
    assert loss == pytest.approx(expected_loss, rel=1e-5)
    for (dk, db), (ek, eb) in zip(grads, expected):
        assert isinstance(dk, np.ndarray) and dk.shape == ek.shape
        assert harness.relative_error(dk, ek) <= 1e-5 and harness.relative_error(db, eb) <= 1e-5
    np.testing.assert_allclose(model.forward(x, "cuda"), target / 0.9, atol=1e-6)


def test_predict_runs_on_the_cuda_backend():
    model = SRCNN.build("3-1-3", (4, 2), seed=2)
    image = (real_luma(9, 8) * 255).round().astype(np.uint8)
    np.testing.assert_array_equal(predict(image, 2, weights=model, backend="cuda"),
                                  predict(image, 2, weights=model, backend="numpy"))


def test_weights_are_uploaded_once_and_again_when_they_change():
    kernel = np.ones((3, 3, 1, 2), np.float32)
    first = cuda_support.cached_on_device(kernel)
    assert cuda_support.cached_on_device(kernel) is first  # unchanged: the same device array
    kernel[0, 0, 0, 0] = 5  # the optimizer updates weights in place
    again = cuda_support.cached_on_device(kernel)
    assert again is not first and cuda_support.to_host(again)[0, 0, 0, 0] == 5


def test_backend_selection():
    assert resolve_backend("auto") == ("cuda" if ON_GPU else "cpu")
    assert resolve_backend("cuda") == "cuda"  # the simulator or a GPU is present in this session
    assert registry.cuda_conv2d_version((9, 9, 1, 64)) in conv2d_cuda.VERSIONS


def test_cuda_without_a_gpu_is_a_clear_error():
    import subprocess
    import sys

    code = "from npsrcnn.model import resolve_backend; resolve_backend('cuda')"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**__import__("os").environ, "NUMBA_ENABLE_CUDASIM": "0"})
    if ON_GPU:
        assert result.returncode == 0
    else:
        assert "no CUDA GPU" in result.stderr and "--backend cpu" in result.stderr


def test_the_trainer_runs_on_the_cuda_backend(tmp_path, monkeypatch):
    """The training loop end to end on cuda (tiny patches stand in for T91's 33x33: the simulator is slow)."""
    import npsrcnn.train
    from npsrcnn.train import TrainConfig, train

    patches = np.stack([real_luma(7, 7, top=40 * k) for k in range(2)])[..., None]
    monkeypatch.setattr(npsrcnn.train, "training_pairs", lambda *args: (patches, patches.copy()))
    runs = {}
    for backend in ("cuda", "cpu"):
        cfg = TrainConfig(data="unused", out=str(tmp_path / backend), arch="3-1-3", filters=(3, 2), batch=2, epochs=2,
                          lr=(1e-2,), backend=backend, seed=4)
        train(cfg, progress_bar=False, log=lambda m: None)
        runs[backend] = SRCNN.from_file(tmp_path / backend / "last.h5")
    for ours, cpu in zip(runs["cuda"].layers, runs["cpu"].layers):
        np.testing.assert_allclose(ours.kernel, cpu.kernel, atol=1e-4)  # 2 Adam steps from the same start
