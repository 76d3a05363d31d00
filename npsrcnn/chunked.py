"""Images larger than memory: ``predict`` as a lazy Dask array, and TIFF or Zarr files streamed a chunk at a time.

    input (H, W[, C]), any chunks --for each output chunk: the input it reads (receptive field + resampler's
    support, ``predict.region_footprint``)--> predict_region --> output (round(H*s), round(W*s)[, C]) in chunks

Each output chunk is one task that reads only its footprint of the input and runs ``predict``'s own
tile loop over its pixels, in the whole image's coordinates (``predict.predict_region``): the borders
of the image are padded as ``predict`` pads them, nowhere else, so the chunks put together are
``predict``'s result on the whole image, to float rounding. Halos come from the model and the
resampler, whatever the chunk sizes; no chunk of the input need line up with one of the output.

Dask (``pip install 'npsrcnn[cluster]'``) is imported only here, and only when called: ``import npsrcnn``
stays as quick as it was.
"""

import importlib
import math
import os
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from npsrcnn.errors import NpsrcnnError
from npsrcnn.predict import predict_region, prepare, region_footprint

EXTRA = "pip install 'npsrcnn[cluster]'"
STREAMED = (".tif", ".tiff", ".zarr")  # what --chunks reads and writes a chunk at a time
INPUT_CHUNK = 1024  # input pixels a side each read fetches; an output chunk's footprint spans a few
TIFF_TILE = 16  # TIFF tiles are multiples of 16 pixels a side


def require(feature, *modules):
    """Import ``modules``, or say in one line which extra brings them: ``feature`` is what needs them."""
    try:
        for name in modules:
            importlib.import_module(name)
    except ImportError as e:
        raise NpsrcnnError(f"{feature} needs {e.name or name}, which is not installed: {EXTRA}") from None


_TURN = threading.Lock()


@contextmanager
def kernel_turn(threads=None):
    """Run the block inside as this process's only network, its kernels on ``threads`` threads.

    Why: the kernels already spread one tile over the threads they are given, and Dask runs several
    tasks at once in a process (its thread pool, or a worker's ``nthreads``); numba's thread count is
    set per calling thread, so tasks side by side would each start every core's worth. Taking turns
    keeps the process at ``threads`` kernel threads (None: a Dask worker's ``nthreads``, its share of
    the machine; elsewhere every core), while other tasks read and write beside it.
    """
    from npsrcnn.kernels.threads import set_threads  # numba: imported when a network runs, not with npsrcnn

    with _TURN:
        set_threads(threads or _share())
        yield


def _share():
    distributed = sys.modules.get("distributed")  # imported in every Dask worker; never imported here
    if distributed is not None:
        try:
            return distributed.get_worker().state.nthreads
        except ValueError:  # not inside a worker's task
            pass
    import numba

    return numba.config.NUMBA_NUM_THREADS


