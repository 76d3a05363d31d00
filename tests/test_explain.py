"""Looking inside SRCNN: the unrolled pipeline equals predict, the pictures are written, the command works."""

import itertools

import numpy as np
import pytest
import skimage.data
import skimage.io

from helpers import assert_one_line_error, run_cli, small_model
from npsrcnn import SRCNN, NpsrcnnError, predict, psnr, read_image, shipped_scales, ssim, write_image
from npsrcnn.explain import BUILTIN_CROP, explain, output_files, pipeline
from npsrcnn.figures import ZOOM, ZOOM_COUNT, ZOOM_SIZE, zoomed_crops
from npsrcnn.viz import filter_grid, image_row, mosaic, normalise_each

FACE = skimage.data.astronaut()[60:150, 150:250]  # 90x100: modcrop keeps 90x99 at x3


@pytest.mark.parametrize("image", [FACE, FACE[..., 1], FACE.astype(np.uint16) * 257], ids=["rgb", "gray", "uint16"])
def test_the_unrolled_pipeline_is_predict(image):
    model = small_model(seed=3)
    steps = pipeline(image, 3, model, backend="numpy")
    assert steps["original"].shape[:2] == steps["degraded"].shape[:2] == steps["luma"].shape == (90, 99)
    assert steps["degraded"].dtype == steps["recombined"].dtype == image.dtype
    assert steps["restored"].shape == (90, 99) and steps["restored"].dtype == np.float32
    np.testing.assert_array_equal(steps["recombined"], predict(steps["small"], scale=3, model=model, backend="numpy"))
    assert steps["small"].shape[:2] == (30, 33) and steps["resampler"] == "matlab"  # the model records none
    assert psnr(steps["original"], steps["degraded"], 3) < 40  # the degradation does degrade


def test_explain_writes_every_picture(tmp_path):
    model = SRCNN.build("9-1-5", (16, 8), seed=1)
    result = explain(tmp_path / "out", scale=2, model=model, backend="numpy")
    files = output_files(tmp_path / "out", model)
    assert result["files"] == files and [f.name for f in files] == [
        "filters.png",
        "stages.png",
        "error.png",
        "maps1.png",
        "maps2.png",
        "maps3.png",
        "zoom.png",
    ]
    assert result["crop"] == BUILTIN_CROP
    pictures = {f.name: read_image(f) for f in files}
    assert all(p.ndim == 3 and p.dtype == np.uint8 for p in pictures.values())
    # pixel for pixel: five 128x128 panels zoomed twice side by side; 16 maps of 64+4 px, 8 to a row
    assert pictures["stages.png"].shape[1] > 5 * 2 * 128 > pictures["stages.png"].shape[0]
    assert pictures["maps1.png"].shape[1] >= 8 * 68 and pictures["maps1.png"].shape[0] >= 2 * 68
    assert sum(f.stat().st_size for f in files) < 600_000  # palette PNGs: small enough to commit
    steps = pipeline(skimage.data.astronaut(), 2, model, backend="numpy")
    assert result["psnr"] == {
        "bicubic": psnr(steps["original"], steps["degraded"], 2, y_channel=True),
        "srcnn": psnr(steps["original"], steps["recombined"], 2, y_channel=True),
    }
    before = files[0].read_bytes()
    with pytest.raises(NpsrcnnError, match="filters.png: exists"):
        explain(tmp_path / "out", scale=2, model=model, backend="numpy")
    assert files[0].read_bytes() == before


def test_explain_checks_crop_and_model(tmp_path):
    with pytest.raises(NpsrcnnError, match="does not fit"):
        explain(tmp_path, image=FACE, model=small_model(), crop=(0, 0, 120), backend="numpy")
    with pytest.raises(NpsrcnnError, match="luma network"):
        explain(tmp_path, model=SRCNN.build("3-1-3", (4, 2), channels=3), backend="numpy")
    assert not list(tmp_path.iterdir())


def test_mosaic_and_normalisation():
    tiles = np.arange(5 * 2 * 3, dtype=float).reshape(5, 2, 3)
    grid = mosaic(tiles, columns=2, gap=1)
    assert grid.shape == (3 * 3 - 1, 2 * 4 - 1)
    np.testing.assert_array_equal(grid[3:5, 4:7], tiles[3])  # row 1, column 1
    assert np.isnan(grid[2]).all() and np.isnan(grid[:, 3]).all() and np.isnan(grid[6:, 4:]).all()
    scaled = normalise_each(np.stack([tiles[0] * -7, np.full((2, 3), 4.0)]))
    assert scaled[0].min() == 0 and scaled[0].max() == 1 and scaled[0, 0, 0] == 1  # largest weight white
    assert not scaled[1].any()  # a flat tile: no contrast to show


