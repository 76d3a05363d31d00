"""The paper's protocol (pinned to its bicubic figures), the authors' .mat models, the tutorials' protocol."""

import json

import h5py
import numpy as np
import pytest
import scipy.io
import scipy.ndimage
import skimage.data

from helpers import assert_one_line_error, dataset_dir, real_luma, run_cli, small_model
from npsrcnn import SRCNN, ConvLayer, NpsrcnnError, write_image
from npsrcnn.protocol import matlab_protocol, opencv_protocol

# SRCNN paper, bicubic rows (ECCV 2014 Table 1 / TPAMI 2016), PSNR on Y in dB
PAPER_BICUBIC = {
    ("Set5", 2): 33.66,
    ("Set5", 3): 30.39,
    ("Set5", 4): 28.42,
    ("Set14", 2): 30.23,
    ("Set14", 3): 27.54,
    ("Set14", 4): 26.00,
}


def test_paper_bicubic_rows(tmp_path):
    result = run_cli(
        "evaluate",
        "--data",
        dataset_dir("Set5"),
        dataset_dir("Set14"),
        "--scale",
        2,
        3,
        4,
        "--methods",
        "bicubic",
        "--protocol",
        "matlab",
        "--json",
        tmp_path / "r.json",
    )
    assert result.returncode == 0, result.stderr
    rows = json.loads((tmp_path / "r.json").read_text())["rows"]
    got = {(r["dataset"], r["scale"]): round(r["psnr"], 2) for r in rows}
    assert got == PAPER_BICUBIC
    assert all(len(r["images"]) == {"Set5": 5, "Set14": 14}[r["dataset"]] for r in rows)
    for value in PAPER_BICUBIC.values():
        assert f"{value:.2f}" in result.stdout


def _authors_forward(image, w1, w2, w3, b1, b2, b3):
    """The SRCNN authors' SRCNN.m, transcribed: imfilter(..., 'same', 'replicate') per filter pair,
    each filter a column reshaped column-major."""

    def imfilter(img, taps):
        f = int(np.sqrt(taps.size))
        return scipy.ndimage.correlate(img, taps.reshape(f, f, order="F"), mode="nearest")

    conv1 = [np.maximum(imfilter(image, w1[:, i]) + b1[i, 0], 0) for i in range(w1.shape[1])]
    conv2 = [
        np.maximum(sum(imfilter(conv1[j], w2[j, :, i]) for j in range(w2.shape[0])) + b2[i, 0], 0)
        for i in range(w2.shape[2])
    ]
    return sum(imfilter(conv2[i], w3[i, :]) for i in range(w3.shape[0])) + b3[0, 0]


def _authors_arrays(f1, f2, f3, n1, n2, seed=0):
    r = np.random.default_rng(seed)
    return dict(
        weights_conv1=r.normal(size=(f1 * f1, n1)) * 0.1,
        weights_conv2=r.normal(size=(n1, f2 * f2, n2)) * 0.2,
        weights_conv3=r.normal(size=(n2, f3 * f3)) * 0.1,
        biases_conv1=r.normal(size=(n1, 1)) * 0.1,
        biases_conv2=r.normal(size=(n2, 1)) * 0.1,
        biases_conv3=np.array([[0.05]]),
    )


@pytest.mark.parametrize("shape", [(9, 1, 5, 8, 4), (9, 5, 5, 6, 3), (5, 3, 3, 4, 2)])
def test_authors_mat_model_matches_their_algorithm(tmp_path, shape):
    arrays = _authors_arrays(*shape)
    scipy.io.savemat(tmp_path / "x3.mat", arrays)
    model = SRCNN.from_file(tmp_path / "x3.mat")
    assert [l.padding for l in model.layers] == ["replicate"] * 3
    image = real_luma(30, 27).astype(np.float64)
    expected = _authors_forward(
        image,
        *(
            arrays[k]
            for k in ("weights_conv1", "weights_conv2", "weights_conv3", "biases_conv1", "biases_conv2", "biases_conv3")
        ),
    )
    assert np.abs(model.forward(image, backend="numpy") - expected).max() < 1e-5  # float32 weights
    assert np.abs(model.forward(image.astype(np.float32), backend="cpu") - expected).max() < 1e-5


def test_matlab_v73_files_are_read_through_hdf5(tmp_path):
    """v7.3 .mat files are HDF5 behind a 512-byte MATLAB header, arrays stored axis-reversed."""
    arrays = _authors_arrays(9, 1, 5, 4, 2)
    path = tmp_path / "x2.mat"
    with h5py.File(path, "w", userblock_size=512) as f:
        for key, value in arrays.items():
            f[key] = value.T
    with open(path, "r+b") as f:
        f.write(b"MATLAB 7.3 MAT-file".ljust(124) + b"\x00\x02IM")
    scipy.io.savemat(tmp_path / "v5.mat", arrays)
    for a, b in zip(SRCNN.from_file(path).layers, SRCNN.from_file(tmp_path / "v5.mat").layers):
        np.testing.assert_array_equal(a.kernel, b.kernel)


