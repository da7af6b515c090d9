"""8-bit filters that are not cv2.filter2D. By running sums: a kernel whose taps are mostly
equal (a disk) as a few columns of equal taps, each the difference of two running sums down the
plane's columns (made once per column height), so a pixel costs a few reads per column rather
than one per tap; then a small separable Gaussian, and the taps left over (`DiskPlan`).
ImageNet-C's defocus disk (corruptions) and the anti-aliased disk of `--blur defocus` (kinds)
are filtered so. By pairs of taps: a point-symmetric kernel (a line through its centre, a
small disk), a tap and its mirror added as integers and weighed once (`PairPlan`). Pure:
arrays in, arrays out; the loops are compiled by numba, imported when a loop first runs.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import cv2
import numpy as np

_COMPILED: dict = {}


def compiled(loop):
    """A loop (a module-level function) compiled by numba, from its on-disk cache where the
    package's folder (or the user's cache) is writable; compiled in memory where neither is (a
    read-only image). Once per process and loop."""
    name = f"{loop.__module__}.{loop.__name__}"
    if name not in _COMPILED:
        from numba import njit

        try:
            _COMPILED[name] = njit(cache=True, nogil=True)(loop)
        except RuntimeError:  # "cannot cache function ...: no locator available"
            _COMPILED[name] = njit(nogil=True)(loop)
    return _COMPILED[name]


class DiskPlan(NamedTuple):
    """A kernel as running sums: a disk (`heights`: each column's half-height, every tap 1)
    filtered by a separable Gaussian of 1, 3 or 5 taps (`gy`, and `gx` times the disk's tap:
    [1] and [tap] for none), and the taps that leaves over (`residual`: rows of (column,
    first, last, weight), a run of equal taps down `column` from row `first` to `last`, a
    single tap where first == last; sorted so that the terms of one weight are next to each
    other, taps before runs: a weight's terms are summed as integers and weighed once)."""

    heights: np.ndarray
    gy: np.ndarray
    gx: np.ndarray
    residual: np.ndarray
    reach: int  # how far the kernel reads: the border the plane is padded with
    error: float  # grey levels: the sum of |kernel - plan| times 255, the most it can move a pixel


def plateau_plan(kernel: np.ndarray) -> DiskPlan | None:
    """A kernel whose largest taps make whole columns, each centred (an anti-aliased disk or
    ellipse), as running sums: those columns, no Gaussian, every other nonzero tap a term.
    Exact but for float32 weights. None for a kernel of another shape."""
    size = max(kernel.shape)
    pad_y, pad_x = (size - kernel.shape[0]) // 2, (size - kernel.shape[1]) // 2
    square = np.pad(kernel.astype(np.float64), ((pad_y, pad_y), (pad_x, pad_x)))
    half, top = size // 2, float(square.max())
    plateau = square >= top * (1 - 1e-6)
    columns = np.flatnonzero(plateau.any(axis=0))
    built, heights = np.zeros_like(square), []
    for column in columns:
        rows = np.flatnonzero(plateau[:, column])
        height = half - rows[0]
        if rows[-1] != half + height or len(rows) != 2 * height + 1:
            return None
        built[rows, column] = top
        heights.append(height)
    if columns[0] + columns[-1] != 2 * half or len(columns) != columns[-1] - columns[0] + 1:
        return None
    residual = np.where(built > 0, 0.0, square)
    dy, dx = np.nonzero(residual)
    rows = _sorted(np.column_stack([dx - half, dy - half, dy - half, residual[dy, dx]]))
    error = np.abs(square - built - taps_of(rows, square.shape)).sum() * 255
    return DiskPlan(np.asarray(heights, np.int64), np.ones(1, np.float32),
                    np.array([top], np.float32), rows, half, float(error))  # fmt: skip


def _runs(residual: np.ndarray, tolerance: float, smallest: float) -> tuple[list, np.ndarray]:
    """Runs of 3 or more adjacent nonzero taps within `tolerance` of each other and of at
    least `smallest`, along y (in columns) and then along x (in rows), as (axis, column or
    row, first, last, weight); and the taps left over."""
    left, centre, runs = residual.copy(), residual.shape[0] // 2, []
    for axis in (0, 1):
        for index, line in enumerate(left.T if axis == 0 else left):
            start = 0
            while start < len(line):
                stop = start
                while stop < len(line) and line[stop] != 0:
                    if np.ptp(line[start : stop + 1]) > tolerance:
                        break
                    stop += 1
                if stop - start >= 3 and abs(line[start:stop].mean()) >= smallest:
                    runs.append((axis, index - centre, start - centre, stop - 1 - centre,
                                 line[start:stop].mean()))  # fmt: skip
                    line[start:stop] = 0
                start = max(stop, start + 1)
    return runs, left


def terms(residual: np.ndarray, smallest: float, tolerance: float = 1e-4) -> np.ndarray:
    """A residual kernel (odd, square, centred) as DiskPlan residual rows: its runs down the
    columns (taps within `tolerance`) as runs, its runs along the rows and its taps of at
    least `smallest` as taps (the rest dropped), `_sorted`."""
    runs, left = _runs(residual, tolerance, smallest)
    centre = residual.shape[0] // 2
    found = [(offset, first, last, weight) if axis == 0 else (k, offset, offset, weight)
             for axis, offset, first, last, weight in runs
             for k in ([0] if axis == 0 else range(int(first), int(last) + 1))]  # fmt: skip
    found += [(dx - centre, dy - centre, dy - centre, left[dy, dx])
              for dy, dx in np.argwhere(np.abs(left) >= smallest)]  # fmt: skip
    return _sorted(np.asarray(found, np.float64).reshape(-1, 4))


def _sorted(rows: np.ndarray) -> np.ndarray:
    """DiskPlan residual rows with their weights rounded to float32, weights within 1e-9 of
    the next smaller one made equal to it, sorted by weight, a weight's taps before its runs."""
    if not len(rows):
        return rows.reshape(0, 4)
    weights = rows[:, 3].astype(np.float32).astype(np.float64)
    order = np.argsort(weights, kind="stable")
    ordered = weights[order]
    starts = np.concatenate([[True], np.diff(ordered) > 1e-9])
    weights[order] = ordered[np.flatnonzero(starts)][np.cumsum(starts) - 1]
    rows = np.column_stack([rows[:, :3], weights])
    return rows[np.lexsort((rows[:, 0], rows[:, 1], rows[:, 2] > rows[:, 1], rows[:, 3]))]


def taps_of(rows: np.ndarray, shape: tuple) -> np.ndarray:
    """The residual kernel DiskPlan rows stand for (to measure what they leave out)."""
    taps, centre = np.zeros(shape), shape[0] // 2
    for column, first, last, weight in rows:
        taps[int(first) + centre : int(last) + centre + 1, int(column) + centre] += weight
    return taps


# A kernel of more nonzero taps than this is filtered faster by its plan than by cv2.filter2D
# (defocus_blur's disk in chroma samples; `--blur defocus`'s disks, point-symmetric, take the
# pairs below up to PAIRS_BEFORE_SUMS). Measured on 1080p and 960x540 planes: the anti-aliased
# disks 1.0-1.2x at 21 taps, 1.3-1.5x at 25, 1.7-2.4x at 37-225; the reference's disk in chroma
# samples 1.1x at 21 taps, 1.3-2.0x at 37-121; and 0.8x at 9 taps.
SUMS_TAPS = 20


def worth_it(kernel: np.ndarray) -> bool:
    """Whether a disk-like kernel is filtered faster by running sums than by the filter."""
    return np.count_nonzero(kernel) > SUMS_TAPS


# The running sums are kept modulo 2^16 (half the memory the loops read): a column of the disk,
# the difference of two, is exact while it holds at most 257 rows (257 * 255 < 2^16).
WIDEST = 128


def takes_sums(image: np.ndarray, plan: DiskPlan | None) -> bool:
    """Whether filter_by_sums can filter this image by this plan: 8 bits, larger than the
    kernel's reach (reflect-101 pads from inside the image), a reach of at most WIDEST."""
    if plan is None or image.dtype != np.uint8:
        return False
    return plan.reach < min(image.shape[:2]) and plan.reach <= WIDEST


def filter_by_sums(source: np.ndarray, target: np.ndarray, plan: DiskPlan, delta: float) -> None:
    """An 8-bit image (2-D, or channel by channel) filtered by the kernel `plan` decomposes,
    borders reflected (reflect-101) as cv2.filter2D reflects them, + `delta`, rounded down
    after adding 0.5 (delta -0.5: truncated): each column of the disk as the difference of two
    running sums down the columns, made once per column height and read once per column, so a
    pixel costs a few reads per column of the disk, not one per tap; the Gaussian and the
    residual's terms in the same pass over rows."""
    if source.ndim == 3:
        _by_channel(filter_by_sums, source, target, plan, delta)
        return
    if len(plan.gy) not in (1, 3, 5):
        raise ValueError(f"a plan's Gaussian has 1, 3 or 5 taps, not {len(plan.gy)}")
    if not (np.array_equal(plan.gy, plan.gy[::-1]) and np.array_equal(plan.gx, plan.gx[::-1])):
        raise ValueError("a plan's Gaussian is symmetric: its taps are weighed in mirror pairs")
    reach = plan.reach
    height, width = source.shape[0] + 2 * reach, source.shape[1] + 2 * reach
    padded = np.empty((height + 1, width), np.uint8)  # and a row of zeros: a batch's blank taps
    cv2.copyMakeBorder(source, reach, reach, reach, reach, cv2.BORDER_REFLECT_101,
                       dst=padded[:height])  # fmt: skip
    padded[height] = 0
    down = np.empty((height + 1, width), np.uint16)  # modulo 2^16: see WIDEST
    batches, weights = _batched(plan.residual.tobytes())
    narrow = 4 * (2 * int(plan.heights.max()) + 1) <= SAMPLES_PER_SUM  # four columns in 16 bits
    levels, level_of = np.unique(plan.heights, return_inverse=True)
    compiled(_disk_rows)(padded, down, plan.heights, levels, level_of.astype(np.int64), plan.gy,
                         plan.gx, batches, weights, reach, np.float32(delta + 0.5), narrow,
                         target)  # fmt: skip


def _by_channel(plane_filter, source: np.ndarray, target: np.ndarray, *args) -> None:
    """A 2-D filter of 8-bit planes applied to each channel of `source` into `target` (the
    compiled loops read contiguous planes: each channel is copied out once)."""
    channel = np.empty(source.shape[:2], np.uint8)
    for c in range(source.shape[2]):
        plane_filter(np.ascontiguousarray(source[:, :, c]), channel, *args)
        target[:, :, c] = channel


# A batch of the residual: four taps summed in one pass over the row (unused ones BLANK, read
# from the row of zeros), or one run; what it does with the row of sums and the row of values.
ASSIGN, ADD, FUSED, ALONE, ZERO, RUN, WEIGH = range(7)
BLANK = 1 << 30


# A weight's taps and runs are summed in 16 bits before they are weighed: exact while they
# hold at most 257 samples (257 * 255 < 2^16); a weight with more is weighed in parts.
SAMPLES_PER_SUM = 257


def _parts(group: np.ndarray) -> list[np.ndarray]:
    """A weight's residual rows in parts of at most SAMPLES_PER_SUM samples each."""
    parts, start, held = [], 0, 0
    for index, (_, first, last, _) in enumerate(group):
        samples = int(last - first) + 1
        if held + samples > SAMPLES_PER_SUM:
            parts.append(group[start:index])
            start, held = index, 0
        held += samples
    return [*parts, group[start:]]


@functools.lru_cache(maxsize=64)
def _batched(residual: bytes) -> tuple[np.ndarray, np.ndarray]:
    """DiskPlan residual rows (as bytes) as batches for _disk_rows: rows of (what, dx0, dy0, dx1,
    dy1, dx2, dy2, dx3, dy3), a run (column, first, 0, last, ...), and each batch's weight. A
    weight's taps, four a batch: the first assigns the row of sums, the last weighs it into the
    values in the same pass (ALONE: a weight of at most four taps, one pass); its runs add to
    the sums, then WEIGH. (A weight of more than SAMPLES_PER_SUM samples, in parts.)"""
    rows = np.frombuffer(residual, np.float64).reshape(-1, 4)
    batches, weights = [], []
    for weight in np.unique(rows[:, 3]):
        for group in _parts(rows[rows[:, 3] == weight]):
            batches += _batches_of(group)
            weights += [weight] * (len(batches) - len(weights))
    return np.asarray(batches, np.int64).reshape(-1, 9), np.asarray(weights, np.float32)


def _batches_of(group: np.ndarray) -> list[list[int]]:
    """One weight's part as batches: its taps four a pass, then its runs and WEIGH."""
    taps = [(int(c), int(f)) for c, f, last, _ in group if f == last]
    runs = [(int(c), int(f), 0, int(last)) for c, f, last, _ in group if f < last]
    chunks = [taps[i : i + 4] + [(0, BLANK)] * (4 - len(taps[i : i + 4]))
              for i in range(0, len(taps), 4)]  # fmt: skip
    batches = []
    for index, chunk in enumerate(chunks):
        alone, last = len(chunks) == 1 and not runs, index == len(chunks) - 1 and not runs
        what = ALONE if alone else ASSIGN if index == 0 else FUSED if last else ADD
        batches.append([what, *(n for tap in chunk for n in tap)])
    if runs:
        batches += [[ZERO] + [0] * 8] if not chunks else []
        batches += [[RUN, *run] + [0] * 4 for run in runs] + [[WEIGH] + [0] * 8]
    return batches


def _disk_rows(  # noqa: C901 (one compiled function: see its docstring)
    padded, down, heights, levels, level_of, gy, gx, batches, weights, reach, offset, narrow, out
):  # pragma: no cover (run compiled)
    """Row by row: the running sums down the columns as far as the row reads them (still in
    the cache when read); for each of the disk's column heights (`levels`), that column's sum
    at every x (`boxes`: two reads of the big running sums per height, not per column); the
    disk's sums of the next row the Gaussian needs, from the boxes (`level_of`: each column's
    height), into a ring of 2g + 1 rows; the Gaussian down the ring and along the row (or,
    without one, the sums weighed); the residual's batches; + `offset`, floored and
    saturated into `out`. One function, not helpers: numba compiles helpers only if they are
    compiled themselves, and numba is imported only when a loop is first run. Each inner loop
    reads whole row slices, which numba vectorises; four columns (or taps) are summed a pass,
    and the first pass assigns where it would add to zeros: on a 1080p plane a pass costs
    about 0.1 ms."""
    rows, columns = out.shape
    radius, taps = heights.shape[0] // 2, gy.shape[0]
    g, blank = taps // 2, padded.shape[0] - 1
    down[0, :] = 0  # down[i, j]: the sum of padded[:i, j] modulo 2^16, made as the rows need it
    filled = 0
    width = columns + 2 * g  # the Gaussian reads g sums beyond each side of the row
    ring = np.zeros((taps, width), np.int32)  # the disk's sums of the last `taps` rows
    blurred = np.empty(width, np.float32)
    value = np.empty(columns, np.float32)
    run_sums = np.empty(columns, np.uint16)  # a weight's samples: at most SAMPLES_PER_SUM
    first, span = reach - g - radius, width + heights.shape[0] - 1  # the columns the disk reads
    boxes = np.empty((levels.shape[0], span), np.uint16)  # a column of each height, at each x
    for y in range(-g, rows + g):
        while filled < min(blank, y + 2 * reach + 1):  # the lowest row this y reads, and above
            above, here, line = down[filled], down[filled + 1], padded[filled]
            for j in range(line.shape[0]):
                here[j] = np.uint16(above[j] + line[j])
            filled += 1
        k, centre, sums = 0, y + reach, ring[(y + g) % taps]
        for level in range(levels.shape[0]):  # each height's columns: two reads of the sums
            h, box = levels[level], boxes[level]
            top, bottom = (
                down[centre - h, first : first + span],
                down[centre + h + 1, first : first + span],
            )
            for x in range(span):
                box[x] = np.uint16(bottom[x] - top[x])
        if not narrow or heights.shape[0] < 4:
            sums[:] = 0
        while narrow and k + 3 < heights.shape[0]:  # columns k .. k + 3, from their boxes
            c0, c1 = (
                boxes[level_of[k], k : k + width],
                boxes[level_of[k + 1], k + 1 : k + 1 + width],
            )
            c2, c3 = (
                boxes[level_of[k + 2], k + 2 : k + 2 + width],
                boxes[level_of[k + 3], k + 3 : k + 3 + width],
            )
            if k == 0:  # the four columns summed in 16 bits (narrow), widened once
                for x in range(width):
                    sums[x] = np.int32(
                        np.uint16(np.uint16(c0[x] + c1[x]) + np.uint16(c2[x] + c3[x]))
                    )
            else:
                for x in range(width):
                    sums[x] += np.int32(
                        np.uint16(np.uint16(c0[x] + c1[x]) + np.uint16(c2[x] + c3[x]))
                    )
            k += 4
        for column in range(k, heights.shape[0]):  # the last few (a wide disk's all), one a pass
            c0 = boxes[level_of[column], column : column + width]
            for x in range(width):
                sums[x] += np.int32(c0[x])
        if taps == 1:  # no Gaussian: the sums weighed
            if y < 0:
                continue
            row, weight = y, gx[0]
            for x in range(columns):
                value[x] = offset + weight * np.float32(sums[x])
        else:
            if y < g:
                continue
            row = y - g
            if taps == 3:  # the reference's 3x3 alias blur: each axis in one pass, a tap and
                g0, g1 = gy[0], gy[1]  # its mirror (the same weight) added before weighing
                r0, r1, r2 = ring[row % 3], ring[(row + 1) % 3], ring[(row + 2) % 3]
                for x in range(width):
                    blurred[x] = g0 * np.float32(r0[x] + r2[x]) + g1 * np.float32(r1[x])
                g0, g1 = gx[0], gx[1]
                b0, b1, b2 = blurred[0:columns], blurred[1 : columns + 1], blurred[2 : columns + 2]
                for x in range(columns):
                    value[x] = offset + g0 * (b0[x] + b2[x]) + g1 * b1[x]
            else:  # 5: the 5x5 one above radius 8
                g0, g1, g2 = gy[0], gy[1], gy[2]
                r0, r1, r2 = ring[row % 5], ring[(row + 1) % 5], ring[(row + 2) % 5]
                r3, r4 = ring[(row + 3) % 5], ring[(row + 4) % 5]
                for x in range(width):
                    blurred[x] = (g0 * np.float32(r0[x] + r4[x]) + g1 * np.float32(r1[x] + r3[x])
                                  + g2 * np.float32(r2[x]))  # fmt: skip
                g0, g1, g2 = gx[0], gx[1], gx[2]
                b0, b1, b2 = blurred[0:columns], blurred[1 : columns + 1], blurred[2 : columns + 2]
                b3, b4 = blurred[3 : columns + 3], blurred[4 : columns + 4]
                for x in range(columns):
                    value[x] = offset + (g0 * (b0[x] + b4[x]) + g1 * (b1[x] + b3[x])
                                         + g2 * b2[x])  # fmt: skip
        base = row + reach  # the padded row of this output row
        for b in range(batches.shape[0]):
            what, weight = batches[b, 0], weights[b]
            if what <= ALONE:  # four taps (a BLANK one reads the row of zeros)
                a0, a1 = batches[b, 1] + reach, batches[b, 3] + reach
                a2, a3 = batches[b, 5] + reach, batches[b, 7] + reach
                l0 = padded[min(base + batches[b, 2], blank), a0 : a0 + columns]
                l1 = padded[min(base + batches[b, 4], blank), a1 : a1 + columns]
                l2 = padded[min(base + batches[b, 6], blank), a2 : a2 + columns]
                l3 = padded[min(base + batches[b, 8], blank), a3 : a3 + columns]
                if what == ASSIGN:  # (np.uint16 of each sum: numba would add in 64 bits)
                    for x in range(columns):
                        run_sums[x] = np.uint16(
                            np.uint16(np.uint16(l0[x]) + np.uint16(l1[x]))
                            + np.uint16(np.uint16(l2[x]) + np.uint16(l3[x]))
                        )
                elif what == ADD:
                    for x in range(columns):
                        run_sums[x] += np.uint16(
                            np.uint16(np.uint16(l0[x]) + np.uint16(l1[x]))
                            + np.uint16(np.uint16(l2[x]) + np.uint16(l3[x]))
                        )
                elif what == FUSED:
                    for x in range(columns):
                        total = np.uint16(run_sums[x] + np.uint16(
                            np.uint16(np.uint16(l0[x]) + np.uint16(l1[x]))
                            + np.uint16(np.uint16(l2[x]) + np.uint16(l3[x]))))  # fmt: skip
                        value[x] += weight * np.float32(total)
                else:
                    for x in range(columns):
                        total = np.uint16(
                            np.uint16(np.uint16(l0[x]) + np.uint16(l1[x]))
                            + np.uint16(np.uint16(l2[x]) + np.uint16(l3[x]))
                        )
                        value[x] += weight * np.float32(total)
            elif what == ZERO:
                run_sums[:] = 0
            elif what == RUN:  # down column `at`, rows first .. last
                at = reach + batches[b, 1]
                top = down[base + batches[b, 2], at : at + columns]
                bottom = down[base + batches[b, 4] + 1, at : at + columns]
                for x in range(columns):
                    run_sums[x] += np.uint16(bottom[x] - top[x])
            else:  # WEIGH
                for x in range(columns):
                    value[x] += weight * np.float32(run_sums[x])
        target = out[row]
        for x in range(columns):  # floored and clamped in float32, converted in 32 bits
            level = min(max(np.floor(value[x]), np.float32(0)), np.float32(255))
            target[x] = np.uint8(np.int32(level))


# -- point-symmetric kernels: a tap and its mirror through the centre, one weight --------------


class PairPlan(NamedTuple):
    """A kernel equal to itself turned half a turn (a line through its centre, a disk) as
    pairs of taps: rows of (dx, dy, -dx, -dy) and each pair's weight (the centre is a pair of
    itself, at half its weight); `reach` (y, x): how far it reads."""

    pairs: np.ndarray
    weights: np.ndarray
    reach: tuple[int, int]


# Pairs pay from 9 nonzero taps to 200 (against filter2D on a 1080p plane: 1.9-2.2x at 9-21
# taps, 2.7-5.4x for lines of 37-101, 1.5x for a disk of 177; a disk of 293, 1.0x), and a disk
# of more than 100 (radius 5 and up) is faster still by its plateau plan (3.5 ms for either at
# 97 taps, 6.2 against 5.4 at 177-225).
PAIR_TAPS = (9, 200)
PAIRS_BEFORE_SUMS = 100


@functools.lru_cache(maxsize=64)
def _pair_plan(data: bytes, shape: tuple[int, int]) -> PairPlan | None:
    kernel = np.frombuffer(data, np.float32).reshape(shape)
    if shape[0] % 2 == 0 or shape[1] % 2 == 0 or not np.array_equal(kernel, kernel[::-1, ::-1]):
        return None
    if not PAIR_TAPS[0] <= np.count_nonzero(kernel) <= PAIR_TAPS[1]:
        return None
    half_y, half_x = shape[0] // 2, shape[1] // 2
    ys, xs = np.nonzero(kernel)
    dy, dx = ys - half_y, xs - half_x
    first = (dy > 0) | ((dy == 0) & (dx >= 0))  # one of each pair, and the centre
    dy, dx, weights = dy[first], dx[first], kernel[ys[first], xs[first]].astype(np.float32)
    weights[(dy == 0) & (dx == 0)] /= 2  # the centre, read twice
    pairs = np.column_stack([dx, dy, -dx, -dy]).astype(np.int64)
    return PairPlan(pairs, weights, (half_y, half_x))


def pair_plan(kernel: np.ndarray) -> PairPlan | None:
    """A float32 kernel's PairPlan, or None where it is not point-symmetric with odd sides or
    the pairs do not pay (PAIR_TAPS)."""
    kernel = np.ascontiguousarray(kernel, np.float32)
    return _pair_plan(kernel.tobytes(), kernel.shape)


def filter_by_pairs(source: np.ndarray, target: np.ndarray, plan: PairPlan, border: int,
                    delta: float) -> None:  # fmt: skip
    """An 8-bit image (2-D, or channel by channel) correlated with the kernel `plan` pairs,
    borders as `border` (a cv2.BORDER_* as filter2D takes it), + `delta`, rounded: a pair's two
    samples added as integers and weighed once, two pairs a pass, so a pixel costs one
    conversion and one multiply per pair where filter2D takes one per tap (PAIR_TAPS); within
    1 grey level of filter2D (its own float sums)."""
    if source.ndim == 3:
        _by_channel(filter_by_pairs, source, target, plan, border, delta)
        return
    reach_y, reach_x = plan.reach
    padded = cv2.copyMakeBorder(source, reach_y, reach_y, reach_x, reach_x, border)
    compiled(_pair_rows)(padded, plan.pairs, plan.weights, reach_y, reach_x,
                         np.float32(delta + 0.5), target)  # fmt: skip


def _pair_rows(padded, pairs, weights, reach_y, reach_x, offset, out):  # pragma: no cover
    """(Run compiled.) Row by row: two pairs a pass, each pair's samples summed in 32 bits and
    weighed; + `offset`, floored and saturated into `out`."""
    rows, columns = out.shape
    value = np.empty(columns, np.float32)
    count = pairs.shape[0]
    for row in range(rows):
        base = row + reach_y
        value[:] = offset
        for p in range(0, count - 1, 2):
            a0, a1 = pairs[p, 0] + reach_x, pairs[p, 2] + reach_x
            a2, a3 = pairs[p + 1, 0] + reach_x, pairs[p + 1, 2] + reach_x
            l0 = padded[base + pairs[p, 1], a0 : a0 + columns]
            l1 = padded[base + pairs[p, 3], a1 : a1 + columns]
            l2 = padded[base + pairs[p + 1, 1], a2 : a2 + columns]
            l3 = padded[base + pairs[p + 1, 3], a3 : a3 + columns]
            w0, w1 = weights[p], weights[p + 1]
            for x in range(columns):
                value[x] += w0 * np.float32(np.int32(np.int32(l0[x]) + np.int32(l1[x]))) + (
                    w1 * np.float32(np.int32(np.int32(l2[x]) + np.int32(l3[x]))))  # fmt: skip
        if count % 2:
            p = count - 1
            a0, a1 = pairs[p, 0] + reach_x, pairs[p, 2] + reach_x
            l0 = padded[base + pairs[p, 1], a0 : a0 + columns]
            l1 = padded[base + pairs[p, 3], a1 : a1 + columns]
            w0 = weights[p]
            for x in range(columns):
                value[x] += w0 * np.float32(np.int32(np.int32(l0[x]) + np.int32(l1[x])))
        target = out[row]
        for x in range(columns):
            level = min(max(np.floor(value[x]), np.float32(0)), np.float32(255))
            target[x] = np.uint8(np.int32(level))
