"""Upscaling many files (``npsrcnn upscale``): first the plan, every input with its output, checked
as a whole; then each file in turn.

The rules a batch follows:

- ``OUT/<the input's subfolder>/<stem><suffix><ext>``; the suffix ``_x{scale}`` by default, the
  extension the input's own where that format stores the result exactly (otherwise ``.png``).
- An output that exists is skipped, so a re-run finishes what a stopped run left, unless
  ``overwrite``; no output may land on an input, nor two inputs on one output.
- Each output is written under a temporary name and renamed: it is complete or absent. Temporaries
  that a killed run left behind are removed when the next run starts.
- A bad file stops the run with its one-line error; with ``keep_going`` it is reported, skipped,
  and counted, and the run ends as failed.

Where a file's work runs is the caller's choice (``run``'s ``mapper``, ``npsrcnn.jobs``): in this
process, or on Dask workers (``npsrcnn.cluster``) that share the filesystem; the rules above hold
either way. A TIFF or Zarr image larger than memory streams through ``stream_file`` instead of
``upscale_file``, a chunk at a time (``npsrcnn.chunked``).
"""

import tempfile
import time
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from npsrcnn.atomic import atomic_write, sweep_partials
from npsrcnn.chunked import STREAMED, check_streamed, open_streamed, write_streamed
from npsrcnn.errors import NpsrcnnError
from npsrcnn.image import WRITABLE, list_images, read_image, unwritable_as, write_image
from npsrcnn.jobs import in_process, message
from npsrcnn.predict import predict


@dataclass
class Summary:
    """What a batch did: output paths written and skipped, and ``(input, message)`` for each failure."""

    written: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    failed: list = field(default_factory=list)
    seconds: float = 0.0

    def line(self):
        parts = [f"{len(self.written)} upscaled"]
        if self.skipped:
            parts.append(f"{len(self.skipped)} skipped (output exists; --overwrite replaces)")
        if self.failed:
            parts.append(f"{len(self.failed)} failed")
        return ", ".join(parts) + f" in {self.seconds:.1f} s"


def plan(source, out_dir, scale, suffix="_x{scale}", ext="auto", recursive=False, streamed=False):
    """-> ``([(input, output), ...], [warnings])`` for a file or a folder ``source``.

    ``streamed`` (``--chunks``): the inputs are TIFF or Zarr images (a ``.zarr`` folder is one image)
    and so are the outputs, written a chunk at a time.
    Errors (nothing is written yet): a missing input, a bad suffix or extension, an output on an
    input, two inputs on one output, a Zarr image without ``streamed`` or another kind with it.
    """
    source, out_dir = Path(source), Path(out_dir)
    one_zarr = source.suffix.lower() == ".zarr" and source.is_dir()
    if one_zarr and not streamed:
        raise NpsrcnnError(f"{source}: a .zarr image is read a chunk at a time: add --chunks N")
    if source.is_dir() and not one_zarr:
        inputs, warnings = list_images(source, recursive)
        if out_dir.resolve() != source.resolve():  # an output folder inside the input folder is not input
            inputs = [p for p in inputs if out_dir.resolve() not in p.resolve().parents]
        root = source
    elif source.is_file() or one_zarr:
        inputs, warnings, root = [source], [], source.parent
    else:
        raise NpsrcnnError(f"{source}: no such file or folder")
    if streamed:
        for src in inputs:
            check_streamed(src)
    try:
        tag = suffix.format(scale=scale)
    except (KeyError, IndexError, ValueError) as e:
        raise NpsrcnnError(f"--suffix {suffix!r}: {e!r}; only {{scale}} may be filled in") from None
    if "/" in tag or "\\" in tag:
        raise NpsrcnnError(f"--suffix {suffix!r} contains a path separator")
    kinds = STREAMED if streamed else WRITABLE
    if ext != "auto" and f".{ext.lstrip('.').lower()}" not in kinds:
        raise NpsrcnnError(f"--ext {ext!r} is not one of auto, {', '.join(s[1:] for s in kinds)}")
    targets = {
        src: out_dir / src.parent.relative_to(root) / f"{src.stem}{tag}{_output_suffix(src, ext, kinds)}"
        for src in inputs
    }
    # an earlier run's output (face_x2.png beside face.png) is not an input of this one
    written = {dst.resolve() for dst in targets.values()}
    inputs = [src for src in inputs if src.resolve() not in written or targets[src].resolve() == src.resolve()]
    jobs, claimed = [], {}
    originals = {p.resolve() for p in inputs}
    for src in inputs:
        dst = targets[src]
        key = dst.resolve()
        if key in originals:
            raise NpsrcnnError(f"{dst}: would overwrite an input; choose another output folder or --suffix")
        if key in claimed:
            raise NpsrcnnError(
                f"{claimed[key]} and {src} would both be written to {dst}; use --ext auto or separate folders"
            )
        claimed[key] = src
        jobs.append((src, dst))
    return jobs, warnings


