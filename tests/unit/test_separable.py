"""The 8-bit fixed-point Gaussian and the pyramid's 2x upscale against OpenCV's float filter,
an independent float64 reference, and the exact bilinear value; and every case that must take
OpenCV's path instead, forced."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from blur_augment.transforms import blur as blur_module
from blur_augment.transforms import separable
from blur_augment.transforms.blur import at_lower_resolution, gaussian_blur, gaussian_taps
from blur_augment.transforms.blur import kernel_size as size_of
from tests.support.helpers import reference_blur, textured


def opencv(image: np.ndarray, sigma_x: float, sigma_y: float) -> np.ndarray:
    """What the exact path gave before the fixed-point loop: sepFilter2D's float sums."""
    taps_x = gaussian_taps(size_of(sigma_x, np.uint8), sigma_x)
    taps_y = gaussian_taps(size_of(sigma_y, np.uint8), sigma_y)
    result = cv2.sepFilter2D(image, -1, taps_x, taps_y, borderType=cv2.BORDER_REFLECT_101)
    return result.reshape(image.shape)


def images() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    return {
        "gray": textured(97, 131, 1, seed=1),
        "bgr": textured(64, 90, 3, seed=2),
        "bgra": textured(50, 70, 4, seed=3),
        "noise": rng.integers(0, 256, (80, 120), np.uint8),
        "binary": (rng.integers(0, 2, (80, 120), np.uint8) * 255),  # the largest pair sums
        # 1 and 255: a blur of it is near 128, not at a rounding tie as 0 and 255 would be
        "checker": (np.indices((60, 60)).sum(axis=0) % 2 * 254 + 1).astype(np.uint8),
    }


@pytest.mark.parametrize("name", list(images()))
@pytest.mark.parametrize(
    ("sigma_x", "sigma_y"), [(0.3, 0.3), (1.0, 1.0), (2.5, 2.5), (3.4, 1.2), (0.0, 2.0), (7.0, 7.0)]
)
def test_fixed_point_is_within_one_level_of_the_float_filter(name, sigma_x, sigma_y):
    image = images()[name]
    size_x, size_y = size_of(sigma_x, np.uint8), size_of(sigma_y, np.uint8)
    assert separable.takes_fixed(image, None, size_x, size_y)
    blurred, _ = gaussian_blur(image, sigma_x, sigma_y)
    exact = reference_blur(image, sigma_x, sigma_y, size_x, size_y)
    for other in (opencv(image, sigma_x, sigma_y), exact):
        difference = np.abs(blurred.astype(int) - other)
        assert difference.max() <= 1
        assert difference.mean() <= 0.03  # a flip at a rounding edge, not a bias


@pytest.mark.parametrize("level", [0, 1, 128, 254, 255])
def test_flat_planes_stay_exactly_flat(level):
    """The floors' bias and the centre weight that makes the taps sum to 1 leave a flat
    plane as it is, at the ends of the range too (no wrap in the 16-bit sums)."""
    image = np.full((70, 90), level, np.uint8)
    for sigma in (0.3, 1.0, 4.0, 20.0):
        assert np.array_equal(gaussian_blur(image, sigma, sigma)[0], image)


@pytest.mark.parametrize("name", ["bgr", "noise", "binary"])
@pytest.mark.parametrize("sigma", [0.7, 1.5, 3.0])
@pytest.mark.parametrize("delta", [0.0, -0.5])
def test_edges_replicated_and_a_delta_as_sepfilter2d_takes_them(name, sigma, delta):
    """The fast pass given scipy's 'nearest' border (edge samples repeated) and the reference's
    truncation (delta -0.5), as the ladder gives the exact pass: within 1 of sepFilter2D given
    the same, borders included, and no bias (the floors' bias stays made good with half a
    level taken off)."""
    image = images()[name]
    taps = gaussian_taps(size_of(sigma, np.uint8), sigma)
    ours = np.empty_like(image)
    separable.gaussian_fixed(image, ours, taps, taps, delta, replicate=True)
    theirs = cv2.sepFilter2D(image, -1, taps, taps, delta=delta, borderType=cv2.BORDER_REPLICATE)
    difference = ours.astype(int) - theirs.reshape(image.shape)
    assert np.abs(difference).max() <= 1
    assert abs(difference.mean()) <= 0.03 and np.abs(difference).mean() <= 0.03
    assert separable.replicated(5, 2).tolist() == [0, 0, 0, 1, 2, 3, 4, 4, 4]


