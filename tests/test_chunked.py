"""Images larger than memory: ``predict_dask`` equals ``predict`` on the whole image whatever the chunks,
reads only what each chunk needs, and ``npsrcnn upscale --chunks`` streams TIFF and Zarr files."""

import subprocess
import sys

import dask
import dask.array as da
import numpy as np
import pytest
import skimage.data
import tifffile
import zarr

import npsrcnn
from helpers import run_cli
from npsrcnn import SRCNN, ConvLayer, predict, predict_dask

ASTRONAUT = skimage.data.astronaut()


def shipped_with(padding, scale=2):
    """The shipped network's weights with every layer padded by ``padding``: real outputs, not a
    random network's (which clips most pixels to black), under each padding mode."""
    shipped = SRCNN.from_file(npsrcnn.shipped_weights(scale))
    layers = [ConvLayer(l.kernel, l.bias, padding, l.activation) for l in shipped.layers]
    return SRCNN(layers, resampler=shipped.resampler)


def assert_as_predict(out, ref):
    """Equal up to a rounding flip of one level in at most 1e-4 of the values (float: 1e-5 apart).

    16-bit levels are 257 times finer than the float32 kernels' differences between two ways of
    cutting the plane, so there flips are allowed in 1% (``predict``'s own tile sizes differ so).
    """
    assert out.shape == ref.shape and out.dtype == ref.dtype
    if ref.dtype.kind == "f":
        np.testing.assert_allclose(out, ref, atol=1e-5)
        return
    diff = np.abs(out.astype(np.int64) - ref.astype(np.int64))
    flips = 1e-2 if ref.dtype == np.uint16 else 1e-4
    assert diff.max() <= 1 and np.mean(diff > 0) <= flips, (diff.max(), np.mean(diff > 0))


# Output sizes against chunks of 128: x2 of 65x130 is 130x260 (a last chunk of 2 rows, and of 4
# columns: narrower than the network's margin), x3 of 43x87 is 129x261 (1 row, 5 columns); x2 of
# 64 wide is exactly one chunk. Input chunks of 37 cut every footprint across input chunks too.
CASES = [(2, (65, 130)), (3, (43, 87))]


@pytest.mark.parametrize("padding", ["same", "valid", "replicate"])
@pytest.mark.parametrize("scale,size", CASES)
def test_predict_dask_is_predict_at_every_chunk_border(padding, scale, size):
    model = shipped_with(padding)
    h, w = size
    rgb = ASTRONAUT[100 : 100 + h, 150 : 150 + w]
    gray16 = (ASTRONAUT[200 : 200 + h, 64 : 64 + w, 1].astype(np.uint16) * 257) ^ 0x5A
    rgba = np.dstack([rgb, ASTRONAUT[:h, :w, 2]])
    gray_float = (ASTRONAUT[:h, -w:, 0] / 255).astype(np.float32)
    for image in (rgb, gray16, rgba, gray_float):
        lazy = predict_dask(da.from_array(image, chunks=37), scale, model=model, chunks=128)
        assert lazy.chunks[0][0] == 128 and lazy.chunks[1][-1] == round(w * scale) % 128
        out = lazy.compute()
        assert_as_predict(out, predict(image, scale, model=model))
        # chunks cut the plane where predict's tiles of 128 do: the very same arithmetic, to the bit
        np.testing.assert_array_equal(out, predict(image, scale, model=model, tile=128))


def test_predict_dask_keeps_a_channel_axis_and_exact_chunks():
    model = shipped_with("same")
    image = ASTRONAUT[:64, :64, 1:2]  # (H, W, 1), 128x128 out: one chunk exactly
    out = predict_dask(da.from_array(image), 2, model=model, chunks=128)
    assert out.shape == (128, 128, 1) and out.numblocks == (1, 1, 1)
    assert_as_predict(out.compute(), predict(image, 2, model=model))


class Recorder:
    """An image that records the region each read asks for: what ``da.from_array`` slices."""

    def __init__(self, image):
        self.image, self.shape, self.dtype, self.ndim, self.reads = image, image.shape, image.dtype, image.ndim, []

    def __getitem__(self, key):
        part = self.image[key]
        self.reads.append(part.shape[:2])
        return part


