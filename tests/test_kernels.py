"""Every kernel version through the lab's harness: small shapes, odd sizes, all paddings.

Tolerances are relative to the output's scale (``harness.relative_error``), float32:
- direct sums and GEMMs (v1-v3, v5-v8, v10; every backward but Winograd): 2e-6. An output
  sums K = kh*kw*C_in terms; float32 rounding adds about sqrt(K) * 2^-24 of the scale
  (K <= 1152 here: ~2e-6 worst case, typically far less), while any indexing mistake is of order 1.
- Winograd (conv2d v4 and v9, dkernel v3 and v9, dinput v2 on square kernels): 5e-5. The transforms' entries
  reach 5.25 (F(4,5)), which amplifies the float32 rounding of each tile by ~10-20x.
The harness compares against the float64 oracle; float64 inputs are checked separately (1e-12).
"""

import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import real_luma, small_model
from npsrcnn import reference
from npsrcnn.kernels import (
    conv2d_cpu,
    conv2d_dbias_cpu,
    conv2d_dinput_cpu,
    conv2d_dkernel_cpu,
    harness,
    mse_cpu,
    relu_cpu,
    versions,
)

PADDINGS = ["valid", "same", "replicate"]
SHAPES = [  # (N, H, W, C_in, kh, kw, C_out): SRCNN's kinds of layer at odd sizes, plus even kernels
    (1, 13, 11, 1, 9, 9, 7),
    (2, 8, 9, 5, 3, 3, 6),
    (1, 10, 7, 3, 5, 1, 2),
    (1, 6, 6, 4, 2, 4, 3),
    (1, 9, 9, 128, 3, 3, 16),
    (2, 12, 11, 16, 5, 5, 8),
    (1, 11, 10, 12, 1, 1, 9),
    (2, 9, 10, 20, 5, 5, 1),
    (1, 7, 8, 8, 4, 4, 8),
]
WINOGRAD = {
    ("conv2d", "v4"),
    ("conv2d", "v9"),
    ("conv2d_dkernel", "v3"),
    ("conv2d_dkernel", "v9"),
    ("conv2d_dinput", "v2"),
}
MODULES = {"conv2d": conv2d_cpu, "conv2d_dinput": conv2d_dinput_cpu, "conv2d_dkernel": conv2d_dkernel_cpu}


def _tolerance(op, version):
    return 5e-5 if (op, version) in WINOGRAD else 2e-6


# "full" is the forward's form for the input gradient, not a layer padding: the forward alone takes it
OP_PADDINGS = [(op, p) for op in sorted(MODULES) for p in PADDINGS] + [("conv2d", "full")]


@pytest.mark.parametrize("op,padding", OP_PADDINGS)
@pytest.mark.parametrize("shape", SHAPES)
def test_every_version_passes_the_harness(op, padding, shape):
    module = MODULES[op]
    case = harness.make_case(shape, padding, seed=sum(shape))
    chosen = harness.supported(module, op, case["kernel"].shape)
    assert len(chosen) >= 2  # at least the plain version and one more
    for version in chosen:
        harness.check(module, op, version, case, _tolerance(op, version))


@pytest.mark.parametrize("version", sorted(conv2d_cpu.VERSIONS))
@pytest.mark.parametrize("padding", PADDINGS + ["full"])
def test_a_gated_convolution_is_the_relu_backward_of_its_output(version, padding):
    """The gate (the layer below's ReLU output, in training) zeroes exactly where it is not positive:
    the fused epilogue of the GATED versions and the separate pass of the others agree with it."""
    shape = next(
        s
        for s in [(2, 11, 9, 5, 3, 3, 6), (2, 11, 9, 5, 1, 1, 6), (2, 11, 9, 5, 3, 3, 1)]
        if version in harness.supported(conv2d_cpu, "conv2d", (s[4], s[5], s[3], s[6]))
    )
    case = harness.make_case(shape, padding, seed=7)
    args = (case["x"], case["kernel"], case["bias"], padding, False, version)
    plain = conv2d_cpu.conv2d(*args)
    gate = np.random.default_rng(1).normal(size=plain.shape).astype(np.float32)
    gate[0, 0, 0, 0] = 0.0  # not positive: closed
    gated = conv2d_cpu.conv2d(*args, gate=gate)
    np.testing.assert_array_equal(gated, reference.relu_backward(gate, plain))
    assert 0.3 < np.mean(gated == 0) < 0.7


