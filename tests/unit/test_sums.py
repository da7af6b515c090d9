"""Filters by running sums and by steps of boxes (transforms/sums.py): a kernel's plan rebuilds
it, and filtering by the plan is filtering by the kernel, on the images `--blur defocus` sees
(8-bit pixels, gray, JPEG planes in their samples, views), with the filter kept where neither
can go."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from blur_augment.transforms import corruptions, kinds, sums
from tests.support.helpers import textured

RADII = [1.0, 2.2, 3.3, 4.7, 6.1, 7.9, 12.5]
SCALES = [(1, 1), (2, 2), (2, 1)]


def rebuilt(plan: sums.StepPlan) -> np.ndarray:
    """The kernel a step plan stands for: each height's taps down a box of its rows, at its
    offset and its mirror's."""
    reach_y, reach_x = plan.reach
    kernel = np.zeros((2 * reach_y + 1, 2 * reach_x + 1))
    for level, height in enumerate(plan.heights):
        rows = slice(reach_y - height, reach_y + height + 1)
        first, last = plan.starts[level], plan.starts[level + 1]
        for offset, weight in zip(plan.offsets[first:last], plan.weights[first:last], strict=True):
            kernel[rows, reach_x - offset] += weight
            kernel[rows, reach_x + offset] += weight
    return kernel


