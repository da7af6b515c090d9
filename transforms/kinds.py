"""The blur kinds beyond the Gaussian, as pure functions of (image, parameters): motion,
defocus, zoom, glass blur and camera shake. Each takes an 8- or 16-bit array of any channel
count, keeps its dtype and shape, and is deterministic (glass blur's displacements and the
camera's path come from their seeds).

`scale` (x, y) is how many image pixels one sample of the array spans: 1 for pixels, 2 on an
axis a JPEG's chroma plane is subsampled along. A kernel is built in the array's own samples
(a 4:2:0 chroma plane sees a line of half the length at the same angle; 4:2:2, subsampled on x
only, sees it at another angle), so every plane of a JPEG blurred as stored gets the blur the
pixels would get.
"""

from __future__ import annotations

import functools
import math

import cv2
import numpy as np

from blur_augment.transforms.blur import at_lower_resolution
from blur_augment.transforms.sums import (
    StepPlan,
    compiled,
    filter_by_pairs,
    filter_by_steps,
    pair_plan,
    step_plan,
    takes_steps,
    worth_it,
)

ZOOM_STEP = 0.01  # zoom blur: consecutive layers' zooms differ by at most 1%
_SUBSAMPLES = 8  # defocus: coverage of a pixel by the disk, from 8x8 points in it


def _cached(function):
    """Kernels are pure functions of their parameters: the last few are kept (a copy's filter
    and its log row ask for the same one; a training loop's JPEG planes ask per plane), read
    only so that no caller can change a cached one."""

    @functools.lru_cache(maxsize=64)
    def cached(*args):
        kernel = function(*args)
        kernel.flags.writeable = False
        return kernel

    return functools.wraps(function)(cached)


@_cached
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
    return _disk(radius / scale[0], radius / scale[1])


@_cached
def _disk(rx: float, ry: float) -> np.ndarray:
    """An anti-aliased ellipse of semi-axes (rx, ry) samples, summing to 1."""
    rx, ry = max(rx, 0.5), max(ry, 0.5)
    xs, ys = _subsample_grid(math.ceil(rx), math.ceil(ry))
    kernel = ((xs / rx) ** 2 + (ys / ry) ** 2 <= 1.0).mean(axis=(2, 3))
    return (kernel / kernel.sum()).astype(np.float32)


@functools.lru_cache(maxsize=64)
def _disk_plan(rx: float, ry: float) -> StepPlan | None:
    """_disk(rx, ry) as steps of nested boxes, or None where `filtered` (by pairs of taps) is
    as fast (sums.SUMS_TAPS)."""
    kernel = _disk(rx, ry)
    return step_plan(kernel) if worth_it(kernel) else None


def _disk_filtered(
    image: np.ndarray, rx: float, ry: float, out: np.ndarray | None = None
) -> np.ndarray:
    """The image filtered by the anti-aliased ellipse _disk(rx, ry): by steps of boxes where
    they are faster and the image allows (8 bits, larger than the disk), by filtered (pairs of
    taps on 8 bits) if not."""
    plan = _disk_plan(rx, ry)
    if not takes_steps(image, plan):
        return filtered(image, _disk(rx, ry), out)
    target = np.empty_like(image) if out is None else out
    filter_by_steps(image, target, plan, 0.0)
    return target


# Defocus blur at and above this radius (in an array's samples) is filtered at half resolution
# with `--blur_method auto`, as the Gaussian's pyramid path: within 5 grey levels of the exact
# disk and PSNR >= 50 dB on sharp photographs (tests/unit/test_kinds.py), 2-4x faster. Below
# radius 8 the half-resolution disk leaves that bound on them (7 grey levels at radius 6, 13 at 4).
DEFOCUS_PYRAMID_RADIUS = 8.0


