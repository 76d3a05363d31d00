"""A corpus of bad and odd inputs, made here: each one through ``npsrcnn upscale`` gives one line
naming the file and the reason, a non-zero exit, no traceback, and leaves no file behind."""

import os
import shutil
import socket
import struct
import zipfile
import zlib

import cv2
import h5py
import numpy as np
import pytest
import skimage.data
import zarr

from helpers import assert_one_line_error, run_cli, small_model, torch_style_onnx
from npsrcnn import write_image

FACE = skimage.data.astronaut()[90:150, 160:230]


def _png_claiming(width, height):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(1000))) + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    bad = root / "bad"
    bad.mkdir()
    for suffix in (".png", ".jpg", ".bmp"):
        encoded = cv2.imencode(suffix, FACE)[1].tobytes()
        (bad / f"truncated{suffix}").write_bytes(encoded[: len(encoded) // 2])
    (bad / "empty.png").write_bytes(b"")
    (bad / "text.png").write_text("this is a text file, named .png\n")
    (bad / "huge.png").write_bytes(_png_claiming(100000, 100000))
    write_image(root / "face.png", FACE)
    small_model().save(root / "good.h5")
    shutil.copy(root / "good.h5", root / "shapes.h5")
    with h5py.File(root / "shapes.h5", "r+") as f:  # the middle kernel (3, 3, 8, 4) stored as (3, 3, 8)
        layer = f["model_weights/conv2d_2"]
        del layer["conv2d_2/kernel:0"]
        layer.create_dataset("conv2d_2/kernel:0", data=np.zeros((3, 3, 8), np.float32))
    shutil.copy(root / "good.h5", root / "nan.h5")
    with h5py.File(root / "nan.h5", "r+") as f:
        f["model_weights/conv2d_1/conv2d_1/kernel:0"][0, 0, 0, 0] = np.nan
    shutil.copy(root / "good.h5", root / "vast.h5")
    with h5py.File(root / "vast.h5", "r+") as f:  # a kernel claiming 4 * 10^14 bytes, stored in a few (never written)
        layer = f["model_weights/conv2d_2"]
        del layer["conv2d_2/kernel:0"]
        layer.create_dataset("conv2d_2/kernel:0", shape=(10**4, 10**4, 10**3, 10**3), dtype=np.float32, chunks=True)
    data = (root / "good.h5").read_bytes()
    (root / "truncated.h5").write_bytes(data[: len(data) // 2])
    with zipfile.ZipFile(root / "escape.keras", "w") as archive:
        archive.writestr("config.json", "{}")
        archive.writestr("model.weights.h5", data)
        archive.writestr("../../outside.txt", "a member that would land outside the folder")
    (root / "a-file").write_text("a file, where a folder should be")
    _onnx_corpus(root)
    zarr.open_group(root / "group.zarr", mode="w")
    zarr.open_array(root / "vector.zarr", mode="w", shape=(5,), dtype=np.int64)
    zarr.open_array(root / "int.zarr", mode="w", shape=(8, 8), dtype=np.int32)
    (root / "notes.zarr").mkdir()
    (root / "notes.zarr" / "notes.txt").write_text("a folder named .zarr, holding no array")
    (root / "fake-dask" / "dask").mkdir(parents=True)  # what a base install without the cluster extra finds
    (root / "fake-dask" / "dask" / "__init__.py").write_text(
        "raise ImportError(\"No module named 'dask'\", name='dask')\n"
    )
    return root


def _onnx_corpus(root):
    """ONNX files gone wrong: cut short, not ONNX at all, weights kept outside the model's folder,
    and graphs that are not an SRCNN chain."""
    import onnx
    from onnx import helper

    layers = small_model("same").layers
    small_model().save(root / "good.onnx")
    data = (root / "good.onnx").read_bytes()
    (root / "truncated.onnx").write_bytes(data[: len(data) // 2])
    (root / "garbage.onnx").write_bytes(bytes(range(256)) * 4)
    folder = root / "onnx"
    folder.mkdir()
    proto = onnx.load(root / "good.onnx")
    onnx.save_model(proto, folder / "escape.onnx", save_as_external_data=True, location="weights.bin", size_threshold=0)
    (folder / "weights.bin").rename(root / "weights.bin")  # readable, one folder up: it must not be read
    proto = onnx.load(folder / "escape.onnx", load_external_data=False)
    for tensor in proto.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = "../weights.bin"
    (folder / "escape.onnx").write_bytes(proto.SerializeToString())
    upsample = helper.make_node("Upsample", ["x", "scales"], ["y"], mode="nearest")
    onnx.save(torch_style_onnx(layers, tail=[upsample]), root / "upsample.onnx")
    for name, attrs in (
        ("grouped", dict(group=2)),
        ("dilated", dict(dilations=[2, 2])),
        ("strided", dict(strides=[2, 2])),
    ):
        onnx.save(torch_style_onnx(layers, conv_attrs={1: attrs}), root / f"{name}.onnx")


IMAGES = [
    ("truncated.png", "not a readable image"),
    ("truncated.jpg", "not a readable image"),
    ("truncated.bmp", "not a readable image"),
    ("empty.png", "empty file"),
    ("text.png", "not a readable image"),
    ("huge.png", "header claims 100000x100000 pixels"),
    ("missing.png", "no such file"),
]
WEIGHTS = [
    ("shapes.h5", "layer conv2d_2 has weights of shapes (3, 3, 8)"),
    ("nan.h5", "NaN or infinite weights"),
    ("truncated.h5", "unreadable weights file"),
    ("escape.keras", "'../../outside.txt' has an unsafe path"),
    ("missing.h5", "no such weights file"),
    ("vast.h5", "its arrays claim more memory than this machine has"),
    ("truncated.onnx", "not a readable ONNX model"),
    ("garbage.onnx", "not a readable ONNX model"),
    ("onnx/escape.onnx", "keeps its data at '../weights.bin', outside the model's folder; refusing the file"),
    ("upsample.onnx", "node 5 is Upsample; npsrcnn reads chains of Conv/Relu (SRCNN)"),
    ("grouped.onnx", "node 2 is Conv with group=2"),
    ("dilated.onnx", "node 2 is Conv with dilations=[2, 2]"),
    ("strided.onnx", "node 2 is Conv with strides=[2, 2]"),
]


def _assert_nothing_written(root):
    assert not any(p.is_file() for p in (root / "out").rglob("*"))  # nothing, if the folder exists at all
    assert not list(root.rglob("*.partial")) and not (root / "outside.txt").exists()


@pytest.mark.parametrize("name,reason", IMAGES)
def test_bad_images(corpus, name, reason):
    result = run_cli(
        "upscale", "-i", corpus / "bad" / name, "-o", corpus / "out", "-s", 2, "--model", corpus / "good.h5"
    )
    assert_one_line_error(result, name, reason)
    _assert_nothing_written(corpus)


@pytest.mark.parametrize("name,reason", WEIGHTS)
def test_bad_weights(corpus, name, reason):
    result = run_cli("upscale", "-i", corpus / "face.png", "-o", corpus / "out", "-s", 2, "--model", corpus / name)
    assert_one_line_error(result, name, reason)
    _assert_nothing_written(corpus)


def test_unwritable_output_folders(corpus):
    args = ["upscale", "-i", corpus / "face.png", "-s", 2, "--model", corpus / "good.h5", "-o"]
    assert_one_line_error(run_cli(*args, corpus / "a-file" / "out"), "a-file/out", "cannot write there")
    assert_one_line_error(run_cli(*args, "/proc/npsrcnn-out"), "/proc/npsrcnn-out", "cannot write there")
    if os.geteuid() != 0:  # root writes into read-only folders regardless; /proc above stands in for it
        locked = corpus / "locked"
        locked.mkdir(mode=0o555)
        assert_one_line_error(run_cli(*args, locked), "locked", "cannot write there")
    _assert_nothing_written(corpus)


def test_export_refuses_an_unwritable_place_or_an_existing_file(corpus):
    args = ["export", "--model", corpus / "good.h5", "-o"]
    assert_one_line_error(run_cli(*args, corpus / "a-file" / "m.onnx"), "a-file/m.onnx", "cannot write there")
    assert_one_line_error(run_cli(*args, "/proc/npsrcnn.onnx"), "/proc/npsrcnn.onnx", "cannot write there")
    before = (corpus / "good.onnx").read_bytes()
    existing = run_cli(*args, corpus / "good.onnx")
    assert_one_line_error(existing, "good.onnx", "exists (use --overwrite to replace it)")
    assert (corpus / "good.onnx").read_bytes() == before
    assert_one_line_error(run_cli(*args, corpus / "m.h5"), "m.h5", "export writes ONNX")
    assert not (corpus / "m.h5").exists()
    _assert_nothing_written(corpus)


def test_the_whole_corpus_with_keep_going(corpus, tmp_path):
    """Every bad image in one folder beside a good one: one line each, the good one done, exit 1."""
    folder = tmp_path / "in"
    shutil.copytree(corpus / "bad", folder)
    shutil.copy(corpus / "face.png", folder / "good.png")
    result = run_cli(
        "upscale", "-i", folder, "-o", tmp_path / "out", "-s", 2, "--model", corpus / "good.h5", "--keep-going"
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    expected = sorted((name, reason) for name, reason in IMAGES if name != "missing.png")
    assert len(lines) == len(expected)
    for line, (name, reason) in zip(lines, expected):
        assert line.startswith(f"npsrcnn: {folder / name}: ") and reason in line, line
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["good_x2.png"]
    assert f"1 upscaled, {len(expected)} failed" in result.stdout


def _closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens there once the socket is closed


SCALE_OUT = [
    (["--scheduler", "tcp://127.0.0.1:{port}"], ["--scheduler tcp://127.0.0.1:", "cannot reach a Dask scheduler"]),
    (["--scheduler", "local:0"], ["--scheduler local:0", "N must be 1 or more"]),
    (["--scheduler", "127.0.0.1:8786"], ["'127.0.0.1:8786' is neither tcp://HOST:PORT", "nor local:N"]),
    (["--chunks", "0"], ["--chunks must be at least 1 pixel, got 0"]),
    (["--chunks", "64", "-i", "{root}/face.png"], ["face.png", "--chunks streams .tif, .tiff, .zarr images"]),
    (["-i", "{root}/int.zarr"], ["int.zarr", "read a chunk at a time: add --chunks N"]),
    (["--chunks", "64", "-i", "{root}/group.zarr"], ["group.zarr", "not a readable Zarr array", "'group'"]),
    (["--chunks", "64", "-i", "{root}/notes.zarr"], ["notes.zarr", "not a readable Zarr array"]),
    (["--chunks", "64", "-i", "{root}/vector.zarr"], ["vector.zarr", "shape (5,) is not an image"]),
    (["--chunks", "64", "-i", "{root}/int.zarr"], ["int.zarr", "int32 pixels are not supported"]),
]


@pytest.mark.parametrize("options,fragments", SCALE_OUT)
def test_bad_scale_out_options_and_zarr_images(corpus, options, fragments):
    """An unreachable scheduler (a short connect timeout), a bad address, no chunks, a .zarr that is no
    image: one line, exit 1, nothing written."""
    options = [o.format(port=_closed_port(), root=corpus) for o in options]
    source = [] if "-i" in options else ["-i", corpus / "face.png"]
    result = run_cli("upscale", *source, "-o", corpus / "out", "-s", 2, "--model", corpus / "good.h5", *options)
    assert_one_line_error(result, *fragments)
    assert result.returncode == 1
    _assert_nothing_written(corpus)


@pytest.mark.parametrize("option", [["--scheduler", "local:2"], ["--chunks", "64"]])
def test_without_the_cluster_extra_one_line_names_it(corpus, option):
    result = run_cli(
        "upscale",
        "-i",
        corpus / "face.png",
        "-o",
        corpus / "out",
        "-s",
        2,
        "--model",
        corpus / "good.h5",
        *option,
        env={"PYTHONPATH": os.pathsep.join([str(corpus / "fake-dask"), os.environ.get("PYTHONPATH", "")])},
    )
    assert_one_line_error(result, f"{option[0]} needs dask, which is not installed: pip install 'npsrcnn[cluster]'")
    _assert_nothing_written(corpus)
