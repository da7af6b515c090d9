"""The ImageNet-C / COCO-C blur corruptions, as their reference (the `imagecorruptions`
package, Hendrycks & Dietterich 2019; Michaelis et al. 2019) computes them: its parameters per
severity (`sampling.CORRUPTIONS`), its border handling, its zoom cropping and its truncation to
the integer type at the end. Only the random parts come from our sampler: motion blur's angle
and glass blur's displacements. Pure: arrays in, arrays out.

Where the reference works in float64 on [0, 1], these work in float32 grey levels and write
the integer type directly (OpenCV's filters read the integer image: the reference's division by
255 and its multiplication back cancel), an order of magnitude faster, within 0.05 grey levels
on average and 1 at most of it on 8-bit images (tests/unit/test_corruptions.py). Images of any
depth and channel count are scaled by their type's maximum as 8-bit ones are by 255.

Each corruption but glass blur also works on one JPEG plane in its own samples (`corrupt_into`
with `plane`): its arithmetic is linear in the colour channels, so it works on luma and chroma
alike, kernels and zooms measured in the plane's samples, the reference's truncation of each
channel taken on luma alone.
"""

from __future__ import annotations

import functools
import math

import cv2
import numpy as np

from blur_augment.transforms import separable
from blur_augment.transforms.kinds import filtered, glass_shuffle_seeded, splat
from blur_augment.transforms.sampling import CORRUPTIONS, BlurParams
from blur_augment.transforms.sums import (
    DiskPlan,
    StepPlan,
    edge_taps,
    edge_terms,
    filter_by_steps,
    filter_by_sums,
    step_plan,
    takes_steps,
    takes_sums,
    worth_it,
)

Scale = tuple[int, int]  # how many pixels one of an array's samples spans, on x and y


# Added before a filter's result is rounded to its integer type: round(x - 0.5) is the
# reference's truncation, floor(x) (the filters write the integer type directly, saturating as
# the reference clips). Where the exact result is an integer k (a flat region), the reference's
# own float rounding decides between k and k - 1, and so does ours.
FLOOR = -0.5


