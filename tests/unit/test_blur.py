"""The pure blur against an independent float64 reference, for every supported layout."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from blur_augment.transforms.blur import Kernel, blur, gaussian_blur, kernel_for, kernel_size
from tests.support.helpers import max_abs_diff, reference_blur, textured
from tests.support.requires import module


@pytest.mark.parametrize(
    ("sigma", "dtype", "expected"),
    [
        (0.0, "uint8", 1),
        (0.05, "uint8", 1),
        (0.3, "uint8", 3),
        (1.0, "uint8", 7),
        (1.0, "uint16", 9),
        (2.5, "uint8", 17),
        (2.5, "uint16", 21),
        (10.0, "uint8", 61),
    ],
)
def test_kernel_size_rule(sigma, dtype, expected):
    assert kernel_size(sigma, dtype) == expected


@pytest.mark.parametrize("dtype", ["uint8", "uint16"])
@pytest.mark.parametrize("channels", [1, 3, 4])
@pytest.mark.parametrize(("sigma_x", "sigma_y"), [(0.8, 0.8), (2.3, 2.3), (3.0, 0.0), (0.6, 4.1)])
def test_blur_matches_reference(dtype, channels, sigma_x, sigma_y):
    image = textured(37, 53, channels, dtype, seed=channels)
    blurred, kernel = gaussian_blur(image, sigma_x, sigma_y)
    assert kernel == kernel_for(sigma_x, sigma_y, dtype)
    assert blurred.dtype == image.dtype and blurred.shape == image.shape
    expected = reference_blur(image, sigma_x, sigma_y, kernel.width, kernel.height)
    # Within one grey level of the float64 reference, on either bit depth's own scale.
    assert max_abs_diff(blurred, expected) <= 1


@pytest.mark.parametrize("sigma", [0.7, 2.0, 6.0])
def test_blur_agrees_with_opencv_gaussian_blur(sigma):
    image = textured(64, 80, 3, seed=9)
    blurred, _ = gaussian_blur(image, sigma, sigma)
    opencv = cv2.GaussianBlur(image, (0, 0), sigma, borderType=cv2.BORDER_REFLECT_101)
    assert max_abs_diff(blurred, opencv) <= 1


@pytest.mark.parametrize("shape", [(1, 1), (1, 500), (500, 1), (2, 3, 4)])
def test_blur_handles_kernels_larger_than_the_image(shape):
    image = np.random.default_rng(0).integers(0, 255, shape, dtype=np.uint8)
    blurred, kernel = gaussian_blur(image, 10.0, 10.0)
    assert blurred.shape == image.shape and kernel == Kernel(61, 61)


def test_zero_sigma_returns_input_unchanged():
    image = textured(10, 10)
    blurred, kernel = gaussian_blur(image, 0.0, 0.0)
    assert kernel.is_identity and blurred is image


def test_blur_rejects_float_images():
    with pytest.raises(ValueError, match="float32"):
        gaussian_blur(np.zeros((4, 4), np.float32), 1.0, 1.0)


# --- the large-sigma fast path ---------------------------------------------------------------


def psnr(a: np.ndarray, b: np.ndarray, peak: float) -> float:
    mse = float(((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean())
    return 10 * np.log10(peak**2 / max(mse, 1e-12))


@pytest.mark.parametrize("dtype", ["uint8", "uint16"])
@pytest.mark.parametrize("channels", [1, 3, 4])
@pytest.mark.parametrize(
    ("sigma_x", "sigma_y", "method"),
    [(2.5, 2.5, "pyramid2"), (2.5, 5.0, "pyramid2"), (9.99, 9.99, "pyramid2"),
     (10.0, 10.0, "pyramid4"), (10.0, 12.0, "pyramid4"), (30.0, 30.0, "pyramid4")],
)  # fmt: skip
def test_fast_path_accuracy_bound(dtype, channels, sigma_x, sigma_y, method):
    """Within 2 grey levels (8-bit scale; 514 on 16 bits) of the exact Gaussian everywhere,
    borders included, and PSNR >= 50 dB."""
    image = textured(160, 220, channels, dtype, seed=int(sigma_x))
    fast, kernel, used = blur(image, sigma_x, sigma_y)
    assert used == method
    assert kernel == kernel_for(sigma_x, sigma_y, dtype)  # the log keeps the exact rule's size
    assert fast.shape == image.shape and fast.dtype == image.dtype
    expected = reference_blur(image, sigma_x, sigma_y, kernel.width, kernel.height)
    scale = 1 if dtype == "uint8" else 257
    assert max_abs_diff(fast, expected) <= 2 * scale
    assert psnr(fast, expected, 255 * scale) >= 50


SHARP_PHOTOS = ("astronaut", "coffee", "chelsea", "camera", "coins")


@pytest.mark.parametrize("sigma", [2.5, 3.5, 6.0, 9.99, 10.0, 14.0])
def test_fast_path_keeps_its_bound_on_sharp_photographs(sigma):
    """The thresholds hold on photographs sharper than the bundled samples (scikit-image's):
    factor 4 reached 3 grey levels on four of these five at sigma 6-8, so it starts at 10."""
    data = module("skimage.data")
    for name in SHARP_PHOTOS:
        image = getattr(data, name)()
        fast, _, used = blur(image, sigma, sigma)
        exact, _, _ = blur(image, sigma, sigma, method="exact")
        assert used == ("pyramid4" if sigma >= 10 else "pyramid2")
        assert max_abs_diff(fast, exact) <= 2 and psnr(fast, exact, 255) >= 50, name


@pytest.mark.parametrize("dtype", ["uint8", "uint16"])
@pytest.mark.parametrize("sigma", [2.5, 3.5, 5.0, 9.99, 10.0, 20.0])
def test_fast_path_keeps_its_bound_on_binary_noise(sigma, dtype):
    """Black and white pixels at random, every frequency at full strength, the most a
    downscale can alias: a 2x2 box let it through to 7 grey levels (44 dB) at sigma 3.5, the
    binomial halvings keep it within 2 from sigma 2.5 (3 at 2.25)."""
    top = np.iinfo(dtype).max
    noise = np.random.default_rng(int(sigma * 10)).random((150, 210)) < 0.5
    image = (noise * top).astype(dtype)
    fast, _, used = blur(image, sigma, sigma)
    exact, _, _ = blur(image, sigma, sigma, method="exact")
    assert used == ("pyramid4" if sigma >= 10 else "pyramid2")
    scale = 1 if dtype == "uint8" else 257
    assert max_abs_diff(fast, exact) <= 2 * scale and psnr(fast, exact, top) >= 50


@pytest.mark.parametrize("sigma", [0.0, 0.5, 2.0, 2.49])
def test_auto_is_exact_below_the_threshold(sigma):
    image = textured(40, 50)
    blurred, kernel, used = blur(image, sigma, sigma)
    exact, exact_kernel = gaussian_blur(image, sigma, sigma)
    assert used == "exact" and kernel == exact_kernel and np.array_equal(blurred, exact)


def test_exact_method_forces_the_exact_path_and_small_images_stay_exact():
    image = textured(60, 60)
    _, _, used = blur(image, 20.0, 20.0, method="exact")
    assert used == "exact"
    _, _, used = blur(textured(7, 400), 20.0, 20.0)
    assert used == "exact"  # too small to downscale by 4 (or 2)
    with pytest.raises(ValueError, match="blur method"):
        blur(image, 1.0, 1.0, method="fastest")