def _output_suffix(src, ext, kinds):
    if ext != "auto":
        return f".{ext.lstrip('.').lower()}"
    return src.suffix.lower() if src.suffix.lower() in kinds else ".png"  # GIF, TGA: PNG keeps them


def prepare_output(jobs):
    """Create the output folders, check that they take files, and remove temporaries a killed run left."""
    for folder in sorted({dst.parent for _, dst in jobs}):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as e:
            raise NpsrcnnError(f"{folder}: cannot write there ({e.strerror or e})") from None
        sweep_partials(folder)


@dataclass
class Upscaler:
    """``predict`` with a run's options, as data: ``upscale_file``'s ``upscale``. It pickles with the
    model's arrays (tens of kB), which is how the model reaches Dask workers: no weights file there."""

    model: object  # an SRCNN
    scale: float
    backend: str = "auto"
    tile: int = None
    resampler: str = None

    def __call__(self, image, progress=None):
        return predict(image, self.scale, self.model, self.backend, self.tile, progress, self.resampler)

    def warm_up(self):
        """Run the kernels this model needs (whole and tiled) on a few pixels: numba compiles them, or
        loads them from its cache, now rather than in the first file."""
        image = np.zeros((14, 15), np.uint8)
        for tile in (0, 16):
            predict(image, self.scale, self.model, self.backend, tile, None, self.resampler)


def upscale_file(job, upscale):
    """One ``(input, output)`` job: read, check that the output's format holds the result, upscale with
    ``upscale(image) -> image``, write under a temporary name and rename."""
    src, dst = job
    image = read_image(src)
    problem = unwritable_as(dst.suffix, image)
    if problem:
        raise NpsrcnnError(f"{src}: {problem}; choose another --ext")
    write_image(dst, upscale(image))


def stream_file(job, upscale):
    """One ``(input, output)`` job for an image larger than memory: ``upscale(lazy) -> lazy`` on the input
    as a Dask array (``chunked.predict_dask``), written chunk by chunk under a temporary name, renamed.
    The chunks run wherever Dask computes: this process's threads, or the cluster connected."""
    src, dst = job
    result = upscale(open_streamed(src))
    try:
        with atomic_write(dst) as tmp:
            write_streamed(result, tmp, dst.suffix)
    except OSError as e:
        raise NpsrcnnError(f"{dst}: cannot write ({e.strerror or e})") from None


def run(
    jobs,
    upscale,
    overwrite=False,
    keep_going=False,
    say=print,
    warn=print,
    progress=None,
    mapper=in_process,
    process=upscale_file,
):
    """Upscale each ``(input, output)`` of ``jobs`` -> ``Summary``: ``process(job, upscale)`` for each
    (``upscale_file`` with ``upscale(image) -> image``, or ``stream_file``), run by ``mapper``
    (``npsrcnn.jobs``: here, or on a cluster, which gets ``upscale`` once per worker).

    Outputs that exist are skipped here, before any work is sent. ``say`` reports each file done or
    skipped, ``warn`` each failure when ``keep_going`` goes on, ``progress()`` each file finished.
    """
    summary, start = Summary(), time.monotonic()
    todo = []
    for src, dst in jobs:
        if dst.exists() and not overwrite:
            summary.skipped.append(dst)
            say(f"{src} -> {dst}: exists, skipped")
            if progress is not None:
                progress()
        else:
            todo.append((src, dst))
    try:
        with closing(mapper(process, todo, upscale)) as outcomes:
            for (src, dst), _, error in outcomes:
                if error is None:
                    summary.written.append(dst)
                    say(f"{src} -> {dst}")
                elif keep_going:
                    summary.failed.append((src, message((src, dst), error)))
                    warn(summary.failed[-1][1])
                else:
                    raise NpsrcnnError(message((src, dst), error)) from None
                if progress is not None:
                    progress()
    finally:
        for folder in sorted({dst.parent for _, dst in todo}):
            sweep_partials(folder)  # what a worker killed mid-write left: it is dead; its file went elsewhere
    summary.seconds = time.monotonic() - start
    return summary