def test_each_chunk_reads_only_its_footprint():
    """An output chunk of 64 at x2 reads its 32 input pixels a side plus the network's margin (the
    shipped 9-5-5: 8 output pixels, 4 input pixels, each side) and the bicubic support (2 pixels):
    never the whole image."""
    image = ASTRONAUT[:256, :256]
    source = Recorder(image)
    out = predict_dask(da.from_array(source, chunks=32), 2, model=shipped_with("same"), chunks=64)
    with dask.config.set(scheduler="synchronous"):
        result = out.compute()
    assert_as_predict(result, predict(image, 2, model=shipped_with("same")))
    areas = [rows * cols for rows, cols in source.reads]
    assert max(areas) <= 32 * 32  # no read beyond one input chunk: slices of it where a footprint ends
    # each footprint is its 32x32 share grown by 6 a side (44x44): at most (44 / 32)^2 = 1.9 images in all
    assert sum(areas) <= 1.9 * 256 * 256 and out.npartitions == 8 * 8


def test_bad_arguments_are_one_clear_error():
    image = da.zeros((20, 20), dtype=np.uint8)
    with pytest.raises(npsrcnn.NpsrcnnError, match="chunks must be a whole number"):
        predict_dask(image, 2, model=shipped_with("same"), chunks=0)
    with pytest.raises(npsrcnn.NpsrcnnError, match="int64 pixels are not supported"):
        predict_dask(da.zeros((20, 20), dtype=np.int64), 2, model=shipped_with("same"))
    with pytest.raises(npsrcnn.NpsrcnnError, match="is not"):
        predict_dask(da.zeros((20, 20, 2), dtype=np.uint8), 2, model=shipped_with("same"))


def test_upscale_streams_tiff_and_zarr(tmp_path):
    """``--chunks``: a strip TIFF, a tiled TIFF and a .zarr in, a tiled BigTIFF and a .zarr out, equal to
    ``predict`` on the whole image; chunks of 40 are rounded up to TIFF tiles of 48."""
    image = ASTRONAUT[:90, :110]
    gray = ASTRONAUT[200:290, 300:410, 0]
    folder = tmp_path / "in"
    folder.mkdir()
    tifffile.imwrite(folder / "strips.tif", image, photometric="rgb")
    tifffile.imwrite(folder / "tiles.tiff", gray, tile=(32, 32))
    deep = zarr.open_array(tmp_path / "deep.zarr", mode="w", shape=image.shape, chunks=(50, 50, 3), dtype=np.uint16)
    deep[:] = image.astype(np.uint16) * 257
    result = run_cli("upscale", "-i", folder, "-o", tmp_path / "out", "-s", 2, "--chunks", 40)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].startswith("2 upscaled in ")
    for name, source in (("strips_x2.tif", image), ("tiles_x2.tiff", gray)):
        with tifffile.TiffFile(tmp_path / "out" / name) as tif:
            assert tif.is_bigtiff and tif.pages[0].is_tiled and tif.pages[0].tilewidth == 48
            assert_as_predict(tif.asarray(), predict(source, 2))
    result = run_cli("upscale", "-i", tmp_path / "deep.zarr", "-o", tmp_path / "out", "-s", 2, "--chunks", 64)
    assert result.returncode == 0, result.stderr
    out = zarr.open_array(tmp_path / "out" / "deep_x2.zarr", mode="r")
    assert out.chunks == (64, 64, 3)
    assert_as_predict(out[:], predict(image.astype(np.uint16) * 257, 2))
    assert not list(tmp_path.rglob("*.partial"))
    again = run_cli("upscale", "-i", tmp_path / "deep.zarr", "-o", tmp_path / "out", "-s", 2, "--chunks", 64)
    assert again.returncode == 0 and "0 upscaled, 1 skipped" in again.stdout
    # the chunks on two worker processes, each writing the Zarr chunks it computed: the same array
    on_workers = ["--chunks", 64, "--scheduler", "local:2", "--overwrite"]
    result = run_cli("upscale", "-i", tmp_path / "deep.zarr", "-o", tmp_path / "out", "-s", 2, *on_workers)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    np.testing.assert_array_equal(zarr.open_array(tmp_path / "out" / "deep_x2.zarr", mode="r")[:], out[:])
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["deep_x2.zarr", "strips_x2.tif", "tiles_x2.tiff"]


def test_import_npsrcnn_leaves_dask_alone():
    """``import npsrcnn`` (whose start-up time counts) imports none of the cluster extra, nor numba."""
    code = "import sys, npsrcnn; print(sorted({m.split('.')[0] for m in sys.modules}))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    for heavy in ("dask", "distributed", "zarr", "tifffile", "numba"):
        assert f"'{heavy}'" not in loaded
    assert "'npsrcnn'" in loaded