@pytest.mark.parametrize(
    "change,message",
    [
        (lambda a: a.pop("biases_conv2"), "lacks biases_conv2"),
        (lambda a: a.update(weights_conv1=np.zeros((80, 8))), "80 taps per filter, not a square"),
    ],
)
def test_bad_mat_files(tmp_path, change, message):
    arrays = _authors_arrays(9, 1, 5, 8, 4)
    change(arrays)
    scipy.io.savemat(tmp_path / "bad.mat", arrays)
    with pytest.raises(NpsrcnnError, match=message):
        SRCNN.from_file(tmp_path / "bad.mat")


def test_matlab_protocol_uses_a_gray_file_as_is():
    gray = skimage.data.camera()[:100, :101]
    truth, outputs = matlab_protocol(gray, 3, ["bicubic"], None)
    np.testing.assert_array_equal(truth, gray[3:96, 3:96])  # modcrop to 99x99, shave 3
    assert outputs["bicubic"].shape == truth.shape and outputs["bicubic"].dtype == np.uint8


def _pointwise():
    one = np.ones((1, 1, 1, 1))
    return SRCNN([ConvLayer(one, [0.0], activation="linear"), ConvLayer(one, [0.0], activation="linear")])


def test_opencv_protocol_is_the_tutorials_pipeline():
    img = skimage.data.astronaut()[100:190, 150:250]
    truth, outputs = opencv_protocol(img, 2, ["bilinear", "srcnn"], _pointwise(), degrade_method="bilinear")
    assert truth.shape == img.shape  # a same-size network crops nothing
    assert np.abs(outputs["srcnn"].astype(int) - outputs["bilinear"]).max() <= 2  # only the YCrCb round trip
    truth, outputs = opencv_protocol(img, 2, ["bicubic", "srcnn"], small_model())  # 9-3-5 valid-same-valid
    np.testing.assert_array_equal(truth, img[6:-6, 6:-6])
    assert outputs["srcnn"].shape == outputs["bicubic"].shape == truth.shape


@pytest.fixture
def tiny_set(tmp_path):
    folder = tmp_path / "Tiny"
    folder.mkdir()
    write_image(folder / "face.png", skimage.data.astronaut()[80:160, 160:250])
    write_image(folder / "coins.bmp", skimage.data.coins()[:90, :72])
    small_model().save(tmp_path / "x2.h5")
    small_model(seed=1).save(tmp_path / "x3.h5")
    return folder


@pytest.mark.parametrize("protocol", ["matlab", "opencv"])
def test_evaluate_command_writes_tables_json_and_figures(tiny_set, protocol):
    out = tiny_set.parent
    result = run_cli(
        "evaluate",
        "--data",
        tiny_set,
        "--scale",
        2,
        3,
        "--model",
        out / "x{scale}.h5",
        "--protocol",
        protocol,
        "--methods",
        "bicubic",
        "bilinear",
        "srcnn",
        "-v",
        "--figures",
        out / "figs",
        "--json",
        out / "r.json",
    )
    assert result.returncode == 0, result.stderr
    assert "Tiny x2" in result.stdout and "Tiny x3" in result.stdout
    assert "face" in result.stdout and "coins" in result.stdout  # -v: per-image rows
    assert ("MSE" in result.stdout) == (protocol == "opencv")
    report = json.loads((out / "r.json").read_text())
    assert report["protocol"] == protocol
    assert {(r["dataset"], r["scale"], r["method"]) for r in report["rows"]} == {
        ("Tiny", s, m) for s in (2, 3) for m in ("bicubic", "bilinear", "srcnn")
    }
    row = report["rows"][0]
    assert row["psnr"] == pytest.approx(np.mean([i["psnr"] for i in row["images"]]))
    assert {i["name"] for i in row["images"]} == {"face", "coins"}
    assert sorted(p.name for p in (out / "figs").iterdir()) == sorted(
        [f"Tiny_x{s}_{n}{z}.png" for s in (2, 3) for n in ("face", "coins") for z in ("", "_zoom")] + ["summary.png"]
    )


def test_stray_files_are_skipped_with_a_warning(tiny_set):
    (tiny_set / "readme.txt").write_text("notes")
    result = run_cli("evaluate", "--data", tiny_set, "--scale", 2, "--methods", "bicubic")
    assert result.returncode == 0, result.stderr
    assert "readme.txt: not an image file; skipped" in result.stderr


@pytest.mark.parametrize(
    "setup,args,fragments",
    [
        (None, ["--data", "{d}/nowhere"], ["nowhere", "no such folder"]),
        ("empty", ["--data", "{d}/empty"], ["empty", "no images"]),
        ("corrupt", ["--data", "{d}/Tiny", "--methods", "bicubic"], ["broken.png", "not a readable image"]),
        (None, ["--data", "{d}/Tiny", "--scale", "2", "4", "--model", "{d}/x{{scale}}.h5"], ["x4.h5", "no such"]),
        (None, ["--data", "{d}/Tiny", "--scale", "5"], ["no shipped weights for x5"]),
    ],
)
def test_evaluate_errors_are_one_line(tiny_set, setup, args, fragments):
    d = tiny_set.parent
    if setup == "empty":
        (d / "empty").mkdir()
    if setup == "corrupt":
        (tiny_set / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    result = run_cli("evaluate", *[a.format(d=d) for a in args], "--json", d / "r.json")
    assert_one_line_error(result, *fragments)
    assert not (d / "r.json").exists()