def _gaussian_taps(sigma: float) -> np.ndarray:
    """skimage.filters.gaussian's taps as the reference calls it: scipy's gaussian_filter,
    truncate 4.0 (radius int(4 sigma + 0.5))."""
    radius = int(4.0 * sigma + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    taps = np.exp(-0.5 * (x / sigma) ** 2)
    return (taps / taps.sum()).astype(np.float32)


def scipy_gaussian(source: np.ndarray, target: np.ndarray, sigma: float, scale: Scale = (1, 1),
                   delta: float = FLOOR) -> None:  # fmt: skip
    """skimage.filters.gaussian as the reference calls it, per channel, edge values repeated
    ('nearest'), straight from the integer image into `target` (the reference's division by
    the maximum and its multiplication back cancel); in a plane's samples, sigma / scale. On 8
    bits an exact pass in fixed point (separable.gaussian_fixed, exact=True: 1.2-1.5x
    sepFilter2D's speed on 1080p pixels), whose truncation decides as float sums do but for
    1/256 of a level, and which keeps a flat region's whole level whole, as the reference's
    float64 sums mostly do (a flat level's truncation differed at 12-21 of 768 levels and
    channels, sepFilter2D's float32 sums at 219-396)."""
    taps_x, taps_y = _gaussian_taps(sigma / scale[0]), _gaussian_taps(sigma / scale[1])
    if separable.takes_fixed(source, target, taps_x.size, taps_y.size):
        separable.gaussian_fixed(source, target, taps_x, taps_y, delta, replicate=True,
                                  exact=True)  # fmt: skip
        return
    cv2.sepFilter2D(source, -1, taps_x, taps_y, dst=target, delta=delta,
                    borderType=cv2.BORDER_REPLICATE)  # fmt: skip


def gaussian_blur(source, target, severity: int, scale: Scale = (1, 1), delta=FLOOR) -> None:
    scipy_gaussian(source, target, CORRUPTIONS["gaussian_blur"][severity - 1], scale, delta)


def in_samples(kernel: np.ndarray, scale: Scale) -> np.ndarray:
    """A kernel in pixels (odd and square, centred) as the same filter in a plane's samples,
    each of which spans `scale` pixels: every tap moved to its offset / scale and shared
    bilinearly between the samples around it. The filter commutes with the chroma planes'
    subsampling to within the subsampling's own smoothing."""
    if scale == (1, 1):
        return kernel
    centre = kernel.shape[0] // 2
    half = centre // min(scale) + 2
    out = np.zeros((2 * half + 1, 2 * half + 1), np.float64)
    rows, cols = np.nonzero(kernel)
    ys, xs = (rows - centre) / scale[1] + half, (cols - centre) / scale[0] + half
    splat(out, ys, xs, kernel[rows, cols])
    return _trimmed(out.astype(np.float32))


def _trimmed(kernel: np.ndarray) -> np.ndarray:
    """The kernel without its outer rings of taps below 1e-9 (the reference's alias blur
    leaves e^-50 around its disk; at most 1e-4 of a grey level in all): it stays centred, odd
    and square, and a smaller kernel filters directly where a large one takes the DFT."""
    rows, cols = np.nonzero(kernel > 1e-9)
    centre = kernel.shape[0] // 2
    reach = max(abs(rows - centre).max(), abs(cols - centre).max())
    return np.ascontiguousarray(kernel[centre - reach : centre + reach + 1,
                                       centre - reach : centre + reach + 1])  # fmt: skip


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


# Below a truncation's exact integers by more than our float32 sums' own error there (1e-5),
# and by so little that it moves 0.01% of other pixels (measured on photographs); cv2.filter2D
# (images under the disk's reach) sums every tap in float32, 0.004 off at level 250.
HAIR, FILTER_HAIR = 1e-4, 1e-2


@functools.lru_cache(maxsize=8)
def _sums_below_one(severity: int) -> bool:
    """Whether the reference's float32 disk sums to a hair below 1 (radius 3-6: by 4e-9 to
    3e-8), so that its float64 filter truncates a flat region k to k - 1 at every level."""
    kernel = reference_disk(*CORRUPTIONS["defocus_blur"][severity - 1])
    return float(kernel.astype(np.float64).sum()) < 1


def defocus_blur(source, target, severity: int, scale: Scale = (1, 1), delta=FLOOR,
                 neutral: float = 0) -> None:  # fmt: skip
    """The reference's disk, borders reflected (reflect-101) as its cv2.filter2D reflects
    them. From radius 8 its disk sums to 1.01 (its alias blur reflects at the grid's edge), so
    it brightens every colour channel by 1%: a chroma plane, whose `neutral` 128 is no colour,
    scales its distance from 128 alike. 8-bit pixels and luma take the disk as running sums
    (sums.filter_by_sums, channel by channel; disk_plan), a subsampled chroma plane the disk in
    its samples (sampled_disk): on 1080p luma 3-4x faster than the filter at radius 6, 2.2x at
    radius 10. Up to radius 6 the disk sums to a hair below 1, so the reference truncates a
    flat region k to k - 1: a truncation here takes HAIR off too (without it, a flat region
    was 1 level above the reference's at 255 levels of 256)."""
    plan = disk_plan(*CORRUPTIONS["defocus_blur"][severity - 1])
    # a truncation of 8 bits: flat regions as the reference truncates them
    below = delta == FLOOR and source.dtype == np.uint8 and _sums_below_one(severity)
    hair, filter_hair = (HAIR, FILTER_HAIR) if below else (0.0, 0.0)
    if scale == (1, 1) and takes_sums(source, plan):
        filter_by_sums(source, target, plan, delta - hair)
        return
    kernel, steps = sampled_disk(severity, scale)
    delta += neutral * (1 - float(kernel.sum()))
    if takes_steps(source, steps):
        filter_by_steps(source, target, steps, delta - hair)
    else:
        cv2.filter2D(source, -1, kernel, dst=target, delta=delta - filter_hair)


@functools.lru_cache(maxsize=16)
def sampled_disk(severity: int, scale: Scale) -> tuple[np.ndarray, StepPlan | None]:
    """The reference's disk in a plane's samples (in_samples), and for a subsampled plane,
    where it pays, its plan (sums.step_plan: each column's taps as steps of nested boxes;
    exact). Pixels too small for disk_plan keep the filter."""
    kernel = in_samples(_trimmed(reference_disk(*CORRUPTIONS["defocus_blur"][severity - 1])), scale)
    subsampled = scale != (1, 1)
    return kernel, step_plan(kernel) if subsampled and worth_it(kernel) else None


RESIDUAL_TAP = 1e-4  # residual taps below this are dropped (0.026 grey levels each)


def alias_taps(radius: float, alias_blur: float) -> np.ndarray:
    """The reference's alias blur along one axis, in at most 3 taps: its 3x3 Gaussian, or
    above radius 8 its 5x5 one with each outer tap (3e-4 at sigma 0.5) moved onto its
    neighbour, which moves the kernel by 0.011 grey levels (`disk_plan` counts it) and costs
    the loop 0.3 ms of 5 on 1080p luma."""
    if radius <= 8:
        return cv2.getGaussianKernel(3, alias_blur)[:, 0]
    taps = cv2.getGaussianKernel(5, alias_blur)[:, 0]
    return np.array([taps[0] + taps[1], taps[2], taps[3] + taps[4]])


@functools.lru_cache(maxsize=8)
def disk_plan(radius: float, alias_blur: float) -> DiskPlan:
    """reference_disk(radius, alias_blur) as disk * Gaussian (alias_taps) + edge terms. There
    are none up to radius 6 (the 17x17 grid leaves the blur room); at radius 8 and 10, where
    the disk touches the grid's edge, the alias blur reflects there: a run of equal taps along
    each edge and a tip beyond each (sums.edge_terms), the rest (taps under RESIDUAL_TAP, and
    the runs' ends at their mean) left out: error 0.40 and 0.29 grey levels."""
    kernel = reference_disk(radius, alias_blur).astype(np.float64)
    half = kernel.shape[0] // 2
    grid = np.arange(-half, half + 1)
    disk = (grid[None, :] ** 2 + grid[:, None] ** 2 <= radius**2).astype(np.float64)
    taps, spill = alias_taps(radius, alias_blur), 2  # the grid padded as far as the 5x5 reads
    blurred = cv2.sepFilter2D(np.pad(disk / disk.sum(), spill), -1, taps, taps,
                              borderType=cv2.BORDER_CONSTANT)  # fmt: skip
    residual = np.pad(kernel, spill) - blurred
    edges, weights = edge_terms(np.where(np.abs(residual) < 1e-7, 0, residual), RESIDUAL_TAP)
    heights = (disk.sum(axis=0)[disk.any(axis=0)] - 1) // 2
    error = np.abs(residual - edge_taps(edges, weights, residual.shape)).sum() * 255
    reach = max([half + len(taps) // 2, *edges[:, 0]])
    return DiskPlan(heights.astype(np.int64), taps.astype(np.float32),
                    (taps / disk.sum()).astype(np.float32), edges, weights, int(reach),
                    float(error))  # fmt: skip


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


def motion_blur(source, target, severity: int, angle: float, scale: Scale = (1, 1),
                delta=FLOOR) -> None:  # fmt: skip
    """The reference sums shifted copies, the edge row or column repeated where a shift leaves
    the image (its `shift`): a correlation with the kernel above, borders replicated. (It
    stops early when a shift exceeds the image, which no image of 32 pixels or more meets.)"""
    kernel = in_samples(motion_kernel(severity, angle), scale)
    filtered(source, kernel, target, cv2.BORDER_REPLICATE, delta)


def zoom_map(size: tuple[int, int], factor: float, scale: Scale) -> tuple[np.ndarray, tuple]:
    """imagecorruptions' clipped_zoom as an affine map from a plane's samples to the source
    samples they read, and the extent (width, height) in samples the zoomed layer covers: the
    centre crop of ceil(size / factor) pixels zoomed by `factor` with linear interpolation,
    corners aligned (scipy.ndimage.zoom, order 1), then its top-left size x size. A sample i
    of a plane is centred on pixel scale * i + (scale - 1) / 2."""
    matrix, extent = np.zeros((2, 3), np.float64), []
    for axis, pixels in enumerate(size):
        crop = math.ceil(pixels / factor)
        start, zoomed = (pixels - crop) // 2, round(crop * factor)
        ratio = (crop - 1) / max(zoomed - 1, 1)
        centre = (scale[axis] - 1) / 2
        matrix[axis, axis] = ratio
        matrix[axis, 2] = (ratio * centre + start - centre) / scale[axis]
        covered = min(zoomed, pixels)
        if (covered - 1) * ratio > crop - 1:  # scipy's zoom reads past the crop there: cval 0
            covered -= 1
        extent.append(-(-covered // scale[axis]))
    return matrix, tuple(extent)


def zoom_blur(source, target, severity: int, scale: Scale = (1, 1), delta=FLOOR,
              size: tuple[int, int] | None = None, neutral: float = 0,
              fixed_point: bool = False) -> None:  # fmt: skip
    """The mean of the source and its zooms; where a zoom falls short of the image (its crop
    rounds down) the reference adds nothing there, which in a chroma plane is `neutral` (128:
    no colour). Each zoom is interpolated in float32, or with `fixed_point` in the integer
    type (OpenCV's fixed point, 1/32 of a sample: 2x faster on a 1080p plane, each zoom
    rounded), and the zooms are summed in float32."""
    start, stop, step = CORRUPTIONS["zoom_blur"][severity - 1]
    factors = np.arange(start, stop, step)
    height, width = source.shape[:2]
    size = size or (width, height)
    total = source.astype(np.float32)
    values = source if fixed_point else total.copy()
    layer = np.empty_like(values)
    for factor in factors:
        matrix, (cover_w, cover_h) = zoom_map(size, factor, scale)
        cv2.warpAffine(values, matrix, (width, height), dst=layer,
                       flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                       borderMode=cv2.BORDER_REPLICATE)  # fmt: skip
        layer[cover_h:], layer[:, cover_w:] = neutral, neutral
        cv2.accumulate(layer, total)
    total *= 1 / (len(factors) + 1)
    total += delta + 0.5  # the integer conversion below truncates: + 0.5 rounds
    np.copyto(target, np.clip(total, 0, np.iinfo(source.dtype).max).astype(source.dtype))


def glass_blur(source, target, severity: int, seed: int) -> None:
    """Gaussian, truncated to the integer type as the reference does mid-way, the local
    shuffle (our displacements), Gaussian again, truncated. Pixels only: the shuffle moves
    single pixels, which a subsampled chroma plane cannot follow. At a whole level k (a flat
    region) the reference's float sums decide each truncation by a hair, to k or k - 1 (k - 2
    in all at most); the exact passes (scipy_gaussian) know a whole level, so ours drops it by
    one in the first (EXACT_DROP) and never in the second: within 1 at every level, where
    float32 sums were 2 apart at 184 of the 1280 levels of severities 1-5."""
    sigma, delta, iterations = CORRUPTIONS["glass_blur"][severity - 1]
    first = np.empty_like(source)
    scipy_gaussian(source, first, sigma, delta=separable.EXACT_DROP)
    glass_shuffle_seeded(first, seed, delta, iterations)
    scipy_gaussian(first, target, sigma)


def corrupt_into(
    params: BlurParams,
    source: np.ndarray,
    target: np.ndarray,
    scale: Scale = (1, 1),
    plane: str = "pixels",
    size: tuple | None = None,
) -> None:
    """The corruption `params` names, at its severity, from `source` into `target`: an image's
    pixels, or one JPEG plane ("luma" or "chroma") whose samples span `scale` pixels of an
    image of `size`. A chroma plane rounds where pixels and luma truncate: the luma's floor
    already lowers every colour channel by the reference's half a level on average."""
    name, severity = params.corruption, params.severity
    delta, neutral = (0.0, 128) if plane == "chroma" else (FLOOR, 0)
    if name == "gaussian_blur":
        gaussian_blur(source, target, severity, scale, delta)
    elif name == "defocus_blur":
        defocus_blur(source, target, severity, scale, delta, neutral)
    elif name == "motion_blur":
        motion_blur(source, target, severity, params.motion_angle, scale, delta)
    elif name == "zoom_blur":
        zoom_blur(source, target, severity, scale, delta, size, neutral, plane != "pixels")
    else:
        glass_blur(source, target, severity, params.field_seed)


def corrupted(image: np.ndarray, params: BlurParams) -> np.ndarray:
    """The corruption `params` names, at its severity, as a new image."""
    target = np.empty_like(image)
    corrupt_into(params, image, target)
    return target


def takes_planes(name: str) -> bool:
    """Whether a corruption can work on JPEG planes as stored: every one but glass blur."""
    return name != "glass_blur"
