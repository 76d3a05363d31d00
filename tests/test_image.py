"""Image files, pixel scaling, colour conventions, modcrop/shave and degradation."""

import io
import struct
import zlib

import cv2
import numpy as np
import pytest
import skimage.data
from PIL import Image, ImageOps

from npsrcnn import (
    NpsrcnnError,
    degrade,
    from_float,
    imresize,
    modcrop,
    read_image,
    rgb_to_y,
    rgb_to_ycbcr,
    shave,
    to_float,
    write_image,
    ycbcr_to_rgb,
)
from npsrcnn.image import PIXEL_MAX, WRITABLE
from npsrcnn.resize import resize_window

ASTRONAUT = skimage.data.astronaut()


RGB, GRAY = ASTRONAUT[:40, :50], ASTRONAUT[:31, :17, 0]
RGBA = np.dstack([ASTRONAUT[:20, :30], np.arange(600, dtype=np.uint8).reshape(20, 30)])
DEEP = ASTRONAUT[:16, :16].astype(np.uint16) * 257 + 3


@pytest.mark.parametrize(
    "img,suffix",
    [
        (RGB, ".png"),
        (GRAY, ".png"),
        (RGBA, ".png"),
        (DEEP, ".png"),
        (RGB, ".bmp"),
        (GRAY, ".bmp"),
        (RGBA, ".tiff"),
        (DEEP, ".tiff"),
    ],
)
def test_lossless_round_trip(tmp_path, img, suffix):
    write_image(tmp_path / f"x{suffix}", img)
    back = read_image(tmp_path / f"x{suffix}")
    assert back.dtype == img.dtype
    np.testing.assert_array_equal(back, img)


def test_api_is_rgb_while_files_are_opencv_bgr(tmp_path):
    red = np.zeros((4, 5, 3), np.uint8)
    red[..., 0] = 255
    write_image(tmp_path / "red.png", red)
    assert cv2.imread(str(tmp_path / "red.png"))[0, 0].tolist() == [0, 0, 255]  # OpenCV: B, G, R
    assert read_image(tmp_path / "red.png")[0, 0].tolist() == [255, 0, 0]


@pytest.mark.parametrize(
    "content,message",
    [
        (None, "no such file"),
        (b"", "empty file"),
        (b"hello, not an image", "not a readable image"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "not a readable image"),
    ],
)
def test_unreadable_files_are_clear_errors(tmp_path, content, message):
    path = tmp_path / "bad.png"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(NpsrcnnError, match=message) as info:
        read_image(path)
    assert str(path) in str(info.value)


def test_a_png_missing_only_its_end_chunk_reads_whole_and_quietly(tmp_path, capfd):
    """OpenCV refuses it, and libpng complains on file descriptor 2; Pillow has every pixel. The
    complaint must not reach the terminal: the CLI's errors are one line."""
    face = ASTRONAUT[90:150, 160:230]  # (whether libpng speaks depends on where its reads fall)
    data = cv2.imencode(".png", face[..., ::-1])[1].tobytes()
    (tmp_path / "cut.png").write_bytes(data[:-13])
    np.testing.assert_array_equal(read_image(tmp_path / "cut.png"), face)
    assert capfd.readouterr().err == ""


def test_failed_writes_leave_nothing_behind(tmp_path):
    with pytest.raises(NpsrcnnError, match="does not exist"):
        write_image(tmp_path / "missing" / "x.png", ASTRONAUT)
    with pytest.raises(NpsrcnnError, match="cannot write '.nosuchformat'"):
        write_image(tmp_path / "x.nosuchformat", ASTRONAUT)
    with pytest.raises(NpsrcnnError, match=r"\.jpg cannot store a uint16 RGB image \(use .png, .tif, .tiff, .ppm\)"):
        write_image(tmp_path / "x.jpg", DEEP)
    with pytest.raises(NpsrcnnError, match=r"\.jpg cannot store a uint8 RGBA image"):
        write_image(tmp_path / "x.jpg", RGBA)
    assert list(tmp_path.iterdir()) == []


KINDS = {1: GRAY, 3: RGB, 4: RGBA}


