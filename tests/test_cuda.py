"""The numba.cuda kernels against the NumPy oracle, through the same harness as the CPU kernels.
(The cuda *backend* runs in the shared backend tests: ``helpers.backends_to_test``.)

Without a GPU these run in numba's CUDA simulator (tests/conftest.py sets NUMBA_ENABLE_CUDASIM=1):
the same kernel code, each thread a Python thread, so shapes are tiny but chosen to cross every tile
edge (v2's 16-pixel tiles and 8-channel groups, v3's 64-pixel and 64-channel tiles, v2 dkernel's
16-wide tiles and 2048-pixel chunks). On a GPU the same tests run for real, plus SRCNN-sized layers.
The harness hands the cuda versions device arrays, as it does when it times them.

Tolerance: 2e-6 relative to the output's scale (``harness.relative_error``), as for the CPU's direct
sums: every version sums at most a few thousand float32 products per output, so rounding stays near
sqrt(K) * 2^-24, while an indexing mistake is of order 1.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

from helpers import ON_GPU
from npsrcnn import backends, reference
from npsrcnn.kernels import (
    conv2d_cuda,
    conv2d_dbias_cuda,
    conv2d_dinput_cuda,
    conv2d_dkernel_cuda,
    cuda_support,
    harness,
    mse_cuda,
    relu_cuda,
    versions,
)

pytestmark = pytest.mark.cuda
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
PADDINGS = {
    "conv2d": ["valid", "same", "replicate", "full"],
    "conv2d_dinput": ["valid"],
    "conv2d_dkernel": ["valid", "same", "replicate"],
}
SMALL_OPS = {"conv2d_dbias": conv2d_dbias_cuda, "relu": relu_cuda, "relu_backward": relu_cuda, "mse": mse_cuda}


def _cases():
    for op, module in MODULES.items():
        for shape in SHAPES + TILE_EDGES[op] + (GPU_SHAPES if ON_GPU else []):
            for padding in PADDINGS[op] if shape in SHAPES or ON_GPU else PADDINGS[op][-1:]:
                for version in harness.supported(module, op, shape[4:6] + shape[3:4] + shape[6:]):
                    yield pytest.param(op, version, shape, padding, id=f"{op}-{version}-{padding}-{shape}")


@pytest.mark.parametrize("op,version,shape,padding", list(_cases()))
def test_every_cuda_version_matches_the_reference(op, version, shape, padding):
    harness.check(MODULES[op], op, version, harness.make_case(shape, padding), TOLERANCE)


@pytest.mark.parametrize("op", sorted(SMALL_OPS))
def test_every_small_cuda_op_matches_the_reference(op):
    case = harness.make_case((2, 7, 5, 3, 3, 3, 4), "same", seed=3)
    for version in harness.supported(SMALL_OPS[op], op, case["kernel"].shape):
        harness.check(SMALL_OPS[op], op, version, case, 1e-5)


def test_a_tiles_border_is_read_in_place():
    """A Border pads unevenly (a tile at the image's top-left corner): read on the device, no copy."""
    case = harness.make_case((1, 9, 8, 3, 3, 3, 5), "valid", seed=2)
    border = reference.Border(2, 0, 1, 0, replicate=True)
    expected = reference.conv2d(
        case["x"].astype(np.float64), case["kernel"].astype(np.float64), case["bias"].astype(np.float64), border
    )
    for version in conv2d_cuda.VERSIONS:
        got = conv2d_cuda.conv2d(case["x"], case["kernel"], case["bias"], border, False, version)
        assert got.shape == expected.shape == (1, 9, 7, 5)
        assert harness.relative_error(got, expected) <= TOLERANCE


@pytest.mark.parametrize("padding", ["valid", "same", "replicate"])
def test_the_input_gradient_folds_back_through_each_padding(padding):
    case = harness.make_case((1, 6, 7, 2, 3, 3, 3), padding)
    for version in conv2d_dinput_cuda.VERSIONS:
        kernel = cuda_support.as_device(case["kernel"])
        got = conv2d_dinput_cuda.conv2d_dx_device(
            cuda_support.as_device(case["dout"]),
            kernel,
            cuda_support.as_device(conv2d_dinput_cuda.rotated(case["kernel"])),
            padding,
            version,
        )
        expected = reference.conv2d_backward(
            case["x"].astype(np.float64), case["kernel"].astype(np.float64), case["dout"].astype(np.float64), padding
        )[0]
        assert harness.relative_error(cuda_support.to_host(got), expected) <= TOLERANCE


def test_a_cuda_op_file_runs_its_harness():
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM=os.environ.get("NUMBA_ENABLE_CUDASIM", "1"))
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "npsrcnn.kernels.mse_cuda",
            "--shape",
            "1",
            "6",
            "5",
            "2",
            "3",
            "3",
            "2",
            "--repeat",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert run.returncode == 0, run.stderr
    assert [line.split()[0] for line in run.stdout.splitlines()] == ["op", "mse"]


def test_weights_are_uploaded_once_and_again_when_they_change():
    kernel = np.ones((3, 3, 1, 2), np.float32)
    first = cuda_support.cached_on_device(kernel)
    assert cuda_support.cached_on_device(kernel) is first  # unchanged: the same device array
    kernel[0, 0, 0, 0] = 5  # the optimizer updates weights in place
    again = cuda_support.cached_on_device(kernel)
    assert again is not first and cuda_support.to_host(again)[0, 0, 0, 0] == 5


def test_backend_selection():
    assert backends.resolve("auto") == ("cuda" if ON_GPU else "cpu")
    assert backends.resolve("cuda") == "cuda"  # the simulator or a GPU is present in this session
    assert versions.pick("cuda", "conv2d", (9, 9, 1, 64)) in conv2d_cuda.VERSIONS


def test_cuda_without_a_gpu_is_a_clear_error():
    code = "from npsrcnn import backends; backends.resolve('cuda')"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, "NUMBA_ENABLE_CUDASIM": "0"}
    )
    if ON_GPU:
        assert result.returncode == 0
    else:
        assert "no CUDA GPU" in result.stderr and "--backend cpu" in result.stderr