@pytest.mark.parametrize("rows", [1, 2, 3])
@pytest.mark.parametrize("padding", PADDINGS + ["full"])
def test_v10s_bands_meet_without_seams(monkeypatch, rows, padding):
    """v10 makes each band's Z from its own input rows and halo: bands of 1-3 output rows over 13-row
    maps put band edges against every row of a 5×5 window and against the padding, top and bottom."""
    monkeypatch.setattr(conv2d_cpu, "ROWS_V10", rows)
    for shape in [(2, 13, 11, 6, 5, 5, 1), (1, 13, 9, 4, 3, 5, 2)]:
        harness.check(conv2d_cpu, "conv2d", "v10", harness.make_case(shape, padding, seed=rows), 2e-6)


@pytest.mark.parametrize("version", ["v1", "v4", "v8"])  # a pass after, and two that gate as they write
def test_a_gate_of_another_shape_is_refused(version):
    case = harness.make_case((1, 9, 8, 4, 3, 3, 5), "same", seed=1)
    with pytest.raises(ValueError, match=r"gate has shape \(1, 9, 7, 5\); the output is \(1, 9, 8, 5\)"):
        conv2d_cpu.conv2d(
            case["x"], case["kernel"], case["bias"], "same", False, version, gate=np.ones((1, 9, 7, 5), np.float32)
        )


@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("version", sorted(conv2d_dinput_cpu.VERSIONS))
def test_a_gated_input_gradient_is_the_relu_backward_of_the_layer_below(padding, version):
    case = harness.make_case((2, 12, 10, 6, 3, 3, 4), padding, seed=3)
    plain = conv2d_dinput_cpu.conv2d_dx(case["dout"], case["kernel"], padding, version)
    gate = np.random.default_rng(2).normal(size=case["x"].shape).astype(np.float32)
    gated = conv2d_dinput_cpu.conv2d_dx(case["dout"], case["kernel"], padding, version, gate)
    np.testing.assert_array_equal(gated, reference.relu_backward(gate, plain))


# Winograd's versions compute in float32 whatever they are given
@pytest.mark.parametrize("version", [v for v in conv2d_cpu.VERSIONS if ("conv2d", v) not in WINOGRAD])
def test_float64_versions_are_exact_to_float64(version):
    shape = {"v3": (1, 9, 8, 3, 3, 3, 1), "v5": (1, 9, 8, 3, 1, 1, 2)}.get(version, (1, 9, 8, 3, 3, 3, 2))
    case = harness.make_case(shape, "replicate")
    x64, k64, b64 = (case[k].astype(np.float64) for k in ("x", "kernel", "bias"))
    got = conv2d_cpu.conv2d(x64, k64, b64, "replicate", False, version)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, reference.conv2d(x64, k64, b64, "replicate"), rtol=0, atol=1e-12)


@settings(max_examples=20, deadline=None)
@given(
    n=st.integers(1, 2),
    h=st.integers(1, 12),
    w=st.integers(1, 12),
    c_in=st.integers(1, 6),
    k=st.integers(1, 5),
    c_out=st.integers(1, 5),
    padding=st.sampled_from(PADDINGS),
)
def test_the_version_picked_for_any_shape(n, h, w, c_in, k, c_out, padding):
    """Whatever the shape, the version the cpu backend picks agrees with the oracle."""
    h, w = (h + k - 1, w + k - 1) if padding == "valid" else (h, w)
    case = harness.make_case((n, h, w, c_in, k, k, c_out), padding, seed=h * w)
    version = versions.pick("cpu", "conv2d", case["kernel"].shape)
    harness.check(conv2d_cpu, "conv2d", version, case, _tolerance("conv2d", version))


SMALL_OPS = {"conv2d_dbias": conv2d_dbias_cpu, "relu": relu_cpu, "relu_backward": relu_cpu, "mse": mse_cpu}


@pytest.mark.parametrize("op", sorted(SMALL_OPS))
@pytest.mark.parametrize("shape", [(3, 11, 7, 2, 1, 1, 5), (2, 9, 8, 3, 3, 3, 1)])
def test_every_small_op_version_passes_the_harness(op, shape):
    """The bias gradient, ReLU and its backward, and the MSE: float64 sums, so 2e-6 of the scale."""
    case = harness.make_case(shape, "same", seed=sum(shape))
    chosen = harness.supported(SMALL_OPS[op], op, case["kernel"].shape)
    assert chosen
    for version in chosen:
        harness.check(SMALL_OPS[op], op, version, case, 2e-6)


@pytest.mark.parametrize("padding", [None, "same", "replicate"])
def test_cpu_backend_matches_numpy_backend_on_a_real_image(padding):
    model = small_model(padding)
    luma = real_luma(40, 33)
    np.testing.assert_allclose(
        model.forward(luma, backend="cpu"), model.forward(luma, backend="numpy"), rtol=0, atol=2e-5
    )


