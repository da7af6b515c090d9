"""The blur kinds beyond the Gaussian, as pure functions of (image, parameters): motion,
defocus, zoom and glass blur. Each takes an 8- or 16-bit array of any channel count, keeps its
dtype and shape, and is deterministic (glass blur's displacements come from its seed).

`scale` (x, y) is how many image pixels one sample of the array spans: 1 for pixels, 2 on an
axis a JPEG's chroma plane is subsampled along. A kernel is built in the array's own samples
(a 4:2:0 chroma plane sees a line of half the length at the same angle; 4:2:2, subsampled on x
only, sees it at another angle), so every plane of a JPEG blurred as stored gets the blur the
pixels would get.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

ZOOM_STEP = 0.01  # zoom blur: the factors of its layers are at most this far apart
_SUBSAMPLES = 8  # defocus: coverage of a pixel by the disk, from 8x8 points in it


def motion_kernel(length: float, angle: float, scale: tuple[float, float] = (1, 1)) -> np.ndarray:
    """A straight line of `length` pixels through the centre at `angle` degrees
    (counterclockwise from +x, image y down), anti-aliased: the line is a rectangle `length`
    long and one pixel wide, and each sample's weight is the share of it the rectangle covers
    (from 8x8 points in it), normalised to sum 1. Symmetric about the centre, so nothing moves.
    Its size is odd on each axis: just what the rectangle covers."""
    theta = math.radians(angle)
    along = (math.cos(theta), -math.sin(theta))  # y down
    across = (math.sin(theta), math.cos(theta))
    length = max(length, 1.0)
    extent_x = (length * abs(along[0]) + abs(across[0])) / 2 / scale[0]
    extent_y = (length * abs(along[1]) + abs(across[1])) / 2 / scale[1]
    xs, ys = _subsample_grid(math.ceil(extent_x - 0.5 - 1e-9), math.ceil(extent_y - 0.5 - 1e-9))
    xs, ys = xs * scale[0], ys * scale[1]  # in pixels
    inside = (np.abs(xs * along[0] + ys * along[1]) <= length / 2) & (
        np.abs(xs * across[0] + ys * across[1]) <= 0.5
    )
    kernel = inside.mean(axis=(2, 3))
    kernel = (kernel + kernel[::-1, ::-1]) / 2  # exactly symmetric, whatever the rounding
    return (kernel / kernel.sum()).astype(np.float32)


def _subsample_grid(half_x: int, half_y: int) -> tuple[np.ndarray, np.ndarray]:
    """8x8 points inside each sample of a (2 half_y + 1, 2 half_x + 1) kernel, as offsets from
    its centre: arrays of shape (rows, columns, 8, 8)."""
    offsets = (np.arange(_SUBSAMPLES) + 0.5) / _SUBSAMPLES - 0.5
    ys = np.arange(-half_y, half_y + 1)[:, None, None, None] + offsets[None, None, :, None]
    xs = np.arange(-half_x, half_x + 1)[None, :, None, None] + offsets[None, None, None, :]
    return np.broadcast_arrays(xs, ys)


def defocus_kernel(radius: float, scale: tuple[float, float] = (1, 1)) -> np.ndarray:
    """A disk of `radius` pixels (an ellipse in subsampled samples), anti-aliased: each
    sample's weight is the share of it the disk covers (from 8x8 points in it), normalised to
    sum 1. Its size is odd: 2 * ceil(radius in samples) + 1."""
    rx, ry = max(radius / scale[0], 0.5), max(radius / scale[1], 0.5)
    xs, ys = _subsample_grid(math.ceil(rx), math.ceil(ry))
    kernel = ((xs / rx) ** 2 + (ys / ry) ** 2 <= 1.0).mean(axis=(2, 3))
    return (kernel / kernel.sum()).astype(np.float32)


def filtered(image: np.ndarray, kernel: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """The image convolved with a kernel (reflect-101 borders, as the Gaussian's), in its own
    dtype; OpenCV takes the DFT for large kernels."""
    result = cv2.filter2D(image, -1, kernel, dst=out, borderType=cv2.BORDER_REFLECT_101)
    return result.reshape(image.shape)


def zoom_factors(factor: float) -> np.ndarray:
    """The zooms of zoom blur's layers: from 1 to `factor`, at most ZOOM_STEP apart."""
    steps = max(1, math.ceil((factor - 1) / ZOOM_STEP - 1e-9))
    return np.linspace(1.0, factor, steps + 1)


def zoom(image: np.ndarray, factor: float, centre: tuple[float, float] | None = None) -> np.ndarray:
    """The mean of the image zoomed about its centre by every factor from 1 to `factor`
    (zoom_factors; bilinear, the centre fixed), as a camera zooming during the exposure sees
    it: nothing moves at the centre, content streaks outward towards the borders. `centre`
    (x, y in samples) is the image's centre where the array is a padded, subsampled plane."""
    height, width = image.shape[:2]
    cx, cy = centre if centre is not None else ((width - 1) / 2, (height - 1) / 2)
    total = np.zeros(image.shape, np.float32)
    factors = zoom_factors(factor)
    for f in factors:
        if f == 1.0:
            layer = image
        else:
            matrix = np.array([[1 / f, 0, cx * (1 - 1 / f)], [0, 1 / f, cy * (1 - 1 / f)]])
            flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
            layer = cv2.warpAffine(image, matrix, (width, height), flags=flags,
                                   borderMode=cv2.BORDER_REFLECT_101)  # fmt: skip
        total += layer.reshape(image.shape)
    top = np.iinfo(image.dtype).max
    return np.clip(np.rint(total / len(factors)), 0, top).astype(image.dtype)


def glass_displacements(
    seed: int, height: int, width: int, delta: int, iterations: int
) -> tuple[np.ndarray, np.ndarray]:
    """(dy, dx) of glass blur's local displacements, [iterations, rows, columns], each in
    [-delta, delta) as ImageNet-C draws them, for the pixels it visits (rows and columns from
    delta + 1 to size - delta); from a PCG64 generator seeded by `seed`, so the same on every
    machine."""
    rows, columns = max(height - 2 * delta, 0), max(width - 2 * delta, 0)
    generator = np.random.default_rng(seed)
    field = generator.integers(-delta, delta, size=(2, iterations, rows, columns), dtype=np.int8)
    return field[0], field[1]


def glass_shuffle(image: np.ndarray, dy: np.ndarray, dx: np.ndarray, delta: int) -> np.ndarray:
    """ImageNet-C's local shuffle, in place: for each iteration, pixel by pixel from the
    bottom right to the top left, the pixel at (h, w) takes the value then at (h + dy, w + dx).
    (The reference writes a swap of two array views, which copies one way: its effect is
    this.) Compiled with numba: the order of the copies matters, so it cannot be a gather."""
    planes = image if image.ndim == 3 else image[:, :, None]
    _shuffle(planes, dy, dx, delta)
    return image


def _shuffle(planes: np.ndarray, dy: np.ndarray, dx: np.ndarray, delta: int) -> None:
    _compiled()(planes, dy, dx, delta)


_COMPILED = None


def _loop(planes, dy, dx, delta):  # pragma: no cover (run compiled)
    height, width, channels = planes.shape
    for i in range(dy.shape[0]):
        for a in range(dy.shape[1]):
            h = height - delta - a
            for b in range(dy.shape[2]):
                w = width - delta - b
                hp, wp = h + dy[i, a, b], w + dx[i, a, b]
                for c in range(channels):
                    planes[h, w, c] = planes[hp, wp, c]


def _compiled():
    """The loop compiled by numba, from its on-disk cache where the package's folder (or the
    user's cache) is writable; compiled in memory where neither is (a read-only image)."""
    global _COMPILED
    if _COMPILED is None:
        from numba import njit

        try:
            _COMPILED = njit(cache=True, nogil=True)(_loop)
        except RuntimeError:  # "cannot cache function ...: no locator available"
            _COMPILED = njit(nogil=True)(_loop)
    return _COMPILED


def glass(
    image: np.ndarray,
    sigma: float,
    delta: int,
    iterations: int,
    seed: int,
    gaussian,
) -> np.ndarray:
    """ImageNet-C's frosted glass: a Gaussian of `sigma` (given as `gaussian(image, sigma)`),
    the local shuffle of displacements up to `delta` for `iterations`, the Gaussian again."""
    height, width = image.shape[:2]
    blurred = np.ascontiguousarray(gaussian(image, sigma))
    dy, dx = glass_displacements(seed, height, width, delta, iterations)
    if dy.size:
        glass_shuffle(blurred, dy, dx, delta)
    return gaussian(blurred, sigma)