def test_pictures_refuse_what_they_cannot_draw(tmp_path):
    with pytest.raises(NpsrcnnError, match="one-channel filters"):
        filter_grid(np.zeros((3, 3, 4, 2)), tmp_path / "f.png")
    with pytest.raises(NpsrcnnError, match="panel 'b'"):
        image_row([("a", FACE), ("b", FACE[:10])], tmp_path / "r.png")
    assert not list(tmp_path.iterdir())


def test_explain_command(tmp_path):
    small_model().save(tmp_path / "w.h5")
    write_image(tmp_path / "face.png", FACE)
    out = tmp_path / "pictures"
    result = run_cli("explain", tmp_path / "face.png", "-o", out, "-s", 2, "--weights", tmp_path / "w.h5")
    assert result.returncode == 0, result.stderr
    assert "PSNR on Y of the whole image" in result.stdout and "90 px crop at (0, 5)" in result.stdout
    assert sorted(p.name for p in out.iterdir()) == [
        "error.png",
        "filters.png",
        "maps1.png",
        "maps2.png",
        "maps3.png",
        "stages.png",
        "zoom.png",
    ]
    assert_one_line_error(
        run_cli("explain", tmp_path / "face.png", "-o", out, "--weights", tmp_path / "w.h5"), "filters.png", "exists"
    )
    args = ["explain", tmp_path / "face.png", "-o", out, "--weights", tmp_path / "w.h5", "--overwrite"]
    assert run_cli(*args).returncode == 0


def test_explain_without_weights_is_one_line_naming_them(tmp_path):
    scale = max(shipped_scales(), default=1) + 1  # a scale with no shipped weights, whatever ships
    result = run_cli("explain", "-o", tmp_path / "pictures", "-s", scale)
    assert result.returncode == 1
    assert_one_line_error(result, f"no shipped weights for x{scale}", "--model")
    assert not (tmp_path / "pictures").exists()


def test_silent_units_are_framed_in_red(tmp_path):
    """The filters whose units never fire get a red frame, and only they: the red pixels of the
    picture lie over exactly the marked tiles' cells of the mosaic."""
    kernel = np.random.default_rng(0).normal(size=(5, 5, 1, 6))
    silent = np.array([False, True, False, False, False, True])
    filter_grid(kernel, tmp_path / "plain.png", columns=3)
    filter_grid(kernel, tmp_path / "marked.png", columns=3, silent=silent)
    plain, marked = (skimage.io.imread(tmp_path / name)[..., :3].astype(int) for name in ("plain.png", "marked.png"))
    red = lambda img: (img[..., 0] > 180) & (img[..., 1] < 80) & (img[..., 2] < 80)
    assert not red(plain).any()
    rows, cols = np.nonzero(red(marked))
    # two framed tiles: (row 0, column 1) and (row 1, column 2) of a 2 x 3 mosaic
    middle_row = (rows.min() + rows.max()) / 2
    top_cols, bottom_cols = cols[rows < middle_row], cols[rows > middle_row]
    assert top_cols.size and bottom_cols.size and top_cols.max() < bottom_cols.min()


def test_zoomed_crops_show_where_the_error_is_and_score_each_crop(tmp_path):
    """The regions are where the first panel errs most (a blurred square planted away from the
    corner), never overlapping; the picture repeats each pixel ZOOM times; each crop's scores are
    its own PSNR and SSIM."""
    truth = skimage.data.camera()[:160, :200]
    planted = truth.copy()
    planted[100:132, 40:72] //= 2  # the worst 32x32 region by far
    noisy = np.clip(truth + np.random.default_rng(0).integers(-3, 4, truth.shape), 0, 255).astype(np.uint8)
    scores = zoomed_crops(truth, [("planted", planted), ("noisy", noisy)], tmp_path / "z.png", crop_border=2)
    corners = [corner for corner, _ in scores]
    (top, left) = corners[0]  # on the search grid (step 16, from the 2-pixel border): mostly the planted square
    overlap = (min(top + ZOOM_SIZE, 132) - max(top, 100)) * (min(left + ZOOM_SIZE, 72) - max(left, 40))
    assert overlap > ZOOM_SIZE**2 / 2 and top >= 2 and left >= 2
    assert len(corners) == ZOOM_COUNT and all(
        abs(a[0] - b[0]) >= ZOOM_SIZE or abs(a[1] - b[1]) >= ZOOM_SIZE for a, b in itertools.combinations(corners, 2)
    )
    (top, left), first = scores[0]
    window = np.s_[top : top + ZOOM_SIZE, left : left + ZOOM_SIZE]
    assert first["noisy"] == (psnr(truth[window], noisy[window]), ssim(truth[window], noisy[window]))
    assert first["planted"][0] < first["noisy"][0]
    picture = read_image(tmp_path / "z.png")
    assert picture.shape[0] >= ZOOM_COUNT * ZOOM_SIZE * ZOOM and picture.shape[1] >= 3 * ZOOM_SIZE * ZOOM
