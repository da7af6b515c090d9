"""Camera shake (Boracchi & Foi's random trajectories) and `blur_augment.kernel(row)`: the
kernel a logged copy was blurred with, which filters its source into its output."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest

from blur_augment import kernel
from blur_augment.pipeline.cli import main
from blur_augment.transforms import kinds
from blur_augment.transforms.sampling import BlurSpec, KindRanges, field_seed, sample
from tests.support.helpers import textured, write_image


@pytest.mark.parametrize("length", [1.0, 7.5, 20.0, 45.0])
def test_the_path_is_as_long_as_drawn_and_made_again_from_its_seed(length: float):
    path = kinds.shake_path(length, 1234)
    steps = np.hypot(*np.diff(path, axis=0).T)
    assert steps.sum() == pytest.approx(length, rel=1e-9)
    assert np.allclose(steps, steps[0])  # sub-pixel steps of equal length
    assert len(path) == max(64, math.ceil(length * kinds.SHAKE_STEPS))
    assert np.array_equal(path, kinds.shake_path(length, 1234))
    assert not np.array_equal(path, kinds.shake_path(length, 1235))


def test_the_path_is_a_walk_with_inertia_not_a_line():
    """Its direction turns (Gaussian changes of velocity) but slowly (inertia): over a long
    path the heading drifts, between neighbouring steps it hardly moves."""
    path = kinds.shake_path(60.0, 99)
    headings = np.unwrap(np.arctan2(*np.diff(path, axis=0).T[::-1]))
    assert np.abs(np.diff(headings)).max() < 0.5  # no jerk this seed: smooth steps
    assert np.ptp(headings) > 0.05  # but not a straight line


@pytest.mark.parametrize(("length", "scale"), [(5.0, (1, 1)), (25.0, (1, 1)), (25.0, (2, 2)),
                                               (30.0, (2, 1))])  # fmt: skip
def test_the_kernel_sums_to_one_is_odd_and_centred(length: float, scale: tuple):
    cached = kinds.shake_kernel(length, 77, scale)
    k = cached.astype(np.float64)
    assert k.sum() == pytest.approx(1.0, abs=1e-6) and k.min() >= 0
    assert k.shape[0] % 2 == 1 and k.shape[1] % 2 == 1
    ys, xs = np.mgrid[: k.shape[0], : k.shape[1]]
    centre = ((k.shape[1] - 1) / 2, (k.shape[0] - 1) / 2)
    assert (k * xs).sum() == pytest.approx(centre[0], abs=1e-6)  # the mean point: no shift
    assert (k * ys).sum() == pytest.approx(centre[1], abs=1e-6)
    assert not cached.flags.writeable  # cached, read only


def test_a_plane_kernel_is_the_path_in_its_samples():
    """On a JPEG's chroma planes (2x2 subsampled) the path is half as long in samples."""
    full, half = kinds.shake_kernel(24.0, 5), kinds.shake_kernel(24.0, 5, (2, 2))
    assert half.shape[0] <= full.shape[0] // 2 + 3 and half.shape[1] <= full.shape[1] // 2 + 3


def test_the_sampler_draws_shake_from_seed_copy_and_key_alone():
    spec = BlurSpec(kinds=KindRanges(weights=(("shake", 1.0),), shake_length=(4.0, 9.0)))
    draws = [sample(3, copy, "val/a.jpg", spec) for copy in range(20)]
    assert all(d.kind == "shake" and 4.0 <= d.shake_length <= 9.0 for d in draws)
    assert draws[2].field_seed == field_seed(3, 2, "val/a.jpg", "shake")
    assert len({d.shake_length for d in draws}) == 20


def _run(tmp_path: Path, *options: str) -> list[dict]:
    write_image(tmp_path / "in" / "a.png", textured(60, 80, 3, seed=1))
    write_image(tmp_path / "in" / "g16.png", textured(40, 50, 1, "uint16", seed=2))
    out = tmp_path / "out"
    argv = ["run", "--input", str(tmp_path / "in"), "--output", str(out), "--seed", "4",
            "--copies", "6", *options]  # fmt: skip
    assert main(argv) == 0
    return pq.read_table(out / "_blur_log").to_pylist()


