"""The npsrcnn command, run as a user runs it: a subprocess of the installed console script."""
import pytest
import skimage.data

from npsrcnn import psnr, read_image, ssim, write_image

from helpers import assert_one_line_error, run_cli, small_model

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
    result = run_cli("upscale", "-i", workdir / "in", "-o", workdir / "out", "-s", 2, "--weights", workdir / "w.h5")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (workdir / "out").iterdir()) == ["face_x2.png", "gray_x2.bmp"]
    assert read_image(workdir / "out" / "face_x2.png").shape == (120, 140, 3)
    assert read_image(workdir / "out" / "gray_x2.bmp").shape == (120, 140)


def test_upscale_never_replaces_without_asking(workdir):
    args = ["upscale", "-i", workdir / "in" / "face.png", "-o", workdir / "out", "--weights", workdir / "w.h5"]
    assert run_cli(*args).returncode == 0
    before = (workdir / "out" / "face_x3.png").read_bytes()
    assert_one_line_error(run_cli(*args), "face_x3.png", "exists")
    assert (workdir / "out" / "face_x3.png").read_bytes() == before
    assert run_cli(*args, "--overwrite").returncode == 0


@pytest.mark.parametrize("args,fragments", [
    (["upscale", "-i", "{d}/nothing.png", "-o", "{d}/out", "--weights", "{d}/w.h5"], ["nothing.png", "no such file"]),
    (["upscale", "-i", "{d}/in/notes.txt", "-o", "{d}/out", "--weights", "{d}/w.h5"], ["notes.txt", "not a readable image"]),
    (["upscale", "-i", "{d}/in/face.png", "-o", "{d}/out", "--weights", "{d}/in/face.png"], ["face.png", "not an HDF5"]),
    (["upscale", "-i", "{d}/in/face.png", "-o", "{d}/out", "-s", "3"], ["no shipped weights for x3"]),
    (["upscale", "-i", "{d}/out", "-o", "{d}/out2", "--weights", "{d}/w.h5"], ["out", "no such file or folder"]),
    (["degrade", "-i", "{d}/in/face.png", "-o", "{d}/missing/x.png"], ["missing", "does not exist"]),
    (["compare", "{d}/in/face.png", "{d}/in/gray.bmp"], ["differ in shape"]),
    (["info", "{d}/in/face.png"], ["face.png", "not an HDF5"]),
])
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
    result = run_cli("demo", "--out", workdir / "demo", "-s", 2, "--weights", workdir / "w.h5", "--backend", "cpu")
    assert result.returncode == 0, result.stderr
    assert "bicubic x2" in result.stdout and "SRCNN" in result.stdout
    names = sorted(p.name for p in (workdir / "demo").iterdir())
    assert names == ["bicubic.png", "comparison.png", "original.png", "srcnn.png"]
    figure = read_image(workdir / "demo" / "comparison.png")
    assert figure.shape[1] > 3 * figure.shape[0] / 2  # three panels side by side


def test_demo_without_shipped_weights_says_so_and_still_runs(workdir):
    result = run_cli("demo", "--out", workdir / "demo")
    assert result.returncode == 0, result.stderr
    assert "no shipped weights for x3" in result.stdout
    assert "SRCNN" not in result.stdout.split("note:")[1].split("\n", 1)[1]
    assert (workdir / "demo" / "comparison.png").is_file()


def test_usage_errors_exit_2_without_traceback():
    result = run_cli("upscale", "--backend", "gpu", "-i", "x", "-o", "y")
    assert result.returncode == 2 and "Traceback" not in result.stderr and "invalid choice" in result.stderr
    assert run_cli("upscale", "-s", "-1", "-i", "x", "-o", "y").returncode == 2
