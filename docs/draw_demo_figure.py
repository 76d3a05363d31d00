"""Draw docs/img/demo.png, the README's picture: `npsrcnn demo`'s three images, cropped to the face,
and beside it docs/img/demo_zoom.png: the demo's zoomed crops where bicubic errs most.

    python docs/draw_demo_figure.py [OUT.png]     (or: make docs-images)

The PSNR figures are the demo's own, on RGB of the whole image; the crop only makes the face large
enough to see what the network restores.
"""

import shutil
import sys
import tempfile
from pathlib import Path

from npsrcnn.demo import run_demo
from npsrcnn.image import read_image
from npsrcnn.viz import side_by_side

FACE = (slice(20, 180), slice(150, 310))  # rows, columns of the 510x510 astronaut


def main(out="docs/img/demo.png", scale=3):
    with tempfile.TemporaryDirectory() as tmp:
        result = run_demo(tmp, scale=scale)
        images = [read_image(path)[FACE] for path in result["files"][:3]]
        zoom = Path(out).with_name(Path(out).stem + "_zoom.png")
        shutil.copyfile(result["files"][-1], zoom)
    labels = ["original"] + [f"{label.split()[0]} x{scale}: {p:.2f} dB" for label, p, _, _ in result["rows"]]
    side_by_side(
        list(zip(labels, images)),
        out,
        title=f"npsrcnn demo: the astronaut shrunk by {scale} (MATLAB bicubic), PSNR on RGB of the whole image",
    )
    print(f"wrote {out}, {zoom}")


if __name__ == "__main__":
    main(*sys.argv[1:])
