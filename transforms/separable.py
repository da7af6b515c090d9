"""Separable filters on 8 bits in fixed point. The Gaussian: both passes in one loop over rows,
a tap and its mirror added as integers before they are weighed once, with weights in 1/65536:
the vertical pass summed exactly in 32 bits, then rounded to 1/128 of a grey level; the
horizontal one in 16-bit lanes. `cv2.sepFilter2D` converts every sample to float and
multiplies it once per tap (within 1 grey level of its float filter, 1.5-2x as fast). And the
half-resolution paths' linear upscale by 2, written straight into the crop it is for (its
weights 1/4 and 3/4 are exact, so it is the bilinear value rounded), and the pyramid's halving
through the binomial [1, 3, 3, 1] / 8, in integers. Pure: arrays in, arrays out; the loops are
compiled by numba (sums.compiled).
"""

from __future__ import annotations

import functools

import numpy as np

from .sums import compiled

# The intermediate (after the vertical pass) carries 7 bits below the grey level: 255 * 2^7
# fits 15 bits, so a pair of them still fits 16 for the horizontal pass. (The vertical sum,
# exact in 32 bits, is at most 2^16 times 255.)
FRACTION_BITS = 7
ONE = 1 << 16  # a weight's 1.0
# Taps each side, at most, as tested (sigma 21 at OpenCV's 8-bit rule): every horizontal
# product is floored (half a unit of 2^-7 on average, made up for by a bias of half a unit per
# tap), so the spread of the floors grows with the taps. Wider kernels keep sepFilter2D (`auto`
# takes the pyramid from sigma 2.5 anyway).
MAX_REACH = 64


def fixed_taps(taps: np.ndarray) -> np.ndarray:
    """One axis's taps from the centre out, as weights in 1/65536 (each below 2^16 but a lone
    centre's 1.0). The centre takes what rounding leaves, so the centre plus twice every other
    tap is exactly 1.0, and a flat region stays exactly flat. Cached: a training loop's small
    images would otherwise pay for this more than for the filter."""
    taps = np.ascontiguousarray(taps, np.float32).ravel()
    return _fixed_taps(taps.tobytes())


