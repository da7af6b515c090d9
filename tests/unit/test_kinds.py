"""The blur kinds as pure functions, and the sampler's kinds: kernels that sum to 1 and move
nothing, kernels measured in a subsampled plane's own samples, zoom and glass blur, the draw of
each kind (and today's Gaussian draw, pinned)."""

from __future__ import annotations

import hashlib
import itertools
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from blur_augment.transforms import kinds, sums
from blur_augment.transforms.sampling import (
    CORRUPTIONS,
    BlurSpec,
    KindRanges,
    corruption_params,
    glass_seed,
    sample,
    spec_from,
    spec_parameters,
)
from tests.support.helpers import textured
from tests.support.requires import module


def centroid(kernel: np.ndarray) -> tuple[float, float]:
    ys, xs = np.indices(kernel.shape)
    total = kernel.sum()
    return float((ys * kernel).sum() / total), float((xs * kernel).sum() / total)


def direction(kernel: np.ndarray) -> float:
    """The angle (degrees, counterclockwise from +x, y down) of a kernel's principal axis."""
    ys, xs = np.indices(kernel.shape)
    cy, cx = centroid(kernel)
    y, x = -(ys - cy), xs - cx  # y up
    cov = np.cov(np.stack([x.ravel(), y.ravel()]), aweights=kernel.ravel())
    values, vectors = np.linalg.eigh(cov)
    vx, vy = vectors[:, np.argmax(values)]
    return math.degrees(math.atan2(vy, vx)) % 180


def extent(kernel: np.ndarray) -> float:
    """The full length of a line kernel along its axis (from its variance: a uniform line of
    length L has variance L^2 / 12)."""
    ys, xs = np.indices(kernel.shape)
    cy, cx = centroid(kernel)
    cov = np.cov(np.stack([(xs - cx).ravel(), (ys - cy).ravel()]), aweights=kernel.ravel())
    return math.sqrt(12 * np.linalg.eigvalsh(cov).max())


