"""Write files so that a crash or a kill never leaves a half-written one behind."""

import os
import shutil
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_write(path):
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    The rename is atomic on POSIX, so readers see either the old file or the complete new one. The
    block may make a folder there instead (a ``.zarr`` image): a folder cannot be renamed over
    another, so an old one at ``path`` is first renamed aside, and removed once the new one is in.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    old = path.with_name(f".{path.name}-old.{os.getpid()}.partial")
    try:
        yield tmp
        if tmp.is_dir() and path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
    finally:
        _remove(tmp)
        _remove(old)


def sweep_partials(folder):
    """Remove the temporaries ``atomic_write`` left in ``folder`` when its process was killed (those of
    processes still running are theirs to finish). Returns the paths removed."""
    removed = []
    for tmp in Path(folder).glob(".*.partial"):
        pid = tmp.name.rsplit(".", 2)[-2]
        if pid.isdigit() and not _running(int(pid)):
            _remove(tmp)
            removed.append(tmp)
    return removed


def _remove(path):
    """Remove a file or a folder, if there."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _running(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True
