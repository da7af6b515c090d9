"""The pure blur against an independent float64 reference, for every supported layout."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tests.helpers import max_abs_diff, reference_blur, textured
from transforms.blur import Kernel, gaussian_blur, kernel_for, kernel_size


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
