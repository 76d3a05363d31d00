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
"""

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from npsrcnn.atomic import sweep_partials
from npsrcnn.errors import NpsrcnnError
from npsrcnn.image import WRITABLE, list_images, read_image, unwritable_as, write_image


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


def plan(source, out_dir, scale, suffix="_x{scale}", ext="auto", recursive=False):
    """-> ``([(input, output), ...], [warnings])`` for a file or a folder ``source``.

    Errors (nothing is written yet): a missing input, a bad suffix or extension, an output on an
    input, two inputs on one output.
    """
    source, out_dir = Path(source), Path(out_dir)
    if source.is_dir():
        inputs, warnings = list_images(source, recursive)
        if out_dir.resolve() != source.resolve():  # an output folder inside the input folder is not input
            inputs = [p for p in inputs if out_dir.resolve() not in p.resolve().parents]
        root = source
    elif source.is_file():
        inputs, warnings, root = [source], [], source.parent
    else:
        raise NpsrcnnError(f"{source}: no such file or folder")
    try:
        tag = suffix.format(scale=scale)
    except (KeyError, IndexError, ValueError) as e:
        raise NpsrcnnError(f"--suffix {suffix!r}: {e!r}; only {{scale}} may be filled in") from None
    if "/" in tag or "\\" in tag:
        raise NpsrcnnError(f"--suffix {suffix!r} contains a path separator")
    if ext != "auto" and f".{ext.lstrip('.').lower()}" not in WRITABLE:
        raise NpsrcnnError(f"--ext {ext!r} is not one of auto, {', '.join(s[1:] for s in WRITABLE)}")
    targets = {
        src: out_dir / src.parent.relative_to(root) / f"{src.stem}{tag}{_output_suffix(src, ext)}" for src in inputs
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


def _output_suffix(src, ext):
    if ext != "auto":
        return f".{ext.lstrip('.').lower()}"
    return src.suffix.lower() if src.suffix.lower() in WRITABLE else ".png"  # GIF, TGA: PNG keeps them


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


def run(jobs, upscale, overwrite=False, keep_going=False, say=print, warn=print):
    """Upscale each ``(input, output)`` of ``jobs`` with ``upscale(image) -> image`` -> ``Summary``.

    ``say`` reports each file done or skipped; ``warn`` each failure, when ``keep_going`` goes on.
    """
    summary, start = Summary(), time.monotonic()
    for src, dst in jobs:
        if dst.exists() and not overwrite:
            summary.skipped.append(dst)
            say(f"{src} -> {dst}: exists, skipped")
            continue
        try:
            image = read_image(src)
            problem = unwritable_as(dst.suffix, image)
            if problem:
                raise NpsrcnnError(f"{src}: {problem}; choose another --ext")
            write_image(dst, upscale(image))
        except (NpsrcnnError, MemoryError) as e:
            message = str(e) if isinstance(e, NpsrcnnError) else f"{src}: out of memory"
            if not keep_going:
                raise NpsrcnnError(message) from None
            summary.failed.append((src, message))
            warn(message)
            continue
        summary.written.append(dst)
        say(f"{src} -> {dst}")
    summary.seconds = time.monotonic() - start
    return summary
