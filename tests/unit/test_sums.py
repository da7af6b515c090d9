"""Filters by running sums (transforms/sums.py): a kernel's plan rebuilds it, and filtering by
the plan is filtering by the kernel, on the images `--blur defocus` sees (8-bit pixels, gray,
JPEG planes in their samples, views), with the filter kept where the sums cannot go."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from blur_augment.transforms import corruptions, kinds, sums
from tests.support.helpers import textured

RADII = [1.0, 2.2, 3.3, 4.7, 6.1, 7.9, 12.5]
SCALES = [(1, 1), (2, 2), (2, 1)]


def rebuilt(plan: sums.DiskPlan) -> np.ndarray:
    """The kernel a plan without a Gaussian stands for: its columns, then its terms."""
    size = 2 * plan.reach + 1
    kernel = sums.taps_of(plan.residual, (size, size))
    first = plan.reach - len(plan.heights) // 2
    for index, height in enumerate(plan.heights):
        kernel[plan.reach - height : plan.reach + height + 1, first + index] += plan.gx[0]
    return kernel


@pytest.mark.parametrize("scale", SCALES, ids=str)
@pytest.mark.parametrize("radius", RADII)
def test_a_disks_plan_rebuilds_it(radius, scale):
    """Exactly (float32 weights): its full taps as columns, the rest as terms, the terms of
    one weight together (a circle's eight symmetric taps, an ellipse's four)."""
    kernel = kinds.defocus_kernel(radius, scale)
    plan = sums.plateau_plan(kernel)
    assert plan is not None and plan.error < 1e-4 and len(plan.gy) == 1
    size = max(kernel.shape)
    padded = np.pad(
        kernel, (((size - kernel.shape[0]) // 2,) * 2, ((size - kernel.shape[1]) // 2,) * 2)
    )
    np.testing.assert_allclose(rebuilt(plan), padded, atol=1e-7)
    weights = plan.residual[:, 3]
    assert np.all(np.diff(weights) >= 0)  # sorted: a weight's terms next to each other
    if np.count_nonzero(kernel) > 30:
        assert len(np.unique(weights)) <= len(weights) / 3


def test_a_plan_needs_centred_columns():
    """A kernel whose largest taps are off its centre (a one-sided line), or whose column of
    largest taps has a gap, has no plan."""
    one_sided = np.zeros((7, 7), np.float32)
    one_sided[3, 3:] = 0.25
    assert sums.plateau_plan(one_sided) is None
    gap = np.full((5, 5), 0.01, np.float32)
    gap[[0, 1, 3, 4], 2] = 0.1
    assert sums.plateau_plan(gap) is None


def photo_gray() -> np.ndarray:
    return cv2.cvtColor(textured(150, 203, 3, seed=8), cv2.COLOR_BGR2GRAY)


IMAGES = {
    "bgr": lambda: textured(140, 190, 3, seed=4),
    "gray": photo_gray,
    "binary noise": lambda: np.random.default_rng(5).integers(0, 2, (61, 77), np.uint8) * 255,
    "view": lambda: photo_gray()[9:130, 5:181],
}


@pytest.mark.parametrize("scale", SCALES, ids=str)
@pytest.mark.parametrize("samples", [5.5, 7.9])
@pytest.mark.parametrize("name", sorted(IMAGES))
def test_defocus_by_running_sums_is_the_filter(name, samples, scale):
    """`--blur defocus`'s exact disk on 8 bits of more than 100 taps takes the sums: against
    the filter with the same kernel, no pixel more than 1 apart (a float sum in another order
    rounding the other way) and 0.01 on average, borders included. `samples`: the radius in the
    finer axis' samples."""
    image = IMAGES[name]()
    radius = samples * max(scale)
    rx, ry = radius / scale[0], radius / scale[1]
    assert sums.takes_sums(image, kinds._disk_plan(rx, ry))
    ours = kinds.defocus(image, radius, scale, method="exact")
    expected = kinds.filtered(image, kinds.defocus_kernel(radius, scale))
    off = np.abs(ours.astype(int) - expected)
    assert ours.shape == image.shape and off.max() <= 1 and off.mean() <= 0.01, off.mean()


def test_the_sums_write_into_a_view():
    image = photo_gray()
    canvas = np.zeros((image.shape[0], image.shape[1] + 9), np.uint8)
    out = canvas[:, 4 : 4 + image.shape[1]]
    result = kinds.defocus(image, 6.0, method="exact", out=out)
    assert np.shares_memory(result, canvas) and not canvas[:, :4].any()
    assert np.abs(out.astype(int) - kinds.filtered(image, kinds.defocus_kernel(6.0))).max() <= 1