def defocus_factor(radius: float, scale: tuple[float, float], shape: tuple, method: str) -> int:
    """The downscale factor defocus blur uses (1: the exact disk)."""
    radius_samples = min(radius / scale[0], radius / scale[1])
    wide = radius_samples >= DEFOCUS_PYRAMID_RADIUS and min(shape[:2]) >= 16
    return 2 if method == "auto" and wide else 1


def defocus(
    image: np.ndarray, radius: float, scale: tuple[float, float] = (1, 1), method: str = "auto",
    out: np.ndarray | None = None,
) -> np.ndarray:  # fmt: skip
    """Defocus blur: the disk of `radius` pixels (defocus_kernel), or above
    DEFOCUS_PYRAMID_RADIUS the disk at half resolution (at_lower_resolution), its radius
    shrunk so that its variance plus the resampling's, (f^2 - 1)/12 + f^2/6, is the disk's."""
    factor = defocus_factor(radius, scale, image.shape, method)
    if factor == 1:
        return _disk_filtered(image, radius / scale[0], radius / scale[1], out)
    extra = (factor * factor - 1) / 12 + factor * factor / 6

    def shrunk(samples: float) -> float:  # a disk of radius R has variance R^2 / 4 per axis
        return 2 * math.sqrt(max(samples * samples / 4 - extra, 0.01)) / factor

    rx, ry = shrunk(radius / scale[0]), shrunk(radius / scale[1])
    reach = radius / min(scale)
    return at_lower_resolution(
        image, factor, reach, lambda small: _disk_filtered(small, rx, ry), out
    )


# OpenCV's filter2D takes the DFT for an 8-bit kernel of 130 taps or more, zeros included:
# 9-10 ms on a 1080p plane, where a line's 30-60 nonzero taps cost 2-4 ms filtered directly.
_DFT_TAPS = 130
# A kernel of at most this many nonzero taps is filtered in bands (below): on 1080p luma the
# bands cost 5-6 ms at 51-57 taps, 6-8 at 63-69, 9 at 85-93 (the DFT's 9-10), 12-13 at 125-135.
SPARSE_TAPS = 80
_FIXED = 128  # bands are summed in int16, in 1/128 of a grey level (255 * 128 fits)


