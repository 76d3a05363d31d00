"""What a user of ``predict`` gets on the benchmark sets, beside what ``npsrcnn evaluate`` reports.

Each image is cropped to a multiple of the scale, shrunk by ``npsrcnn.imresize`` (MATLAB's bicubic,
to 8 bits), then ``npsrcnn.predict(small, scale=s)``; ``s`` pixels shaved. The output's Y (MATLAB's
``rgb2ycbcr``, unrounded) is scored two ways:

- against the 8-bit Y of the ground truth, the reference plane ``evaluate`` scores against (MATLAB's
  ``rgb2ycbcr`` of a uint8 image rounds), so the two figures differ only by the network's input;
- against the unrounded Y of the ground truth (``npsrcnn.psnr(..., y_channel=True)``, BasicSR's way).

    python benchmarks/predict_psnr.py --data ../shared/datasets/Set5 ../shared/datasets/Set14 \\
        [--scale 2 3 4] [--resampler opencv] [--model FILE]
"""

import argparse
from pathlib import Path

import numpy as np

import npsrcnn
from npsrcnn.color import luma
from npsrcnn.evaluate import evaluate
from npsrcnn.image import list_images
from npsrcnn.protocol import matlab_luma


def predict_scores(folder, scale, model=None, resampler=None):
    """-> (mean PSNR against the 8-bit Y of the truth, against its unrounded Y), dB."""
    to_8bit, unrounded = [], []
    for path in list_images(folder)[0]:
        truth = npsrcnn.modcrop(npsrcnn.read_image(path), scale)
        out = npsrcnn.predict(npsrcnn.imresize(truth, 1 / scale), scale=scale, model=model, resampler=resampler)
        out_y = luma(out, 255) if out.ndim == 3 else out.astype(np.float64)
        to_8bit.append(npsrcnn.psnr(matlab_luma(truth).astype(np.float64), out_y, crop_border=scale, data_range=255))
        unrounded.append(npsrcnn.psnr(truth, out, crop_border=scale, y_channel=True))
    return float(np.mean(to_8bit)), float(np.mean(unrounded))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", required=True, metavar="DIR")
    parser.add_argument("--scale", type=int, nargs="+", default=[2, 3, 4])
    parser.add_argument("--resampler", help="override the model's enlargement (default: its own)")
    parser.add_argument("--model", help="model file (default: the shipped weights of each scale)")
    args = parser.parse_args()
    print(f"predict on imresize(gt, 1/s), resampler {args.resampler or 'the model' + chr(39) + 's own'}; Y PSNR, dB")
    print(f"{'set':8}{'scale':>6}{'evaluate':>10}{'vs 8-bit Y':>12}{'diff':>8}{'vs unrounded':>14}{'diff':>8}")
    for folder in args.data:
        for scale in args.scale:
            model = npsrcnn.SRCNN.from_file(args.model or npsrcnn.shipped_weights(scale))
            (row,) = evaluate([folder], [scale], ("srcnn",), models={scale: model}, warn=None)
            protocol = row.mean("psnr")
            to_8bit, unrounded = predict_scores(folder, scale, model, args.resampler)
            print(
                f"{Path(folder).name:8}{'x' + str(scale):>6}{protocol:10.3f}{to_8bit:12.3f}{to_8bit - protocol:+8.3f}"
                f"{unrounded:14.3f}{unrounded - protocol:+8.3f}"
            )


if __name__ == "__main__":
    main()
