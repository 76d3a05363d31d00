"""Peak memory of ``predict`` on large images: each case in a fresh subprocess, peak resident set read
from the kernel (``ru_maxrss``), so nothing measured before (or freed since) hides in the figure.

    python benchmarks/memory.py [--cases 3840x2160:2 1920x1080:3] [--arch 9-3-5:128-64] [--tile auto]

Per case: the resident set after importing npsrcnn and running every kernel once on a small image
("base"), the peak while upscaling a random RGB image of that size ("peak"), and for scale the
untiled network's widest layer input + output at the output's size ("untiled"), which is what
``tile=0`` would have to hold at once. The image is noise: memory does not depend on content.

The peak is ``VmHWM``, reset once the kernels are loaded, not ``ru_maxrss``: Linux carries the
parent's resident size into ``ru_maxrss`` across fork and exec, so a child of a large process (a
test session with TensorFlow loaded) would report the parent's size.
"""

import argparse
import json
import os
import platform
import subprocess
import sys

MIB = 1 << 20


def status_bytes(field):
    """A memory figure of this process from /proc/self/status (VmRSS now, VmHWM its peak), in bytes."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def reset_peak():
    """Start VmHWM again from the current resident set (Linux >= 4.0)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def child(width, height, scale, arch, tile):
    """Run one case in this process and print its figures as JSON (the parent's subprocess)."""
    import numpy as np

    import npsrcnn

    sizes, filters = arch.split(":")
    model = npsrcnn.SRCNN.build(sizes, tuple(int(f) for f in filters.split("-")))
    npsrcnn.predict(np.zeros((40, 40, 3), np.uint8), scale=scale, model=model)  # load or compile every kernel
    reset_peak()
    base = status_bytes("VmRSS")
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    out = npsrcnn.predict(image, scale=scale, model=model, tile=None if tile == "auto" else int(tile))
    widest = max(l.kernel.shape[2] + l.kernel.shape[3] for l in model.layers)
    print(
        json.dumps(
            {
                "base": base,
                "peak": status_bytes("VmHWM"),
                "output": list(out.shape),
                "untiled": out.shape[0] * out.shape[1] * widest * 4,
            }
        )
    )


def measure(width, height, scale, arch="9-3-5:128-64", tile="auto"):
    """One case in a fresh interpreter -> its figures (bytes), as ``child`` prints them."""
    result = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--child", str(width), str(height), str(scale), arch, str(tile)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"case {width}x{height} x{scale} failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="+", default=["3840x2160:2"], help="WIDTHxHEIGHT:SCALE of the input")
    parser.add_argument("--arch", default="9-3-5:128-64", help="kernel sizes:filters of a random model")
    parser.add_argument("--tile", default="auto", help="output tile side, or auto")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        width, height, scale, arch, tile = args.child
        return child(int(width), int(height), float(scale) if "." in scale else int(scale), arch, tile)
    print(f"{platform.machine()}, {os.cpu_count()} cores; {args.arch}, tile {args.tile}; MiB")
    print(f"{'input':>11} {'scale':>5} {'output':>11} {'base':>7} {'peak':>7} {'untiled':>8}")
    for case in args.cases:
        size, scale = case.split(":")
        width, height = (int(v) for v in size.split("x"))
        r = measure(width, height, scale, args.arch, args.tile)
        print(
            f"{size:>11} {scale:>5} {r['output'][1]}x{r['output'][0]:<6} {r['base'] / MIB:7.0f} "
            f"{r['peak'] / MIB:7.0f} {r['untiled'] / MIB:8.0f}"
        )


if __name__ == "__main__":
    main()
