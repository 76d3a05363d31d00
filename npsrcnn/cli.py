"""The ``npsrcnn`` command: argument parsing only; every command is a thin call into the library.

Errors in the user's input print one line, ``npsrcnn: <file or option>: <problem>``, and exit 1;
a command returns its exit code (``upscale --keep-going`` gives 1 when some file failed).
"""

import argparse
import contextlib
import functools
import os
import signal
import sys
from pathlib import Path

from npsrcnn import backends
from npsrcnn.data import AUGMENT_FACTORS
from npsrcnn.errors import NpsrcnnError
from npsrcnn.modelfile import DEFAULT_RESAMPLER, RESAMPLERS
from npsrcnn.protocol import OPENCV_DEGRADE


def cmd_upscale(args):
    _announce_compiling(args)
    from tqdm import tqdm

    from npsrcnn import batch
    from npsrcnn.model import resolve_model

    streamed = args.chunks is not None
    if streamed:
        from npsrcnn.chunked import predict_dask, require, tiff_chunks

        if args.chunks < 1:
            raise NpsrcnnError(f"--chunks must be at least 1 pixel, got {args.chunks}")
        require("--chunks", "dask", "zarr", "tifffile")
    jobs, warnings = batch.plan(
        args.input, args.output, args.scale, args.suffix, args.ext, args.recursive, streamed=streamed
    )
    for message in warnings:
        print(f"warning: {message}", file=sys.stderr)
    model = resolve_model(args.model, args.scale)
    options = dict(scale=args.scale, model=model, backend=args.backend, tile=args.tile, resampler=args.resampler)
    with _cluster(args.scheduler) as client:
        batch.prepare_output(jobs)
        mapper, process = _mapper(client, args.scheduler), batch.upscale_file
        if streamed:  # the chunks run on the cluster, or on this process's threads; the files one by one here
            threads = None if client else args.threads
            upscale = functools.partial(predict_dask, chunks=tiff_chunks(args.chunks), threads=threads, **options)
            mapper, process = _mapper(None, None), batch.stream_file
        elif client:
            upscale = batch.Upscaler(**options)
        else:
            upscale = _with_tile_bar(batch.Upscaler(**options), tqdm)
        files = tqdm(total=len(jobs), unit="file", disable=None)  # progress bars only on a terminal
        summary = batch.run(
            jobs,
            upscale,
            overwrite=args.overwrite,
            keep_going=args.keep_going,
            say=tqdm.write,
            warn=lambda message: tqdm.write(f"npsrcnn: {message}", file=sys.stderr),
            progress=files.update,
            mapper=mapper,
            process=process,
        )
        files.close()
    print(f"{summary.line()}; outputs in {args.output}")
    return 1 if summary.failed else 0


def _with_tile_bar(upscaler, tqdm):
    """``upscaler`` with a second progress bar, over tiles, for images of more than one."""

    def upscale(image):
        bar = None

        def progress(done, total):
            nonlocal bar
            if total > 1:
                bar = bar or tqdm(total=total, unit="tile", leave=False, disable=None)
                bar.update(1)

        try:
            return upscaler(image, progress)
        finally:
            if bar is not None:
                bar.close()

    return upscale


@contextlib.contextmanager
def _cluster(address):
    """A Dask client for ``--scheduler ADDRESS`` (``npsrcnn.cluster``), or None without one."""
    if address is None:
        yield None
        return
    from npsrcnn.chunked import require

    require("--scheduler", "dask", "distributed")
    from npsrcnn import cluster

    with cluster.connect(address) as client:
        yield client


def _mapper(client, address):
    """Where each file's work runs (``npsrcnn.jobs``): on ``client``'s workers, or here without one."""
    if client is None:
        from npsrcnn.jobs import in_process

        return in_process
    from npsrcnn import cluster

    return cluster.mapper(client, address)


