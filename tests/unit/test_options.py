# ruff: noqa: E501  (a table of exact messages, one refusal a line)
"""Every refusal of the run's options, in process: the resolver's exact message (the command
prints it as one line and exits 2; tests/e2e/test_cli.py checks that once through the command)."""

from __future__ import annotations

from pathlib import Path

import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from blur_augment.pipeline.options import refuse_unknown_options, resolve
from blur_augment.pipeline.usage import UsageError
from blur_augment.transforms.sampling import BLUR_KINDS, PARAMETERS


def resolved(tmp_path: Path, *args: str, io: bool = True):
    where = ["--input", str(tmp_path / "in"), "--output", str(tmp_path / "out")] if io else []
    return resolve(PipelineOptions([*where, *args]))


REFUSALS = [
    (("--max_sigma", "1", "--min_sigma", "2"), "--max_sigma (1.0) must be >= --min_sigma (2.0)"),
    (("--min_sigma", "-1"), "--min_sigma must be >= 0, got -1.0"),
    (("--probability", "1.5"), "--probability must lie in [0, 1], got 1.5"),
    (("--copies", "0"), "--copies must be >= 1, got 0"),
    (("--sigma_y", "diagonal"), "--sigma_y must be one of same, independent, got 'diagonal'"),
    (("--blur", "swirl"), "--blur: unknown kind 'swirl' (kinds: gaussian, motion, defocus, zoom, glass, shake)"),
    (("--blur", "motion=x"), "--blur: the weight of motion must be a number, got 'x'"),
    (("--blur", "motion=0"), "--blur: the weight of motion must be > 0, got '0'"),
    (("--blur", "motion,motion"), "--blur must name each kind once, got 'motion,motion'"),
    (("--blur", "motion", "--motion_length", "a,b"), "--motion_length takes MIN,MAX numbers, got 'a,b'"),
    (("--blur", "motion", "--motion_length", "9,3"), "--motion_length takes MIN,MAX with 0 <= MIN <= MAX, got '9,3'"),
    (("--blur", "zoom", "--zoom_factor", "0.5,1.1"), "--zoom_factor must be >= 1, got '0.5,1.1'"),
    (("--blur", "glass", "--glass_delta", "0,2"), "--glass_delta must be >= 1, got '0,2'"),
    (("--blur", "glass", "--glass_iterations", "0"), "--glass_iterations must be >= 1, got 0"),
    (("--motion_length", "3,5"), "--motion_length is a parameter of motion blur, which --blur (gaussian) does not draw"),
    (("--blur", "motion", "--max_sigma", "2"), "--max_sigma is a parameter of gaussian blur, which --blur (motion) does not draw"),
    (("--sigmas", "1,2", "--corruption", "motion_blur"), "--sigmas and --corruption cannot be combined: each is a ladder"),
    (("--sigmas", "1,x"), "--sigmas must be comma-separated numbers, got '1,x'"),
    (("--sigmas", "-1"), "--sigmas must be numbers >= 0, got '-1'"),
    (("--sigmas", "1,2", "--max_sigma", "3"), "--sigmas and --max_sigma cannot be combined: --sigmas is a fixed ladder, --max_sigma is for a drawn blur"),
    (("--sigmas", "1,2", "--copies", "3"), "--copies 3 disagrees with --sigmas, which has 2 levels (--copies is the ladder's length; leave it out)"),
    (("--corruption", "fog"), "--corruption must be one of gaussian_blur, defocus_blur, motion_blur, zoom_blur, glass_blur, got 'fog'"),
    (("--corruption", "zoom_blur", "--severities", "0"), "--severities must be integers 1-5, got '0'"),
    (("--corruption", "zoom_blur", "--severities", "a"), "--severities must be integers 1-5, got 'a'"),
    (("--corruption", "zoom_blur", "--blur", "zoom"), "--corruption and --blur cannot be combined: --corruption is a fixed ladder, --blur is for a drawn blur"),
    (("--corruption", "zoom_blur", "--severities", "1,2", "--copies", "3"), "--copies 3 disagrees with --severities, which has 2 levels (leave --copies out)"),
    (("--object_blur", "zoom"), "--object_blur: unknown kind 'zoom' (kinds: motion, gaussian, defocus, shake)"),
    (("--object_blur", "motion=-1"), "--object_blur: the weight of motion must be > 0, got '-1'"),
    (("--object_blur", "none"), "--object_blur: unknown kind 'none' (kinds: motion, gaussian, defocus, shake)"),
    (("--object_probability", "0.5"), "--object_probability is for --object_blur, which is not given"),
    (("--objects_log", "/tmp/x"), "--objects_log is for --object_blur, which is not given"),
    (("--object_blur", "motion", "--sigmas", "1,2"), "--object_blur cannot be combined with --sigmas: a ladder blurs whole frames at fixed levels"),
    (("--blur", "none", "--max_sigma", "2"), "--max_sigma is a parameter of gaussian blur, which --blur (none) does not draw"),
    (("--blur", "none,motion"), "--blur: unknown kind 'none' (kinds: gaussian, motion, defocus, zoom, glass, shake)"),
    (("--blur", "none", "--object_blur", "motion", "--defocus_radius", "2,3"), "--defocus_radius is a parameter of defocus blur, which neither --blur (none) nor --object_blur (motion) draws"),
    (("--jpeg_quality", "0"), "--jpeg_quality must lie in [1, 100], got 0"),
    (("--blur_method", "fast"), "--blur_method must be one of auto, exact, got 'fast'"),
    (("--codec_path", "gpu"), "--codec_path must be one of auto, yuv_planes, pixels, got 'gpu'"),
    (("--codec_path", "yuv_planes", "--blur", "glass"), "--codec_path yuv_planes: glass blur shuffles pixels, not JPEG planes"),
    (("--dataset", "kitti"), "--dataset must be one of auto, images, yolo, coco, voc, got 'kitti'"),
    (("--max_error_rate", "2"), "--max_error_rate must lie in [0, 1], got 2.0"),
    (("--max_pixels", "0"), "--max_pixels must be >= 1, got 0"),
    (("--max_bytes", "0"), "--max_bytes must be >= 1, got 0"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "message"), REFUSALS, ids=[" ".join(a) for a, _ in REFUSALS])
