"""Scaling out on Dask: files per second in one process against ``local:N`` workers, what a worker takes
to start, and a gray TIFF larger than memory through ``--chunks``, with the peak memory of every process.

    python benchmarks/cluster.py                                  # the full run: 40 x 512x512x3, 20000x20000 x2
    python benchmarks/cluster.py --images 4 --side 2000          # small: 4 files, a 2000x2000 TIFF
    python benchmarks/cluster.py --skip big                      # only the folder and the start-up

Each run is the ``npsrcnn`` command in a subprocess, as a user runs it, with the shipped weights of the
scale. A sampler reads the resident set of the command (the client; with ``local:N``, the scheduler
too) and of every process below it (the workers) every ``--sample`` seconds: the figures are each
process's peak and the peak of their sum. Files per second come from the command's own summary line
(the time of the files, after start-up), with the wall time beside them.

1. Folder: ``--images`` RGB images of ``--side``/``--file-side`` pixels (the astronaut, shifted, so PNG
   has real content to encode) upscaled x2 in one process (all cores) and on ``local:--workers``
   (one thread each).
2. Start-up: ``local:--workers`` started, and each worker's set-up of the run (the model received, its
   kernels run once: numba compiles them or loads its cache), from ``npsrcnn.cluster``.
3. Large image: a tiled gray uint8 TIFF of ``--side`` pixels a side (written a tile at a time), upscaled
   x2 with ``--chunks``, in one process and on ``local:--workers``: wall time and peaks.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil

MIB = 1 << 20


class Sampler(threading.Thread):
    """The resident set of a process and all below it, every ``period`` seconds, until it ends: the peak
    of each (by pid, named by its role) and of their sum."""

    def __init__(self, pid, period):
        super().__init__(daemon=True)
        self.pid, self.period, self.peaks, self.roles, self.total = pid, period, {}, {}, 0

    def run(self):
        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while root.is_running() and root.status() != psutil.STATUS_ZOMBIE:
            total = 0
            for process in [root, *root.children(recursive=True)]:
                try:
                    rss = process.memory_info().rss
                    if process.pid not in self.roles:
                        self.roles[process.pid] = _role(process, root)
                except psutil.Error:  # it ended between the listing and the reading
                    continue
                self.peaks[process.pid] = max(self.peaks.get(process.pid, 0), rss)
                total += rss
            self.total = max(self.total, total)
            time.sleep(self.period)

    def report(self):
        """``{"total": bytes, "processes": {role: bytes}}``; helper processes of Python's own left out."""
        named = {}
        for pid, peak in self.peaks.items():
            role = self.roles.get(pid, "other")
            if role != "helper":
                named[f"{role} {pid}"] = peak
        return {"total": self.total, "processes": named}


def _role(process, root):
    if process.pid == root.pid:
        return "command"  # the client; with local:N, the scheduler too
    command = " ".join(process.cmdline())
    if "spawn_main" in command:
        return "worker"
    return "helper"  # multiprocessing's resource tracker