def cmd_degrade(args):
    from npsrcnn.image import read_image, write_image
    from npsrcnn.resize import degrade

    src, dst = Path(args.input), Path(args.output)
    if dst.exists() and dst.resolve() == src.resolve():
        raise NpsrcnnError(f"{dst}: would overwrite the input")
    write_image(dst, degrade(read_image(src), args.scale, args.method))
    print(f"{src} -> {dst} ({args.method} down and up by {args.scale})")


def cmd_compare(args):
    from npsrcnn.image import read_image
    from npsrcnn.metrics import mse, psnr, ssim

    a, b = read_image(args.a), read_image(args.b)
    opts = dict(crop_border=args.crop_border, y_channel=args.y_channel)
    print(f"PSNR {psnr(a, b, **opts):.4f} dB  MSE {mse(a, b, **opts):.4f}  SSIM {ssim(a, b, **opts):.4f}")


def cmd_info(args):
    from npsrcnn.model import SRCNN

    model = SRCNN.from_file(args.path)
    print(f"{args.path}: {model.describe()}")
    for i, layer in enumerate(model.layers, start=1):
        kh, kw, c_in, c_out = layer.kernel.shape
        print(f"  conv{i}: {kh}x{kw}, {c_in} -> {c_out}, padding {layer.padding}, {layer.activation}")
    top, bottom, left, right = model.shrink
    print(
        f"  receptive field {model.receptive_field[0]}x{model.receptive_field[1]}; "
        f"output loses {top + bottom} rows and {left + right} columns"
    )
    if model.resampler is None:
        print(
            f"  resampler not recorded: predict enlarges with {DEFAULT_RESAMPLER}, the paper's (--resampler overrides)"
        )
    else:
        print(f"  resampler {model.resampler}: its training inputs were enlarged so, and predict enlarges so")
    print(f"  scale {model.scale if model.scale is not None else 'not recorded'}")


def cmd_export(args):
    from npsrcnn.model import resolve_model

    out = Path(args.output)
    if out.suffix.lower() != ".onnx":
        raise NpsrcnnError(f"{out}: export writes ONNX; name the file .onnx (SRCNN.save writes Keras .h5)")
    if out.exists() and not args.overwrite:
        raise NpsrcnnError(f"{out}: exists (use --overwrite to replace it)")
    model = resolve_model(args.model, args.scale)
    try:
        model.save(out)
    except OSError as e:
        raise NpsrcnnError(f"{out}: cannot write there ({e.strerror or e})") from None
    print(f"{args.model or f'shipped x{args.scale}'} -> {out}: {model.describe()}")


def cmd_demo(args):
    _announce_compiling(args)
    from npsrcnn.demo import run_demo

    result = run_demo(args.out, method=args.method, degradation=args.degrade, **_model_options(args))
    if result["note"]:
        print(f"note: {result['note']}")
    print(f"astronaut (scikit-image), {args.method} x{args.scale} ({args.degrade} resizing), {args.scale} px shaved:")
    print(f"  {'':18} {'PSNR dB':>8} {'MSE':>9} {'SSIM':>7}")
    for label, p, m, s in result["rows"]:
        print(f"  {label:18} {p:8.2f} {m:9.2f} {s:7.4f}")
    print("wrote " + ", ".join(str(f) for f in result["files"]))


def cmd_evaluate(args):
    _announce_compiling(args)
    import json

    from npsrcnn.atomic import atomic_write
    from npsrcnn.evaluate import evaluate, format_tables, load_models, report

    models = (lambda: load_models(args.model, args.scale)) if "srcnn" in args.methods else None
    warn = lambda message: print(message, file=sys.stderr)
    with _cluster(args.scheduler) as client:
        rows = evaluate(
            args.data,
            args.scale,
            args.methods,
            args.protocol,
            models,
            args.backend,
            args.degrade,
            args.figures,
            warn=warn,
            resampler=args.resampler,
            mapper=_mapper(client, args.scheduler),
        )
    print(format_tables(rows, args.protocol, verbose=args.verbose))
    if args.json:
        with atomic_write(args.json) as tmp:
            tmp.write_text(json.dumps(report(rows, args.protocol), indent=1))
    if args.figures:
        print(f"figures in {args.figures}")