@pytest.mark.parametrize("suffix", sorted(WRITABLE))
def test_writable_formats_keep_what_the_table_says(tmp_path, suffix):
    """Each kind the table allows comes back with its channels and pixel type (lossy JPEG and WebP
    near enough); each one it refuses would have come back changed, which is why it is refused."""
    for channels, img in KINDS.items():
        for dtype in (np.uint8, np.uint16):
            pixels = img.astype(dtype) * (257 if dtype == np.uint16 else 1)
            allowed = channels in WRITABLE[suffix][0] and np.dtype(dtype) in WRITABLE[suffix][1]
            if allowed:
                write_image(tmp_path / f"x{suffix}", pixels)
                back = read_image(tmp_path / f"x{suffix}")
                assert back.shape == pixels.shape and back.dtype == pixels.dtype, (channels, dtype)
                assert np.abs(back.astype(float) - pixels).mean() < 0.02 * PIXEL_MAX[back.dtype]
            else:
                with pytest.raises(NpsrcnnError, match="cannot store"):
                    write_image(tmp_path / f"x{suffix}", pixels)
                ok, encoded = cv2.imencode(suffix, pixels)  # what the encoder would have done without the check
                if ok:
                    back = cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED)
                    assert back.shape != pixels.shape or back.dtype != pixels.dtype, (channels, dtype)


def _pillow_bytes(img, fmt, **options):
    buffer = io.BytesIO()
    img.save(buffer, fmt, **options)
    return buffer.getvalue()


def test_palette_gray_alpha_and_pillow_only_formats_read_as_pillow_shows_them(tmp_path):
    """Pillow's own conversion is the oracle: a palette becomes RGB (RGBA with a transparent index),
    gray + alpha becomes RGBA, and TGA (which OpenCV has no decoder for) goes through Pillow."""
    palette = Image.fromarray(RGB).quantize(16)
    cases = {
        "p.png": (palette, "PNG", {}, "RGB"),
        "p.gif": (palette, "GIF", {}, "RGB"),
        "pt.png": (palette, "PNG", {"transparency": 3}, "RGBA"),
        "la.png": (Image.fromarray(np.dstack([GRAY, GRAY[::-1]]), "LA"), "PNG", {}, "RGBA"),
        "x.tga": (Image.fromarray(RGB), "TGA", {}, "RGB"),
        "a.tga": (Image.fromarray(RGBA), "TGA", {}, "RGBA"),
    }
    for name, (img, fmt, options, mode) in cases.items():
        (tmp_path / name).write_bytes(_pillow_bytes(img, fmt, **options))
        expected = np.asarray(Image.open(tmp_path / name).convert(mode))
        np.testing.assert_array_equal(read_image(tmp_path / name), expected, err_msg=name)
    assert read_image(tmp_path / "pt.png")[..., 3].min() == 0


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L"])
def test_exif_orientation_is_applied(tmp_path, orientation, mode):
    """Every EXIF orientation, with and without alpha (OpenCV applies it only when it drops alpha):
    the pixels come out as Pillow's ``exif_transpose`` shows them."""
    img = Image.fromarray({"RGB": RGB, "RGBA": RGBA, "L": GRAY}[mode])
    exif = img.getexif()
    exif[0x0112] = orientation
    (tmp_path / "o.png").write_bytes(_pillow_bytes(img, "PNG", exif=exif.tobytes()))
    expected = np.asarray(ImageOps.exif_transpose(Image.open(tmp_path / "o.png")))
    np.testing.assert_array_equal(read_image(tmp_path / "o.png"), expected)


def _tiff_with_orientation(data, orientation):
    """A TIFF's bytes with an Orientation tag added: its first directory copied to the end, plus the tag."""
    e = "<" if data[:2] == b"II" else ">"
    ifd = struct.unpack(e + "I", data[4:8])[0]
    n = struct.unpack(e + "H", data[ifd : ifd + 2])[0]
    entries = [data[ifd + 2 + 12 * i : ifd + 14 + 12 * i] for i in range(n)]
    entries = sorted(
        entries + [struct.pack(e + "HHIHH", 0x0112, 3, 1, orientation, 0)],
        key=lambda entry: struct.unpack(e + "H", entry[:2]),
    )
    start = len(data) + len(data) % 2
    data = data + bytes(start - len(data)) + struct.pack(e + "H", n + 1) + b"".join(entries) + bytes(4)
    return data[:4] + struct.pack(e + "I", start) + data[8:]


