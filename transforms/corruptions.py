"""The ImageNet-C / COCO-C blur corruptions, as their reference (the `imagecorruptions`
package, Hendrycks & Dietterich 2019; Michaelis et al. 2019) computes them: its parameters per
severity (`sampling.CORRUPTIONS`), its border handling, its zoom cropping and its truncation to
the integer type at the end. Only the random parts come from our sampler: motion blur's angle
and glass blur's displacements. Pure: arrays in, arrays out.

Where the reference works in float64 on [0, 1], these work in float32 grey levels (OpenCV's
filters, read straight from the integer image: the reference's division by 255 and its
multiplication back cancel), an order of magnitude faster; the tests bound the difference on
8-bit images (mean at most 1 grey level, at most 4), borders included. Images of any depth and
channel count are scaled by their type's maximum as 8-bit ones are by 255.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from blur_augment.transforms.kinds import glass_shuffle_seeded
from blur_augment.transforms.sampling import CORRUPTIONS, BlurParams


def _top(image: np.ndarray) -> float:
    return float(np.iinfo(image.dtype).max)


def _truncated(levels: np.ndarray, top: float, dtype: np.dtype) -> np.ndarray:
    """np.uint8(np.clip(x, 0, 1) * 255), as `imagecorruptions.corrupt` ends (truncation), for
    values already in grey levels (x * 255): clipped in place, then truncated."""
    return np.clip(levels, 0, top, out=levels).astype(dtype)


def _gaussian_taps(sigma: float) -> np.ndarray:
    """skimage.filters.gaussian's taps as the reference calls it: scipy's gaussian_filter,
    truncate 4.0 (radius int(4 sigma + 0.5))."""
    radius = int(4.0 * sigma + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    taps = np.exp(-0.5 * (x / sigma) ** 2)
    return (taps / taps.sum()).astype(np.float32)


def scipy_gaussian(image: np.ndarray, sigma: float) -> np.ndarray:
    """skimage.filters.gaussian as the reference calls it, per channel, edge values repeated
    ('nearest'), in float32 grey levels straight from the integer image (the reference's
    division by the maximum and its multiplication back cancel; OpenCV converts as it reads)."""
    taps = _gaussian_taps(sigma)
    out = cv2.sepFilter2D(image, cv2.CV_32F, taps, taps, borderType=cv2.BORDER_REPLICATE)
    return out.reshape(image.shape)


def gaussian_blur(image: np.ndarray, severity: int) -> np.ndarray:
    sigma = CORRUPTIONS["gaussian_blur"][severity - 1]
    return _truncated(scipy_gaussian(image, sigma), _top(image), image.dtype)


def reference_disk(radius: float, alias_blur: float) -> np.ndarray:
    """imagecorruptions' `disk`: an aliased disk on a grid of at least 17x17, normalised,
    then smoothed by cv2.GaussianBlur (3x3, or 5x5 above radius 8)."""
    if radius <= 8:
        grid, size = np.arange(-8, 8 + 1), (3, 3)
    else:
        grid, size = np.arange(-radius, radius + 1), (5, 5)
    xs, ys = np.meshgrid(grid, grid)
    aliased = np.array((xs**2 + ys**2) <= radius**2, dtype=np.float32)
    aliased /= np.sum(aliased)
    return cv2.GaussianBlur(aliased, ksize=size, sigmaX=alias_blur)


def defocus_blur(image: np.ndarray, severity: int) -> np.ndarray:
    radius, alias_blur = CORRUPTIONS["defocus_blur"][severity - 1]
    out = cv2.filter2D(image, cv2.CV_32F, reference_disk(radius, alias_blur))  # reflect-101
    return _truncated(out.reshape(image.shape), _top(image), image.dtype)


def motion_kernel(severity: int, angle: float) -> np.ndarray:
    """The reference's motion blur as one kernel: `width` = 2 radius + 1 Gaussian weights
    (sigma from the severity) on integer offsets along the angle, starting at the pixel itself
    and going one way (so the content moves, as in the reference)."""
    radius, sigma = CORRUPTIONS["motion_blur"][severity - 1]
    width = radius * 2 + 1
    weights = np.exp(-(np.arange(width) ** 2) / (2 * sigma**2)) / (math.sqrt(2 * math.pi) * sigma)
    weights /= weights.sum()
    point = (width * math.sin(math.radians(angle)), width * math.cos(math.radians(angle)))
    hypot = math.hypot(*point)
    kernel = np.zeros((2 * width + 1, 2 * width + 1), np.float32)
    for i in range(width):
        dy = -math.ceil((i * point[0]) / hypot - 0.5)
        dx = -math.ceil((i * point[1]) / hypot - 0.5)
        # shifted(x, dx, dy)[r, c] = x[r - dy, c - dx]: the weight sits at offset (-dy, -dx)
        kernel[width - dy, width - dx] += weights[i]
    return kernel


def motion_blur(image: np.ndarray, severity: int, angle: float) -> np.ndarray:
    """The reference sums shifted copies, the edge row or column repeated where a shift leaves
    the image (its `shift`): a correlation with the kernel above, borders replicated. (It
    stops early when a shift exceeds the image, which no image of 32 pixels or more meets.)"""
    kernel = motion_kernel(severity, angle)
    # the line fills one quadrant of its square: filter with its bounding box alone (the same
    # weights at the same offsets, anchored where the square's centre falls): 1.03-1.12x
    rows, cols = np.nonzero(kernel)
    top, left, centre = int(rows.min()), int(cols.min()), kernel.shape[0] // 2
    box = np.ascontiguousarray(kernel[top : rows.max() + 1, left : cols.max() + 1])
    out = cv2.filter2D(image, cv2.CV_32F, box, anchor=(centre - left, centre - top),
                       borderType=cv2.BORDER_REPLICATE)  # fmt: skip
    return _truncated(out.reshape(image.shape), _top(image), image.dtype)


def clipped_zoom(values: np.ndarray, factor: float) -> np.ndarray:
    """imagecorruptions' clipped_zoom: the centre crop of ceil(size / factor) zoomed by
    `factor` with linear interpolation, corners aligned (scipy.ndimage.zoom, order 1), then its
    top-left size x size."""
    height, width = values.shape[:2]
    crop_h, crop_w = math.ceil(height / factor), math.ceil(width / factor)
    top, left = (height - crop_h) // 2, (width - crop_w) // 2
    out_h, out_w = round(crop_h * factor), round(crop_w * factor)
    ys = np.arange(min(out_h, height)) * ((crop_h - 1) / max(out_h - 1, 1)) + top
    xs = np.arange(min(out_w, width)) * ((crop_w - 1) / max(out_w - 1, 1)) + left
    map_x, map_y = np.meshgrid(xs.astype(np.float32), ys.astype(np.float32))
    zoomed = cv2.remap(values, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return zoomed.reshape(map_x.shape + values.shape[2:])


def zoom_blur(image: np.ndarray, severity: int) -> np.ndarray:
    values = image.astype(np.float32)  # in grey levels: the reference's scaling cancels
    start, stop, step = CORRUPTIONS["zoom_blur"][severity - 1]
    factors = np.arange(start, stop, step)
    total = values.copy()
    for factor in factors:
        layer = clipped_zoom(values, factor)
        total[: layer.shape[0], : layer.shape[1]] += layer
    total /= len(factors) + 1
    return _truncated(total, _top(image), image.dtype)


def glass_blur(image: np.ndarray, severity: int, seed: int) -> np.ndarray:
    """Gaussian, truncated to the integer type as the reference does mid-way, the local
    shuffle (our displacements), Gaussian again, truncated."""
    sigma, delta, iterations = CORRUPTIONS["glass_blur"][severity - 1]
    top = _top(image)
    first = np.ascontiguousarray(_truncated(scipy_gaussian(image, sigma), top, image.dtype))
    glass_shuffle_seeded(first, seed, delta, iterations)
    return _truncated(scipy_gaussian(first, sigma), top, image.dtype)


def corrupted(image: np.ndarray, params: BlurParams) -> np.ndarray:
    """The corruption `params` names, at its severity."""
    name, severity = params.corruption, params.severity
    if name == "gaussian_blur":
        return gaussian_blur(image, severity)
    if name == "defocus_blur":
        return defocus_blur(image, severity)
    if name == "motion_blur":
        return motion_blur(image, severity, params.motion_angle)
    if name == "zoom_blur":
        return zoom_blur(image, severity)
    return glass_blur(image, severity, params.field_seed)
