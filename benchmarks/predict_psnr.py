"""What a user of ``predict`` gets on the benchmark sets: each image cropped to a multiple of the
scale, shrunk by ``npsrcnn.imresize`` (MATLAB's bicubic, to 8 bits), then ``npsrcnn.predict(small,
scale=s)``; PSNR on the Y of MATLAB's ``rgb2ycbcr`` of the RGB output (unrounded), ``s`` pixels
shaved. ``npsrcnn evaluate`` scores the same network by the paper's protocol, on its 8-bit Y plane.

    python benchmarks/predict_psnr.py --data ../shared/datasets/Set5 ../shared/datasets/Set14 \\
        [--scale 2 3 4] [--resampler opencv] [--model FILE]
"""

import argparse
from pathlib import Path

import numpy as np

import npsrcnn
from npsrcnn.image import list_images


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", required=True, metavar="DIR")
    parser.add_argument("--scale", type=int, nargs="+", default=[2, 3, 4])
    parser.add_argument("--resampler", help="override the model's enlargement (default: its own)")
    parser.add_argument("--model", help="model file (default: the shipped weights of each scale)")
    args = parser.parse_args()
    resampler = args.resampler or "the model's own"
    print(f"predict on imresize(gt, 1/s), resampler {resampler}; PSNR on Y (dB)")
    print(f"{'set':8}" + "".join(f"{'x' + str(s):>9}" for s in args.scale))
    for folder in args.data:
        images, _ = list_images(folder)
        means = []
        for scale in args.scale:
            scores = []
            for path in images:
                truth = npsrcnn.modcrop(npsrcnn.read_image(path), scale)
                small = npsrcnn.imresize(truth, 1 / scale)
                out = npsrcnn.predict(small, scale=scale, model=args.model, resampler=args.resampler)
                scores.append(npsrcnn.psnr(truth, out, crop_border=scale, y_channel=True))
            means.append(float(np.mean(scores)))
        print(f"{Path(folder).name:8}" + "".join(f"{m:9.3f}" for m in means))


if __name__ == "__main__":
    main()