def test_phone_jpeg_and_tiff_orientations(tmp_path):
    """A JPEG stored sideways (orientation 6, as phones write them) comes out turned 90 degrees
    clockwise. TIFFs with alpha: 8-bit ones keep their unpremultiplied colours (Pillow's decoder), and
    16-bit ones, whose OpenCV decoder applies the orientation itself, are not turned twice."""
    img = Image.fromarray(RGB)
    exif = img.getexif()
    exif[0x0112] = 6
    (tmp_path / "phone.jpg").write_bytes(_pillow_bytes(img, "JPEG", exif=exif.tobytes(), quality=95))
    stored = cv2.cvtColor(cv2.imread(str(tmp_path / "phone.jpg"), cv2.IMREAD_UNCHANGED), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(read_image(tmp_path / "phone.jpg"), np.rot90(stored, k=-1))
    (tmp_path / "a.tif").write_bytes(_pillow_bytes(Image.fromarray(RGBA), "TIFF", tiffinfo={0x0112: 6}))
    np.testing.assert_array_equal(read_image(tmp_path / "a.tif"), np.rot90(RGBA, k=-1))
    deep = RGBA.astype(np.uint16) * 257
    write_image(tmp_path / "deep.tif", deep)
    for orientation, upright in ((1, deep), (3, deep[::-1, ::-1]), (6, np.rot90(deep, k=-1))):
        (tmp_path / "o.tif").write_bytes(_tiff_with_orientation((tmp_path / "deep.tif").read_bytes(), orientation))
        np.testing.assert_array_equal(read_image(tmp_path / "o.tif"), upright)


def test_a_header_claiming_too_many_pixels_is_refused_before_decoding(tmp_path):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)
    (tmp_path / "huge.png").write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(1000))) + chunk(b"IEND", b"")
    )
    with pytest.raises(NpsrcnnError, match=r"huge.png: header claims 100000x100000 pixels, more than"):
        read_image(tmp_path / "huge.png")


def test_float_conversion():
    levels = np.arange(256, dtype=np.uint8)
    assert to_float(levels).dtype == np.float32
    np.testing.assert_array_equal(from_float(to_float(levels), np.uint8), levels)
    np.testing.assert_array_equal(from_float(np.array([-0.5, 0.4 / 255, 0.6 / 255, 2.0]), np.uint8), [0, 0, 1, 255])
    assert from_float(np.array([1.0]), np.uint16)[0] == 65535
    with pytest.raises(NpsrcnnError, match="int32"):
        to_float(np.zeros(3, np.int32))


def test_modcrop_and_shave():
    img = np.arange(11 * 14).reshape(11, 14)
    assert modcrop(img, 3).shape == (9, 12)
    np.testing.assert_array_equal(modcrop(img, 3), img[:9, :12])
    np.testing.assert_array_equal(shave(img, 2), img[2:9, 2:12])
    np.testing.assert_array_equal(shave(img, (1, 0, 2, 3)), img[1:, 2:11])
    np.testing.assert_array_equal(shave(img, 0), img)
    with pytest.raises(NpsrcnnError, match="too small"):
        shave(img, 6)


def test_opencv_convention_matches_cv2():
    rgb = to_float(ASTRONAUT)
    ycrcb = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb)
    ours = rgb_to_ycbcr(rgb, "opencv")
    np.testing.assert_allclose(ours, ycrcb[..., [0, 2, 1]], atol=2e-6)
    np.testing.assert_allclose(rgb_to_y(ASTRONAUT, "opencv"), ycrcb[..., 0], atol=2e-6)
    np.testing.assert_allclose(ycbcr_to_rgb(ours, "opencv"), cv2.cvtColor(ycrcb, cv2.COLOR_YCrCb2RGB), atol=2e-6)