@pytest.mark.parametrize("name", ["bgr", "noise", "binary", "checker"])
@pytest.mark.parametrize("sigma", [0.7, 1.5, 4.0])
def test_an_exact_pass_truncates_as_float64_does(name, sigma):
    """The exact horizontal pass (the ladder's Gaussians'): truncated, against float64 sums of
    the same image, floored; it differs only where the exact value lies within the vertical
    pass's rounding (1/256 of a level) of an integer, so by 1 at a few pixels and on average far
    less than the fast pass's floors allow."""
    image = images()[name]
    taps = gaussian_taps(size_of(sigma, np.uint8), sigma)
    ours = np.empty_like(image)
    separable.gaussian_fixed(image, ours, taps, taps, -0.5, replicate=True, exact=True)
    exact = cv2.sepFilter2D(image.astype(np.float64), -1, taps.astype(np.float64),
                            taps.astype(np.float64), borderType=cv2.BORDER_REPLICATE)  # fmt: skip
    difference = np.abs(ours.astype(int) - np.floor(exact + 1e-9).reshape(image.shape))
    assert difference.max() <= 1 and difference.mean() <= 0.005, difference.mean()


@pytest.mark.parametrize("reach_y", range(9))
@pytest.mark.parametrize("exact", [False, True])
def test_every_reach_on_either_axis_sums_every_tap_once(reach_y, exact):
    """The loop's first pass takes the centre and one pair (an odd reach; a reach of 0, one
    of weight 0) or two, each later pass two, the last rounding: reaches 0 to 8 on one axis
    against 0 to 8 on the other, binary noise (the largest pair sums), against float64 sums of
    the same taps, rounded or truncated."""
    image = np.random.default_rng(reach_y).integers(0, 2, (23, 29, 3), np.uint8) * 255
    taps_y = gaussian_taps(2 * reach_y + 1, 0.3 + reach_y / 2)
    for reach_x in range(9):
        taps_x = gaussian_taps(2 * reach_x + 1, 0.3 + reach_x / 2)
        ours = np.empty_like(image)
        separable.gaussian_fixed(image, ours, taps_x, taps_y, -0.5 if exact else 0.0,
                                 replicate=True, exact=exact)  # fmt: skip
        wide_x, wide_y = taps_x.astype(np.float64), taps_y.astype(np.float64)
        sums = cv2.sepFilter2D(image.astype(np.float64), -1, wide_x, wide_y,
                               borderType=cv2.BORDER_REPLICATE)  # fmt: skip
        expected = np.floor(sums + 1e-9) if exact else np.round(sums)
        difference = np.abs(ours.astype(int) - expected)
        assert difference.max() <= 1 and difference.mean() <= 0.03, (reach_x, difference.mean())


@pytest.mark.parametrize("level", [0, 1, 77, 128, 254, 255])
def test_an_exact_pass_keeps_flat_regions_flat_and_drops_them_by_one_if_told(level):
    image = np.full((30, 40, 3), level, np.uint8)
    out = np.empty_like(image)
    taps = gaussian_taps(9, 1.5)
    separable.gaussian_fixed(image, out, taps, taps, -0.5, exact=True)
    assert (out == level).all()
    separable.gaussian_fixed(image, out, taps, taps, separable.EXACT_DROP, exact=True)
    assert (out == max(level - 1, 0)).all()
    separable.gaussian_fixed(image, out, taps, taps, 0.0, exact=True)  # rounding
    assert (out == level).all()


def test_an_exact_pass_refuses_a_delta_its_sums_cannot_hold():
    image = np.zeros((20, 20), np.uint8)
    taps = gaussian_taps(5, 1.0)
    with pytest.raises(ValueError, match="delta"):
        separable.gaussian_fixed(image, image.copy(), taps, taps, 0.5, exact=True)
    with pytest.raises(ValueError, match="delta"):
        separable.gaussian_fixed(image, image.copy(), taps, taps, -1.6, exact=True)


def test_a_one_tap_kernel_leaves_every_pixel_as_it_is():
    """A one-tap axis weighs exactly 1.0: rounded, truncated by an exact pass, every pixel as
    it was; truncated with EXACT_DROP, every pixel one lower (0 stays 0)."""
    image = np.random.default_rng(2).integers(0, 256, (40, 60, 3), np.uint8)
    one = np.ones(1, np.float32)
    out = np.empty_like(image)
    separable.gaussian_fixed(image, out, one, one)
    assert np.array_equal(out, image)
    separable.gaussian_fixed(image, out, one, one, -0.5, exact=True)
    assert np.array_equal(out, image)
    separable.gaussian_fixed(image, out, one, one, separable.EXACT_DROP, exact=True)
    assert np.array_equal(out, np.maximum(image.astype(int) - 1, 0))


