"""8-bit filters that are not cv2.filter2D. By running sums: a kernel whose taps are mostly
equal (a disk) as a few columns of equal taps, each the difference of two running sums down the
plane's columns (made once per column height), so a pixel costs a few reads per column rather
than one per tap; then a small separable Gaussian, and runs along the kernel's edges (`DiskPlan`).
ImageNet-C's defocus disk (corruptions) is filtered so. By steps (`StepPlan`): a kernel
symmetric about both axes as boxes down the columns, one per height its columns step at, each
weighed along the row by a few taps; the anti-aliased disks of `--blur defocus` (kinds) and
the defocus disk in a chroma plane's samples are filtered so. By pairs of taps: a
point-symmetric kernel (a line through its centre, a small disk), a tap and its mirror added as
integers and weighed once (`PairPlan`). Pure: arrays in, arrays out; the loops are compiled by
numba, imported when a loop first runs.
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
    filtered by a separable Gaussian of 1 or 3 taps (`gy`, and `gx` times the disk's tap: [1]
    and [tap] for none), and at most MOST_EDGES terms along the edges of the kernel's square
    (`edges`: rows of (distance, half-length) and their `edge_weights`, see edge_terms)."""

    heights: np.ndarray
    gy: np.ndarray
    gx: np.ndarray
    edges: np.ndarray
    edge_weights: np.ndarray
    reach: int  # how far the kernel reads: the border the plane is padded with
    error: float  # grey levels: the sum of |kernel - plan| times 255, the most it can move a pixel


# The loop weighs at most two edge terms, in the pass that writes the row (the reference's disks
# have none up to radius 6, and two at radius 8 and 10: a run along each edge, a tip beyond it).
MOST_EDGES = 2
# An edge term's four runs are summed in 16 bits: at most 4 * (2 * 31 + 1) samples (see
# SAMPLES_PER_SUM).
LONGEST_EDGE = 31


def edge_terms(residual: np.ndarray, smallest: float) -> tuple[np.ndarray, np.ndarray]:
    """A residual kernel (odd, square, centred, alike on its four sides) as edge terms: (d, a)
    with weight w stands for w at (x, -d), (x, d), (-d, x) and (d, x) for |x| <= a < d, four
    runs through the axes d from the centre. Each row above the centre whose taps of at least
    `smallest` are one centred run is that run at their mean (the alias blur's reflection at
    the grid's edge is such a run, its ends a little lower); what the terms leave out is the
    caller's to measure (edge_taps)."""
    centre = residual.shape[0] // 2
    edges, weights = [], []
    for d in range(1, centre + 1):
        row = residual[centre - d, centre - d + 1 : centre + d]  # |x| < d
        kept = np.flatnonzero(np.abs(row) >= smallest) - (d - 1)
        a = int(np.abs(kept).max()) if kept.size else -1
        if kept.size and kept.size == 2 * a + 1:
            edges.append((d, a))
            weights.append(row[kept + d - 1].mean())
    return np.asarray(edges, np.int64).reshape(-1, 2), np.asarray(weights, np.float32)


def edge_taps(edges: np.ndarray, weights: np.ndarray, shape: tuple) -> np.ndarray:
    """The kernel edge terms stand for (to measure what they leave out)."""
    taps, centre = np.zeros(shape), shape[0] // 2
    for (d, a), weight in zip(edges, weights, strict=True):
        run = slice(centre - a, centre + a + 1)
        for at in (centre - d, centre + d):
            taps[at, run] += weight
            taps[run, at] += weight
    return taps


# A disk of more nonzero taps than this is filtered faster by its steps than by cv2.filter2D or
# by pairs (below). Measured on 1080p and 960x540 planes (the anti-aliased disks of radius 1.3 to
# 2.6): at 9-13 taps the steps cost 1.1x the pairs, at 21 taps the same, at 25-29 taps 0.88-0.97x
# (and 0.45-0.8x the filter); from 37 taps 0.5-0.8x the plans they replace (pairs, or the
# plateau's columns and terms).
SUMS_TAPS = 20