def cmd_train(args):
    _announce_compiling(args)
    from npsrcnn.train import TrainConfig, train

    cfg = TrainConfig(
        data=args.data,
        out=args.out,
        scale=args.scale,
        arch=args.arch,
        filters=tuple(args.filters),
        padding=args.padding,
        optimizer=args.optimizer,
        lr=tuple(args.lr) if args.lr else None,
        momentum=args.momentum,
        batch=args.batch,
        epochs=args.epochs,
        minutes=args.minutes,
        val=args.val,
        patience=args.patience,
        seed=args.seed,
        backend=args.backend,
        protocol=args.protocol,
        checkpoint_every=args.checkpoint_every,
        resume=args.resume,
        schedule=args.schedule,
        init=args.init,
        warmup=args.warmup,
        widen=args.widen,
        loss=args.loss,
        weight_init=args.weight_init,
        augment=args.augment,
        augment_factors=tuple(args.augment_factors),
    )
    state = train(cfg)
    best = f", best validation PSNR {state.best_psnr:.2f} dB" if state.best_psnr is not None else ""
    print(
        f"{state.epoch} epochs, {state.step} steps{best}; weights in {args.out} (last.h5"
        f"{', best.h5' if best else ''}), log.csv, curves.png"
    )


def cmd_explain(args):
    _announce_compiling(args)
    from npsrcnn.explain import explain

    result = explain(args.output, image=args.image, crop=args.crop, overwrite=args.overwrite, **_model_options(args))
    scores, (top, left, size) = result["psnr"], result["crop"]
    print(
        f"{args.image or 'astronaut (scikit-image)'}, bicubic x{args.scale}: PSNR on Y of the whole image "
        f"{scores['bicubic']:.2f} dB, SRCNN {scores['srcnn']:.2f} dB; pictures of the {size} px crop at ({top}, {left})"
    )
    print("wrote " + ", ".join(str(f) for f in result["files"]))


def _announce_compiling(args):
    """On the cpu backend, say on stderr while numba compiles the kernels (the first run on a machine)."""
    if args.backend in ("auto", "cpu"):
        from npsrcnn.backends.cpu import announce_compiling

        announce_compiling()


def cmd_warmup(args):
    """Compile every kernel predict and train run, so that the first real run starts at once."""
    _announce_compiling(args)
    from npsrcnn.warmup import warm_up

    seconds = warm_up(backend=args.backend)
    print(f"kernels ready ({seconds:.1f} s)")


def _model_options(args):
    """What every command that runs the network on an image takes: the scale, the model, where it
    runs and how its input is enlarged."""
    return dict(scale=args.scale, model=args.model, backend=args.backend, resampler=args.resampler)


def _scale(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"scale {text!r} is not a number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"scale must be positive, got {text}")
    return int(value) if value == int(value) else value


def _tile(text):
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"tile {text!r} is not a whole number of pixels (0: untiled)")
    return value