def test_the_widest_kernel_the_loop_takes_still_holds():
    """Reach 64 each side (sigma 21): the most terms, the largest bias."""
    image = textured(150, 180, 1, seed=5)
    sigma = 21.0
    size = size_of(sigma, np.uint8)
    assert size // 2 <= separable.MAX_REACH
    assert separable.takes_fixed(image, None, size, size)
    blurred, _ = gaussian_blur(image, sigma, sigma)
    assert np.abs(blurred.astype(int) - opencv(image, sigma, sigma)).max() <= 1


def test_fixed_taps_sum_to_one_exactly():
    for sigma in (0.3, 1.0, 2.5, 9.0):
        weights = separable.fixed_taps(gaussian_taps(size_of(sigma, np.uint8), sigma))
        assert int(weights[0]) + 2 * int(weights[1:].astype(np.int64).sum()) == separable.ONE
    assert separable.fixed_taps(np.array([1.0])).tolist() == [separable.ONE]
    # cached and shared between calls, so read-only
    assert separable.fixed_taps(gaussian_taps(7, 1.0)) is separable.fixed_taps(
        gaussian_taps(7, 1.0)
    )
    assert not separable.fixed_taps(gaussian_taps(7, 1.0)).flags.writeable
    assert not separable.reflected(50, 3).flags.writeable
    assert separable.reflected(5, 2).tolist() == [2, 1, 0, 1, 2, 3, 4, 3, 2]


def test_views_are_read_and_written_in_place():
    """A plane inside a wider buffer (a JPEG's luma) is read and written through its view."""
    buffer = np.zeros((90, 128), np.uint8)
    buffer[:, :120] = textured(90, 120, 1, seed=4)
    source = buffer[:, :120]
    target_buffer = np.full((90, 128), 7, np.uint8)
    target = target_buffer[:, :120]
    gaussian_blur(source, 2.0, 2.0, out=target)
    assert np.abs(target.astype(int) - opencv(np.ascontiguousarray(source), 2.0, 2.0)).max() <= 1
    assert (target_buffer[:, 120:] == 7).all()


@pytest.mark.parametrize(
    ("case", "image", "sigma", "out"),
    [
        ("16 bits", textured(40, 50, 1, "uint16", seed=1), 2.0, None),
        ("fewer rows than the reach", textured(5, 80, 1, seed=1), 2.0, None),
        ("fewer columns than the reach", textured(80, 5, 1, seed=1), 2.0, None),
        ("reach beyond MAX_REACH", textured(300, 300, 1, seed=1), 30.0, None),
        ("channels that are not rows", textured(40, 50, 3, seed=1)[:, :, ::-1], 1.5, None),
        ("in place", textured(40, 50, 1, seed=1), 1.5, "self"),
    ],
)
def test_what_the_loop_cannot_take_goes_to_opencv(monkeypatch, case, image, sigma, out):
    """Forced: each case is refused by takes_fixed and blurred by sepFilter2D, as before."""
    size = size_of(sigma, image.dtype)
    target = image if out == "self" else None
    assert not separable.takes_fixed(image, target, size, size), case
    expected = cv2.sepFilter2D(
        image.copy(), -1, gaussian_taps(size, sigma), gaussian_taps(size, sigma),
        borderType=cv2.BORDER_REFLECT_101,
    ).reshape(image.shape)  # fmt: skip

    def refuse(*args):
        raise AssertionError("the fixed-point loop must not run here")

    monkeypatch.setattr(separable, "gaussian_fixed", refuse)
    blurred, _ = gaussian_blur(image, sigma, sigma, out=target)
    assert np.array_equal(blurred, expected), case


def bilinear(small: np.ndarray, top: int, left: int, shape: tuple[int, int]) -> np.ndarray:
    """The upscale by 2 in float64, sampled as cv2.resize samples it, rounded half up."""
    ys = (np.arange(top, top + shape[0]) + 0.5) / 2 - 0.5
    xs = (np.arange(left, left + shape[1]) + 0.5) / 2 - 0.5
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    s = small.astype(np.float64)
    value = (
        s[y0][:, x0] * (1 - fy) * (1 - fx) + s[y0][:, x0 + 1] * (1 - fy) * fx
        + s[y0 + 1][:, x0] * fy * (1 - fx) + s[y0 + 1][:, x0 + 1] * fy * fx
    )  # fmt: skip
    return np.floor(value + 0.5).astype(np.uint8)


