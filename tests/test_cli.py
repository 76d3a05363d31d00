"""The npsrcnn command, run as a user runs it: a subprocess of the installed console script."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data

import npsrcnn
from helpers import assert_one_line_error, run_cli, small_model
from npsrcnn import psnr, read_image, ssim, write_image

FACE = skimage.data.astronaut()[90:150, 160:230]


@pytest.fixture
def workdir(tmp_path):
    (tmp_path / "in").mkdir()
    write_image(tmp_path / "in" / "face.png", FACE)
    write_image(tmp_path / "in" / "gray.bmp", FACE[..., 1])
    (tmp_path / "in" / "notes.txt").write_text("not an image")
    small_model().save(tmp_path / "w.h5")
    return tmp_path


def test_upscale_a_folder(workdir):
    result = run_cli("upscale", "-i", workdir / "in", "-o", workdir / "out", "-s", 2, "--model", workdir / "w.h5")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (workdir / "out").iterdir()) == ["face_x2.png", "gray_x2.bmp"]
    assert read_image(workdir / "out" / "face_x2.png").shape == (120, 140, 3)
    assert read_image(workdir / "out" / "gray_x2.bmp").shape == (120, 140)
    assert result.stderr.strip() == f"warning: {workdir / 'in' / 'notes.txt'}: not an image file; skipped"
    assert result.stdout.splitlines()[-1].startswith("2 upscaled in ")


def test_upscale_enlarges_as_told(workdir):
    """--resampler overrides what the model file says (here nothing: the paper's MATLAB bicubic)."""
    out = {}
    for resampler in (None, "matlab", "opencv"):
        folder = workdir / f"out-{resampler}"
        option = ["--resampler", resampler] if resampler else []
        result = run_cli(
            "upscale", "-i", workdir / "in" / "face.png", "-o", folder, "-s", 2, "--model", workdir / "w.h5", *option
        )
        assert result.returncode == 0, result.stderr
        out[resampler] = read_image(folder / "face_x2.png")
    np.testing.assert_array_equal(out[None], out["matlab"])
    assert np.mean(out["opencv"] != out["matlab"]) > 0.005  # (the random test network clips most pixels)
    bad = run_cli("upscale", "-i", workdir / "in" / "face.png", "-o", workdir / "o", "--resampler", "lanczos")
    assert bad.returncode == 2 and "invalid choice: 'lanczos'" in bad.stderr


def test_the_old_weights_option_still_names_the_model_file(workdir):
    """``--weights`` was the option's name before ``--model``; scripts that use it keep working."""
    out = {}
    for option in ("--model", "--weights"):
        result = run_cli(
            "upscale", "-i", workdir / "in" / "face.png", "-o", workdir / option, "-s", 2, option, workdir / "w.h5"
        )
        assert result.returncode == 0, result.stderr
        out[option] = read_image(workdir / option / "face_x2.png")
    np.testing.assert_array_equal(out["--model"], out["--weights"])
    assert not np.array_equal(out["--model"], npsrcnn.predict(read_image(workdir / "in" / "face.png"), 2))


def test_a_rerun_skips_what_is_done_and_only_overwrite_replaces(workdir):
    args = ["upscale", "-i", workdir / "in" / "face.png", "-o", workdir / "out", "--model", workdir / "w.h5"]
    assert run_cli(*args).returncode == 0
    done = workdir / "out" / "face_x3.png"
    before = done.stat()
    result = run_cli(*args)
    assert result.returncode == 0 and "0 upscaled, 1 skipped" in result.stdout
    assert done.stat().st_ino == before.st_ino and done.stat().st_mtime_ns == before.st_mtime_ns
    assert run_cli(*args, "--overwrite").returncode == 0
    assert done.stat().st_ino != before.st_ino  # a new file renamed into place


@pytest.mark.parametrize(
    "args,fragments",
    [
        (["upscale", "-i", "{d}/nothing.png", "-o", "{d}/out", "--model", "{d}/w.h5"], ["nothing.png", "no such file"]),
        (
            ["upscale", "-i", "{d}/in/notes.txt", "-o", "{d}/out", "--model", "{d}/w.h5"],
            ["notes.txt", "not a readable image"],
        ),
        (
            ["upscale", "-i", "{d}/in/face.png", "-o", "{d}/out", "--model", "{d}/in/face.png"],
            ["face.png", "not an HDF5"],
        ),
        (["upscale", "-i", "{d}/in/face.png", "-o", "{d}/out", "-s", "5"], ["no shipped weights for x5"]),
        (["upscale", "-i", "{d}/out", "-o", "{d}/out2", "--model", "{d}/w.h5"], ["out", "no such file or folder"]),
        (["degrade", "-i", "{d}/in/face.png", "-o", "{d}/missing/x.png"], ["missing", "does not exist"]),
        (["compare", "{d}/in/face.png", "{d}/in/gray.bmp"], ["differ in shape"]),
        (["info", "{d}/in/face.png"], ["face.png", "not an HDF5"]),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(workdir, args, fragments):
    result = run_cli(*[a.format(d=workdir) for a in args])
    assert_one_line_error(result, *fragments)
    assert not (workdir / "out").exists() or not any((workdir / "out").iterdir())
    assert not list(workdir.rglob("*.partial"))


def test_degrade_then_compare(workdir):
    src, dst = workdir / "in" / "face.png", workdir / "face_lr.png"
    result = run_cli("degrade", "-i", src, "-o", dst, "-s", 2, "--method", "bilinear")
    assert result.returncode == 0, result.stderr
    lr = read_image(dst)
    assert lr.shape == FACE.shape
    result = run_cli("compare", src, dst, "--crop-border", 2)
    assert result.returncode == 0, result.stderr
    assert f"PSNR {psnr(FACE, lr, 2):.4f} dB" in result.stdout
    assert f"SSIM {ssim(FACE, lr, 2):.4f}" in result.stdout


def test_demo_with_weights_writes_the_comparison(workdir):
    result = run_cli("demo", "--out", workdir / "demo", "-s", 2, "--model", workdir / "w.h5", "--backend", "cpu")
    assert result.returncode == 0, result.stderr
    assert "bicubic x2" in result.stdout and "SRCNN" in result.stdout
    names = sorted(p.name for p in (workdir / "demo").iterdir())
    assert names == ["bicubic.png", "comparison.png", "original.png", "srcnn.png", "zoom.png"]
    figure = read_image(workdir / "demo" / "comparison.png")
    assert figure.shape[1] > 3 * figure.shape[0] / 2  # three panels side by side


def test_demo_without_shipped_weights_says_so_and_still_runs(workdir):
    result = run_cli("demo", "--out", workdir / "demo", "-s", 5)  # no scale 5 ships
    assert result.returncode == 0, result.stderr
    assert "no shipped weights for x5" in result.stdout
    assert "SRCNN" not in result.stdout.split("note:")[1].split("\n", 1)[1]
    assert (workdir / "demo" / "comparison.png").is_file()


def test_usage_errors_exit_2_without_traceback():
    result = run_cli("upscale", "--backend", "gpu", "-i", "x", "-o", "y")
    assert result.returncode == 2 and "Traceback" not in result.stderr and "invalid choice" in result.stderr
    assert run_cli("upscale", "-s", "-1", "-i", "x", "-o", "y").returncode == 2


def _save_pillow(path, array, **options):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **options)


def test_every_image_kind_keeps_its_kind(tmp_path):
    """RGBA, 16-bit, gray, palette GIF, a phone JPEG stored sideways, subfolders, hidden and stray files,
    through a network that passes luma unchanged: each output is the bicubic of its input, in its kind."""
    from PIL import Image

    from npsrcnn import SRCNN, ConvLayer

    src = tmp_path / "in"
    alpha = np.tile(np.linspace(0, 255, FACE.shape[1]).astype(np.uint8), (FACE.shape[0], 1))
    _save_pillow(src / "logo.png", np.dstack([FACE, alpha]))
    write_image(src / "deep.tif", FACE.astype(np.uint16) * 257 + 3)
    write_image(src / "scan.png", FACE[..., 0])
    _save_pillow(src / "anim.gif", FACE)
    exif = Image.new("RGB", (1, 1)).getexif()
    exif[0x0112] = 6  # stored sideways: shown turned 90 degrees clockwise
    _save_pillow(src / "sub" / "phone.jpg", FACE, exif=exif.tobytes())
    (src / ".cache").mkdir()
    write_image(src / ".cache" / "thumb.png", FACE)
    (src / "sub" / "readme.txt").write_text("not an image")
    one = np.ones((1, 1, 1, 1))
    # recorded as trained on OpenCV's bicubic, which upscale then uses, so outputs are cv2's bicubic
    SRCNN([ConvLayer(one, [0.0], activation="linear")] * 2, resampler="opencv").save(tmp_path / "w.h5")
    result = run_cli("upscale", "-i", src, "-o", tmp_path / "out", "-s", 2, "--model", tmp_path / "w.h5", "--recursive")
    assert result.returncode == 0, result.stderr
    out = {
        p.relative_to(tmp_path / "out").as_posix(): read_image(p) for p in (tmp_path / "out").rglob("*") if p.is_file()
    }
    kinds = {name: (img.shape, img.dtype) for name, img in out.items()}
    assert kinds == {
        "logo_x2.png": ((120, 140, 4), np.uint8),
        "deep_x2.tif": ((120, 140, 3), np.uint16),
        "scan_x2.png": ((120, 140), np.uint8),
        "anim_x2.png": ((120, 140, 3), np.uint8),
        "sub/phone_x2.jpg": ((140, 120, 3), np.uint8),
    }

    def bicubic(img, top):
        return np.clip(cv2.resize(img.astype(np.float32), (140, 120), interpolation=cv2.INTER_CUBIC), 0, top)

    assert np.abs(out["logo_x2.png"] - bicubic(np.dstack([FACE, alpha]), 255)).max() <= 1
    deep = out["deep_x2.tif"].astype(float)
    assert np.abs(deep - bicubic(FACE.astype(np.uint16) * 257 + 3, 65535)).max() <= 2  # YCbCr round trip in float32
    assert np.mean(deep % 257 != 3) > 0.5  # computed in float, not through 8 bits
    assert "readme.txt: not an image file; skipped" in result.stderr


def test_suffix_ext_and_what_may_not_be_written(workdir):
    w = ["--model", workdir / "w.h5", "-s", 2]
    result = run_cli(
        "upscale", "-i", workdir / "in" / "face.png", "-o", workdir / "out", "--suffix", "@{scale}x", "--ext", "tif", *w
    )
    assert result.returncode == 0, result.stderr
    assert [p.name for p in (workdir / "out").iterdir()] == ["face@2x.tif"]
    write_image(workdir / "in" / "face.jpg", FACE)
    write_image(workdir / "in" / "rgba.png", np.dstack([FACE, FACE[..., 0]]))
    for args, fragments in [
        (["-i", workdir / "in", "-o", workdir / "o2", "--ext", "png"], ["face.jpg and", "face.png would both"]),
        (["-i", workdir / "in", "-o", workdir / "in", "--suffix", ""], ["would overwrite an input"]),
        (
            ["-i", workdir / "in" / "rgba.png", "-o", workdir / "o3", "--ext", "jpg"],
            ["rgba.png", ".jpg cannot store a uint8 RGBA image"],
        ),
        (["-i", workdir / "in", "-o", workdir / "o4", "--suffix", "_{size}"], ["--suffix", "{scale}"]),
        (["-i", workdir / "in", "-o", workdir / "o5", "--ext", "gif"], ["--ext 'gif'"]),
    ]:
        assert_one_line_error(run_cli("upscale", *args, *w), *fragments)
    assert not any(p.is_file() for d in ("o2", "o3", "o4", "o5") for p in (workdir / d).rglob("*"))
    assert sorted(p.name for p in (workdir / "in").iterdir()) == [
        "face.jpg",
        "face.png",
        "gray.bmp",
        "notes.txt",
        "rgba.png",
    ]
    for _ in range(2):  # into the input folder: the second run takes the first one's outputs for outputs
        result = run_cli("upscale", "-i", workdir / "in", "-o", workdir / "in", *w)
        assert result.returncode == 0, result.stderr
    assert "0 upscaled, 4 skipped" in result.stdout
    assert not list((workdir / "in").glob("*_x2_x2*"))


def test_keep_going_reports_each_bad_file_and_fails_at_the_end(workdir):
    (workdir / "in" / "notes.txt").unlink()
    (workdir / "in" / "broken.png").write_text("a text file named .png")
    data = (workdir / "in" / "face.png").read_bytes()
    (workdir / "in" / "cut.png").write_bytes(data[: len(data) // 2])
    args = ["upscale", "-i", workdir / "in", "-o", workdir / "out", "-s", 2, "--model", workdir / "w.h5"]
    assert_one_line_error(run_cli(*args), "broken.png", "not a readable image")  # stops at the first
    result = run_cli(*args, "--keep-going")
    assert result.returncode == 1
    errors = result.stderr.splitlines()
    assert len(errors) == 2 and "Traceback" not in result.stderr
    assert errors[0].startswith(f"npsrcnn: {workdir / 'in' / 'broken.png'}: not a readable image")
    assert errors[1].startswith(f"npsrcnn: {workdir / 'in' / 'cut.png'}: not a readable image")
    assert "2 upscaled, 2 failed" in result.stdout.splitlines()[-1]
    assert sorted(p.name for p in (workdir / "out").iterdir()) == ["face_x2.png", "gray_x2.bmp"]


def test_a_killed_run_leaves_no_partial_file_and_a_rerun_finishes(workdir):
    """SIGTERM while the second image is computed: the first stays, the second never appears, no
    temporary is left; a temporary of a process killed outright (SIGKILL) is swept by the next run."""
    write_image(workdir / "in" / "zbig.png", np.tile(FACE, (6, 6, 1)))
    args = [
        "upscale",
        "-i",
        workdir / "in",
        "-o",
        workdir / "out",
        "-s",
        2,
        "--model",
        workdir / "w.h5",
        "--tile",
        16,
        "--backend",
        "numpy",
    ]
    script = Path(sys.executable).with_name("npsrcnn")
    process = subprocess.Popen(
        [str(script)] + [str(a) for a in args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    lines = []
    while len(lines) < 2:  # face and gray are done: zbig is being computed
        lines.append(process.stdout.readline())
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130 and stderr.strip().splitlines()[-1] == "npsrcnn: interrupted", stderr
    assert sorted(p.name for p in (workdir / "out").iterdir()) == ["face_x2.png", "gray_x2.bmp"]
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = workdir / "out" / f".zbig_x2.png.{dead.stdout.strip()}.partial"
    stale.write_bytes(b"half an image")
    result = run_cli(*args[:-4])
    assert result.returncode == 0 and "1 upscaled, 2 skipped" in result.stdout
    assert sorted(p.name for p in (workdir / "out").iterdir()) == ["face_x2.png", "gray_x2.bmp", "zbig_x2.png"]


def test_progress_bars_on_a_terminal(workdir):
    """On a terminal: a bar over files and, for an image of several tiles, one over its tiles."""
    import fcntl
    import pty
    import struct
    import termios

    main, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))  # 40 rows, 120 columns
    script = Path(sys.executable).with_name("npsrcnn")
    args = ["upscale", "-i", workdir / "in", "-o", workdir / "out", "-s", 2, "--model", workdir / "w.h5", "--tile", 32]
    process = subprocess.Popen([str(script)] + [str(a) for a in args], stdout=secondary, stderr=secondary)
    os.close(secondary)
    output = b""
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError:  # the command ended and closed the terminal
            break
        if not chunk:
            break
        output += chunk
    os.close(main)
    assert process.wait(timeout=60) == 0
    text = output.decode(errors="replace")
    assert "2/2 [" in text and "file/s]" in text and "/20 [" in text and "tile/s]" in text  # 60x70 x2: 4x5 tiles


@pytest.mark.slow
def test_the_first_run_says_it_compiles_and_warmup_compiles_ahead(workdir, tmp_path):
    """With an empty numba cache, ``npsrcnn warmup`` says it compiles and how many kernels; a run
    after it compiles nothing and so says nothing."""
    env = {"NPSRCNN_QUIET": "0", "NUMBA_CACHE_DIR": str(tmp_path / "numba-cache")}
    warm = run_cli("warmup", "--backend", "cpu", env=env)
    assert warm.returncode == 0, warm.stderr
    lines = warm.stderr.strip().splitlines()
    assert lines[0] == "npsrcnn: compiling the cpu kernels for this machine, once; later runs load them"
    assert lines[-1].startswith("npsrcnn: compiled ") and " kernels in " in lines[-1]
    assert int(lines[-1].split()[2]) >= 5 and warm.stdout.startswith("kernels ready")
    run = run_cli(
        "upscale",
        "-i",
        workdir / "in" / "face.png",
        "-o",
        workdir / "out",
        "-s",
        2,
        "--model",
        workdir / "w.h5",
        "--backend",
        "cpu",
        env=env,
    )
    assert run.returncode == 0 and "compil" not in run.stderr, run.stderr


def test_the_compile_notice_counts_compiling_not_the_work_between(monkeypatch):
    """A training run compiles its kernels at their first calls, hours apart: the notice sums the
    compilations (a kernel with the helpers it pulls in), not the time since the first."""
    import io

    from npsrcnn.backends import cpu

    clock = iter([0.0, 2.0, 100.0, 100.5, 101.0])
    monkeypatch.setattr(cpu.time, "monotonic", lambda: next(clock))
    stream = io.StringIO()
    notice = cpu._CompileNotice(stream)
    notice.on_start(None)  # t = 0: kernel one
    notice.on_end(None)  # t = 2
    notice.on_start(None)  # t = 100: kernel two ...
    notice.on_start(None)  # ... pulling in a helper (no clock read)
    notice.on_end(None)
    notice.on_end(None)  # t = 100.5
    notice.close()
    assert stream.getvalue().splitlines()[-1] == "npsrcnn: compiled 2 kernels in 2 s"
