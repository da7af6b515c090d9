"""The Gaussian blur itself: a pure function of (image, sigmas), no I/O and no Beam."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from . import separable

SUPPORTED_DTYPES: tuple[str, ...] = ("uint8", "uint16")


@dataclass(frozen=True)
class Kernel:
    """The kernel size used on each axis (OpenCV's rule from sigma), as logged."""

    width: int
    height: int

    @property
    def is_identity(self) -> bool:
        """A 1x1 kernel leaves every pixel as it is."""
        return self.width == 1 and self.height == 1


def kernel_size(sigma: float, dtype: np.dtype | str) -> int:
    """OpenCV's kernel size for sigma s: round(6s+1)|1 for 8-bit, round(8s+1)|1 for 16-bit.

    Same rounding as OpenCV's cvRound (half to even), so the logged size is the one OpenCV
    would pick for `GaussianBlur(img, (0, 0), sigma)`.
    """
    if sigma < 0:
        raise ValueError(f"sigma must be >= 0, got {sigma}")
    if sigma == 0:
        return 1
    radius_factor = 3 if np.dtype(dtype) == np.uint8 else 4
    return round(sigma * radius_factor * 2 + 1) | 1


def kernel_for(sigma_x: float, sigma_y: float, dtype: np.dtype | str) -> Kernel:
    """Both axes' kernel sizes for an image of this dtype."""
    return Kernel(width=kernel_size(sigma_x, dtype), height=kernel_size(sigma_y, dtype))


def gaussian_taps(size: int, sigma: float) -> np.ndarray:
    """The separable Gaussian's taps on one axis (float32, as the blur filters with them)."""
    # getGaussianKernel(1, ...) is [1.0]; sigma 0 only ever comes with size 1.
    return cv2.getGaussianKernel(size, sigma if sigma > 0 else 1.0, ktype=cv2.CV_32F)


def gaussian_blur(
    image: np.ndarray, sigma_x: float, sigma_y: float, out: np.ndarray | None = None
) -> tuple[np.ndarray, Kernel]:
    """Blur with a true Gaussian of the given sigmas, reflect-101 borders, any channel count.

    Keeps the dtype (8- or 16-bit) and channels as given. Separable filtering gives the same
    pixels as `cv2.GaussianBlur` (within one grey level) and, unlike it, accepts sigma 0 on one
    axis. A 1x1 kernel returns the input array itself, so callers can keep the original bytes;
    with `out` (an array, or a view, of the image's shape and dtype) the pixels go there
    instead, with no intermediate copy.
    """
    if image.dtype.name not in SUPPORTED_DTYPES:
        raise ValueError(f"unsupported pixel type {image.dtype.name}; expected uint8 or uint16")
    kernel = kernel_for(sigma_x, sigma_y, image.dtype)
    if kernel.is_identity:
        if out is None:
            return image, kernel
        np.copyto(out, image)
        return out, kernel
    taps_x, taps_y = gaussian_taps(kernel.width, sigma_x), gaussian_taps(kernel.height, sigma_y)
    if separable.takes_fixed(image, out, kernel.width, kernel.height):
        target = np.empty_like(image) if out is None else out
        separable.gaussian_fixed(image, target, taps_x, taps_y)  # 8 bits: 1.5-2x sepFilter2D
        return target, kernel
    blurred = cv2.sepFilter2D(
        image, ddepth=-1, kernelX=taps_x, kernelY=taps_y, dst=out,
        borderType=cv2.BORDER_REFLECT_101,
    )  # fmt: skip
    if blurred.ndim < image.ndim:  # OpenCV drops a trailing single channel axis
        blurred = blurred.reshape(image.shape)
    return blurred, kernel


# --- the large-sigma fast path ---------------------------------------------------------------

BLUR_METHODS: tuple[str, ...] = ("auto", "exact")
# (smallest sigma, factor): from this sigma on, `auto` blurs at 1/factor resolution: within 2
# grey levels of the exact Gaussian on the 8-bit scale and PSNR >= 50 dB on sharp photographs
# (scikit-image's astronaut, coffee, chelsea, camera and coins), the tests' texture and binary
# noise (tests/unit/test_blur.py), and 2-6x faster than exact. Since 0.7.5 each halving is the
# binomial [1, 3, 3, 1] (separable.halved), not the 2x2 box, which let binary noise alias to 7
# grey levels at sigma 3.5; factor 2 reaches 3 levels on binary noise at sigma 2.25.
PYRAMID_STEPS: tuple[tuple[float, int], ...] = ((10.0, 4), (2.5, 2))


def pyramid_factor(sigma_x: float, sigma_y: float, shape: tuple[int, ...]) -> int:
    """The downscale factor `auto` uses for these sigmas and this image size (1: exact)."""
    sigma = min(sigma_x, sigma_y)
    for threshold, factor in PYRAMID_STEPS:
        if sigma >= threshold and min(shape[:2]) >= 4 * factor:
            return factor
    return 1


def _compensated(sigma: float, factor: int) -> float:
    """The sigma to blur with at 1/factor resolution so that the whole chain adds up to `sigma`
    at full resolution: the binomial halvings' variance, 3/4 a pixel squared at each level, so
    (f^2 - 1) / 4 in all, and the linear upscale's, t (1 - t) f^2 averaged over its phases t,
    (2 f^2 + 1) / 12."""
    return math.sqrt(sigma * sigma - (5 * factor * factor - 2) / 12) / factor


def pyramid_blur(
    image: np.ndarray, sigma_x: float, sigma_y: float, factor: int, out: np.ndarray | None = None
) -> np.ndarray:
    """Approximate Gaussian: the exact one with the compensated sigma at 1/factor resolution
    (at_lower_resolution)."""

    def small_blur(small: np.ndarray) -> np.ndarray:
        sigma_small_x, sigma_small_y = _compensated(sigma_x, factor), _compensated(sigma_y, factor)
        return gaussian_blur(small, sigma_small_x, sigma_small_y)[0]

    return at_lower_resolution(
        image, factor, 3 * max(sigma_x, sigma_y), small_blur, out, shrink="binomial"
    )


def at_lower_resolution(
    image: np.ndarray,
    factor: int,
    reach: float,
    small_filter: Callable[[np.ndarray], np.ndarray],
    out: np.ndarray | None = None,
    shrink: str = "area",
) -> np.ndarray:
    """A wide filter at 1/factor resolution: reflect-101 pad by its `reach` (pixels), downscale
    by `factor` (`shrink`: the box's "area", or "binomial", separable.halved at each halving),
    `small_filter`, linear upscale, crop (into `out` when given). The
    padding makes the borders behave like the exact filter's reflect-101, so the accuracy bound
    holds up to the edge."""
    height, width = image.shape[:2]
    pad = math.ceil(reach) + 2 * factor
    pad += -pad % factor
    bottom = pad + (-(height + 2 * pad) % factor)
    right = pad + (-(width + 2 * pad) % factor)
    padded = cv2.copyMakeBorder(image, pad, bottom, pad, right, cv2.BORDER_REFLECT_101)
    small = _shrunk(padded, factor, shrink)
    blurred = small_filter(small)
    if factor == 2 and separable.takes_doubled(blurred, image, pad, pad):  # out: image's shape
        target = np.empty_like(image) if out is None else out
        separable.doubled(blurred, target, pad, pad)  # 6x the resize and crop below
        return target
    large = cv2.resize(blurred, (padded.shape[1], padded.shape[0]), interpolation=cv2.INTER_LINEAR)
    crop = large[pad : pad + height, pad : pad + width].reshape(image.shape)
    if out is None:
        return crop  # a view: no copy
    np.copyto(out, crop)
    return out


def _shrunk(padded: np.ndarray, factor: int, shrink: str) -> np.ndarray:
    """`padded` (its sides multiples of `factor`, a power of 2 for "binomial") at 1/factor."""
    if shrink == "area":
        size = (padded.shape[1] // factor, padded.shape[0] // factor)
        return cv2.resize(padded, size, interpolation=cv2.INTER_AREA)
    small = padded
    while factor > 1:
        small, factor = separable.halved(small), factor // 2
    return small


def method_factor(sigma_x: float, sigma_y: float, shape: tuple[int, ...], method: str) -> int:
    """The pyramid factor `blur` uses (1: the exact Gaussian), from the sigmas and the size."""
    return pyramid_factor(sigma_x, sigma_y, shape) if method == "auto" else 1


def method_name(factor: int) -> str:
    """How `blur` names what it did, as logged: 'exact', 'pyramid2' or 'pyramid4'."""
    return "exact" if factor == 1 else f"pyramid{factor}"


def blur(
    image: np.ndarray,
    sigma_x: float,
    sigma_y: float,
    method: str = "auto",
    out: np.ndarray | None = None,
) -> tuple[np.ndarray, Kernel, str]:
    """The pipeline's blur: exact below the pyramid thresholds (or with method 'exact'), the
    pyramid fast path above them. Returns the pixels (in `out` when given), the exact rule's
    kernel (as logged) and the method used: 'exact', 'pyramid2' or 'pyramid4'."""
    if method not in BLUR_METHODS:
        raise ValueError(f"blur method must be one of {BLUR_METHODS}, got {method!r}")
    factor = method_factor(sigma_x, sigma_y, image.shape, method)
    if factor == 1:
        blurred, kernel = gaussian_blur(image, sigma_x, sigma_y, out)
        return blurred, kernel, method_name(1)
    if image.dtype.name not in SUPPORTED_DTYPES:
        raise ValueError(f"unsupported pixel type {image.dtype.name}; expected uint8 or uint16")
    kernel = kernel_for(sigma_x, sigma_y, image.dtype)
    return pyramid_blur(image, sigma_x, sigma_y, factor, out), kernel, method_name(factor)