@pytest.mark.parametrize(("rows", "columns"), [(40, 60), (41, 61), (33, 90)])
def test_doubled_is_the_rounded_bilinear_value_and_within_one_of_resize(rows, columns):
    small = textured(40, 50, 1, seed=rows)
    top, left = 4, 6
    target = np.empty((rows, columns), np.uint8)
    assert separable.takes_doubled(small, target, top, left)
    separable.doubled(small, target, top, left)
    assert np.array_equal(target, bilinear(small, top, left, (rows, columns)))
    large = cv2.resize(small, (100, 80), interpolation=cv2.INTER_LINEAR)
    crop = large[top : top + rows, left : left + columns]
    assert np.abs(target.astype(int) - crop).max() <= 1


def test_doubled_refuses_what_it_cannot_reach():
    small = np.zeros((20, 20), np.uint8)
    assert not separable.takes_doubled(small, np.empty((40, 40), np.uint8), 0, 0)  # no margin
    assert not separable.takes_doubled(small, np.empty((30, 30), np.uint8), 3, 4)  # odd
    assert not separable.takes_doubled(small, np.empty((36, 30), np.uint8), 4, 4)  # past the end
    assert not separable.takes_doubled(np.zeros((20, 20, 3), np.uint8),
                                       np.empty((30, 30, 3), np.uint8), 4, 4)  # fmt: skip


@pytest.mark.parametrize("channels", [1, 3])
def test_half_resolution_path_is_the_same_with_and_without_the_fused_upscale(monkeypatch, channels):
    """Forced: with `doubled` refused, the pyramid upscales by cv2.resize and crops; the two
    differ by resize's rounding only (at most 1 grey level)."""
    image = textured(120, 160, channels, seed=3)
    fused = blur_module.blur(image, 5.0, 5.0)[0]
    monkeypatch.setattr(separable, "takes_doubled", lambda *args: False)
    resized = blur_module.blur(image, 5.0, 5.0)[0]
    assert np.abs(fused.astype(int) - resized).max() <= 1
    out = np.empty_like(image)
    assert at_lower_resolution(image, 2, 15, lambda small: small, out) is out


def binomial_halved(image: np.ndarray) -> np.ndarray:
    """The [1, 3, 3, 1] / 8 halving in float64, each 2x2 block's centre, edges repeated,
    rounded half up: an independent statement of `halved`."""
    planes = image.reshape(*image.shape[:2], -1).astype(np.float64)
    wide = np.pad(planes, ((1, 1), (1, 1), (0, 0)), mode="edge")
    weights = np.array([1.0, 3.0, 3.0, 1.0]) / 8
    rows, columns = image.shape[0] // 2, image.shape[1] // 2
    out = np.zeros((rows, columns, planes.shape[2]))
    for i, wy in enumerate(weights):
        for j, wx in enumerate(weights):
            out += wy * wx * wide[i : i + 2 * rows : 2, j : j + 2 * columns : 2]
    return np.floor(out + 0.5).reshape(rows, columns, *image.shape[2:])


@pytest.mark.parametrize("channels", [1, 2, 3, 4, 5])
@pytest.mark.parametrize(("rows", "columns"), [(2, 2), (4, 6), (38, 52), (64, 2)])
def test_halved_is_the_binomial_at_each_blocks_centre(rows, columns, channels):
    """8 and 16 bits, each channel count's loop (5: the general one)."""
    rng = np.random.default_rng(rows * columns + channels)
    shape = (rows, columns) if channels == 1 else (rows, columns, channels)
    image = rng.integers(0, 256, shape).astype(np.uint8)
    wide = rng.integers(0, 65536, shape).astype(np.uint16)
    for pixels in (image, wide):
        assert np.array_equal(separable.halved(pixels), binomial_halved(pixels))


def test_halved_keeps_flat_levels_takes_views_and_refuses_other_types():
    for level in (0, 1, 128, 255):
        flat = np.full((10, 14, 3), level, np.uint8)
        assert np.array_equal(separable.halved(flat), flat[::2, ::2])
    image = textured(40, 60, 3, seed=5)
    view = image[:, 10:50]  # not contiguous
    assert np.array_equal(separable.halved(view), binomial_halved(view))
    with pytest.raises(ValueError, match="8 or 16 bits"):
        separable.halved(np.zeros((4, 4), np.float32))
