"""The Gaussian blur itself: a pure function of (image, sigmas), no I/O and no Beam."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

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


def _taps(size: int, sigma: float) -> np.ndarray:
    # getGaussianKernel(1, ...) is [1.0]; sigma 0 only ever comes with size 1.
    return cv2.getGaussianKernel(size, sigma if sigma > 0 else 1.0, ktype=cv2.CV_32F)


def gaussian_blur(image: np.ndarray, sigma_x: float, sigma_y: float) -> tuple[np.ndarray, Kernel]:
    """Blur with a true Gaussian of the given sigmas, reflect-101 borders, any channel count.

    Keeps the dtype (8- or 16-bit) and channels as given. Separable filtering gives the same
    pixels as `cv2.GaussianBlur` (within one grey level) and, unlike it, accepts sigma 0 on one
    axis. A 1x1 kernel returns the input array itself, so callers can keep the original bytes.
    """
    if image.dtype.name not in SUPPORTED_DTYPES:
        raise ValueError(f"unsupported pixel type {image.dtype.name}; expected uint8 or uint16")
    kernel = kernel_for(sigma_x, sigma_y, image.dtype)
    if kernel.is_identity:
        return image, kernel
    blurred = cv2.sepFilter2D(
        image,
        ddepth=-1,
        kernelX=_taps(kernel.width, sigma_x),
        kernelY=_taps(kernel.height, sigma_y),
        borderType=cv2.BORDER_REFLECT_101,
    )
    if blurred.ndim < image.ndim:  # OpenCV drops a trailing single channel axis
        blurred = blurred.reshape(image.shape)
    return blurred, kernel