def predict_dask(array, scale=3, model=None, backend="auto", resampler=None, chunks=2048, tile=None, threads=None):
    """``predict`` on a Dask array, lazily: ``(H, W[, C])`` -> ``(round(H*scale), round(W*scale)[, C])``,
    the input's dtype (uint8, uint16 or float in [0, 1]; C is 1, 3 or 4), in output chunks of
    ``chunks x chunks`` pixels.

    Computing it equals ``predict`` on the whole image in memory up to a rounding flip of one level in
    a few pixels (chunks and tiles cut the plane elsewhere, so the kernels' float32 sums may differ in
    the last bit). ``model``, ``resampler``, ``backend`` and ``tile`` (the tiles inside each chunk,
    which bound its memory) as in ``predict``. ``threads``: kernel threads of each chunk (None: a Dask
    worker's ``nthreads``, else every core); chunks in one process run their networks one at a time
    (``kernel_turn``). The model's arrays travel in the graph once, as one key.
    """
    require("predict_dask", "dask")
    import dask
    import dask.array as da
    from dask.base import tokenize

    run = prepare(array if isinstance(array, da.Array) else da.asarray(array), scale, model, resampler, tile)
    x, model, resampler, tile, size = run.img, run.model, run.resampler, run.tile, run.size
    side = _check_chunks(chunks)
    weights = [(l.kernel, l.bias, l.padding, l.activation) for l in model.layers]
    network = dask.delayed(model, name=f"srcnn-{tokenize(weights, model.resampler, model.scale)}", pure=True)
    spans = [[slice(a, min(a + side, n)) for a in range(0, n, side)] for n in size]
    grid = []
    for rows in spans[0]:
        grid.append([])
        for cols in spans[1]:
            footprint = region_footprint(model, x.shape, size, rows, cols, resampler)
            origin = (footprint[0].start, footprint[1].start)
            block = dask.delayed(_chunk, pure=True)(
                x[footprint], network, size, rows, cols, origin, x.shape, resampler, backend, tile, threads
            )
            shape = (rows.stop - rows.start, cols.stop - cols.start) + x.shape[2:]
            grid[-1].append(da.from_delayed(block, shape, dtype=x.dtype))
    out = da.concatenate([da.concatenate(row, axis=1) for row in grid], axis=0)
    return out[:, :, None] if run.channel_axis else out


def _chunk(pixels, model, size, rows, cols, origin, shape, resampler, backend, tile, threads):
    """One output chunk from ``pixels``, the input's part from ``origin`` on that its footprint covers."""
    with kernel_turn(threads):
        return predict_region(
            np.asarray(pixels), size, rows, cols, model, resampler, backend, tile, origin=origin, shape=shape
        )


def _check_chunks(chunks):
    if isinstance(chunks, bool) or not isinstance(chunks, (int, np.integer)) or chunks < 1:
        raise NpsrcnnError(f"chunks must be a whole number of pixels of at least 1, got {chunks!r}")
    return int(chunks)


def tiff_chunks(chunks):
    """``chunks`` rounded up to a multiple of 16: output chunks are the tiles of a TIFF written from them."""
    return math.ceil(_check_chunks(chunks) / TIFF_TILE) * TIFF_TILE


class ImageSource:
    """A TIFF or Zarr image on disk, read a region at a time: what ``dask.array.from_array`` slices.

    It holds only the path, so it travels to Dask workers as a few bytes, and each read opens the
    file anew (no handle shared between threads or processes). TIFF: memory-mapped where its pixels
    are stored uncompressed in one piece (a read touches only its rows), else through its tiles or
    strips (``tifffile``'s Zarr view).
    """

    def __init__(self, path):
        self.path = os.path.abspath(path)  # workers run elsewhere: a path that means the same there
        with self._opened() as pixels:
            self.shape, self.dtype = tuple(pixels.shape), np.dtype(pixels.dtype)
        self.ndim = len(self.shape)

    @contextmanager
    def _opened(self):
        tifffile, zarr = _load("tifffile"), _load("zarr")
        if Path(self.path).suffix.lower() == ".zarr":
            yield zarr.open_array(self.path, mode="r")
            return
        try:
            yield tifffile.memmap(self.path, mode="r")
            return
        except ValueError:  # compressed, or not in one piece
            pass
        with tifffile.TiffFile(self.path) as tif:
            yield zarr.open(tif.aszarr(level=0), mode="r")

    def __getitem__(self, key):
        with self._opened() as pixels:
            return np.array(pixels[key])


def check_streamed(path):
    """``path`` as a ``Path`` if its kind streams (``STREAMED``); else the one line that says so."""
    path = Path(path)
    if path.suffix.lower() not in STREAMED:
        raise NpsrcnnError(f"{path}: --chunks streams {', '.join(STREAMED)} images; upscale this one without it")
    return path


