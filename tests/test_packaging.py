"""How npsrcnn installs: the wheel carries the kernels and the shipped-weights folder inside the package,
nothing at top level; an install whose folder is read-only caches its compiled kernels per user."""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_layout(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(tmp_path),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    (wheel,) = tmp_path.glob("npsrcnn-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert top_level == {"npsrcnn"}
    for needed in (
        "npsrcnn/kernels/conv2d_cpu.py",
        "npsrcnn/kernels/versions.py",
        "npsrcnn/pretrained/README.md",
        "npsrcnn/cli.py",
    ):
        assert needed in names
    shipped = {p.name for p in (ROOT / "weights").glob("*.h5")}
    assert shipped == {Path(n).name for n in names if n.startswith("npsrcnn/pretrained/") and n.endswith(".h5")}
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "npsrcnn = npsrcnn.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


_COMPILE_ONE_KERNEL = """
import numpy as np
from numba.core import event
from npsrcnn.kernels import relu_cpu

with event.install_recorder("numba:compile") as compiles:
    x = np.array([-1.0, 2.0], np.float32)
    relu_cpu.relu(x)
assert x.tolist() == [0.0, 2.0], x
print(sum(ev.is_start for _, ev in compiles.buffer), relu_cpu.__file__)
"""


def _read_only_runner(folder):
    """The command prefix that runs a process seeing ``folder`` read-only, or None where this machine
    cannot make one. Permission bits do not stop root (CI runs as root), so the folder is bind-mounted
    read-only in a private mount namespace; an unprivileged user gets one through a user namespace."""

    if shutil.which("unshare") is None:
        return None
    mount = f"mount --bind {folder} {folder} && mount -o remount,bind,ro {folder} {folder}"
    prefix = ["unshare", "-m"] if os.geteuid() == 0 else ["unshare", "-r", "-m"]
    probe = [*prefix, "sh", "-c", f'{mount} && ! touch "{folder}/probe" 2>/dev/null']
    probe = subprocess.run(probe, capture_output=True)
    return None if probe.returncode else lambda command: [*prefix, "sh", "-c", f'{mount} && exec "$@"', "sh", *command]


def test_kernels_compile_into_the_user_cache_when_the_package_folder_is_read_only(tmp_path):
    """A system-wide install cannot cache beside its kernel files: numba's cache then goes to the
    user's cache folder ($XDG_CACHE_HOME/numba), and the next process loads the kernel from there."""
    site = tmp_path / "site"
    shutil.copytree(ROOT / "npsrcnn", site / "npsrcnn", ignore=shutil.ignore_patterns("__pycache__"))
    run_read_only = _read_only_runner(site)
    if run_read_only is None:
        pytest.skip("this machine cannot mount a folder read-only for a process (no unshare or no namespaces)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_")}
    env.update(PYTHONPATH=str(site), XDG_CACHE_HOME=str(tmp_path / "cache"), NPSRCNN_QUIET="1")
    runs = [
        subprocess.run(
            run_read_only([sys.executable, "-c", _COMPILE_ONE_KERNEL]),
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,  # not the checkout, whose npsrcnn would come first on the path
        )
        for _ in range(2)
    ]
    for run in runs:
        assert run.returncode == 0, run.stderr
    (first, source), (second, _) = (run.stdout.split() for run in runs)
    assert Path(source).is_relative_to(site)
    assert int(first) >= 1 and int(second) == 0  # compiled once, then loaded
    assert list((tmp_path / "cache" / "numba").rglob("relu_cpu*.nbi"))
    assert not list(site.rglob("*.nbi")) and not list(site.rglob("*.nbc"))