def test_matlab_convention_known_values():
    """MATLAB rgb2ycbcr: black (16, 128, 128), white (235, 128, 128), red (81.481, 90.203, 240)."""
    colours = np.array([[[0, 0, 0], [255, 255, 255], [255, 0, 0]]], np.uint8)
    expected = np.array([[16, 128, 128], [235, 128, 128], [81.481, 90.203, 240]]) / 255
    np.testing.assert_allclose(rgb_to_ycbcr(colours, "matlab")[0], expected, atol=1e-6)
    rgb = to_float(ASTRONAUT).astype(np.float64)
    np.testing.assert_allclose(ycbcr_to_rgb(rgb_to_ycbcr(rgb, "matlab"), "matlab"), rgb, atol=1e-12)
    with pytest.raises(NpsrcnnError, match="convention"):
        rgb_to_ycbcr(rgb, "jpeg")


@pytest.mark.parametrize("method,flag", [("bicubic", cv2.INTER_CUBIC), ("bilinear", cv2.INTER_LINEAR)])
@pytest.mark.parametrize("img", [ASTRONAUT[:100, :83], ASTRONAUT[:50, :61, 1]])
def test_degrade_is_down_then_up_as_the_tutorials_do(img, method, flag):
    h, w = img.shape[:2]
    expected = cv2.resize(cv2.resize(img, (w // 3, h // 3), interpolation=flag), (w, h), interpolation=flag)
    out = degrade(img, 3, method)
    assert out.shape == img.shape and out.dtype == img.dtype
    np.testing.assert_array_equal(out, expected)
    assert np.abs(out.astype(int) - img).mean() > 1  # it did lose detail


def test_degrade_keeps_a_channel_axis_and_rejects_tiny_images():
    assert degrade(ASTRONAUT[:30, :30, :1], 2).shape == (30, 30, 1)
    with pytest.raises(NpsrcnnError, match="too small"):
        degrade(ASTRONAUT[:2, :9], 3)


@pytest.mark.parametrize(
    "img,size",
    [
        (ASTRONAUT[:60, :70], (180, 210)),
        (ASTRONAUT[:7, :5, 1], (17, 11)),
        (ASTRONAUT[:1, :1], (3, 3)),
        (ASTRONAUT[:100, :90], (37, 41)),
        (ASTRONAUT[:50, :50].astype(np.uint16) * 257, (50, 125)),
    ],
)
@pytest.mark.parametrize("resampler", ["opencv", "opencv-bilinear", "matlab", "matlab-bilinear"])
def test_resize_window_is_the_library_and_any_window_is_the_whole(img, size, resampler):
    """Up, down, one axis alone, 1x1, gray and 16-bit: cv2.resize, or MATLAB's imresize by each
    axis's scale, on the float image to float32 rounding; and every window, odd ones included, bit for
    bit the same pixels as the whole."""
    whole = resize_window(img, size, slice(None), slice(None), resampler)
    library, _, method = resampler.partition("-")
    if library == "opencv":
        flag = cv2.INTER_LINEAR if method else cv2.INTER_CUBIC
        expected = cv2.resize(to_float(img), size[::-1], interpolation=flag)
    else:  # MATLAB resizes one axis at a time: each axis alone is imresize of a one-axis scale
        expected = to_float(img).astype(np.float64)
        for axis in (0, 1):
            scale = size[axis] / img.shape[axis]
            moved = np.moveaxis(expected, axis, 0)
            flat = moved.reshape(moved.shape[0], -1)  # (pixels along the axis, everything else)
            # a one-pixel-wide image, the rest as channels: its width stays constant, its height is resized
            column = imresize(flat[:, None, :], scale, method or "bicubic")[:, 0, :]
            expected = np.moveaxis(column.reshape((size[axis],) + moved.shape[1:]), 0, axis)
    assert whole.dtype == np.float32 and whole.shape == expected.shape
    assert np.abs(whole - expected).max() <= 1e-6
    rng = np.random.default_rng(0)
    for _ in range(20):
        r0, c0 = rng.integers(0, size[0]), rng.integers(0, size[1])
        r1, c1 = rng.integers(r0 + 1, size[0] + 1), rng.integers(c0 + 1, size[1] + 1)
        window = resize_window(img, size, slice(r0, r1), slice(c0, c1), resampler)
        np.testing.assert_array_equal(window, whole[r0:r1, c0:c1])