def test_results_do_not_depend_on_the_thread_count():
    """Training resumes bit-exactly only if gradients are the same with 1 or 2 threads."""
    code = (
        "import numpy as np, sys; from npsrcnn import SRCNN; from npsrcnn.kernels import threads;"
        "threads.set_threads(int(sys.argv[1])); m = SRCNN.build('9-3-5', (16, 8), seed=1);"
        "r = np.random.default_rng(0); x = r.random((6, 33, 33, 1), dtype=np.float32);"
        "_, g = m.loss_and_grads(x, x[:, 6:-6, 6:-6], backend='cpu');"
        "sys.stdout.buffer.write(b''.join(a.tobytes() for pair in g for a in pair))"
    )
    outputs = [
        subprocess.run([sys.executable, "-c", code, str(n)], capture_output=True, timeout=300).stdout for n in (1, 2)
    ]
    assert outputs[0] and outputs[0] == outputs[1]


# every CPU op file and the ops its command line runs
OP_FILES = {
    "conv2d_cpu": ["conv2d"],
    "conv2d_dinput_cpu": ["conv2d_dinput"],
    "conv2d_dkernel_cpu": ["conv2d_dkernel"],
    "conv2d_dbias_cpu": ["conv2d_dbias"],
    "relu_cpu": ["relu", "relu_backward"],
    "mse_cpu": ["mse"],
}


def _harness(name, *args, env=None):
    return subprocess.run(
        [sys.executable, "-m", f"npsrcnn.kernels.{name}", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


@pytest.mark.parametrize("name", sorted(OP_FILES))
def test_every_op_file_lists_checks_and_times_its_versions(name):
    module = __import__(f"npsrcnn.kernels.{name}", fromlist=["_"])
    listed = _harness(name, "--list")
    assert listed.returncode == 0 and listed.stdout.strip() == module.__doc__.strip()
    shape = (2, 12, 12, 8, 3, 3, 8)
    run = _harness(name, "--shape", *shape, "--repeat", "1")
    assert run.returncode == 0, run.stderr
    expected = [
        (op, v) for op in OP_FILES[name] for v in harness.supported(module, op, shape[4:6] + shape[3:4] + shape[6:])
    ]
    assert [tuple(line.split()[0:1] + line.split()[8:9]) for line in run.stdout.splitlines()[1:]] == expected
    only = _harness(name, "--shape", *shape, "--repeat", "1", "--version", expected[0][1])
    assert {line.split()[8] for line in only.stdout.splitlines()[1:]} == {expected[0][1]}


def test_a_broken_version_stops_the_harness_before_timing(tmp_path):
    """llm.c's rule: a version that disagrees with the oracle is named and nothing is timed. Winograd's
    output transform is broken here (one entry of A^T changed), so v4 alone goes wrong; the harness
    is run exactly as a user runs it, with ``python -m``."""
    (tmp_path / "sitecustomize.py").write_text(
        "from npsrcnn.kernels import winograd_cpu\n"
        "right = winograd_cpu.transforms\n"
        "def broken(m, r):\n"
        "    at, g, bt = right(m, r)\n"
        "    at = at.copy(); at[0, 0] += 0.5\n"
        "    return at, g, bt\n"
        "winograd_cpu.transforms = broken\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    run = _harness("conv2d_cpu", "--shape", 1, 12, 12, 8, 3, 3, 8, "--repeat", "1", env=env)
    assert run.returncode == 1
    assert run.stdout == ""  # not even the table's header: nothing was timed
    assert run.stderr.startswith("harness: mismatch, nothing timed: conv2d v4 (3, 3, 8, 8) same: error")
    healthy = _harness("conv2d_cpu", "--shape", 1, 12, 12, 8, 3, 3, 8, "--repeat", "1")
    assert healthy.returncode == 0 and " v4 " in healthy.stdout


def test_kernels_run_as_plain_python_with_jit_disabled():
    """minitorch's rule: the kernels are plain functions, steppable without numba compiling them."""
    code = (
        "import numpy as np, numba; from npsrcnn.kernels import conv2d_cpu; from npsrcnn import reference;"
        "assert not isinstance(conv2d_cpu.conv2d_valid_v1, numba.core.dispatcher.Dispatcher);"
        "r = np.random.default_rng(0); x = r.random((1, 6, 5, 2)); k = r.normal(size=(3, 3, 2, 2));"
        "b = r.normal(size=2);"
        "assert all(np.allclose(conv2d_cpu.conv2d(x, k, b, 'same', False, v), reference.conv2d(x, k, b, 'same'),"
        " atol=1e-5) for v in ('v1', 'v2', 'v4', 'v6', 'v7', 'v8', 'v9', 'v10'))"
    )
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