@pytest.mark.parametrize("length", [3.0, 7.5, 25.0])
@pytest.mark.parametrize("angle", [0.0, 30.0, 45.0, 90.0, 137.0, 180.0])
def test_motion_kernel_sums_to_one_is_symmetric_and_has_its_length_and_angle(length, angle):
    kernel = kinds.motion_kernel(length, angle)
    assert kernel.shape[0] % 2 == 1 and kernel.shape[1] % 2 == 1
    assert kernel.sum() == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(kernel, kernel[::-1, ::-1], atol=1e-7)  # no shift of content
    rows, columns = kernel.shape
    assert centroid(kernel) == pytest.approx((rows // 2, columns // 2), abs=1e-6)
    assert extent(kernel) == pytest.approx(
        length, rel=0.1, abs=0.7
    )  # sampled on cells: short diagonals read long
    assert min(abs(direction(kernel) - angle % 180), 180 - abs(direction(kernel) - angle % 180)) < 3


def test_motion_kernel_in_420_chroma_is_half_the_line_at_the_same_angle():
    full = kinds.motion_kernel(20.0, 30.0)
    chroma = kinds.motion_kernel(20.0, 30.0, (2, 2))
    assert extent(chroma) == pytest.approx(extent(full) / 2, rel=0.1)
    assert direction(chroma) == pytest.approx(direction(full), abs=2)


def test_motion_kernel_in_422_chroma_changes_the_angle_in_sample_space():
    # subsampled on x only: a 45-degree line in pixels spans half as many samples across
    chroma = kinds.motion_kernel(20.0, 45.0, (2, 1))
    assert direction(chroma) == pytest.approx(math.degrees(math.atan2(1, 0.5)), abs=2)


@pytest.mark.parametrize("radius", [0.5, 1.0, 3.3, 8.0, 20.0])
def test_defocus_kernel_is_a_disk_of_its_radius(radius):
    kernel = kinds.defocus_kernel(radius)
    assert kernel.sum() == pytest.approx(1.0, abs=1e-6)
    assert kernel.shape == (2 * math.ceil(radius) + 1,) * 2
    np.testing.assert_allclose(kernel, kernel[::-1, ::-1], atol=1e-7)
    np.testing.assert_allclose(kernel, kernel.T, atol=1e-7)
    # covered area (in pixels, from the unnormalised coverage) is the disk's area
    coverage = kernel / kernel.max()
    assert coverage.sum() == pytest.approx(math.pi * radius**2, rel=0.05, abs=0.3)


def test_defocus_kernel_in_422_chroma_is_an_ellipse():
    kernel = kinds.defocus_kernel(6.0, (2, 1))
    assert kernel.shape == (13, 7)  # 6 samples up and down, 3 across


def test_filtered_keeps_dtype_shape_and_a_flat_image():
    for dtype, value in ((np.uint8, 200), (np.uint16, 51234)):
        for shape in ((40, 50), (40, 50, 1), (40, 50, 3), (40, 50, 4)):
            image = np.full(shape, value, dtype)
            out = kinds.filtered(image, kinds.motion_kernel(9, 33))
            assert out.dtype == image.dtype and out.shape == image.shape
            assert (out == value).all()


def test_motion_blur_moves_nothing_a_dot_stays_centred():
    image = np.zeros((61, 61), np.uint16)
    image[30, 30] = 60000
    out = kinds.filtered(image, kinds.motion_kernel(15, 60)).astype(float)
    assert centroid(out) == pytest.approx((30, 30), abs=0.05)


@pytest.mark.parametrize(("factor", "layers"), [(1.005, 2), (1.1, 16), (1.25, 32), (1.31, 32)])
def test_zoom_factors_are_at_most_a_step_apart_from_1_to_the_factor(factor, layers):
    factors = kinds.zoom_factors(factor)
    assert len(factors) == layers
    assert factors[0] == 1.0 and factors[-1] == pytest.approx(factor)
    assert (factors[1:] / factors[:-1] - 1).max() <= kinds.ZOOM_STEP + 1e-12


def layered_zoom(image: np.ndarray, factor: float) -> np.ndarray:
    """Zoom blur the slow way: every layer warped from the source on its own, in float, each
    layer's zoom on each axis the product of its subset of the stages' zooms."""
    height, width = image.shape[:2]
    cx, cy = (width - 1) / 2, (height - 1) / 2
    stages = kinds.zoom_stages((width, height), factor)
    total = np.zeros(image.shape, np.float64)
    for subset in itertools.product((False, True), repeat=len(stages)):
        fx = math.prod(s[0] for s, used in zip(stages, subset, strict=True) if used)
        fy = math.prod(s[1] for s, used in zip(stages, subset, strict=True) if used)
        matrix = np.array([[1 / fx, 0, cx * (1 - 1 / fx)], [0, 1 / fy, cy * (1 - 1 / fy)]])
        layer = cv2.warpAffine(image.astype(np.float32), matrix, (width, height),
                               flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                               borderMode=cv2.BORDER_REFLECT_101)  # fmt: skip
        total += layer.reshape(image.shape)
    return total / 2 ** len(stages)


@pytest.mark.parametrize("size", [(1920, 1080), (640, 480), (163, 121), (41, 33)])
@pytest.mark.parametrize("factor", [1.03, 1.11, 1.31])
def test_zoom_stages_crop_whole_pixels_or_keep_the_exact_zoom(size, factor):
    """A stage either crops a multiple of 4 pixels (so the centre stays put in the image and in
    its half-resolution chroma planes), within 2 pixels of size / zoom and keeping at least
    half of the stage's zoom, or keeps the exact power of the ratio (small images)."""
    _, ratio = kinds.zoom_layers(factor)
    stages = kinds.zoom_stages(size, factor)
    for j, zooms in enumerate(stages):
        target = ratio ** (2**j)
        for zoom, pixels in zip(zooms, size, strict=True):
            if zoom == target:
                continue
            cropped = (pixels - pixels / zoom) / 4
            assert cropped == pytest.approx(round(cropped), abs=1e-6)
            assert abs(pixels / zoom - pixels / target) <= 2 + 1e-9
            assert abs(zoom - target) <= (target - 1) / 2
    if size == (1920, 1080):
        assert all(zoom != ratio ** (2**j) for j, zs in enumerate(stages) for zoom in zs)


def sample_photo() -> np.ndarray:
    """A bundled photograph at 640x480 (sharp: downsized by area)."""
    path = sorted((Path(__file__).parents[2] / "samples" / "images").rglob("*.jpg"))[0]
    return cv2.resize(cv2.imread(str(path)), (640, 480), interpolation=cv2.INTER_AREA)


@pytest.mark.parametrize("factor", [1.03, 1.11, 1.31])
@pytest.mark.parametrize(
    ("image", "mean_bound", "max_bound"),
    [("photo", 0.2, 5), ("photo16", 0.2, 5), ("texture", 0.8, 4)],
)
def test_zoom_by_doubling_is_the_layered_mean(factor, image, mean_bound, max_bound):
    """The stated accuracy of the k-warp doubling against 2**k separate warps (rounded as
    ours is): resampling the running mean k times softens what a photograph has little of."""
    pixels = {
        "photo": sample_photo,
        "photo16": lambda: sample_photo().astype(np.uint16) * 257,
        "texture": lambda: cv2.GaussianBlur(textured(121, 163, 3, seed=4), (0, 0), 1.0),
    }[image]()
    scale = 257.0 if pixels.dtype == np.uint16 else 1.0
    ours = kinds.zoom(pixels, factor).astype(np.float64)
    difference = np.abs(ours - np.rint(layered_zoom(pixels, factor))) / scale
    assert difference.mean() <= mean_bound and difference.max() <= max_bound, (
        difference.mean(), difference.max()
    )  # fmt: skip


def test_zoom_keeps_the_centre_and_dtype_and_blurs_outwards():
    image = np.zeros((81, 101, 3), np.uint8)
    image[40, 50] = 255  # the centre: every zoom keeps it in place
    image[40, 90] = 255  # far from it: smeared along the radius
    out = kinds.zoom(image, 1.2)
    assert out.dtype == np.uint8 and out.shape == image.shape
    assert out[40, 50, 0] > 200
    row = out[40, :, 0].astype(int)
    assert row[90] < 100 and row[91:100].sum() > 0 and out[30:50, 90, 0].sum() <= row[88:101].sum()


def test_zoom_of_factor_1_is_the_image():
    image = np.random.default_rng(0).integers(0, 65535, (30, 40), dtype=np.uint16)
    np.testing.assert_array_equal(kinds.zoom(image, 1.0), image)


def test_glass_displacements_are_seeded_and_bounded():
    dy, dx = kinds.glass_displacements(42, 50, 60, 3, 2)
    assert dy.shape == dx.shape == (2, 44, 54)
    assert dy.min() >= -3 and dy.max() < 3 and dx.min() >= -3 and dx.max() < 3
    again = kinds.glass_displacements(42, 50, 60, 3, 2)
    np.testing.assert_array_equal(again[0], dy)
    assert not np.array_equal(kinds.glass_displacements(43, 50, 60, 3, 2)[0], dy)


def reference_shuffle(image, dy, dx, delta):
    """ImageNet-C's loop as the reference writes it (a swap of views, which copies one way)."""
    height, width = image.shape[:2]
    for i in range(dy.shape[0]):
        for a, h in enumerate(range(height - delta, delta, -1)):
            for b, w in enumerate(range(width - delta, delta, -1)):
                hp, wp = h + int(dy[i, a, b]), w + int(dx[i, a, b])
                image[h, w], image[hp, wp] = image[hp, wp], image[h, w]
    return image


@pytest.mark.parametrize("shape", [(23, 31, 3), (23, 31), (17, 19, 4)])
def test_glass_shuffle_is_the_reference_loop(shape):
    image = np.random.default_rng(1).integers(0, 255, shape, dtype=np.uint8)
    dy, dx = kinds.glass_displacements(7, shape[0], shape[1], 2, 2)
    # the reference shuffles 3-channel images (it stacks a gray one): rows are views
    expected = reference_shuffle(image.copy().reshape((*shape[:2], -1)), dy, dx, 2)
    expected = expected.reshape(shape)
    np.testing.assert_array_equal(kinds.glass_shuffle(image.copy(), dy, dx, 2), expected)


def test_glass_of_an_image_smaller_than_its_displacements_is_just_blurred():
    image = np.full((3, 3, 3), 90, np.uint8)
    out = kinds.glass(image, 1.0, 4, 2, 5, lambda x, s: x)
    np.testing.assert_array_equal(out, image)


# -- the sampler ---------------------------------------------------------------------------


def test_todays_gaussian_draws_are_pinned():
    """Values the sampler drew before the kinds existed (0.4.0): they must never change."""
    spec = BlurSpec(min_sigma=0.5, max_sigma=4.0, probability=0.8, sigma_y="independent")
    pinned = {
        (0, 0, "a.jpg"): (2.0193394728702496, 3.319542607014168),
        (7, 3, "dir/x y.png"): (2.0391091107104806, 3.781282563236299),
        (13, 1, "train2017/a.jpg"): (3.306408476689872, 1.2188550593400378),
    }
    for (seed, copy, key), (sx, sy) in pinned.items():
        params = sample(seed, copy, key, spec)
        assert (params.applied, params.sigma_x, params.sigma_y, params.kind) == (
            True, sx, sy, "gaussian"
        )  # fmt: skip
    # naming the Gaussian explicitly, alone or with zero-weight kinds, draws the same
    explicit = BlurSpec(0.5, 4.0, 0.8, "independent",
                        kinds=KindRanges(weights=(("gaussian", 3.0), ("motion", 0.0))))  # fmt: skip
    assert sample(0, 0, "a.jpg", explicit) == sample(0, 0, "a.jpg", spec)


def uniforms(seed, copy, key):
    d = hashlib.sha256(f"{seed}:{copy}:{key}".encode()).digest()
    return [int.from_bytes(d[8 * i : 8 * i + 8], "big") / 2**64 for i in range(4)]


def test_kinds_are_drawn_by_weight_from_u3_and_parameters_from_u1_u2():
    ranges = KindRanges(weights=(("gaussian", 2.0), ("motion", 1.0), ("defocus", 1.0)))
    spec = BlurSpec(kinds=ranges)
    counts: dict[str, int] = {}
    for i in range(4000):
        key = f"img{i}.jpg"
        params = sample(3, 0, key, spec)
        _u0, u1, u2, u3 = uniforms(3, 0, key)
        expected = "gaussian" if u3 < 0.5 else "motion" if u3 < 0.75 else "defocus"
        assert params.kind == expected
        if expected == "motion":
            assert params.motion_length == pytest.approx(3 + u1 * 22)
            assert params.motion_angle == pytest.approx(u2 * 180)
        elif expected == "defocus":
            assert params.defocus_radius == pytest.approx(1 + u1 * 7)
        counts[params.kind] = counts.get(params.kind, 0) + 1
    assert abs(counts["gaussian"] / 4000 - 0.5) < 0.03
    assert abs(counts["motion"] / 4000 - 0.25) < 0.03


def test_zoom_and_glass_draws():
    spec = BlurSpec(kinds=KindRanges(weights=(("zoom", 1.0), ("glass", 1.0)),
                                     glass_delta=(1, 3)))  # fmt: skip
    deltas = set()
    for i in range(600):
        key = f"k{i}"
        params = sample(0, 2, key, spec)
        _u0, u1, u2, _u3 = uniforms(0, 2, key)
        if params.kind == "zoom":
            assert params.zoom_factor == pytest.approx(1.01 + u1 * 0.24)
        else:
            assert params.glass_delta == 1 + int(u1 * 3)
            assert params.glass_sigma == pytest.approx(0.7 + u2 * 0.8)
            assert params.field_seed == glass_seed(0, 2, key)
            deltas.add(params.glass_delta)
    assert deltas == {1, 2, 3}


def test_probability_applies_to_every_kind():
    spec = BlurSpec(probability=0.3, kinds=KindRanges(weights=(("motion", 1.0),)))
    unblurred = [sample(0, 0, f"k{i}", spec) for i in range(2000)]
    share = sum(not p.applied for p in unblurred) / 2000
    assert abs(share - 0.7) < 0.04
    assert all(p.motion_length == 0 for p in unblurred if not p.applied)


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_corruption_ladder_takes_the_references_parameters(name):
    spec = BlurSpec(corruption=name, severities=(1, 2, 3, 4, 5))
    for copy in range(5):
        params = sample(11, copy, "val/x.jpg", spec)
        assert (params.corruption, params.severity, params.applied) == (name, copy + 1, True)


def test_corruption_random_parts_come_from_the_sampler():
    motion = sample(11, 1, "val/x.jpg", BlurSpec(corruption="motion_blur", severities=(1, 3, 5)))
    assert motion.motion_length == 2 * 15 + 1  # severity 3: radius 15
    assert -45 <= motion.motion_angle < 45
    assert motion.motion_angle == pytest.approx(-45 + 90 * uniforms(11, 1, "val/x.jpg")[2])
    spec = BlurSpec(corruption="glass_blur", severities=(2, 2))
    assert sample(11, 1, "val/x.jpg", spec).field_seed == glass_seed(11, 1, "val/x.jpg")
    assert sample(11, 0, "val/x.jpg", spec).field_seed != glass_seed(11, 1, "val/x.jpg")
    glass = corruption_params("glass_blur", 4, 0.5, 99)
    assert (glass.glass_sigma, glass.glass_delta, glass.glass_iterations) == (1.1, 3, 2)


def test_spec_round_trips_through_the_logs_metadata():
    spec = BlurSpec(
        1.0, 2.0, 0.5, "independent",
        kinds=KindRanges(weights=(("motion", 2.0), ("glass", 1.0)), motion_length=(5, 9),
                         glass_delta=(2, 2), glass_iterations=3),
    )  # fmt: skip
    assert spec_from(spec_parameters(spec)) == spec
    assert spec_from({"min_sigma": 0.2, "max_sigma": 1.0}) == BlurSpec(0.2, 1.0)  # an old log


def test_glass_shuffle_compiles_without_a_writable_cache(monkeypatch):
    """Where numba finds nowhere to cache (a read-only image), the loop compiles in memory."""
    import numba

    real = numba.njit

    def no_cache(*args, **kwargs):
        if kwargs.get("cache"):
            raise RuntimeError("cannot cache function '_loop': no locator available")
        return real(*args, **kwargs)

    monkeypatch.setattr(numba, "njit", no_cache)
    monkeypatch.setattr(sums, "_COMPILED", {})
    image = np.random.default_rng(2).integers(0, 255, (20, 20, 3), dtype=np.uint8)
    dy, dx = kinds.glass_displacements(1, 20, 20, 2, 1)
    expected = reference_shuffle(image.copy(), dy, dx, 2)
    np.testing.assert_array_equal(kinds.glass_shuffle(image.copy(), dy, dx, 2), expected)
    assert "blur_augment.transforms.kinds._given" in sums._COMPILED


@pytest.mark.parametrize("radius", [8.0, 10.0, 12.0, 25.0])
@pytest.mark.parametrize("image", ["photo", "photo16", "gray"])
def test_wide_defocus_at_half_resolution_is_within_the_stated_bound(radius, image):
    """The stated accuracy of the half-resolution disk against the exact one: within 5 grey
    levels everywhere, borders included, and PSNR >= 50 dB."""
    photo = sample_photo()
    pixels = {"photo": photo, "photo16": photo.astype(np.uint16) * 257,
              "gray": cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY)}[image]  # fmt: skip
    scale = 257.0 if pixels.dtype == np.uint16 else 1.0
    assert kinds.defocus_factor(radius, (1, 1), pixels.shape, "auto") == 2
    exact = kinds.defocus(pixels, radius, method="exact")
    # 8 bits take the running sums: the filter's arithmetic in another order
    off = np.abs(exact.astype(int) - kinds.filtered(pixels, kinds.defocus_kernel(radius)))
    assert off.max() <= (1 if pixels.dtype == np.uint8 else 0) and off.mean() <= 0.01
    fast = kinds.defocus(pixels, radius)
    assert fast.dtype == pixels.dtype and fast.shape == pixels.shape
    difference = np.abs(fast.astype(float) - exact) / scale
    psnr = 10 * math.log10(255**2 / np.mean(difference**2))
    assert difference.max() <= 5 and psnr >= 50, (difference.max(), psnr)


@pytest.mark.parametrize("radius", [8.0, 10.0])
def test_wide_defocus_keeps_its_bound_on_sharp_photographs(radius):
    """The threshold holds on photographs sharper than the bundled samples (scikit-image's):
    below radius 8 the half-resolution disk reached 7 grey levels on them (13 at radius 4)."""
    data = module("skimage.data")
    for name in ("astronaut", "coffee", "chelsea", "camera", "coins"):
        image = getattr(data, name)()
        assert kinds.defocus_factor(radius, (1, 1), image.shape, "auto") == 2
        difference = np.abs(kinds.defocus(image, radius).astype(float)
                            - kinds.defocus(image, radius, method="exact"))  # fmt: skip
        psnr = 10 * math.log10(255**2 / np.mean(difference**2))
        assert difference.max() <= 5 and psnr >= 50, (name, difference.max(), psnr)


def test_narrow_disks_and_subsampled_planes_stay_exact():
    assert kinds.defocus_factor(7.9, (1, 1), (480, 640), "auto") == 1
    assert kinds.defocus_factor(15.0, (2, 2), (240, 320), "auto") == 1  # 7.5 chroma samples
    assert kinds.defocus_factor(30.0, (1, 1), (12, 640), "auto") == 1  # too small to halve


def test_seeded_glass_shuffle_draws_the_field_it_documents():
    image = np.random.default_rng(5).integers(0, 255, (41, 57, 3), dtype=np.uint8)
    for delta, iterations in ((1, 2), (3, 1), (4, 3)):
        dy, dx = kinds.glass_displacements(2**63 + 7, 41, 57, delta, iterations)
        expected = kinds.glass_shuffle(image.copy(), dy, dx, delta)
        got = kinds.glass_shuffle_seeded(image.copy(), 2**63 + 7, delta, iterations)
        np.testing.assert_array_equal(got, expected)
    # the compiled loop indexes one flat array, with a loop per channel count: gray (a JPEG
    # plane), 16-bit gray, four channels, 16 bits and a view alike
    dy, dx = kinds.glass_displacements(11, 41, 57, 2, 2)
    rng = np.random.default_rng(6)
    for other in (image[:, :, 0].copy(), rng.integers(0, 65535, (41, 57), dtype=np.uint16),
                  rng.integers(0, 255, (41, 57, 4), dtype=np.uint8),
                  rng.integers(0, 65535, (41, 57, 3), dtype=np.uint16)):  # fmt: skip
        expected = kinds.glass_shuffle(other.copy(), dy, dx, 2)
        np.testing.assert_array_equal(kinds.glass_shuffle_seeded(other.copy(), 11, 2, 2),
                                      expected)  # fmt: skip
    wide = np.zeros((41, 60, 3), np.uint8)
    wide[:, :57] = image
    view = wide[:, :57]  # not contiguous: shuffled in place all the same
    kinds.glass_shuffle_seeded(view, 11, 2, 2)
    np.testing.assert_array_equal(view, kinds.glass_shuffle(image.copy(), dy, dx, 2))
    # every displacement in [-delta, delta) drawn about equally often
    dy, dx = kinds.glass_displacements(1, 300, 300, 3, 1)
    counts = np.bincount((dy + 3).ravel(), minlength=6)
    assert counts.min() > 0.9 * counts.mean() and np.array_equal(np.unique(dx), np.arange(-3, 3))


# -- motion and defocus against an independent reference ----------------------------------------
# Each kernel weight is the exact area of the pixel the shape covers, integrated here column by
# column from the shape's own equations (400 columns a pixel), not by kinds.py's 8x8 points;
# the image is filtered with cv2.filter2D in float64 (reflect-101 borders, as documented).

_COLUMNS = 400


def _coverage(half: int, interval) -> np.ndarray:
    """A (2 half + 1)^2 kernel: for each column x, `interval(x)` is the (low, high) of y the
    shape covers; each pixel's weight is the integral of that span within its row."""
    size = 2 * half + 1
    xs = (np.arange(size * _COLUMNS) + 0.5) / _COLUMNS - half - 0.5
    low, high = interval(xs)
    kernel = np.zeros((size, size))
    for row in range(size):
        top, bottom = row - half - 0.5, row - half + 0.5
        span = np.clip(np.minimum(high, bottom) - np.maximum(low, top), 0, None)
        kernel[row] = span.reshape(size, _COLUMNS).sum(axis=1) / _COLUMNS
    return kernel / kernel.sum()


def _line(length: float, angle: float) -> np.ndarray:
    """The rectangle `length` long and one pixel wide through the centre, at `angle` degrees
    counterclockwise from +x (image y down)."""
    t = math.radians(angle)
    bounds = (((math.cos(t), -math.sin(t)), length / 2), ((math.sin(t), math.cos(t)), 0.5))

    def interval(x: np.ndarray):
        low, high = np.full_like(x, -1e9), np.full_like(x, 1e9)
        for (u0, u1), half in bounds:  # |x u0 + y u1| <= half
            if abs(u1) < 1e-12:
                high = np.where(np.abs(x * u0) > half, -1e9, high)
                continue
            a, b = (-half - x * u0) / u1, (half - x * u0) / u1
            low, high = np.maximum(low, np.minimum(a, b)), np.minimum(high, np.maximum(a, b))
        return low, high

    return _coverage(math.ceil(length / 2 + 1), interval)


def _disk(radius: float) -> np.ndarray:
    def interval(x: np.ndarray):
        s = np.where(np.abs(x) <= radius, np.sqrt(np.clip(radius**2 - x * x, 0, None)), -1e9)
        return -s, s

    return _coverage(math.ceil(radius) + 1, interval)


@pytest.mark.parametrize(
    ("kind", "values", "reference"),
    [
        ("motion", {"motion_length": 7, "motion_angle": 0}, lambda: _line(7, 0)),
        ("motion", {"motion_length": 12.5, "motion_angle": 30}, lambda: _line(12.5, 30)),
        ("motion", {"motion_length": 20, "motion_angle": 90}, lambda: _line(20, 90)),
        ("motion", {"motion_length": 9.3, "motion_angle": 137}, lambda: _line(9.3, 137)),
        ("motion", {"motion_length": 25, "motion_angle": 45}, lambda: _line(25, 45)),
        ("defocus", {"defocus_radius": 1.5}, lambda: _disk(1.5)),
        ("defocus", {"defocus_radius": 4.7}, lambda: _disk(4.7)),
        ("defocus", {"defocus_radius": 12}, lambda: _disk(12)),
    ],
)  # fmt: skip
def test_motion_and_defocus_equal_an_independent_reference(kind, values, reference):
    """Within one grey level of the exact line or disk (measured: mean 0.25, the rounding to
    8 bits, max 0.96)."""
    from blur_augment.transforms import codec
    from blur_augment.transforms.imaging import blur_with
    from blur_augment.transforms.sampling import BlurParams

    pixels = textured(120, 160, 3, seed=3)
    decoded = codec.Decoded(pixels, "png", (), (), ())
    ours = blur_with(decoded, BlurParams(True, 0.0, 0.0, kind, **values), "exact").pixels
    expected = cv2.filter2D(pixels.astype(np.float64), -1, reference(),
                            borderType=cv2.BORDER_REFLECT_101)  # fmt: skip
    difference = np.abs(ours.astype(np.float64) - expected)
    assert difference.max() <= 1.0 and difference.mean() <= 0.3, (
        difference.mean(),
        difference.max(),
    )


SPARSE_KERNELS = {
    "line 25 at 45": lambda: kinds.motion_kernel(25.0, 45.0),
    "line 20 at 20": lambda: kinds.motion_kernel(20.0, 20.0),
    "line 19 at 120": lambda: kinds.motion_kernel(19.0, 120.0),
    "shake 20": lambda: kinds.shake_kernel(20.0, 3),
}


@pytest.mark.parametrize("name", sorted(SPARSE_KERNELS))
def test_a_sparse_kernel_falls_into_bands_that_rebuild_it(name):
    """Every band's box is under OpenCV's DFT size, and the bands hold every tap once."""
    kernel = np.array(SPARSE_KERNELS[name]())
    bands = kinds._bands(kernel)
    assert len(bands) > 1 and kernel.size >= kinds._DFT_TAPS
    rebuilt, (cy, cx) = np.zeros_like(kernel), (kernel.shape[0] // 2, kernel.shape[1] // 2)
    for dy, dx, taps in bands:
        assert taps.size < kinds._DFT_TAPS
        rebuilt[cy + dy : cy + dy + taps.shape[0], cx + dx : cx + dx + taps.shape[1]] += taps
    np.testing.assert_array_equal(rebuilt, kernel)


@pytest.mark.parametrize("name", sorted(SPARSE_KERNELS))
@pytest.mark.parametrize("border", [cv2.BORDER_REFLECT_101, cv2.BORDER_REPLICATE])
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_sparse_kernels_in_bands_are_the_float_filter(name, border, channels):
    """Filtered in bands (int16 at 1/128 of a grey level): against the float filter rounded,
    no pixel more than 1 apart (a sum that falls the other side of .5), 0.01 on average,
    borders included, on a photo's view as a JPEG plane is one, delta applied."""
    kernel = np.array(SPARSE_KERNELS[name]())
    photo = sample_photo()
    image = (photo if channels == 3 else np.dstack([photo, photo[:, :, 0]]) if channels == 4
             else np.ascontiguousarray(photo[:, :, 1]))[7:190, 5:300]  # fmt: skip
    ours = kinds.filtered(image, kernel, border=border, delta=-0.5)
    exact = cv2.filter2D(image.astype(np.float32), -1, kernel, borderType=border) - 0.5
    d = np.abs(ours.astype(float) - np.clip(np.round(exact), 0, 255))
    assert ours.shape == image.shape and ours.dtype == np.uint8
    assert d.max() <= 1 and d.mean() <= 0.01, (d.max(), d.mean())


def test_sixteen_bit_images_and_dense_kernels_keep_opencvs_filter():
    """int16 cannot hold 16-bit sums, and a dense kernel's bands would read every tap: both take
    cv2.filter2D itself, unchanged."""
    photo = sample_photo()
    line, disk = np.array(kinds.motion_kernel(25.0, 45.0)), np.array(kinds.defocus_kernel(9.0))
    deep = photo.astype(np.uint16) * 257
    np.testing.assert_array_equal(kinds.filtered(deep, line), cv2.filter2D(deep, -1, line))
    np.testing.assert_array_equal(kinds.filtered(photo, disk), cv2.filter2D(photo, -1, disk))
