"""Hostile and unusual inputs: each becomes a correct output plus a log row, or an error row
naming the stage and the reason; the good images beside them are all written."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from tests.support import corpus
from tests.support.command import COMMAND, blur_augment, measured
from tests.support.requires import missing


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    expected = corpus.build(root / "in")
    done = blur_augment("run", "--input", str(root / "in"), "--output", str(root / "out"),
                        "--min_sigma", "1", "--max_sigma", "2")  # fmt: skip
    return root, expected, done


def test_run_goes_on_and_accounts_for_everything(hostile_run):
    root, expected, done = hostile_run
    assert done.returncode == 0, done.stderr
    good = sorted(k for k, (kind, _) in expected.items() if kind == "ok")
    bad = sorted(k for k, (kind, _) in expected.items() if kind == "error")
    assert f"matched {len(expected) + 1} files ({len(expected)} images, 1 skipped" in done.stderr
    assert f"written {len(good)}, failed {len(bad)}" in done.stderr

    log = pq.read_table(root / "out" / "_blur_log")
    assert sorted(log.column("key").to_pylist()) == good
    errors = {r["key"]: r for r in pq.read_table(root / "out" / "_blur_errors").to_pylist()}
    assert sorted(errors) == bad
    for key in bad:
        stage, reason = expected[key][1]
        assert errors[key]["stage"] == stage, (key, errors[key])
        assert reason in errors[key]["message"], (key, errors[key])
        assert not (root / "out" / key).exists()


def test_every_written_image_decodes_like_its_log_row(hostile_run):
    root, _, _ = hostile_run
    for row in pq.read_table(root / "out" / "_blur_log").to_pylist():
        data = Path(row["output_uri"]).read_bytes()
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        assert image is not None, row["key"]
        channels = 1 if image.ndim == 2 else image.shape[2]
        size = (row["width"], row["height"])
        if row["format"] == "tiff" and row["exif_orientation"] >= 5:
            size = size[::-1]  # OpenCV applies a TIFF's orientation tag, as viewers do
        assert (image.shape[1], image.shape[0], channels, image.dtype.name) == (
            *size, row["channels"], row["dtype"],
        ), row["key"]  # fmt: skip


def test_exif_orientation_and_icc_are_kept(hostile_run):
    root, _, _ = hostile_run
    rows = {r["key"]: r for r in pq.read_table(root / "out" / "_blur_log").to_pylist()}
    assert rows["phone.jpg"]["exif_orientation"] == 6
    assert rows["icc.png"]["exif_orientation"] == 0
    phone = Image.open(root / "out" / "phone.jpg")
    source = Image.open(root / "in" / "phone.jpg")
    assert phone.getexif().get(0x0112) == 6  # viewers rotate it exactly as they do the input
    assert phone.size == source.size  # pixels as stored, not rotated
    assert phone.info.get("icc_profile") == source.info["icc_profile"]
    icc = Image.open(root / "out" / "icc.png")
    assert icc.info.get("icc_profile") == Image.open(root / "in" / "icc.png").info["icc_profile"]


def test_huge_header_is_refused_with_little_memory(tmp_path: Path):
    """Refused from the header: the worker's peak memory stays far below the ~2.7 GB that
    decoding 30000x30000 RGB pixels would take."""
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "huge.png").write_bytes(corpus.png_claiming(30000, 30000))
    done, peak_mb = measured("run", "--input", str(tmp_path / "in"), "--output",
                             str(tmp_path / "out"), timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert peak_mb < 1000, f"peak RSS {peak_mb} MB"
    [error] = pq.read_table(tmp_path / "out" / "_blur_errors").to_pylist()
    assert "--max_pixels" in error["message"]


def test_unreadable_file_is_a_read_error_row():
    """A file without read permission. Root reads anything, so as root the run itself is
    made by an unprivileged user (`nobody`) in a world-writable scratch directory."""
    as_root = os.geteuid() == 0
    if as_root and not shutil.which("setpriv"):
        missing("running as root without setpriv to drop privileges")
    scratch = Path(tempfile.mkdtemp(prefix="blur-perm-"))
    try:
        scratch.chmod(0o777)
        (scratch / "in").mkdir()
        good = corpus.encoded(np.full((8, 8, 3), 128, np.uint8), ".png")
        (scratch / "in" / "ok.png").write_bytes(good)
        (scratch / "in" / "secret.png").write_bytes(good)
        (scratch / "in" / "secret.png").chmod(0o000)
        for path in (scratch / "in", scratch / "in" / "ok.png"):
            path.chmod(path.stat().st_mode | 0o755 if path.is_dir() else 0o644)
        prefix = (
            ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"] if as_root else []
        )
        done = subprocess.run(
            [*prefix, COMMAND, "run", "--input", str(scratch / "in"), "--output",
             str(scratch / "out")],
            capture_output=True, text=True, timeout=300, cwd=scratch,
            env={**os.environ, "HOME": str(scratch)},
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert (scratch / "out" / "ok.png").exists()
        errors = pq.read_table(scratch / "out" / "_blur_errors").to_pylist()
        assert [(e["key"], e["stage"]) for e in errors] == [("secret.png", "read")]
        assert "ermission" in errors[0]["message"]
    finally:
        (scratch / "in" / "secret.png").chmod(0o600)
        shutil.rmtree(scratch, ignore_errors=True)


def test_logs_hold_no_secrets(tmp_path: Path):
    secret = "s3cr3t-token-do-not-log"
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "x.png").write_bytes(corpus.encoded(np.zeros((4, 4, 3), np.uint8), ".png"))
    (tmp_path / "in" / "bad.png").write_bytes(b"junk")
    env = {
        **os.environ,
        "API_TOKEN": secret,
        "GOOGLE_APPLICATION_CREDENTIALS": f"/tmp/{secret}.json",
    }
    done = subprocess.run(
        [COMMAND, "run", "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    for path in (tmp_path / "out").rglob("_blur_*/*"):
        assert secret.encode() not in path.read_bytes(), path
    metadata = pq.read_schema(next((tmp_path / "out" / "_blur_log").glob("*.parquet"))).metadata
    assert secret.encode() not in b"".join(metadata.values())


def test_palette_and_one_bit_become_plain_8_bit(hostile_run):
    root, _, _ = hostile_run
    rows = {r["key"]: r for r in pq.read_table(root / "out" / "_blur_log").to_pylist()}
    assert (rows["palette.png"]["channels"], rows["palette.png"]["dtype"]) == (3, "uint8")
    assert (rows["one_bit.png"]["channels"], rows["one_bit.png"]["dtype"]) == (1, "uint8")
    assert (rows["cmyk.jpg"]["channels"], rows["cmyk.jpg"]["dtype"]) == (3, "uint8")
    assert rows["rgba.webp"]["channels"] == 4
    assert Image.open(io.BytesIO((root / "out" / "rgba.webp").read_bytes())).mode == "RGBA"


def test_every_file_decodes_to_the_same_pixels_every_time(tmp_path: Path):
    """Decoders disagree and some are not even deterministic (OpenCV on planar 16-bit TIFF):
    the same file must give the same pixels on every call, in the stored size."""
    from blur_augment.transforms.codec import ImageError, decode, probe

    expected = corpus.build(tmp_path)
    for key, (kind, _) in expected.items():
        data = (tmp_path / key).read_bytes()
        if kind == "error":
            with pytest.raises(ImageError):
                decode(data)
            continue
        first, second = decode(data), decode(data)
        assert np.array_equal(first.pixels, second.pixels), key
        header = probe(data)
        assert first.pixels.shape[:2] == (header.height, header.width), key


def test_files_made_elsewhere_decode_to_their_true_pixels(tmp_path: Path):
    from blur_augment.transforms.codec import decode

    corpus.build(tmp_path)
    made = tmp_path / "made"
    rgb16 = corpus.textured(24, 36, 3, "uint16", seed=21)  # stored as RGB by tifffile
    assert np.array_equal(decode((made / "planar16_rgb.tif").read_bytes()).pixels, rgb16)
    rgba16 = corpus.textured(24, 36, 4, "uint16", seed=22)
    bgra16 = rgba16[:, :, [2, 1, 0, 3]]
    assert np.array_equal(decode((made / "planar16_rgba.tif").read_bytes()).pixels, bgra16)
    photo = corpus.textured(60, 80, 3, seed=7)
    assert np.array_equal(decode((made / "os2.bmp").read_bytes()).pixels, photo)
    oriented = decode((made / "oriented.tif").read_bytes()).pixels
    assert oriented.shape == (88, 590)  # as stored; the orientation tag rotates nothing


def test_stored_layouts_channels_and_depth_survive_the_run(hostile_run):
    """Output = input: size, channels and bit depth, as the log says, for files other
    programs wrote; the large ICC profile is carried whole (split over APP2 segments)."""
    root, _, _ = hostile_run
    rows = {r["key"]: r for r in pq.read_table(root / "out" / "_blur_log").to_pylist()}
    for key, size, channels, dtype in (
        ("made/planar16_rgb.tif", (36, 24), 3, "uint16"),
        ("made/planar16_rgba.tif", (36, 24), 4, "uint16"),
        ("made/oriented.tif", (590, 88), 1, "uint8"),
        ("made/os2.bmp", (80, 60), 3, "uint8"),
        ("made/rle8.bmp", (50, 30), 3, "uint8"),
    ):
        row = rows[key]
        assert ((row["width"], row["height"]), row["channels"], row["dtype"]) == (
            size, channels, dtype,
        ), key  # fmt: skip
    big = Image.open(root / "out" / "made" / "big_icc.jpg")
    assert (
        big.info["icc_profile"]
        == Image.open(root / "in" / "made" / "big_icc.jpg").info["icc_profile"]
    )
    assert len(big.info["icc_profile"]) > 65519


def test_the_run_is_quiet(hostile_run):
    """Native decoder warnings end in the error rows, not on stderr: the summary and nothing
    else."""
    _, _, done = hostile_run
    lines = done.stderr.strip().splitlines()
    assert not [line for line in lines if not line.startswith(("blur-augment:", "  "))], lines
    for noise in ("Corrupt JPEG", "libpng", "Premature end", "Warning", "warn"):
        assert noise not in done.stderr