def open_streamed(path):
    """A ``.tif``/``.tiff`` or ``.zarr`` image as a lazy Dask array ``(H, W[, C])``, in chunks of
    ``INPUT_CHUNK`` pixels a side; an error that names the file if it is not one."""
    require("--chunks", "dask", "zarr", "tifffile")
    import dask.array as da

    path = check_streamed(path)
    if not path.exists():
        raise NpsrcnnError(f"{path}: no such file or folder")
    try:
        source = ImageSource(path)
    except Exception as e:  # tifffile's and zarr's errors on what is not theirs have no common base
        kind = "Zarr array" if path.suffix.lower() == ".zarr" else "TIFF"
        reason = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        raise NpsrcnnError(f"{path}: not a readable {kind} ({reason})") from None
    shape, dtype = source.shape, source.dtype
    if not (len(shape) == 2 or (len(shape) == 3 and shape[2] in (1, 3, 4))) or min(shape[:2], default=0) < 1:
        raise NpsrcnnError(f"{path}: an array of shape {shape} is not an image (H, W) or (H, W, 1|3|4)")
    if dtype not in (np.uint8, np.uint16, np.float32, np.float64):
        raise NpsrcnnError(f"{path}: {dtype} pixels are not supported (uint8, uint16 or float)")
    from dask.base import tokenize

    chunks = (INPUT_CHUNK, INPUT_CHUNK) + shape[2:]
    name = f"read-{tokenize(source.path, os.stat(path).st_mtime_ns)}"  # a changed file is another array
    return da.from_array(source, chunks=chunks, name=name, fancy=False)


def write_streamed(array, path, kind):
    """Write a Dask array ``(H, W[, C])`` as ``kind`` (``.zarr``, ``.tif``, ``.tiff``) to ``path``,
    computing it a part at a time: a Zarr array chunk by chunk (each written by the process that
    computed it), a tiled BigTIFF one row of chunks at a time (its tiles are the chunks)."""
    kind = kind.lower()
    if kind == ".zarr":
        array.store(ZarrOutput(path, array.shape, array.chunksize, array.dtype), lock=False)
        return
    if kind not in (".tif", ".tiff"):
        raise NpsrcnnError(f"{path}: --chunks writes {', '.join(STREAMED)}, not {kind!r}")
    tifffile = _load("tifffile")

    side = array.chunksize[0]
    if side % TIFF_TILE or array.chunksize[1] != side:
        array = array.rechunk((tiff_chunks(side), tiff_chunks(side)) + array.shape[2:])
        side = array.chunksize[0]
    channels = array.shape[2] if array.ndim == 3 else 1
    if channels == 1 and array.ndim == 3:
        array = array[:, :, 0]

    def tiles():
        for top in range(0, array.shape[0], side):
            band = array[top : top + side].compute()  # one row of chunks: side x W
            for left in range(0, array.shape[1], side):
                yield np.ascontiguousarray(band[:, left : left + side])

    tifffile.imwrite(
        path,
        data=tiles(),
        shape=array.shape,
        dtype=array.dtype,
        tile=(side, side),
        bigtiff=True,
        photometric="minisblack" if channels == 1 else "rgb",
        extrasamples=("unassalpha",) if channels == 4 else None,
    )


class ZarrOutput:
    """A Zarr array on disk, made here and written a chunk at a time by whichever process computed the
    chunk (``dask.array.store``'s target). It holds only its path: each write opens the array anew."""

    def __init__(self, path, shape, chunks, dtype):
        self.path = os.path.abspath(path)
        _load("zarr").open_array(self.path, mode="w", shape=shape, chunks=chunks, dtype=dtype)

    def __setitem__(self, key, value):
        _load("zarr").open_array(self.path, mode="r+")[key] = value


_IMPORTS = threading.Lock()


def _load(name):
    """``import name``, one thread at a time: Zarr's package imports itself in a circle, which fails when
    two threads of a Dask worker (its event loop unpickling a task, a task running) import it at once."""
    with _IMPORTS:
        return importlib.import_module(name)
