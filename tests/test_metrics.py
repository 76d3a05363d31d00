"""PSNR, MSE and SSIM against values derived by hand and an independent SSIM implementation."""

import numpy as np
import pytest
import scipy.ndimage
import skimage.data

from npsrcnn import NpsrcnnError, mse, psnr, ssim

CAMERA = skimage.data.camera()[100:228, 200:328]


def test_constant_offset():
    a = np.full((10, 12, 3), 100, np.uint8)
    b = a + 5
    assert mse(a, b) == 25.0
    assert psnr(a, b) == pytest.approx(10 * np.log10(255**2 / 25))
    assert psnr(a, a) == float("inf")
    assert psnr(a.astype(np.float32) / 255, b.astype(np.float32) / 255) == pytest.approx(psnr(a, b), abs=1e-4)
    assert psnr(a.astype(np.uint16), b.astype(np.uint16)) == pytest.approx(10 * np.log10(65535**2 / 25))


def test_crop_border_ignores_the_border():
    a = np.full((20, 20), 50, np.uint8)
    b = a.copy()
    b[:3] = 0
    assert psnr(a, b) < 30
    assert psnr(a, b, crop_border=3) == float("inf")


def test_y_channel_uses_matlab_luma():
    """Grey +10 on R, G and B moves MATLAB's Y by 10 * 219/255."""
    a = np.full((8, 8, 3), 100, np.uint8)
    b = a + 10
    assert mse(a, b, y_channel=True) == pytest.approx((10 * 219 / 255) ** 2)
    assert psnr(a, b, y_channel=True) == pytest.approx(20 * np.log10(255 / (10 * 219 / 255)))


def _ssim_by_formula(a, b, data_range):
    """Wang et al. 2004, written out: Gaussian-weighted local statistics, 11x11 window (sigma 1.5)."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    blur = lambda x: scipy.ndimage.gaussian_filter(x, 1.5, truncate=3.5)
    mu_a, mu_b = blur(a), blur(b)
    var_a, var_b = blur(a * a) - mu_a**2, blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return ssim_map[5:-5, 5:-5].mean()  # where the window lies inside the image


def test_ssim_matches_the_formula():
    noisy = np.clip(CAMERA + np.random.default_rng(0).normal(0, 12, CAMERA.shape), 0, 255).astype(np.uint8)
    value = ssim(CAMERA, noisy)
    assert 0.3 < value < 0.95
    assert value == pytest.approx(_ssim_by_formula(CAMERA, noisy, 255), abs=1e-6)
    assert ssim(CAMERA, CAMERA) == pytest.approx(1.0)


def test_ssim_on_colour_averages_channels():
    rgb = skimage.data.astronaut()[:64, :64]
    other = rgb[::-1]
    per_channel = [_ssim_by_formula(rgb[..., c], other[..., c], 255) for c in range(3)]
    assert ssim(rgb, other) == pytest.approx(np.mean(per_channel), abs=1e-6)


def test_mismatched_images_are_errors():
    with pytest.raises(NpsrcnnError, match="differ in shape"):
        psnr(CAMERA, CAMERA[1:])
    with pytest.raises(NpsrcnnError, match="differ in pixel type"):
        ssim(CAMERA, CAMERA.astype(np.uint16))