def filtered(
    image: np.ndarray,
    kernel: np.ndarray,
    out: np.ndarray | None = None,
    border: int = cv2.BORDER_REFLECT_101,
    delta: float = 0.0,
) -> np.ndarray:
    """The image correlated with a kernel centred on each pixel (borders reflect-101 unless
    told, as the Gaussian's), in its own dtype, `delta` added before rounding. A sparse kernel
    (a line, a camera's path) on 8 bits whose box OpenCV would take by the DFT is filtered in
    bands of rows, directly (in_bands: 1.3-2x faster on 1080p); any other over the box of its
    nonzero taps where that holds its centre (a one-sided line fills one quadrant). A kernel
    the same turned half a turn (a line through its centre) on 8 bits is filtered as pairs of
    taps (sums.filter_by_pairs, 1.8-2.8x faster than either)."""
    pairs = pair_plan(kernel) if image.dtype == np.uint8 else None
    if pairs is not None and min(image.shape[:2]) > max(pairs.reach):
        target = np.empty_like(image) if out is None else out
        filter_by_pairs(image, target, pairs, border, delta)
        return target
    bands = _bands(kernel) if _takes_bands(image, kernel) else []
    if len(bands) > 1:
        result = in_bands(image, kernel, bands, border, delta).reshape(image.shape)
        return result if out is None else _copied(result, out)
    rows, columns = np.nonzero(kernel)
    top, left = int(rows.min()), int(columns.min())
    anchor = (kernel.shape[1] // 2 - left, kernel.shape[0] // 2 - top)
    box = np.ascontiguousarray(kernel[top : rows.max() + 1, left : columns.max() + 1])
    if not (0 <= anchor[0] < box.shape[1] and 0 <= anchor[1] < box.shape[0]):
        box, anchor = kernel, (-1, -1)
    result = cv2.filter2D(image, -1, box, dst=out, anchor=anchor, delta=delta, borderType=border)
    return result.reshape(image.shape)


def _takes_bands(image: np.ndarray, kernel: np.ndarray) -> bool:
    """8 bits, a sparse kernel, non-negative and summing to at most 1 (int16 holds every sum)."""
    sparse = np.count_nonzero(kernel) <= SPARSE_TAPS
    return image.dtype == np.uint8 and sparse and kernel.min() >= 0 and kernel.sum() <= 1 + 1e-6


def _copied(result: np.ndarray, out: np.ndarray) -> np.ndarray:
    np.copyto(out, result)
    return out


def _bands(kernel: np.ndarray) -> list[tuple[int, int, np.ndarray]]:
    """The kernel's nonzero rows as bands of adjacent rows, each the box of its nonzero taps,
    under _DFT_TAPS taps where a row allows: (dy, dx, taps), (dy, dx) the offset of the box's
    first tap from the kernel's centre."""
    rows = np.flatnonzero(kernel.any(axis=1))
    bands, start = [], 0
    while start < len(rows):
        stop = start + 1
        while stop < len(rows) and _box(kernel, rows[start], rows[stop])[1].size < _DFT_TAPS:
            stop += 1
        top = rows[start]
        left, taps = _box(kernel, top, rows[stop - 1])
        bands.append((int(top) - kernel.shape[0] // 2, left - kernel.shape[1] // 2, taps))
        start = stop
    return bands


def _box(kernel: np.ndarray, top: int, bottom: int) -> tuple[int, np.ndarray]:
    """Rows top..bottom of the kernel trimmed to their nonzero columns, and the first of them."""
    band = kernel[top : bottom + 1]
    columns = np.flatnonzero(band.any(axis=0))
    return int(columns[0]), band[:, columns[0] : columns[-1] + 1]


def in_bands(image: np.ndarray, kernel: np.ndarray, bands: list, border: int,
             delta: float) -> np.ndarray:  # fmt: skip
    """An 8-bit image correlated with a non-negative kernel summing to at most 1, band by band:
    each band's box filtered directly (under OpenCV's DFT size) from the image padded once,
    into int16 at 1/_FIXED of a grey level, and the bands summed: within 1/_FIXED of a grey
    level per band of the float sum before the one rounding."""
    height, width = image.shape[:2]
    cy, cx = kernel.shape[0] // 2, kernel.shape[1] // 2
    padded = cv2.copyMakeBorder(image, cy, cy, cx, cx, border)
    total = None
    for dy, dx, taps in bands:
        rows, columns = taps.shape
        view = padded[
            cy + dy : cy + dy + height + rows - 1, cx + dx : cx + dx + width + columns - 1
        ]
        part = cv2.filter2D(view, cv2.CV_16S, (taps * _FIXED).astype(np.float32), anchor=(0, 0))
        part = part[:height, :width]
        total = part.copy() if total is None else cv2.add(total, part, dst=total)
    return cv2.convertScaleAbs(total, alpha=1 / _FIXED, beta=delta)


def zoom_layers(factor: float) -> tuple[int, float]:
    """Zoom blur's layers: 2**k zooms at ratio**i (i < 2**k) from 1 to `factor`, k the
    smallest for which consecutive zooms differ by at most ZOOM_STEP (0 for no zoom)."""
    if factor <= 1.0:
        return 0, 1.0
    steps = math.ceil(math.log(factor) / math.log1p(ZOOM_STEP) - 1e-9)
    k = max(1, math.ceil(math.log2(steps + 1)))
    return k, factor ** (1 / (2**k - 1))


def zoom_factors(factor: float) -> np.ndarray:
    """The zooms whose mean zoom blur is: geometric from 1 to `factor` (zoom_layers)."""
    k, ratio = zoom_layers(factor)
    return ratio ** np.arange(2**k) if k else np.ones(1)


ZOOM_CROP_UNIT = 4  # a zoom stage's crop is the image less a multiple of 4 pixels (below)


def zoom_stage(size: int, factor: float) -> float:
    """A doubling stage's zoom on one axis of `size` pixels. Where it can, a centred crop
    resized back to the whole: the crop the nearest to size / factor that leaves a multiple of
    ZOOM_CROP_UNIT pixels out, so that the centre maps to itself exactly in the image and in
    chroma planes of half its samples. The crop is within 2 pixels of size / factor (no pixel
    moves by more than 1 against the exact zoom; the zoom is within 2 factor^2 / size of it).
    Where that would take away more than half of the stage's zoom (small images), the exact
    zoom, warped."""
    unit = ZOOM_CROP_UNIT
    crop = size - unit * round((size - size / factor) / unit)
    zoom = size / crop if crop > 0 else 1.0
    return zoom if abs(zoom - factor) <= (factor - 1) / 2 else factor


def zoom_stages(size: tuple[int, int], factor: float) -> list[tuple[float, float]]:
    """(zoom on x, zoom on y) of each doubling stage for an image of `size` pixels: every
    layer's zoom is a product of a subset of them (zoom_layers' ratio ** i, each stage within
    2 zoom^2 / size of its power of the ratio)."""
    k, ratio = zoom_layers(factor)
    return [tuple(zoom_stage(n, ratio ** (2**j)) for n in size) for j in range(k)]


def zoom(
    image: np.ndarray,
    factor: float,
    centre: tuple[float, float] | None = None,
    size: tuple[int, int] | None = None,
) -> np.ndarray:
    """The mean of the image zoomed about its centre by every factor of zoom_factors (the
    centre fixed), as a camera zooming during the exposure sees it: nothing moves at the
    centre, content streaks outward towards the borders. `centre` (x, y in samples) is the
    image's centre and `size` its (width, height) in pixels where the array is a padded,
    subsampled plane.

    The 2**k layers come from k stages, not 2**k warps: zooms about one centre compose (Z_a Z_b
    = Z_ab), so averaging the running mean with itself zoomed by ratio**(2**j), for j < k,
    gives the mean of all 2**k zooms. Each stage zooms by `zoom_stage` on each axis (the same
    in every plane): a centred crop resized back to the whole by OpenCV's separable bilinear
    resize (5x faster than a warp) wherever the crop falls on whole samples, else a warp by the
    same zooms about `centre`. In 8-bit-times-64 fixed point (float for 16-bit); against the
    mean of the same layers each warped from the source on its own, within 0.2 grey levels on
    average and 5 at most on a sharp photograph (tests/unit/test_kinds.py)."""
    height, width = image.shape[:2]
    cx, cy = ((width - 1) / 2, (height - 1) / 2) if centre is None else centre
    size = size or (width, height)
    stages = zoom_stages(size, factor)
    if not stages:
        return image.copy()
    eight_bit = image.dtype == np.uint8
    work = image.astype(np.uint16) << 6 if eight_bit else image.astype(np.float32)
    centred = abs(cx - (width - 1) / 2) < 1e-9 and abs(cy - (height - 1) / 2) < 1e-9
    for fx, fy in stages:
        left, top = round((width - width / fx) / 2), round((height - height / fy) / 2)
        whole_samples = (abs(width / fx - (width - 2 * left)) < 1e-6
                         and abs(height / fy - (height - 2 * top)) < 1e-6)  # fmt: skip
        if centred and whole_samples:
            crop = work[top : height - top, left : width - left]
            zoomed = cv2.resize(crop, (width, height), interpolation=cv2.INTER_LINEAR)
        else:
            matrix = np.array([[1 / fx, 0, cx * (1 - 1 / fx)], [0, 1 / fy, cy * (1 - 1 / fy)]])
            zoomed = cv2.warpAffine(work, matrix, (width, height),
                                    flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                    borderMode=cv2.BORDER_REFLECT_101)  # fmt: skip
        work = cv2.addWeighted(work, 0.5, zoomed.reshape(work.shape), 0.5, 0.0)
        work = work.reshape(image.shape)
    if eight_bit:
        return ((work + 32) >> 6).astype(np.uint8)
    top = np.iinfo(image.dtype).max
    return np.clip(np.rint(work), 0, top).astype(image.dtype)


# Camera shake after Boracchi & Foi, "Modeling the performance of image restoration from motion
# blur", IEEE TIP 21(8), 2012 (as DeblurGAN's generate_trajectory.py ports it): the camera's
# path during the exposure is a random walk with inertia. Each step keeps the speed's length,
# turns it by a Gaussian change of velocity (SHAKE_GAUSSIAN * a drawn share) pulled back towards
# the start (SHAKE_CENTRIPETAL * a drawn share), and now and then jerks it round (probability
# SHAKE_BIG * a drawn share, times SHAKE_EXPLOSION: a sudden turn of about pi). The path is
# SHAKE_STEPS samples a pixel long, its length exactly the drawn length.
SHAKE_EXPLOSION = 0.005  # "anxiety" of the walk (the paper's and DeblurGAN's default)
SHAKE_CENTRIPETAL = 0.7  # the largest pull back towards the start
SHAKE_BIG = 0.2  # the largest probability of a jerk, per step (times SHAKE_EXPLOSION)
SHAKE_GAUSSIAN = 10.0  # the largest Gaussian change of velocity
SHAKE_STEPS = 16  # path samples per pixel of its length (at least 64 in all)


def _uniform_stream(seed: int):
    """Uniforms in [0, 1) from splitmix64 words (seed + n * golden, n from 1): the same on every
    machine and NumPy version, as glass blur's displacements."""
    state = seed & (2**64 - 1)
    while True:
        state = (state + _GOLDEN) & (2**64 - 1)
        z = state
        z = ((z ^ (z >> 30)) * _MIX1) & (2**64 - 1)
        z = ((z ^ (z >> 27)) * _MIX2) & (2**64 - 1)
        yield ((z ^ (z >> 31)) >> 11) / 2**53


def shake_path(length: float, seed: int) -> np.ndarray:
    """The camera's path, (steps, 2) points (x, y) in pixels, `length` pixels long, every
    random step from `seed` (the sampler's sha256 of seed:copy:key:shake)."""
    draw = _uniform_stream(seed)
    centripetal = SHAKE_CENTRIPETAL * next(draw)
    big = SHAKE_BIG * next(draw)
    gaussian = SHAKE_GAUSSIAN * next(draw)
    angle = 2 * math.pi * next(draw)
    steps = max(64, math.ceil(max(length, 1.0) * SHAKE_STEPS))
    step = max(length, 1e-6) / (steps - 1)
    velocity = complex(math.cos(angle), math.sin(angle)) * step
    point, path = 0j, [0j]
    for _ in range(steps - 1):
        jerk = 0j
        if next(draw) < big * SHAKE_EXPLOSION:  # a jerk: turned round by pi +- 0.5 rad
            turn = math.pi + next(draw) - 0.5
            jerk = 2 * velocity * complex(math.cos(turn), math.sin(turn))
        # Box-Muller: two Gaussians from two uniforms (1 - u keeps the log finite)
        radius = math.sqrt(-2 * math.log(1 - next(draw)))
        turn = 2 * math.pi * next(draw)
        normal = complex(radius * math.cos(turn), radius * math.sin(turn))
        velocity += jerk + SHAKE_EXPLOSION * (gaussian * normal - centripetal * point) * step
        velocity = velocity / abs(velocity) * step if velocity else complex(step, 0)
        point += velocity
        path.append(point)
    return np.array([(p.real, p.imag) for p in path])


@_cached
def shake_kernel(length: float, seed: int, scale: tuple[float, float] = (1, 1)) -> np.ndarray:
    """The camera-shake kernel: the path (shake_path), centred on its mean point so that the
    image does not move on average, each sample splatted bilinearly onto the pixel grid (in an
    array's samples: `scale` pixels a sample), normalised to sum 1. Odd on each axis."""
    path = shake_path(length, seed)
    points = (path - path.mean(axis=0)) / np.asarray(scale, dtype=float)
    half_x = math.ceil(np.abs(points[:, 0]).max()) + 1
    half_y = math.ceil(np.abs(points[:, 1]).max()) + 1
    kernel = np.zeros((2 * half_y + 1, 2 * half_x + 1))
    splat(kernel, points[:, 1] + half_y, points[:, 0] + half_x)
    return (kernel / kernel.sum()).astype(np.float32)


def splat(
    grid: np.ndarray, ys: np.ndarray, xs: np.ndarray, weights: np.ndarray | float = 1.0
) -> None:
    """Add each point's weight to `grid`, shared bilinearly between the four samples around
    (ys, xs) (in the grid's samples, inside it): a path or a kernel's taps put on a grid."""
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    fy, fx = ys - y0, xs - x0
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            np.add.at(grid, (y0 + dy, x0 + dx), wx * wy * weights)


# splitmix64 (Steele, Lea and Flood 2014): glass blur's displacements, one 64-bit word per
# visited pixel and iteration, counter-based so that the compiled loop draws them inline
_GOLDEN, _MIX1, _MIX2 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB
_MASK32 = 0xFFFFFFFF


def glass_displacements(
    seed: int, height: int, width: int, delta: int, iterations: int
) -> tuple[np.ndarray, np.ndarray]:
    """(dy, dx) of glass blur's local displacements, [iterations, rows, columns], each in
    [-delta, delta) as ImageNet-C draws them, for the pixels it visits (rows and columns from
    delta + 1 to size - delta). Word n = splitmix64(seed + (n + 1) * golden) for n = (iteration
    * rows + row) * columns + column; dy = (high 32 bits * 2 delta) >> 32 - delta, dx the same
    of the low 32 bits: the same on every machine, and what the compiled shuffle draws inline."""
    rows, columns = max(height - 2 * delta, 0), max(width - 2 * delta, 0)
    n = np.arange(iterations * rows * columns, dtype=np.uint64).reshape(iterations, rows, columns)
    with np.errstate(over="ignore"):
        z = np.uint64(seed & (2**64 - 1)) + (n + np.uint64(1)) * np.uint64(_GOLDEN)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(_MIX1)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(_MIX2)
        z ^= z >> np.uint64(31)
    span = np.uint64(2 * delta)
    dy = ((z >> np.uint64(32)) * span >> np.uint64(32)).astype(np.int64) - delta
    dx = ((z & np.uint64(_MASK32)) * span >> np.uint64(32)).astype(np.int64) - delta
    return dy.astype(np.int16), dx.astype(np.int16)


def glass_shuffle(image: np.ndarray, dy: np.ndarray, dx: np.ndarray, delta: int) -> np.ndarray:
    """ImageNet-C's local shuffle, in place: for each iteration, pixel by pixel from the
    bottom right to the top left, the pixel at (h, w) takes the value then at (h + dy, w + dx).
    (The reference writes a swap of two array views, which copies one way: its effect is
    this.) Compiled with numba: the order of the copies matters, so it cannot be a gather."""
    planes = image if image.ndim == 3 else image[:, :, None]
    compiled(_given)(planes, dy, dx, delta)
    return image


def glass_shuffle_seeded(image: np.ndarray, seed: int, delta: int, iterations: int) -> np.ndarray:
    """glass_shuffle with glass_displacements(seed, ...) drawn inline, never stored: the same
    result, without the field's memory and time."""
    planes = image if image.ndim == 3 else image[:, :, None]
    height, width, channels = planes.shape
    if height > 2 * delta and width > 2 * delta:
        flat = np.ascontiguousarray(planes).reshape(-1)
        compiled(_seeded)(flat, height, width, channels, np.uint64(seed & (2**64 - 1)), delta,
                            iterations)  # fmt: skip
        if not np.shares_memory(flat, planes):
            np.copyto(planes, flat.reshape(planes.shape))
    return image


def _given(planes, dy, dx, delta):  # pragma: no cover (run compiled)
    height, width, channels = planes.shape
    for i in range(dy.shape[0]):
        for a in range(dy.shape[1]):
            h = height - delta - a
            for b in range(dy.shape[2]):
                w = width - delta - b
                hp, wp = h + dy[i, a, b], w + dx[i, a, b]
                for c in range(channels):
                    planes[h, w, c] = planes[hp, wp, c]


def _seeded(flat, height, width, channels, seed, delta, iterations):  # pragma: no cover # noqa: C901
    """(Run compiled; one function, as numba inlines nothing it is not given compiled.) Row by
    row: first every displacement of the row, as flat offsets (word n of the row is its own
    function of n, so this loop is vectorised; the words mixed in one loop and made offsets in
    a second, 0.93x the time of one), then the copies in their order, indexing one flat array
    with unsigned offsets (no wraparound checks): 3x faster than drawing each displacement
    beside its copy in the 3-d array."""
    rows, columns = height - 2 * delta, width - 2 * delta
    golden, mix1, mix2 = np.uint64(_GOLDEN), np.uint64(_MIX1), np.uint64(_MIX2)
    mask, span = np.uint64(_MASK32), np.uint64(2 * delta)
    s30, s27, s31, s32 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(32)
    step, stride = np.uint64(channels), np.uint64(width * channels)
    one, two, low = np.uint64(1), np.uint64(2), np.uint64(delta)
    offsets = np.empty(columns, np.uint64)
    state = seed  # seed + n * golden for the n-th word, n from 1
    for _ in range(iterations):
        for a in range(rows):
            for b in range(columns):
                z = state + np.uint64(b + 1) * golden
                z = (z ^ (z >> s30)) * mix1
                z = (z ^ (z >> s27)) * mix2
                offsets[b] = z ^ (z >> s31)
            for b in range(columns):
                z = offsets[b]  # dy + delta and dx + delta, each in [0, 2 delta)
                offsets[b] = (((z >> s32) * span) >> s32) * stride + (
                    ((z & mask) * span) >> s32) * step  # fmt: skip
            state += np.uint64(columns) * golden
            h = np.uint64(height - delta - a)
            window = (h - low) * stride
            # one loop per channel count, chosen once a row: a branch inside the loop made the
            # unrolled three-channel copies 2x slower
            first = np.uint64(width - delta)
            if channels == 1:  # a gray image, a plane
                for b in range(columns):
                    w = first - np.uint64(b)
                    flat[h * stride + w] = flat[window + w - low + offsets[b]]
            elif channels == 3:  # (unrolled: 30% faster than the loop)
                for b in range(columns):
                    w = first - np.uint64(b)
                    source = window + (w - low) * step + offsets[b]
                    target = h * stride + w * step
                    # read whole, then written: a pixel is its own source or another's, never
                    # half of one (offsets are whole pixels), and LLVM merges the three bytes'
                    # loads and stores it could not while a store might feed the next load
                    # (0.84-0.87x the copies' time, the same bytes)
                    c0, c1, c2 = flat[source], flat[source + one], flat[source + two]
                    flat[target] = c0
                    flat[target + one] = c1
                    flat[target + two] = c2
            else:
                for b in range(columns):
                    w = first - np.uint64(b)
                    source = window + (w - low) * step + offsets[b]
                    target = h * stride + w * step
                    for c in range(channels):
                        flat[target + np.uint64(c)] = flat[source + np.uint64(c)]


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
    blurred = np.ascontiguousarray(gaussian(image, sigma))
    glass_shuffle_seeded(blurred, seed, delta, iterations)
    return gaussian(blurred, sigma)