def worth_it(kernel: np.ndarray) -> bool:
    """Whether a disk-like kernel is filtered faster by its steps than by taps."""
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
    pixel costs a few reads per column of the disk, not one per tap; the Gaussian and the edge
    terms in the same pass over rows."""
    if source.ndim == 3:
        _by_channel(filter_by_sums, source, target, plan, delta)
        return
    if len(plan.gy) not in (1, 3):
        raise ValueError(f"a plan's Gaussian has 1 or 3 taps, not {len(plan.gy)}")
    if not (np.array_equal(plan.gy, plan.gy[::-1]) and np.array_equal(plan.gx, plan.gx[::-1])):
        raise ValueError("a plan's Gaussian is symmetric: its taps are weighed in mirror pairs")
    edges = plan.edges.reshape(-1, 2)
    fits = ((edges[:, 1] >= 0) & (edges[:, 1] < edges[:, 0]) & (edges[:, 0] <= plan.reach)
            & (edges[:, 1] <= LONGEST_EDGE))  # fmt: skip
    if len(edges) > MOST_EDGES or not fits.all():
        raise ValueError(f"a plan has at most {MOST_EDGES} edge terms (d, a), 0 <= a < d <= its "
                         f"reach and a <= {LONGEST_EDGE}, not {edges.tolist()}")  # fmt: skip
    reach, g = plan.reach, len(plan.gy) // 2
    padded = cv2.copyMakeBorder(source, reach, reach, reach, reach, cv2.BORDER_REFLECT_101)
    # the running sums modulo 2^16 (see WIDEST), a ring of the rows a row reads: from row - g
    # (an edge term's reach is below the kernel's) to the lowest the disk reads, 2 * reach + 1
    # below it
    down = np.empty((2 * reach + g + 2, padded.shape[1]), np.uint16)
    levels, level_of = np.unique(plan.heights, return_inverse=True)
    compiled(_disk_rows)(padded, down, plan.heights, levels, level_of.astype(np.int64), plan.gy,
                         plan.gx, edges.astype(np.int64), plan.edge_weights.astype(np.float32),
                         reach, np.float32(delta + 0.5), target)  # fmt: skip


def _by_channel(plane_filter, source: np.ndarray, target: np.ndarray, *args) -> None:
    """A 2-D filter of 8-bit planes applied to each channel of `source` into `target` (the
    compiled loops read contiguous planes: each channel is copied out once)."""
    channel = np.empty(source.shape[:2], np.uint8)
    for c in range(source.shape[2]):
        plane_filter(np.ascontiguousarray(source[:, :, c]), channel, *args)
        target[:, :, c] = channel


# Columns, and an edge term's runs, are summed in 16 bits before they are widened or weighed:
# exact while they hold at most 257 samples (257 * 255 < 2^16).
SAMPLES_PER_SUM = 257


def _disk_rows(  # noqa: C901 (one compiled function: see its docstring)
    padded, down, heights, levels, level_of, gy, gx, edges, edge_weights, reach, offset, out
):  # pragma: no cover (run compiled)
    """Row by row: the running sums down the columns as far as the row reads them (`down`, a
    ring of rows, still in the cache when read); for each of the disk's column heights
    (`levels`), that column's sum at every x (`boxes`: two reads of the running sums per
    height, not per column); the disk's sums of the next row the Gaussian needs, from the boxes
    (`level_of`: each column's height), into a ring of 2g + 1 rows; each edge term's four runs
    summed in 16 bits (the two rows d above and below added, then summed along the row; the two
    columns d either side from the running sums); the Gaussian down the ring, then along the
    row with the edge terms weighed, + `offset`, floored and saturated into `out`, in one pass.
    One function, not helpers: numba compiles helpers only if they are compiled themselves, and
    numba is imported only when a loop is first run. Each inner loop reads whole row slices,
    which numba vectorises; four columns (or taps) are summed a pass, and the first pass
    assigns where it would add to zeros: on a 1080p plane a pass costs about 0.1 ms."""
    rows, columns = out.shape
    radius, taps, ring_rows = heights.shape[0] // 2, gy.shape[0], down.shape[0]
    g, count = taps // 2, edges.shape[0]
    narrow = 4 * (2 * heights.max() + 1) <= SAMPLES_PER_SUM  # four columns in 16 bits
    down[0, :] = 0  # down[i % ring_rows, j]: the sum of padded[:i, j] modulo 2^16
    filled = 0
    width = columns + 2 * g  # the Gaussian reads g sums beyond each side of the row
    ring = np.zeros((taps, width), np.int32)  # the disk's sums of the last `taps` rows
    blurred = np.empty(width, np.float32)
    first, span = reach - g - radius, width + heights.shape[0] - 1  # the columns the disk reads
    boxes = np.empty((levels.shape[0], span), np.uint16)  # a column of each height, at each x
    longest = 0
    for t in range(count):
        longest = max(longest, edges[t, 1])
    pair = np.empty(columns + 2 * longest, np.uint16)  # the rows d above and below, added
    edge_sums = np.zeros((MOST_EDGES, columns), np.uint16)  # each term's samples
    w0 = edge_weights[0] if count > 0 else np.float32(0)
    w1 = edge_weights[1] if count > 1 else np.float32(0)
    e0, e1 = edge_sums[0], edge_sums[1]
    for y in range(-g, rows + g):
        while filled < min(padded.shape[0], y + 2 * reach + 1):  # the lowest row y reads
            above, line = down[filled % ring_rows], padded[filled]
            here = down[(filled + 1) % ring_rows]
            for j in range(line.shape[0]):
                here[j] = np.uint16(above[j] + line[j])
            filled += 1
        k, centre, sums = 0, y + reach, ring[(y + g) % taps]
        for level in range(levels.shape[0]):  # each height's columns: two reads of the sums
            h, box = levels[level], boxes[level]
            top, bottom = (
                down[(centre - h) % ring_rows, first : first + span],
                down[(centre + h + 1) % ring_rows, first : first + span],
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
        if y < g:
            continue
        row = y - g
        base = row + reach  # the padded row of this output row
        for t in range(count):  # runs through the axes, d from the centre, of 2a + 1 taps
            d, a, e = edges[t, 0], edges[t, 1], edge_sums[t]
            up = padded[base - d, reach - a : reach + a + columns]
            low = padded[base + d, reach - a : reach + a + columns]
            if a == 0:  # a tip each side: four samples, one pass
                left = padded[base, reach - d : reach - d + columns]
                right = padded[base, reach + d : reach + d + columns]
                for x in range(columns):
                    e[x] = np.uint16(
                        np.uint16(np.uint16(up[x]) + np.uint16(low[x]))
                        + np.uint16(np.uint16(left[x]) + np.uint16(right[x]))
                    )
                continue
            for x in range(columns + 2 * a):  # the rows d above and below, added
                pair[x] = np.uint16(np.uint16(up[x]) + np.uint16(low[x]))
            left_top = down[(base - a) % ring_rows, reach - d : reach - d + columns]
            left_bottom = down[(base + a + 1) % ring_rows, reach - d : reach - d + columns]
            right_top = down[(base - a) % ring_rows, reach + d : reach + d + columns]
            right_bottom = down[(base + a + 1) % ring_rows, reach + d : reach + d + columns]
            p0 = pair[2 * a : 2 * a + columns]
            for x in range(columns):  # the columns' runs, from the running sums, and a tap
                e[x] = np.uint16(
                    np.uint16(np.uint16(left_bottom[x] - left_top[x]) + p0[x])
                    + np.uint16(right_bottom[x] - right_top[x])
                )
            j = 0
            while j + 3 < 2 * a:  # the row's other taps, four a pass
                p0, p1 = pair[j : j + columns], pair[j + 1 : j + 1 + columns]
                p2, p3 = pair[j + 2 : j + 2 + columns], pair[j + 3 : j + 3 + columns]
                for x in range(columns):
                    e[x] += np.uint16(np.uint16(p0[x] + p1[x]) + np.uint16(p2[x] + p3[x]))
                j += 4
            if j < 2 * a:  # two left (2a taps are even)
                p0, p1 = pair[j : j + columns], pair[j + 1 : j + 1 + columns]
                for x in range(columns):
                    e[x] += np.uint16(p0[x] + p1[x])
        target = out[row]
        if taps == 1:  # no Gaussian: the sums weighed
            weight = gx[0]
            for x in range(columns):  # floored and clamped in float32, converted in 32 bits
                value = (offset + weight * np.float32(sums[x]) + w0 * np.float32(e0[x])
                         + w1 * np.float32(e1[x]))  # fmt: skip
                level = min(max(np.floor(value), np.float32(0)), np.float32(255))
                target[x] = np.uint8(np.int32(level))
            continue
        g0, g1 = gy[0], gy[1]  # the alias blur: a tap and its mirror added before weighing
        r0, r1, r2 = ring[row % 3], ring[(row + 1) % 3], ring[(row + 2) % 3]
        for x in range(width):
            blurred[x] = g0 * np.float32(r0[x] + r2[x]) + g1 * np.float32(r1[x])
        g0, g1 = gx[0], gx[1]
        b0, b1, b2 = blurred[0:columns], blurred[1 : columns + 1], blurred[2 : columns + 2]
        if count:
            for x in range(columns):
                value = (offset + g0 * (b0[x] + b2[x]) + g1 * b1[x] + w0 * np.float32(e0[x])
                         + w1 * np.float32(e1[x]))  # fmt: skip
                level = min(max(np.floor(value), np.float32(0)), np.float32(255))
                target[x] = np.uint8(np.int32(level))
        else:
            for x in range(columns):
                value = offset + g0 * (b0[x] + b2[x]) + g1 * b1[x]
                level = min(max(np.floor(value), np.float32(0)), np.float32(255))
                target[x] = np.uint8(np.int32(level))


# -- kernels symmetric about both axes: a column's taps as steps of nested boxes ----------------


# An offset's box and its mirror's are added in 16 bits: exact while they hold at most 257
# samples (SAMPLES_PER_SUM), boxes of at most 2 * 63 + 1 rows. A taller kernel keeps the filter.
TALLEST_STEP = (SAMPLES_PER_SUM // 2 - 1) // 2


class StepPlan(NamedTuple):
    """A kernel symmetric about its centre row and its centre column as boxes down the
    columns: for each half-height in `heights`, the box of rows -h..h at every x (two reads of
    the running sums), weighed along the row by taps at `offsets[starts[i]:starts[i + 1]]`, an
    offset and its mirror added as integers and weighed once (`weights`; the centre at half its
    weight, read twice). The taps at height h are the kernel's row h less its row h + 1, so a
    column is the sum of its steps: exact but for float32 weights, and on an anti-aliased disk
    a few taps per height where every tap of its rim was a term."""

    heights: np.ndarray
    starts: np.ndarray
    offsets: np.ndarray
    weights: np.ndarray
    reach: tuple[int, int]  # (y, x): how far it reads, the border the plane is padded with


def step_plan(kernel: np.ndarray) -> StepPlan | None:
    """A kernel's StepPlan, or None where it has even sides, is not symmetric about both axes
    (to 1e-6 of its largest tap: float32 rounding) or is taller than its sums hold
    (TALLEST_STEP)."""
    kernel = np.asarray(kernel, np.float64)
    half_y, half_x = kernel.shape[0] // 2, kernel.shape[1] // 2
    mirrored = (kernel + kernel[::-1] + kernel[:, ::-1] + kernel[::-1, ::-1]) / 4
    if kernel.shape[0] % 2 == 0 or kernel.shape[1] % 2 == 0 or half_y > TALLEST_STEP:
        return None
    if np.abs(mirrored - kernel).max() > 1e-6 * np.abs(kernel).max():
        return None
    rows = mirrored[half_y:, half_x:]  # rows 0..half_y down, offsets 0..half_x along
    steps = rows - np.vstack([rows[1:], np.zeros((1, rows.shape[1]))])
    steps[:, 0] /= 2  # the centre column, read twice
    steps = np.where(np.abs(steps) >= 1e-9, steps, 0.0)  # below: float32 rounding, not a step
    heights = np.flatnonzero(steps.any(axis=1))
    if not heights.size:  # no taps at all
        return None
    found = [np.flatnonzero(steps[h]) for h in heights]
    return StepPlan(
        heights.astype(np.int64),
        np.cumsum([0] + [len(f) for f in found]).astype(np.int64),
        np.concatenate(found).astype(np.int64),
        np.concatenate([steps[h, f] for h, f in zip(heights, found, strict=True)]).astype(
            np.float32
        ),
        (half_y, half_x),
    )


def takes_steps(image: np.ndarray, plan: StepPlan | None) -> bool:
    """Whether filter_by_steps can filter this image by this plan: 8 bits, each side longer
    than the kernel's reach along it (reflect-101 pads from inside the image)."""
    if plan is None or image.dtype != np.uint8:
        return False
    return plan.reach[0] < image.shape[0] and plan.reach[1] < image.shape[1]


def filter_by_steps(source: np.ndarray, target: np.ndarray, plan: StepPlan, delta: float) -> None:
    """An 8-bit image (2-D, or channel by channel) filtered by the kernel `plan` decomposes,
    borders reflected (reflect-101) as cv2.filter2D reflects them, + `delta`, rounded down
    after adding 0.5: per row, each height's box at every x, then its taps along the row, two
    a pass. Within 1 grey level of filter2D (float sums in another order)."""
    if source.ndim == 3:
        _by_channel(filter_by_steps, source, target, plan, delta)
        return
    reach_y, reach_x = plan.reach
    height = source.shape[0] + 2 * reach_y
    padded = cv2.copyMakeBorder(source, reach_y, reach_y, reach_x, reach_x,
                                cv2.BORDER_REFLECT_101)  # fmt: skip
    down = np.empty((height + 1, padded.shape[1]), np.uint16)  # modulo 2^16: see TALLEST_STEP
    compiled(_step_rows)(padded, down, plan.heights, plan.starts, plan.offsets, plan.weights,
                         reach_y, reach_x, np.float32(delta + 0.5), target)  # fmt: skip


def _step_rows(  # noqa: C901 (one compiled function: numba inlines no uncompiled helper)
    padded, down, heights, starts, offsets, weights, reach_y, reach_x, offset, out
):  # pragma: no cover (run compiled)
    """Row by row: the running sums down the columns as far as the row reads them; for each
    height, its box at every x, then its taps, two a pass (an offset's two boxes added in 16
    bits, then weighed), the odd one out alone; + `offset`, floored and saturated into `out`."""
    rows, columns = out.shape
    width = padded.shape[1]
    box = np.empty(width, np.uint16)
    value = np.empty(columns, np.float32)
    down[0, :] = 0  # down[i, j]: the sum of padded[:i, j] modulo 2^16, made as the rows need it
    filled = 0
    for y in range(rows):
        while filled < y + 2 * reach_y + 1:
            above, here, line = down[filled], down[filled + 1], padded[filled]
            for j in range(width):
                here[j] = np.uint16(above[j] + line[j])
            filled += 1
        centre = y + reach_y
        value[:] = offset
        for level in range(heights.shape[0]):
            h = heights[level]
            top, bottom = down[centre - h], down[centre + h + 1]
            for x in range(width):
                box[x] = np.uint16(bottom[x] - top[x])
            t, end = starts[level], starts[level + 1]
            while t + 1 < end:
                a0, w0, a1, w1 = offsets[t], weights[t], offsets[t + 1], weights[t + 1]
                p0 = box[reach_x - a0 : reach_x - a0 + columns]
                q0 = box[reach_x + a0 : reach_x + a0 + columns]
                p1 = box[reach_x - a1 : reach_x - a1 + columns]
                q1 = box[reach_x + a1 : reach_x + a1 + columns]
                for x in range(columns):
                    value[x] += w0 * np.float32(np.uint16(p0[x] + q0[x])) + (
                        w1 * np.float32(np.uint16(p1[x] + q1[x])))  # fmt: skip
                t += 2
            if t < end:
                a0, w0 = offsets[t], weights[t]
                p0 = box[reach_x - a0 : reach_x - a0 + columns]
                q0 = box[reach_x + a0 : reach_x + a0 + columns]
                for x in range(columns):
                    value[x] += w0 * np.float32(np.uint16(p0[x] + q0[x]))
        target = out[y]
        for x in range(columns):
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
# taps, 2.7-5.4x for lines of 37-101, 1.5x for a disk of 177; a disk of 293, 1.0x); a disk of
# more than SUMS_TAPS is faster still by its steps.
PAIR_TAPS = (9, 200)


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


def _pair_rows(padded, pairs, weights, reach_y, reach_x, offset, out):  # pragma: no cover # noqa: C901
    """(Run compiled; one function, as numba inlines nothing it is not given compiled.) Row by
    row: two pairs a pass, each pair's samples summed in 32 bits and weighed; + `offset` (in
    the first pass), floored and saturated into `out` (in the last). A pass stores its row of
    sums and the next loads it, so the offset and the rounding ride with pairs rather than take
    passes of their own: the same float sums in the same order."""
    rows, columns = out.shape
    value = np.empty(columns, np.float32)
    count = pairs.shape[0]
    twos, odd = count // 2, count % 2
    low, top = np.float32(0), np.float32(255)
    for row in range(rows):
        base = row + reach_y
        target = out[row]
        for q in range(twos):
            p = 2 * q
            a0, a1 = pairs[p, 0] + reach_x, pairs[p, 2] + reach_x
            a2, a3 = pairs[p + 1, 0] + reach_x, pairs[p + 1, 2] + reach_x
            l0 = padded[base + pairs[p, 1], a0 : a0 + columns]
            l1 = padded[base + pairs[p, 3], a1 : a1 + columns]
            l2 = padded[base + pairs[p + 1, 1], a2 : a2 + columns]
            l3 = padded[base + pairs[p + 1, 3], a3 : a3 + columns]
            w0, w1 = weights[p], weights[p + 1]
            if q == 0:
                for x in range(columns):
                    value[x] = offset + (
                        w0 * np.float32(np.int32(np.int32(l0[x]) + np.int32(l1[x])))
                        + w1 * np.float32(np.int32(np.int32(l2[x]) + np.int32(l3[x])))
                    )
            elif q < twos - 1 or odd:
                for x in range(columns):
                    value[x] += w0 * np.float32(np.int32(np.int32(l0[x]) + np.int32(l1[x]))) + (
                        w1 * np.float32(np.int32(np.int32(l2[x]) + np.int32(l3[x]))))  # fmt: skip
            else:
                for x in range(columns):
                    total = value[x] + (
                        w0 * np.float32(np.int32(np.int32(l0[x]) + np.int32(l1[x])))
                        + w1 * np.float32(np.int32(np.int32(l2[x]) + np.int32(l3[x])))
                    )
                    target[x] = np.uint8(np.int32(min(max(np.floor(total), low), top)))
        if twos == 0:
            value[:] = offset
        if odd:  # the last pair alone, and the rounding
            p = count - 1
            a0, a1 = pairs[p, 0] + reach_x, pairs[p, 2] + reach_x
            l0 = padded[base + pairs[p, 1], a0 : a0 + columns]
            l1 = padded[base + pairs[p, 3], a1 : a1 + columns]
            w0 = weights[p]
            for x in range(columns):
                total = value[x] + w0 * np.float32(np.int32(np.int32(l0[x]) + np.int32(l1[x])))
                target[x] = np.uint8(np.int32(min(max(np.floor(total), low), top)))
        elif twos <= 1:  # no pass, or a lone one: the rounding apart
            for x in range(columns):
                target[x] = np.uint8(np.int32(min(max(np.floor(value[x]), low), top)))