def test_kernel_of_a_row_filters_the_source_into_the_output(tmp_path: Path):
    rows = _run(tmp_path, "--blur", "gaussian,motion,defocus,shake", "--blur_method", "exact",
                "--max_sigma", "4")  # fmt: skip
    assert {r["blur_kind"] for r in rows} >= {"gaussian", "motion", "defocus", "shake"}
    for row in rows:
        source = cv2.imread(str(tmp_path / "in" / row["key"]), cv2.IMREAD_UNCHANGED)
        written = cv2.imread(row["output_uri"], cv2.IMREAD_UNCHANGED)
        k = kernel(row)
        assert (k.shape[1], k.shape[0]) == (row["kernel_width"], row["kernel_height"]) or (
            row["blur_method"] == "none")  # fmt: skip
        expected = cv2.filter2D(source.astype(np.float64), -1, k,
                                borderType=cv2.BORDER_REFLECT_101)  # fmt: skip
        difference = np.abs(written.astype(np.float64) - expected.reshape(written.shape))
        assert difference.max() <= 1.0, (row["blur_kind"], difference.max())


def test_kernel_refuses_what_is_no_single_kernel(tmp_path: Path):
    rows = _run(tmp_path, "--blur", "zoom,glass")
    for row in rows:
        with pytest.raises(ValueError, match="no single kernel"):
            kernel(row)
    pyramid = {"applied": True, "sigma_x": 9.0, "sigma_y": 9.0, "blur_kind": "gaussian",
               "blur_method": "pyramid2", "kernel_width": 55, "kernel_height": 55}  # fmt: skip
    with pytest.raises(ValueError, match="lower resolution"):
        kernel(pyramid)
    assert kernel({"applied": False, "sigma_x": 0.0, "sigma_y": 0.0}).shape == (1, 1)


def test_a_shake_run_on_jpeg_planes(tmp_path: Path):
    """JPEGs take the planar path (the path scaled into each plane's samples) where the
    library is here, and the run logs the kind."""
    from blur_augment.transforms import jpeg_planes

    write_image(tmp_path / "in" / "p.jpg", textured(64, 96, 3, seed=3))
    out = tmp_path / "out"
    assert main(["run", "--input", str(tmp_path / "in"), "--output", str(out),
                 "--blur", "shake", "--copies", "2"]) == 0  # fmt: skip
    rows = pq.read_table(out / "_blur_log").to_pylist()
    assert [r["blur_kind"] for r in rows] == ["shake", "shake"]
    planes = not jpeg_planes.missing_reason()
    assert {r["codec_path"] for r in rows} == {"yuv_planes" if planes else "pixels"}


def test_preview_draws_each_tiles_kernel_beside_it(tmp_path: Path):
    from blur_augment.pipeline.analysis.preview import Sheet, _with_kernel

    tile = np.full((120, 160, 3), 90, np.uint8)
    sheet = Sheet("shake", (20.0,), seed=3)
    params, caption = sheet.params(20.0)
    framed = _with_kernel(tile, params)
    assert caption == "shake length 20"
    assert (framed[:8, -8:] != 90).any() and framed[:, :80].tolist() == tile[:, :80].tolist()
    assert framed[:70, -70:].max() == 255  # the heaviest sample, white
    zoom, _ = Sheet("zoom", (1.2,)).params(1.2)
    assert _with_kernel(tile, zoom) is tile  # no single kernel to draw
    source = tmp_path / "x.png"
    write_image(source, textured(60, 80, 3))
    assert main(["preview", str(source), "--blur", "shake", "--out",
                 str(tmp_path / "sheet.png")]) == 0  # fmt: skip
    assert cv2.imread(str(tmp_path / "sheet.png")).shape[1] > 200
