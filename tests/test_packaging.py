"""The wheel carries the kernels and the shipped-weights folder inside the package, nothing at top level."""

import subprocess
import sys
import zipfile
from pathlib import Path

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