def test_each_refusal_says_what_is_wrong(tmp_path: Path, args: tuple[str, ...], message: str):
    with pytest.raises(UsageError) as refused:
        resolved(tmp_path, *args)
    assert str(refused.value) == message


def test_input_output_and_locations_are_required_and_apart(tmp_path: Path):
    with pytest.raises(UsageError, match=r"^--input is required"):
        resolved(tmp_path, io=False)
    with pytest.raises(UsageError, match=r"^--output is required"):
        resolved(tmp_path, "--input", str(tmp_path), io=False)
    with pytest.raises(UsageError, match=r"^--output .* lies inside the input tree"):
        resolved(tmp_path, "--input", str(tmp_path), "--output", str(tmp_path / "o"), io=False)
    log = str(tmp_path / "same")
    with pytest.raises(UsageError, match=r"^--log and --errors must differ"):
        resolved(tmp_path, "--log", log, "--errors", log)


def test_unknown_options_are_refused_with_the_closest_known_one():
    with pytest.raises(UsageError) as refused:
        refuse_unknown_options(["--max_sigms", "9"])
    assert str(refused.value) == (
        "unknown option --max_sigms (neither blur-augment's nor Beam's); did you mean --max_sigma?"
    )
    with pytest.raises(UsageError, match="unexpected argument 'stray'"):
        refuse_unknown_options(["stray"])


def test_every_kind_option_comes_from_its_descriptor(tmp_path: Path):
    """Each parameter's option reaches the spec; defaults are the descriptors'."""
    config = resolved(tmp_path, "--blur", ",".join(BLUR_KINDS), "--motion_length", "4,9",
                      "--glass_iterations", "3", "--zoom_factor", "1.1")  # fmt: skip
    ranges = config.job.spec.kinds
    assert ranges.motion_length == (4.0, 9.0)
    assert ranges.glass_iterations == 3
    assert ranges.zoom_factor == (1.1, 1.1)
    for name in ("motion_angle", "defocus_radius", "glass_delta", "glass_sigma"):
        assert getattr(ranges, name) == PARAMETERS[name].default