def build_parser():
    parser = argparse.ArgumentParser(prog="npsrcnn", description="SRCNN super-resolution in NumPy/Numba.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def resampler_option(p):
        p.add_argument(
            "--resampler",
            choices=RESAMPLERS,
            help="how the network's input is enlarged (default: the resampler the model file records, "
            f"else {DEFAULT_RESAMPLER}, the paper's MATLAB bicubic)",
        )

    def scheduler_option(p):
        p.add_argument(
            "--scheduler",
            metavar="ADDRESS",
            help="run each file on Dask workers: tcp://HOST:PORT of a running dask scheduler, or local:N to "
            "start N worker processes here (pip install 'npsrcnn[cluster]'; files on a filesystem they share)",
        )

    def backend_option(p):
        p.add_argument(
            "--backend",
            default="auto",
            choices=["auto", *backends.NAMES],
            help="numpy: the reference; cpu: numba kernels; auto: the fastest available",
        )
        p.add_argument("--threads", type=int, metavar="N", help="threads for the kernels and BLAS (default: all cores)")

    p = sub.add_parser(
        "upscale",
        help="upscale an image or a folder of images",
        description="Upscale images with SRCNN: OUT/NAME{suffix}.EXT for each input; existing "
        "outputs are skipped, so a re-run finishes what a stopped one left.",
    )
    p.add_argument("-i", "--input", required=True, help="image file or folder")
    p.add_argument("-o", "--output", required=True, help="output folder (created)")
    p.add_argument("-s", "--scale", type=_scale, default=3)
    p.add_argument(
        "--model",
        "--weights",
        dest="model",
        metavar="FILE",
        help="Keras .h5/.weights.h5/.keras, MATLAB .mat or ONNX model file (default: shipped for the scale)",
    )
    p.add_argument("-r", "--recursive", action="store_true", help="also images in subfolders (mirrored in OUT)")
    p.add_argument("--suffix", default="_x{scale}", help="added to each name (default: %(default)s)")
    p.add_argument(
        "--ext",
        default="auto",
        help="output format: auto (the input's, or png where it cannot store "
        "the result) or one of png, tif, tiff, bmp, jpg, jpeg, webp, ppm, pgm (with --chunks: tif, tiff, zarr)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs (never an input)")
    p.add_argument("--keep-going", action="store_true", help="report a bad file and go on; exit 1 at the end")
    p.add_argument(
        "--tile",
        type=_tile,
        metavar="N",
        help="output tiles of NxN pixels (default: sized to a memory budget; 0: the whole image at once)",
    )
    p.add_argument(
        "--chunks",
        type=int,
        metavar="N",
        help="stream a TIFF or .zarr image larger than memory in output chunks of about NxN pixels "
        "(a multiple of 16, the tiled BigTIFF's tiles) into a tiled BigTIFF or a .zarr",
    )
    scheduler_option(p)
    resampler_option(p)
    backend_option(p)
    p.set_defaults(func=cmd_upscale)

    p = sub.add_parser("degrade", help="shrink and enlarge back: a low-resolution image at full size")
    p.add_argument("-i", "--input", required=True)
    p.add_argument("-o", "--output", required=True, help="output image file")
    p.add_argument("-s", "--scale", type=_scale, default=3)
    p.add_argument("--method", default="bicubic", choices=["bicubic", "bilinear"])
    p.set_defaults(func=cmd_degrade)

    p = sub.add_parser("compare", help="PSNR, MSE and SSIM between two images of one size")
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--crop-border", type=int, default=0, help="pixels shaved from each side first")
    p.add_argument("--y-channel", action="store_true", help="compare luma only (MATLAB rgb2ycbcr)")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("evaluate", help="PSNR/SSIM over datasets, by the paper's or the tutorials' protocol")
    p.add_argument("--data", nargs="+", required=True, metavar="DIR", help="dataset folders (e.g. Set5 Set14)")
    p.add_argument("-s", "--scale", type=int, nargs="+", default=[2, 3, 4])
    p.add_argument(
        "--model",
        "--weights",
        dest="model",
        metavar="FILE",
        help="model file, or pattern with {scale} (models/x{scale}.mat); default: shipped",
    )
    p.add_argument(
        "--protocol",
        default="matlab",
        choices=["matlab", "opencv"],
        help="matlab: the paper's (Y, MATLAB bicubic); opencv: the Keras tutorials' (colour, cv2)",
    )
    p.add_argument("--methods", nargs="+", default=["bicubic", "srcnn"], choices=["bicubic", "bilinear", "srcnn"])
    p.add_argument(
        "--degrade",
        default=OPENCV_DEGRADE,
        choices=["bilinear", "bicubic"],
        help="opencv protocol: how SRCNN's input is degraded (the tutorials': bilinear, as their training pairs)",
    )
    p.add_argument("--figures", metavar="DIR", help="write a comparison per image and a summary plot here")
    p.add_argument("--json", metavar="FILE", help="write the results as JSON")
    p.add_argument("-v", "--verbose", action="store_true", help="per-image rows")
    scheduler_option(p)
    resampler_option(p)
    backend_option(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("train", help="train SRCNN on a folder of images (the paper's T91 protocol)")
    p.add_argument("--data", required=True, metavar="DIR", help="training images (e.g. T91)")
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="checkpoint, weights, log and curves go here")
    p.add_argument("-s", "--scale", type=int, default=3)
    p.add_argument("--arch", default="9-1-5", help="kernel sizes f1-f2-f3")
    p.add_argument("--filters", type=int, nargs="+", default=[64, 32], help="n1 n2")
    p.add_argument(
        "--padding",
        choices=["valid", "same", "replicate"],
        help="every layer (default: the tutorials' valid first/last, same between)",
    )
    p.add_argument(
        "--optimizer",
        default="adam",
        choices=["adam", "sgd"],
        help="adam: the tutorials' (Keras' mean squared error, Glorot weights, rate 3e-4); sgd: the paper's "
        "(Caffe's Euclidean loss, N(0, 0.001^2) weights, momentum 0.9, rates 1e-4 ... 1e-4, 1e-5)",
    )
    p.add_argument("--loss", choices=["mse", "euclidean"], help="override the optimizer's loss")
    p.add_argument("--weight-init", choices=["glorot", "gaussian"], help="override the optimizer's initial weights")
    p.add_argument("--lr", type=float, nargs="+", help="one rate or one per layer (adam 3e-4; sgd 1e-4 ... 1e-5)")
    p.add_argument("--momentum", type=float, default=0.9, help="sgd momentum")
    p.add_argument(
        "--schedule",
        default="constant",
        choices=["constant", "cosine"],
        help="learning rate over the run: constant, or a half cosine down to 1%% (needs --epochs)",
    )
    p.add_argument(
        "--warmup",
        type=float,
        default=0.0,
        metavar="EPOCHS",
        help="raise the rate linearly from ~0 over these first epochs (keeps first-layer ReLUs alive)",
    )
    p.add_argument(
        "--init", metavar="WEIGHTS", help="start from these weights (e.g. another scale's model) and their architecture"
    )
    p.add_argument(
        "--widen",
        metavar="ARCH",
        help="with --init: larger kernel sizes, e.g. 9-5-5 from a 9-1-5 model; "
        "its kernels sit at the new ones' centres, so training starts from the same function",
    )
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--epochs", type=int, help="the run's length (and a schedule's horizon)")
    p.add_argument(
        "--minutes",
        type=float,
        help="stop (with a checkpoint) after this long, to go on with --resume; with --epochs, a chunk of the run",
    )
    p.add_argument("--val", metavar="DIR", help="validation images (e.g. Set14): PSNR on Y every epoch")
    p.add_argument("--patience", type=int, help="stop after this many epochs without a better validation PSNR")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--protocol", default="matlab", choices=["matlab", "opencv"], help="how pairs are made")
    p.add_argument(
        "--augment",
        action="store_true",
        help="draw pairs on the fly from the images, their downscaled copies and the 8 rotations and flips "
        "(FSRCNN's augmentation); an epoch keeps the plain set's number of pairs",
    )
    p.add_argument(
        "--augment-factors",
        type=float,
        nargs="+",
        default=list(AUGMENT_FACTORS),
        metavar="F",
        help="with --augment: the downscaled copies (MATLAB imresize), default 0.9 0.8 0.7 0.6",
    )
    p.add_argument(
        "--checkpoint-every",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="checkpoint inside an epoch this often (always at its end)",
    )
    backend_option(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("info", help="print the architecture in a model file")
    p.add_argument("path")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser(
        "export",
        help="write a model as ONNX, for ONNX Runtime, OpenCV's dnn and other runtimes",
        description="Write a model as an ONNX graph (Conv/Relu chain, NCHW, input (N, 1, H, W)); its metadata "
        "say what the input is (the luma, enlarged by the model's resampler), the scale and the border it eats.",
    )
    source = p.add_mutually_exclusive_group()
    source.add_argument("--model", "--weights", dest="model", metavar="FILE", help="model file to convert")
    source.add_argument("-s", "--scale", type=int, default=3, help="the shipped weights of this scale (default 3)")
    p.add_argument("-o", "--output", required=True, metavar="FILE.onnx")
    p.add_argument("--overwrite", action="store_true", help="replace an existing file")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("warmup", help="compile the kernels for this machine now (the first run is then fast)")
    p.add_argument("--backend", default="auto", choices=["auto", *backends.NAMES], help="whose kernels")
    p.set_defaults(func=cmd_warmup)

    p = sub.add_parser("demo", help="degrade, restore and compare the built-in astronaut image")
    p.add_argument("--out", default="demo-output", help="folder for the images and figure")
    p.add_argument("-s", "--scale", type=_scale, default=3)
    p.add_argument("--method", default="bicubic", choices=["bicubic", "bilinear"])
    p.add_argument(
        "--degrade",
        default="matlab",
        choices=["matlab", "opencv"],
        help="matlab: the paper's antialiased imresize (what the weights learned); opencv: cv2.resize "
        "as the Keras tutorials",
    )
    p.add_argument(
        "--model", "--weights", dest="model", metavar="FILE", help="model file (default: shipped for the scale)"
    )
    resampler_option(p)
    backend_option(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("explain", help="pictures of SRCNN inside: filters, feature maps, pipeline stages, errors")
    p.add_argument("image", nargs="?", help="image file (default: the built-in astronaut)")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="folder for the pictures (created)")
    p.add_argument("-s", "--scale", type=int, default=3)
    p.add_argument(
        "--model", "--weights", dest="model", metavar="FILE", help="model file (default: shipped for the scale)"
    )
    p.add_argument(
        "--crop",
        type=int,
        nargs=3,
        metavar=("TOP", "LEFT", "SIZE"),
        help="the square the pictures show (default: the astronaut's face, or the centre 128)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace existing pictures")
    resampler_option(p)
    backend_option(p)
    p.set_defaults(func=cmd_explain)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)  # a kill ends like Ctrl-C: temporaries removed, one line
    try:
        if getattr(args, "threads", None) is not None:
            if args.threads < 1:
                raise NpsrcnnError(f"--threads must be at least 1, got {args.threads}")
            from npsrcnn.kernels.threads import set_threads

            set_threads(args.threads)
        code = args.func(args) or 0
        _end_compile_notice()
        return code
    except NpsrcnnError as e:
        print(f"npsrcnn: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("npsrcnn: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print("npsrcnn: out of memory (try a smaller image)", file=sys.stderr)
        return 1
    except Exception as e:  # a bug of ours: still one line, with a way to see the traceback
        if os.environ.get("NPSRCNN_DEBUG"):
            raise
        print(
            f"npsrcnn: internal error: {type(e).__name__}: {e} (set NPSRCNN_DEBUG=1 for the traceback)", file=sys.stderr
        )
        return 70


def _end_compile_notice():
    """How many kernels the run compiled, if the cpu backend ran and compiled any."""
    cpu = sys.modules.get("npsrcnn.backends.cpu")
    if cpu is not None:
        cpu.finish_notice()


def _interrupt(signum, frame):
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