@pytest.mark.parametrize("scale", SCALES, ids=str)
@pytest.mark.parametrize("radius", RADII)
def test_a_disks_steps_rebuild_it(radius, scale):
    """Exactly (float32 weights), circles and ellipses alike; a few taps per height where the
    disk's rim had a term per tap."""
    kernel = kinds.defocus_kernel(radius, scale)
    plan = sums.step_plan(kernel)
    assert plan is not None and plan.reach == (kernel.shape[0] // 2, kernel.shape[1] // 2)
    np.testing.assert_allclose(rebuilt(plan), kernel, atol=1e-7)
    if np.count_nonzero(kernel) > 30:
        assert len(plan.offsets) <= np.count_nonzero(kernel) / 4


def test_steps_need_a_kernel_symmetric_about_both_axes():
    """A one-sided line, a diagonal line (symmetric through its centre only), even sides,
    boxes taller than 16 bits hold for an offset and its mirror, or no taps: no plan."""
    one_sided = np.zeros((7, 7), np.float32)
    one_sided[3, 3:] = 0.25
    diagonal = np.eye(7, dtype=np.float32) / 7
    even = np.full((4, 6), 1 / 24, np.float32)
    tall = np.full((2 * sums.TALLEST_STEP + 3, 3), 1.0, np.float32)
    for kernel in (one_sided, diagonal, even, tall, np.zeros((5, 5), np.float32)):
        assert sums.step_plan(kernel) is None
    assert sums.step_plan(tall[1:-1]) is not None
    assert 2 * (2 * sums.TALLEST_STEP + 1) <= sums.SAMPLES_PER_SUM


def test_the_tallest_steps_stay_exact_on_a_bright_plane():
    """At TALLEST_STEP an offset's box and its mirror's hold 2 * 127 samples: on a white plane
    with a few darker dots (their sum within 800 of 2^16; one row more would wrap) the steps are
    the filter's, to within 1."""
    kernel = np.zeros((2 * sums.TALLEST_STEP + 1, 5), np.float32)
    kernel[:, [0, 4]], kernel[:, 2] = 1.0, 2.0
    kernel /= kernel.sum()
    plan = sums.step_plan(kernel)
    assert plan is not None and plan.heights.tolist() == [sums.TALLEST_STEP]
    plane = np.full((300, 90), 255, np.uint8)
    plane[np.random.default_rng(4).random(plane.shape) < 0.01] = 200
    ours = np.empty_like(plane)
    sums.filter_by_steps(plane, ours, plan, 0.0)
    assert np.abs(ours.astype(int) - cv2.filter2D(plane, -1, kernel)).max() <= 1


def columns_plan(kernel: np.ndarray) -> sums.DiskPlan:
    """A flat disk as the running sums' DiskPlan without a Gaussian or edge terms."""
    half, top = kernel.shape[0] // 2, float(kernel.max())
    plateau = kernel >= top * (1 - 1e-6)
    assert np.abs(np.where(plateau, 0.0, kernel)).max() == 0, "a flat disk"
    columns = np.flatnonzero(plateau.any(axis=0))
    heights = np.array([half - np.flatnonzero(plateau[:, c])[0] for c in columns], np.int64)
    no_edges = np.zeros((0, 2), np.int64), np.zeros(0, np.float32)
    gaussian = np.ones(1, np.float32), np.array([top], np.float32)
    return sums.DiskPlan(heights, *gaussian, *no_edges, half, 0.0)


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
def test_defocus_by_steps_is_the_filter(name, samples, scale):
    """`--blur defocus`'s exact disk on 8 bits of more than 20 taps takes the steps: against
    the filter with the same kernel, no pixel more than 1 apart (a float sum in another order
    rounding the other way) and 0.01 on average, borders included. `samples`: the radius in the
    finer axis' samples."""
    image = IMAGES[name]()
    radius = samples * max(scale)
    rx, ry = radius / scale[0], radius / scale[1]
    assert sums.takes_steps(image, kinds._disk_plan(rx, ry))
    ours = kinds.defocus(image, radius, scale, method="exact")
    expected = kinds.filtered(image, kinds.defocus_kernel(radius, scale))
    off = np.abs(ours.astype(int) - expected)
    assert ours.shape == image.shape and off.max() <= 1 and off.mean() <= 0.01, off.mean()


def test_the_steps_write_into_a_view():
    image = photo_gray()
    canvas = np.zeros((image.shape[0], image.shape[1] + 9), np.uint8)
    out = canvas[:, 4 : 4 + image.shape[1]]
    result = kinds.defocus(image, 6.0, method="exact", out=out)
    assert np.shares_memory(result, canvas) and not canvas[:, :4].any()
    assert np.abs(out.astype(int) - kinds.filtered(image, kinds.defocus_kernel(6.0))).max() <= 1


@pytest.mark.parametrize(
    ("image", "radius"),
    [
        (textured(60, 80, 3, seed=2), 1.5),  # 9 taps: the pairs are faster
        (textured(6, 40, 1, seed=2), 6.0),  # not larger than the disk's reach
        (textured(60, 80, 3, seed=2).astype(np.uint16) * 257, 6.0),  # 16 bits
    ],
    ids=["small disk", "small image", "16 bits"],
)
def test_where_the_steps_cannot_go_the_filter_stays(image, radius):
    """Each fallback, forced: the result is the filter's, to the bit."""
    assert not sums.takes_steps(image, kinds._disk_plan(radius, radius))
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
    radius 31); a longer disk's columns go one a pass in 32 bits, on a bright plane too. The
    steps take either disk as well."""
    plane = np.clip(textured(130, 160, 1, seed=6).astype(int) + 120, 0, 255).astype(np.uint8)
    for radius in (31.0, 40.0):
        grid = np.hypot(*np.mgrid[-int(radius) : int(radius) + 1, -int(radius) : int(radius) + 1])
        kernel = (grid <= radius).astype(np.float32)
        kernel /= kernel.sum()
        plan = columns_plan(kernel)
        narrow = 4 * (2 * plan.heights.max() + 1) <= sums.SAMPLES_PER_SUM
        assert narrow == (radius == 31.0)
        ours = np.empty_like(plane)
        sums.filter_by_sums(plane, ours, plan, 0.0)
        off = np.abs(ours.astype(int) - cv2.filter2D(plane, -1, kernel))
        assert off.max() <= 1 and off.mean() <= 0.02, radius
        ours = kinds.defocus(plane, radius, method="exact")
        off = np.abs(ours.astype(int) - kinds.filtered(plane, kinds.defocus_kernel(radius)))
        assert off.max() <= 1 and off.mean() <= 0.02, radius


def test_a_ring_around_a_plateau_by_steps_on_a_bright_plane():
    """A plateau with a ring of equal taps around it, whose columns step up to four times: the
    steps on a bright plane (an offset's pair of boxes near 2^16 / 4) are the filter's."""
    grid = np.hypot(*np.mgrid[-26:27, -26:27])
    kernel = np.where(grid <= 20, 4.0, np.where((grid > 22.5) & (grid <= 25), 1.0, 0.0))
    kernel = (kernel / kernel.sum()).astype(np.float32)
    plane = np.full((120, 150), 255, np.uint8)
    plane[40:80, 50:100] = np.random.default_rng(3).integers(200, 256, (40, 50))
    ours = np.empty_like(plane)
    sums.filter_by_steps(plane, ours, sums.step_plan(kernel), 0.0)
    off = np.abs(ours.astype(int) - cv2.filter2D(plane, -1, kernel))
    assert off.max() <= 1 and off.mean() <= 0.02


def edge_plan(disk: np.ndarray, edges: list[tuple[int, int]], weights: list[float],
              reach: int) -> tuple[sums.DiskPlan, np.ndarray]:  # fmt: skip
    """A flat disk plus edge terms, as a plan and as the kernel it stands for."""
    plan = columns_plan(disk)
    plan = plan._replace(edges=np.array(edges, np.int64).reshape(-1, 2),
                         edge_weights=np.array(weights, np.float32), reach=reach)  # fmt: skip
    kernel = np.pad(disk.astype(np.float64), reach - disk.shape[0] // 2)
    kernel += sums.edge_taps(plan.edges, plan.edge_weights, kernel.shape)
    return plan, kernel.astype(np.float32)


def test_edge_terms_read_a_residual_back():
    """A residual of runs through the axes (one a little lower at its ends, as the alias
    blur's reflection leaves them), a tip, and taps too small to keep: the terms are the runs
    at their mean and the tip; what they leave out is the ends' difference and the small taps."""
    truth = sums.edge_taps(np.array([[6, 2], [8, 0]]), np.array([3e-3, -2e-3]), (21, 21))
    residual = truth.copy()
    for side in (residual, residual.T):
        side[10 - 6, [8, 12]] -= 3e-4  # the run's ends, lower (each side once)
        side[10 + 6, [8, 12]] -= 3e-4
    residual[3, 3] = residual[15, 4] = 5e-5  # below `smallest`
    edges, weights = sums.edge_terms(residual, 1e-4)
    assert edges.tolist() == [[6, 2], [8, 0]]
    np.testing.assert_allclose(weights, [3e-3 - 2 * 3e-4 / 5, -2e-3], rtol=1e-6)
    assert sums.edge_terms(np.zeros((9, 9)), 1e-4)[0].shape == (0, 2)
    split = np.zeros((21, 21))
    split[10 - 5, [7, 13]] = 1e-3  # two taps, not one centred run: no term
    assert sums.edge_terms(split, 1e-4)[0].shape == (0, 2)


def test_edge_terms_are_the_filter_on_a_bright_plane():
    """Two edge terms, the longest the loop takes (4 runs of 63 taps) and a tip, on a bright
    plane whose runs sum near 2^16: the running sums are the filter's, to within 1."""
    grid = np.hypot(*np.mgrid[-5:6, -5:6])
    disk = (grid <= 5.0).astype(np.float32)
    disk /= disk.sum() * 2
    plan, kernel = edge_plan(disk, [(32, sums.LONGEST_EDGE), (33, 0)], [1e-3, 2e-3], 33)
    plane = np.full((150, 170), 255, np.uint8)
    plane[50:100, 60:120] = np.random.default_rng(8).integers(180, 256, (50, 60))
    ours = np.empty_like(plane)
    sums.filter_by_sums(plane, ours, plan, 0.0)
    off = np.abs(ours.astype(int) - cv2.filter2D(plane, -1, kernel))
    assert off.max() <= 1 and off.mean() <= 0.02


def test_a_plan_whose_edge_terms_the_loop_cannot_read_is_refused():
    """More terms than the loop weighs, a run too long for 16 bits, runs that meet at the
    corners, a term beyond the padding: refused, not read out of bounds."""
    disk = (np.hypot(*np.mgrid[-3:4, -3:4]) <= 3.0).astype(np.float32)
    image, out = np.zeros((60, 60), np.uint8), np.empty((60, 60), np.uint8)
    for edges in ([(4, 0), (5, 0), (6, 0)], [(40, sums.LONGEST_EDGE + 1)], [(5, 5)], [(9, 0)]):
        plan = columns_plan(disk)._replace(
            edges=np.array(edges, np.int64),
            edge_weights=np.full(len(edges), 1e-3, np.float32),
            reach=8,  # d 9: beyond the padding
        )
        with pytest.raises(ValueError, match="edge terms"):
            sums.filter_by_sums(image, out, plan, 0.0)


def test_disks_wider_than_the_sums_hold_take_the_filter():
    """Running sums reach at most WIDEST; steps are at most 2 * TALLEST_STEP + 1 rows tall
    (`--blur_method exact` above radius 63): the filter, to the bit."""
    grid = np.hypot(*np.mgrid[-129:130, -129:130])
    assert not sums.takes_sums(np.zeros((400, 400), np.uint8), columns_plan(grid <= 129.0))
    radius = sums.TALLEST_STEP + 1.0
    assert kinds._disk_plan(radius, radius) is None
    image = textured(140, 150, 1, seed=3)
    np.testing.assert_array_equal(
        kinds.defocus(image, radius, method="exact"),
        kinds.filtered(image, kinds.defocus_kernel(radius)),
    )


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


@pytest.mark.parametrize("count", range(1, 8))
def test_every_count_of_pairs_takes_its_offset_and_rounding_once(count):
    """The loop's first pass takes the offset, its last (or the lone odd pair's) the rounding:
    hand-built plans of 1 to 7 pairs, which no kernel of 9 taps or more gives below 5, against
    OpenCV's float filter of the kernel they make, within 1 grey level."""
    rng = np.random.default_rng(count)
    image = rng.integers(0, 256, (31, 45), np.uint8)
    offsets, weights = rng.integers(-3, 4, (count, 2)), rng.random(count) + 0.1
    plan = sums.PairPlan(
        np.column_stack([offsets, -offsets]).astype(np.int64),
        (weights / weights.sum() * 0.4567).astype(np.float32),  # sums off the rounding edges
        (3, 3),
    )
    kernel = np.zeros((7, 7), np.float32)
    for (dx, dy, mx, my), weight in zip(plan.pairs, plan.weights, strict=True):
        kernel[3 + dy, 3 + dx] += weight
        kernel[3 + my, 3 + mx] += weight
    ours = np.empty_like(image)
    sums.filter_by_pairs(image, ours, plan, cv2.BORDER_REFLECT_101, -0.5)
    exact = cv2.filter2D(image.astype(np.float32), -1, kernel, borderType=cv2.BORDER_REFLECT_101)
    off = np.abs(ours.astype(float) - np.clip(np.round(exact - 0.5), 0, 255))
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


def test_a_plans_gaussian_has_one_or_three_symmetric_taps():
    """The loop takes the alias blur one pass an axis, its taps in mirror pairs: a plan whose
    Gaussian has another size, or is lopsided, is refused rather than misread."""
    plan = corruptions.disk_plan(6, 0.5)
    image = np.zeros((60, 60), np.uint8)
    out = np.empty_like(image)
    for size in (4, 5):
        with pytest.raises(ValueError, match="1 or 3"):
            gaussian = np.ones(size, np.float32) / size
            sums.filter_by_sums(image, out, plan._replace(gy=gaussian, gx=gaussian), 0.0)
    lopsided = np.array([0.2, 0.5, 0.3], np.float32)
    with pytest.raises(ValueError, match="symmetric"):
        sums.filter_by_sums(image, out, plan._replace(gy=lopsided, gx=lopsided), 0.0)