@functools.lru_cache(maxsize=256)
def _fixed_taps(data: bytes) -> np.ndarray:
    taps = np.frombuffer(data, np.float32).astype(np.float64)
    half = taps[taps.size // 2 :]
    weights = np.round(half / taps.sum() * ONE).astype(np.int64)
    weights[0] = ONE - 2 * int(weights[1:].sum())
    return _frozen(weights.astype(np.uint32))


def _frozen(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False  # shared by every call that hits the cache
    return array


def _bias(weights: np.ndarray) -> int:
    """What the floors of the horizontal pass take away on average: half a unit a term."""
    return (np.count_nonzero(weights) + 1) // 2


def _rows_of(image: np.ndarray) -> np.ndarray | None:
    """The image as rows of samples (rows, columns x channels) without a copy, or None."""
    if image.ndim == 2:
        return image
    if image.ndim != 3:
        return None
    if image.flags.c_contiguous:
        return image.reshape(image.shape[0], -1)
    if image.strides[1:] == (image.shape[2], 1):  # rows apart, each contiguous (a crop's rows)
        return np.lib.stride_tricks.as_strided(
            image, (image.shape[0], image.shape[1] * image.shape[2]), (image.strides[0], 1)
        )
    return None


def takes_fixed(image: np.ndarray, target: np.ndarray | None, size_x: int, size_y: int) -> bool:
    """Whether the fixed-point loop can blur `image` into `target` (None: a new array) with
    kernels of these sizes: 8 bits, odd sizes, reach up to MAX_REACH, an image larger than the
    reach (one reflection reaches every border sample), rows of samples without a copy, and a
    target that is not the image (the loop reads rows it has already passed)."""
    reach_x, reach_y = size_x // 2, size_y // 2
    return (
        image.dtype == np.uint8
        and size_x % 2 == 1
        and size_y % 2 == 1
        and max(reach_x, reach_y) <= MAX_REACH
        and image.shape[0] > reach_y
        and image.shape[1] > reach_x
        and _rows_of(image) is not None
        and (target is None or _rows_of(target) is not None)
        and (target is None or not np.may_share_memory(image, target))
    )


@functools.lru_cache(maxsize=256)
def replicated(count: int, reach: int) -> np.ndarray:
    """Indices -reach .. count + reach - 1 clipped into 0 .. count - 1 (BORDER_REPLICATE: edge
    samples repeated, scipy's 'nearest'). Cached, read-only."""
    return _frozen(np.clip(np.arange(-reach, count + reach), 0, count - 1))


@functools.lru_cache(maxsize=256)
def reflected(count: int, reach: int) -> np.ndarray:
    """Indices -reach .. count + reach - 1 reflected into 0 .. count - 1 as BORDER_REFLECT_101
    reflects them, about the end samples (one reflection: count > reach). Cached, read-only."""
    index = np.abs(np.arange(-reach, count + reach))
    return _frozen(np.where(index > count - 1, 2 * (count - 1) - index, index))


@functools.lru_cache(maxsize=256)
def _ends(count: int, reach: int, replicate: bool = False) -> np.ndarray:
    """The columns the `reach` samples beyond each end of a row stand for (reflected, or
    replicated)."""
    index = (replicated if replicate else reflected)(count, reach)
    return _frozen(np.concatenate([index[:reach], index[index.size - reach :]]))


def gaussian_fixed(
    source: np.ndarray,
    target: np.ndarray,
    taps_x: np.ndarray,
    taps_y: np.ndarray,
    delta: float = 0.0,
    replicate: bool = False,
    exact: bool = False,
) -> None:
    """`source` (8-bit, any channel count) correlated with the separable kernel taps_y x taps_x
    (each symmetric, odd) into `target`, borders reflected (BORDER_REFLECT_101) or `replicate`d,
    + `delta`, rounded: what `cv2.sepFilter2D` gives, within 1 grey level. Call where
    `takes_fixed` says so. `exact` sums the horizontal pass exactly in 32 bits (1.3x the time):
    then the result is the weights' exact one but for the vertical pass's rounding to 1/128 of a
    level, so a truncation (delta -0.5) decides as float sums do, and an exact integer (a flat
    region) is an exact integer, which a delta of EXACT_DROP below -0.5 truncates by one. (The
    16-bit floors of the fast pass move a result by up to 0.03 levels: fine for rounding, not
    for a truncation at a flat shape's edge.)"""
    weights_x, weights_y = fixed_taps(taps_x), fixed_taps(taps_y)
    channels = 1 if source.ndim == 2 else source.shape[2]
    reach_x, reach_y = weights_x.size - 1, weights_y.size - 1
    rows = (replicated if replicate else reflected)(source.shape[0], reach_y)
    if exact:  # in 2^-23 of a level, the lowering (at most a level) saturating at 0
        offset = round((0.5 + delta) * (1 << FRACTION_BITS + 16))
        if not -(1 << FRACTION_BITS + 16) <= offset < 1 << FRACTION_BITS + 16:
            raise ValueError(f"an exact pass takes a delta of -1.5 to 0.5, not {delta}")
        add, take = np.uint32(max(offset, 0)), np.uint32(max(-offset, 0))
    else:
        add, take = np.uint32(_bias(weights_x) + round((0.5 + delta) * (1 << FRACTION_BITS))), 0
    compiled(_gaussian_rows)(
        _rows_of(source), _rows_of(target), rows, _ends(source.shape[1], reach_x, replicate),
        weights_y, weights_x, channels, exact, add, np.uint32(take),
    )  # fmt: skip


# A delta that truncates an exact integer k to k - 1 and anything above k to k, as the
# reference's float sums do when they land a hair below (exact passes only).
EXACT_DROP = -0.5 - 2.0 ** -(FRACTION_BITS + 16)


def _gaussian_rows(source, target, index, ends, wy, wx, channels, exact, add, take):  # noqa: C901
    """(Run compiled; one function, as numba inlines nothing it is not given compiled.) Row by
    row: the vertical pass over the reflected rows (`index`), summed exactly in 32 bits and
    rounded into the middle of a row buffer (Q7), its ends filled from the columns `ends`
    names, then the horizontal pass: each product a 16 x 16-bit high multiply (its floor made
    good on average by `add`, with half a level to round), or, `exact`, each product whole in
    32 bits, + `add` - `take` (saturating). On both axes the first pass takes the centre and
    one pair (an odd reach) or two, every later pass two, and the last ends with the rounding:
    a pass stores its sums and the next loads them, so a pass saved counts: 0.82-0.84x the
    time of separate passes for the centre, the rounding and an odd reach's last pair (exact,
    sigma 0.7-1.5, 1080p BGR), 0.78-0.89x (fast, sigma 1-3), the same sums. (Pairs cost as
    much as passes: an odd reach padded with a pair of weight 0 took 2x at reach 1.)"""
    length = source.shape[1]
    reach_y, reach_x = wy.shape[0] - 1, wx.shape[0] - 1
    edge = reach_x * channels
    line = np.empty(length + 2 * edge, np.uint16)
    middle = line[edge : edge + length]
    acc, vertical = np.empty(length, np.uint16), np.empty(length, np.uint32)
    shift, high = np.uint16(FRACTION_BITS), np.uint32(16)
    drop = np.uint32(16 - FRACTION_BITS)  # the vertical sum's bits below 1/128 of a level
    half = np.uint32(1 << 15 - FRACTION_BITS)
    whole = np.uint32(16 + FRACTION_BITS)
    # pairs in the first pass (a reach of 0: one of weight 0, the centre's row), and passes
    first_y, first_x = min(2 - reach_y % 2, max(reach_y, 1)), min(2 - reach_x % 2, max(reach_x, 1))
    passes_y, passes_x = max(reach_y - first_y, 0) // 2 + 1, max(reach_x - first_x, 0) // 2 + 1
    weights_y, weights_x = np.zeros(reach_y + 3, np.uint32), np.zeros(reach_x + 3, np.uint32)
    weights_y[: wy.shape[0]], weights_x[: wx.shape[0]] = wy, wx  # 0 beyond the reach
    for row in range(source.shape[0]):
        for p in range(passes_y):  # pairs k and k + 1 (the first pass: k, and k + 1 if two)
            k = 1 if p == 0 else first_y + 2 * p - 1
            near, far = min(k, reach_y), min(k + 1, reach_y)
            a, b = source[index[reach_y + row - near]], source[index[reach_y + row + near]]
            c, d = source[index[reach_y + row - far]], source[index[reach_y + row + far]]
            wa, wc = weights_y[k], weights_y[k + 1]
            centre, w0 = source[row], np.uint32(wy[0])
            if p == 0 and first_y == 2:
                for x in range(length):
                    vertical[x] = (
                        np.uint32(centre[x]) * w0 + half
                        + np.uint32(np.uint16(a[x]) + np.uint16(b[x])) * wa
                        + np.uint32(np.uint16(c[x]) + np.uint16(d[x])) * wc
                    )  # fmt: skip
            elif p == 0:
                for x in range(length):
                    vertical[x] = (
                        np.uint32(centre[x]) * w0 + half
                        + np.uint32(np.uint16(a[x]) + np.uint16(b[x])) * wa
                    )  # fmt: skip
            elif p < passes_y - 1:
                for x in range(length):
                    vertical[x] += (
                        np.uint32(np.uint16(a[x]) + np.uint16(b[x])) * wa
                        + np.uint32(np.uint16(c[x]) + np.uint16(d[x])) * wc
                    )
            else:  # the exact sum, rounded to 1/128 of a level
                for x in range(length):
                    total = np.uint32(
                        vertical[x]
                        + np.uint32(np.uint16(a[x]) + np.uint16(b[x])) * wa
                        + np.uint32(np.uint16(c[x]) + np.uint16(d[x])) * wc
                    )
                    middle[x] = np.uint16(total >> drop)
        if passes_y == 1:
            for x in range(length):
                middle[x] = np.uint16(vertical[x] >> drop)
        for j in range(reach_x + reach_x):  # the row's ends, from the columns they stand for
            start = j * channels + (0 if j < reach_x else length)
            for channel in range(channels):
                line[start + channel] = middle[ends[j] * channels + channel]
        out, w0 = target[row], np.uint32(wx[0])
        for p in range(passes_x):
            k = 1 if p == 0 else first_x + 2 * p - 1
            near, far = min(k, reach_x) * channels, min(k + 1, reach_x) * channels
            l0 = line[edge - near : edge - near + length]
            l1 = line[edge + near : edge + near + length]
            l2, l3 = line[edge - far : edge - far + length], line[edge + far : edge + far + length]
            wa, wc = weights_x[k], weights_x[k + 1]
            if exact and p == 0 and first_x == 2:  # at most 255 * 2^23: the buffer holds it
                for x in range(length):
                    vertical[x] = (
                        np.uint32(middle[x]) * w0 + add
                        + np.uint32(np.uint16(l0[x] + l1[x])) * wa
                        + np.uint32(np.uint16(l2[x] + l3[x])) * wc
                    )  # fmt: skip
            elif exact and p == 0:
                for x in range(length):
                    vertical[x] = (
                        np.uint32(middle[x]) * w0 + add + np.uint32(np.uint16(l0[x] + l1[x])) * wa
                    )
            elif exact and p < passes_x - 1:
                for x in range(length):
                    vertical[x] += (
                        np.uint32(np.uint16(l0[x] + l1[x])) * wa
                        + np.uint32(np.uint16(l2[x] + l3[x])) * wc
                    )
            elif exact:
                for x in range(length):
                    total = np.uint32(
                        vertical[x]
                        + np.uint32(np.uint16(l0[x] + l1[x])) * wa
                        + np.uint32(np.uint16(l2[x] + l3[x])) * wc
                    )
                    out[x] = np.uint8(min((total - min(total, take)) >> whole, np.uint32(255)))
            elif p == 0 and first_x == 2:
                for x in range(length):
                    acc[x] = (
                        np.uint16((np.uint32(middle[x]) * w0) >> high) + np.uint16(add)
                        + np.uint16((np.uint32(np.uint16(l0[x] + l1[x])) * wa) >> high)
                        + np.uint16((np.uint32(np.uint16(l2[x] + l3[x])) * wc) >> high)
                    )  # fmt: skip
            elif p == 0:
                for x in range(length):
                    acc[x] = (
                        np.uint16((np.uint32(middle[x]) * w0) >> high) + np.uint16(add)
                        + np.uint16((np.uint32(np.uint16(l0[x] + l1[x])) * wa) >> high)
                    )  # fmt: skip
            elif p < passes_x - 1:
                for x in range(length):
                    acc[x] += np.uint16(
                        (np.uint32(np.uint16(l0[x] + l1[x])) * wa) >> high
                    ) + np.uint16((np.uint32(np.uint16(l2[x] + l3[x])) * wc) >> high)
            else:
                for x in range(length):
                    total16 = np.uint16(
                        acc[x]
                        + np.uint16((np.uint32(np.uint16(l0[x] + l1[x])) * wa) >> high)
                        + np.uint16((np.uint32(np.uint16(l2[x] + l3[x])) * wc) >> high)
                    )
                    out[x] = np.uint8(min(total16 >> shift, np.uint16(255)))
        if passes_x == 1 and exact:
            for x in range(length):
                total = vertical[x]
                out[x] = np.uint8(min((total - min(total, take)) >> whole, np.uint32(255)))
        elif passes_x == 1:
            for x in range(length):
                out[x] = np.uint8(min(acc[x] >> shift, np.uint16(255)))


def takes_doubled(small: np.ndarray, target: np.ndarray, top: int, left: int) -> bool:
    """Whether `doubled` can upscale `small` into `target`: one 8-bit plane (channels would
    interleave the loop's stores) with a sample of margin around the crop on every side."""
    return (
        small.dtype == np.uint8
        and target.dtype == np.uint8
        and small.ndim == 2
        and target.ndim == 2
        and top % 2 == 0
        and left % 2 == 0
        and top >= 2
        and left >= 2
        and (top + target.shape[0]) // 2 + 1 < small.shape[0]
        and (left + target.shape[1]) // 2 + 1 < small.shape[1]
    )


def doubled(small: np.ndarray, target: np.ndarray, top: int, left: int) -> None:
    """`small` upscaled by 2 as cv2.resize's INTER_LINEAR samples it (pixel centres aligned),
    only the crop from (top, left) (even) that fills `target`: each pixel 9/16, 3/16, 3/16 and
    1/16 of its four nearest samples, rounded. Where `takes_doubled` says so."""
    compiled(_doubled_rows)(small, target, top, left)


def _doubled_rows(small, target, top, left):  # pragma: no cover (run compiled)
    """(Run compiled.) Row by row: the two nearest rows blended 1:3 or 3:1 (x4), then each
    sample's two output pixels from it and its neighbours (x4 again), rounded."""
    rows, columns = target.shape
    blend = np.empty(small.shape[1], np.uint16)
    pairs, base = columns // 2, left // 2
    three, half, bits = np.uint16(3), np.uint16(8), np.uint16(4)
    for y in range(rows):
        whole = top + y
        near = small[whole // 2]
        other = small[whole // 2 - 1] if whole % 2 == 0 else small[whole // 2 + 1]
        for i in range(blend.size):
            blend[i] = three * np.uint16(near[i]) + np.uint16(other[i])
        out = target[y]
        before = blend[base - 1 : base - 1 + pairs]
        middle = blend[base : base + pairs]
        after = blend[base + 1 : base + 1 + pairs]
        for i in range(pairs):
            centre = three * middle[i] + half
            out[2 * i] = np.uint8((before[i] + centre) >> bits)
            out[2 * i + 1] = np.uint8((after[i] + centre) >> bits)
        if columns % 2:
            out[columns - 1] = np.uint8(
                (blend[base + pairs - 1] + three * blend[base + pairs] + half) >> bits
            )


def halved(image: np.ndarray) -> np.ndarray:
    """`image` (8 or 16 bits, even height and width, any channels) at half resolution through
    the binomial [1, 3, 3, 1] / 8 on both axes, centred on each 2x2 block, rounded; edges
    repeated. Its variance, 3/4 of a pixel squared, is three times the 2x2 box's, and it
    passes cos^3(pi f) of the detail too fine for the half resolution (periods of 2-4 pixels)
    where the box passes cos(pi f): the pyramid Gaussian's bound on binary noise."""
    if image.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"halved takes 8 or 16 bits, not {image.dtype}")
    image = np.ascontiguousarray(image)
    channels = 1 if image.ndim == 2 else image.shape[2]
    small = np.empty((image.shape[0] // 2, image.shape[1] // 2, *image.shape[2:]), image.dtype)
    span = image.shape[1] * channels
    wide = np.uint16 if image.dtype == np.uint8 else np.uint32  # 64 x the largest sample fits
    vertical = np.zeros(span + 3 * channels, wide)  # one sample of margin each side
    compiled(_halved_rows)(image.reshape(image.shape[0], span),
                           small.reshape(small.shape[0], -1), vertical, channels, wide)  # fmt: skip
    return small


def _halved_rows(source, target, vertical, channels, wide):  # pragma: no cover # noqa: C901
    """(Run compiled; one function, as numba inlines nothing it is not given compiled.) Row by
    row: four rows weighed 1, 3, 3, 1 into `vertical` (`wide`: 16 bits for 8-bit samples, 32
    for 16), its edge samples repeated into the margin, then every other pixel's four
    neighbours on the row weighed the same, rounded. One loop per channel count of an image
    (1-4), whose stride the compiler then knows: a channel loop of unknown length inside took
    5-7x the time on BGR."""
    rows, span = source.shape
    three, half, bits = wide(3), wide(32), wide(6)
    inner = vertical[channels : channels + span]
    for y in range(target.shape[0]):
        r0, r1 = source[max(2 * y - 1, 0)], source[2 * y]
        r2, r3 = source[2 * y + 1], source[min(2 * y + 2, rows - 1)]
        for i in range(span):
            inner[i] = wide(r0[i]) + three * (wide(r1[i]) + wide(r2[i])) + wide(r3[i])
        for c in range(channels):
            vertical[c] = inner[c]
            vertical[channels + span + c] = inner[span - channels + c]
        out = target[y]
        if channels == 1:
            for x in range(out.size):
                pair = three * (vertical[2 * x + 1] + vertical[2 * x + 2])
                out[x] = (vertical[2 * x] + pair + vertical[2 * x + 3] + half) >> bits
        elif channels == 2:
            for x in range(out.size // 2):
                for c in range(2):
                    at = 4 * x + c
                    pair = three * (vertical[at + 2] + vertical[at + 4])
                    out[2 * x + c] = (vertical[at] + pair + vertical[at + 6] + half) >> bits
        elif channels == 3:
            for x in range(out.size // 3):
                for c in range(3):
                    at = 6 * x + c
                    pair = three * (vertical[at + 3] + vertical[at + 6])
                    out[3 * x + c] = (vertical[at] + pair + vertical[at + 9] + half) >> bits
        elif channels == 4:
            for x in range(out.size // 4):
                for c in range(4):
                    at = 8 * x + c
                    pair = three * (vertical[at + 4] + vertical[at + 8])
                    out[4 * x + c] = (vertical[at] + pair + vertical[at + 12] + half) >> bits
        else:
            for x in range(out.size // channels):
                for c in range(channels):
                    at = 2 * x * channels + c
                    pair = three * (vertical[at + channels] + vertical[at + 2 * channels])
                    total = vertical[at] + pair + vertical[at + 3 * channels] + half
                    out[x * channels + c] = total >> bits