@pytest.mark.parametrize(
    ("image", "radius"),
    [
        (textured(60, 80, 3, seed=2), 1.5),  # 9 taps: the filter is faster
        (textured(6, 40, 1, seed=2), 6.0),  # not larger than the disk's reach
        (textured(60, 80, 3, seed=2).astype(np.uint16) * 257, 6.0),  # 16 bits
    ],
    ids=["small disk", "small image", "16 bits"],
)
def test_where_the_sums_cannot_go_the_filter_stays(image, radius):
    """Each fallback, forced: the result is the filter's, to the bit."""
    assert not sums.takes_sums(image, kinds._disk_plan(radius, radius))
    np.testing.assert_array_equal(
        kinds.defocus(image, radius, method="exact"),
        kinds.filtered(image, kinds.defocus_kernel(radius)),
    )


def test_the_running_sums_wrap_and_stay_exact():
    """The sums down a column are kept modulo 2^16: a tall bright plane (1,100 rows of up to
    255 pass 2^16 by row 257) filters as the filter does, for either disk."""
    rng = np.random.default_rng(9)
    plane = np.clip(230 + rng.normal(0, 20, (1100, 48)), 0, 255).astype(np.uint8)
    plane[500:560, 10:30] = 0  # an edge far down, past several wraps
    ours = kinds.defocus(plane, 7.9, method="exact")
    off = np.abs(ours.astype(int) - kinds.filtered(plane, kinds.defocus_kernel(7.9)))
    assert off.max() <= 1 and off.mean() <= 0.01
    ours = np.empty_like(plane)
    corruptions.defocus_blur(plane, ours, 5)
    reference = corruptions._trimmed(corruptions.reference_disk(10, 0.5))
    off = np.abs(ours.astype(int) - cv2.filter2D(plane, -1, reference, delta=corruptions.FLOOR))
    assert off.max() <= 1 and off.mean() <= 0.05


def test_a_disk_of_long_columns_sums_them_one_a_pass():
    """Four columns are summed in 16 bits while they hold at most 257 samples (a disk up to
    radius 31); a longer disk's columns go one a pass in 32 bits, on a bright plane too."""
    narrow = sums.plateau_plan(kinds.defocus_kernel(31.0))
    wide = sums.plateau_plan(kinds.defocus_kernel(40.0))
    assert 4 * (2 * narrow.heights.max() + 1) <= sums.SAMPLES_PER_SUM
    assert 4 * (2 * wide.heights.max() + 1) > sums.SAMPLES_PER_SUM
    plane = np.clip(textured(130, 160, 1, seed=6).astype(int) + 120, 0, 255).astype(np.uint8)
    for radius in (31.0, 40.0):
        ours = kinds.defocus(plane, radius, method="exact")
        off = np.abs(ours.astype(int) - kinds.filtered(plane, kinds.defocus_kernel(radius)))
        assert off.max() <= 1 and off.mean() <= 0.02, radius


def test_a_weight_of_more_samples_than_16_bits_hold_is_weighed_in_parts():
    """A weight's taps are summed in 16 bits, exact up to 257 samples of 255: a ring of ~300
    equal taps around a plateau is weighed in parts, and a bright plane filters as the filter
    does."""
    grid = np.hypot(*np.mgrid[-26:27, -26:27])
    kernel = np.where(grid <= 20, 4.0, np.where((grid > 22.5) & (grid <= 25), 1.0, 0.0))
    kernel = (kernel / kernel.sum()).astype(np.float32)
    plan = sums.plateau_plan(kernel)
    assert plan is not None
    ring = plan.residual[np.isclose(plan.residual[:, 3], kernel[26, 2])]
    assert (ring[:, 2] - ring[:, 1] + 1).sum() > sums.SAMPLES_PER_SUM
    for part in sums._parts(ring):
        assert (part[:, 2] - part[:, 1] + 1).sum() <= sums.SAMPLES_PER_SUM
    assert np.array_equal(np.concatenate(sums._parts(ring)), ring)
    plane = np.full((120, 150), 255, np.uint8)
    plane[40:80, 50:100] = np.random.default_rng(3).integers(200, 256, (40, 50))
    ours = np.empty_like(plane)
    sums.filter_by_sums(plane, ours, plan, 0.0)
    off = np.abs(ours.astype(int) - cv2.filter2D(plane, -1, kernel))
    assert off.max() <= 1 and off.mean() <= 0.02