def run_command(args, period):
    """``npsrcnn ARGS`` in a subprocess, sampled -> ``{"wall", "seconds", "files", "memory"}``."""
    script = Path(sys.executable).with_name("npsrcnn")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "npsrcnn.cli"]
    env = dict(os.environ, NPSRCNN_QUIET="1")
    started = time.monotonic()
    process = subprocess.Popen(
        command + [str(a) for a in args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    sampler = Sampler(process.pid, period)
    sampler.start()
    stdout, stderr = process.communicate()
    wall = time.monotonic() - started
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"npsrcnn {' '.join(map(str, args))} failed:\n{stderr}")
    match = re.search(r"(\d+) upscaled.* in ([\d.]+) s", stdout.splitlines()[-1])
    return {"wall": wall, "files": int(match[1]), "seconds": float(match[2]), "memory": sampler.report()}


def make_folder(folder, count, side):
    """``count`` RGB PNGs of ``side`` x ``side``: the astronaut, rolled so that no two are alike."""
    import skimage.data
    import skimage.transform

    from npsrcnn import write_image

    folder.mkdir(parents=True, exist_ok=True)
    base = skimage.data.astronaut()
    if base.shape[0] != side:
        base = (skimage.transform.resize(base, (side, side), anti_aliasing=True) * 255).astype(np.uint8)
    for i in range(count):
        write_image(folder / f"{i:03d}.png", np.roll(base, (7 * i, 13 * i), axis=(0, 1)))


def make_tiff(path, side, tile=512):
    """A tiled gray uint8 TIFF of ``side`` x ``side``, written a tile at a time (never held whole)."""
    import skimage.data
    import tifffile

    texture = np.tile(skimage.data.camera(), (2, 2))  # 1024 x 1024 of real content, repeated

    def tiles():
        for top in range(0, side, tile):
            for left in range(0, side, tile):
                rows, cols = (np.arange(top, top + tile) % 1024), (np.arange(left, left + tile) % 1024)
                yield texture[np.ix_(rows, cols)]

    tifffile.imwrite(path, data=tiles(), shape=(side, side), dtype=np.uint8, tile=(tile, tile), bigtiff=True)


def start_up(workers, scale):
    """Seconds to start ``local:workers`` and, per worker, to set up a run's model (``npsrcnn.cluster``)."""
    from npsrcnn import cluster
    from npsrcnn.batch import Upscaler
    from npsrcnn.model import resolve_model

    model = resolve_model(None, scale)
    started = time.monotonic()
    with cluster.connect(f"local:{workers}") as client:
        client.wait_for_workers(workers)
        cluster_seconds = time.monotonic() - started
        name = cluster.register(client, Upscaler(model, scale))
        per_worker = cluster.warm_up_seconds(client, name)
        client.unregister_worker_plugin(name)
    return {"cluster": cluster_seconds, "workers": sorted(per_worker.values())}


def _memory_line(memory):
    parts = ", ".join(f"{role} {peak / MIB:.0f}" for role, peak in sorted(memory["processes"].items()))
    return f"peak RSS MiB: {parts}; all together {memory['total'] / MIB:.0f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=40, help="files in the folder (default 40)")
    parser.add_argument("--file-side", type=int, default=512, help="side of each file (default 512)")
    parser.add_argument("--side", type=int, default=20000, help="side of the large gray TIFF (default 20000)")
    parser.add_argument("--chunks", type=int, default=2048, help="--chunks for the large TIFF (default 2048)")
    parser.add_argument("--workers", type=int, default=2, help="local:N workers, one thread each (default 2)")
    parser.add_argument("--scale", type=int, default=2)
    parser.add_argument("--sample", type=float, default=0.2, help="seconds between memory samples")
    parser.add_argument("--skip", nargs="*", default=[], choices=["folder", "startup", "big"])
    parser.add_argument(
        "--big-on",
        nargs="+",
        default=["in-process", "local"],
        choices=["in-process", "local"],
        help="where the large image runs (default both; each is long at full size)",
    )
    parser.add_argument("--dir", help="work folder (default: a temporary one, removed after)")
    parser.add_argument("--json", help="write the figures here too")
    args = parser.parse_args()

    results = {"cpus": os.cpu_count(), "args": vars(args)}
    with tempfile.TemporaryDirectory(dir=args.dir) as work:
        work = Path(work)
        scheduler = ["--scheduler", f"local:{args.workers}"]
        if "folder" not in args.skip:
            make_folder(work / "files", args.images, args.file_side)
            for label, options in (("in-process", []), (f"local:{args.workers}", scheduler)):
                out = work / f"files-{label.replace(':', '')}"
                result = run_command(
                    ["upscale", "-i", work / "files", "-o", out, "-s", args.scale, *options], args.sample
                )
                results[f"folder {label}"] = result
                print(
                    f"folder, {args.images} x {args.file_side}x{args.file_side}x3 x{args.scale}, {label}: "
                    f"{result['files'] / result['seconds']:.2f} files/s ({result['seconds']:.1f} s for the files, "
                    f"{result['wall']:.1f} s in all); {_memory_line(result['memory'])}",
                    flush=True,
                )
        if "startup" not in args.skip:
            result = results["start-up"] = start_up(args.workers, args.scale)
            workers = ", ".join(f"{s:.1f}" for s in result["workers"])
            print(
                f"start-up, local:{args.workers}: the cluster {result['cluster']:.1f} s; "
                f"each worker's model and kernels {workers} s",
                flush=True,
            )
        if "big" not in args.skip:
            tiff = work / "big.tif"
            make_tiff(tiff, args.side)
            modes = {"in-process": ("in-process", []), "local": (f"local:{args.workers}", scheduler)}
            for label, options in (modes[m] for m in args.big_on):
                out = work / f"big-{label.replace(':', '')}"
                command = ["upscale", "-i", tiff, "-o", out, "-s", args.scale, "--chunks", args.chunks, *options]
                result = results[f"big {label}"] = run_command(command, args.sample)
                print(
                    f"{args.side}x{args.side} gray TIFF x{args.scale}, --chunks {args.chunks}, {label}: "
                    f"{result['wall']:.1f} s; {_memory_line(result['memory'])}",
                    flush=True,
                )
                for leftover in out.iterdir():  # the output can be large: one at a time on disk
                    leftover.unlink()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