def test_a_disk_wider_than_the_sums_hold_takes_the_filter():
    plan = sums.plateau_plan(kinds.defocus_kernel(sums.WIDEST + 1.0))
    assert plan is not None and plan.reach > sums.WIDEST
    assert not sums.takes_sums(np.zeros((400, 400), np.uint8), plan)


# -- pairs of taps ------------------------------------------------------------------------------

LINES = [(5.0, 40.0), (7.0, 30.0), (15.0, 31.0), (24.0, 135.0), (35.0, 20.0), (17.0, 99.0)]


@pytest.mark.parametrize(("length", "angle"), LINES)
def test_a_lines_pairs_rebuild_it(length, angle):
    """Every tap once, with its mirror through the centre; the centre a pair of itself."""
    kernel = np.array(kinds.motion_kernel(length, angle))
    plan = sums.pair_plan(kernel)
    assert plan is not None
    rebuilt, (cy, cx) = np.zeros_like(kernel), plan.reach
    for (dx, dy, mx, my), weight in zip(plan.pairs, plan.weights, strict=True):
        rebuilt[cy + dy, cx + dx] += weight
        rebuilt[cy + my, cx + mx] += weight
    np.testing.assert_array_equal(rebuilt, kernel)


def test_pairs_need_a_point_symmetric_kernel_of_9_to_200_taps():
    assert sums.pair_plan(np.array(kinds.motion_kernel(3.0, 10.0))) is None  # 7 taps
    one_sided = np.zeros((9, 9), np.float32)
    one_sided[4, 4:] = 0.2
    one_sided[3, 4:] = 0.05
    assert sums.pair_plan(one_sided) is None
    assert sums.pair_plan(np.full((4, 6), 1 / 24, np.float32)) is None  # even sides
    assert sums.pair_plan(np.array(kinds.defocus_kernel(9.0))) is None  # 293 taps


@pytest.mark.parametrize("border", [cv2.BORDER_REFLECT_101, cv2.BORDER_REPLICATE])
@pytest.mark.parametrize(("length", "angle"), LINES)
@pytest.mark.parametrize("name", sorted(IMAGES))
def test_a_line_by_pairs_is_the_filter(name, length, angle, border):
    """`--blur motion`'s line on 8 bits goes by pairs: against OpenCV's float filter of the
    same kernel, within 1 grey level, 0.01 on average, borders included, delta added."""
    image = IMAGES[name]()
    kernel = np.array(kinds.motion_kernel(length, angle))
    ours = kinds.filtered(image, kernel, border=border, delta=-0.5)
    exact = cv2.filter2D(image.astype(np.float32), -1, kernel, borderType=border) - 0.5
    off = np.abs(ours.astype(float) - np.clip(np.round(exact), 0, 255))
    assert ours.shape == image.shape and ours.dtype == np.uint8
    assert off.max() <= 1 and off.mean() <= 0.01, (off.max(), off.mean())


def test_pairs_write_into_a_view_and_leave_small_images_to_the_filter(monkeypatch):
    image = photo_gray()
    kernel = np.array(kinds.motion_kernel(15.0, 31.0))
    canvas = np.zeros((image.shape[0], image.shape[1] + 9), np.uint8)
    out = canvas[:, 4 : 4 + image.shape[1]]
    result = kinds.filtered(image, kernel, out)
    assert np.shares_memory(result, canvas) and not canvas[:, :4].any()
    small = image[:6, :40].copy()  # not larger than the line's reach (7 columns): no pairs
    assert min(small.shape) <= max(sums.pair_plan(kernel).reach)
    ours = kinds.filtered(small, kernel)
    monkeypatch.setattr(kinds, "pair_plan", lambda kernel: None)
    np.testing.assert_array_equal(ours, kinds.filtered(small, kernel))


def test_a_plans_gaussian_has_one_three_or_five_symmetric_taps():
    """The loop takes the alias blur one pass an axis, its taps in mirror pairs: a plan whose
    Gaussian has another size, or is lopsided, is refused rather than misread."""
    plan = corruptions.disk_plan(6, 0.5)
    image = np.zeros((60, 60), np.uint8)
    out = np.empty_like(image)
    with pytest.raises(ValueError, match="1, 3 or 5"):
        sums.filter_by_sums(image, out, plan._replace(gy=np.ones(4, np.float32) / 4), 0.0)
    lopsided = np.array([0.2, 0.5, 0.3], np.float32)
    with pytest.raises(ValueError, match="symmetric"):
        sums.filter_by_sums(image, out, plan._replace(gy=lopsided, gx=lopsided), 0.0)
