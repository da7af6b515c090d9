"""Failures that are not about an image stop the run: a full disk, a read-only output, a
forbidden bucket. Per-image problems stay error rows; --max_error_rate turns too many of them
into a failed run (exit 3) after the log is written."""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from google.api_core import exceptions as api

from blur_augment.transforms.io import storage
from blur_augment.transforms.io.failures import InfrastructureError
from blur_augment.transforms.job import BlurJob
from tests.beam.test_beam import run_dofn
from tests.support.command import blur_augment
from tests.support.helpers import textured, write_image
from tests.support.requires import missing, requires


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), "no space left"),
        (OSError(errno.EROFS, "Read-only file system"), "read-only"),
        (OSError(errno.EDQUOT, "Disk quota exceeded"), "quota"),
        (PermissionError(errno.EACCES, "Permission denied"), "permission denied"),
        (api.Forbidden("no storage.objects.create"), r"permission denied \(HTTP 403"),
        (api.NotFound("bucket b does not exist"), "bucket does not exist"),
    ],
)
def test_storage_failures_on_write_stop_the_run(tmp_path: Path, monkeypatch, error, reason):
    source = write_image(tmp_path / "in" / "x.png", textured(10, 12, 3))

    def failing_write(path: str, data: bytes) -> None:
        raise RuntimeError("wrapped by the filesystem layer") from error

    monkeypatch.setattr(storage, "write_bytes", failing_write)
    with pytest.raises(InfrastructureError, match=reason):
        run_dofn(BlurJob(output=str(tmp_path / "out")), "x.png", source)


def test_an_image_specific_write_failure_stays_an_error_row(tmp_path: Path, monkeypatch):
    source = write_image(tmp_path / "in" / "x.png", textured(10, 12, 3))

    def too_long(path: str, data: bytes) -> None:
        raise OSError(errno.ENAMETOOLONG, "File name too long", path)

    monkeypatch.setattr(storage, "write_bytes", too_long)
    [out] = run_dofn(BlurJob(output=str(tmp_path / "out")), "x.png", source)
    assert out.value["stage"] == "write" and "too long" in out.value["message"]


@contextmanager
def small_filesystem(path: Path, size: str, read_only: bool = False) -> Iterator[Path]:
    """A tmpfs of `size` at `path` (root only: the test skips elsewhere)."""
    path.mkdir(parents=True)
    options = f"size={size}" + (",ro" if read_only else "")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                             capture_output=True, text=True)  # fmt: skip
    if mounted.returncode != 0:
        missing(f"cannot mount a tmpfs here ({mounted.stderr.strip()})")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def many_images(root: Path, count: int) -> Path:
    for i in range(count):
        write_image(root / f"img{i:03d}.png", textured(96, 128, 3, seed=i))
    return root


@requires("" if os.geteuid() == 0 else "mounting a tmpfs needs root")
def test_full_disk_fails_the_run(tmp_path: Path):
    source = many_images(tmp_path / "in", 40)  # ~40 KB each: 1.5 MB in all
    with small_filesystem(tmp_path / "full", "400k") as out:
        done = blur_augment(
            "run", "--input", str(source), "--output", str(out), "--log", str(tmp_path / "log"),
            "--errors", str(tmp_path / "errors"),
        )  # fmt: skip
        assert done.returncode == 1, done.stderr
        last = done.stderr.strip().splitlines()[-1]
        assert "no space left on the device" in last and "no completion marker" in last
        assert not (tmp_path / "log" / "_SUCCESS").exists()


@requires("" if os.geteuid() == 0 else "mounting a tmpfs needs root")
def test_read_only_output_fails_the_run(tmp_path: Path):
    source = many_images(tmp_path / "in", 3)
    with small_filesystem(tmp_path / "ro", "1m", read_only=True) as out:
        done = blur_augment(
            "run", "--input", str(source), "--output", str(out / "blurred"),
            "--log", str(tmp_path / "log"), "--errors", str(tmp_path / "errors"),
        )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "the file system is read-only" in done.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "log" / "_SUCCESS").exists()


@pytest.mark.parametrize(("limit", "status"), [("0.1", 3), ("0.5", 0)])
def test_max_error_rate(dataset: Path, tmp_path: Path, limit: str, status: int):
    """The fixture has one broken image of six: 1/6 of the outputs fail."""
    out = tmp_path / "out"
    done = blur_augment("run", "--input", str(dataset), "--output", str(out),
                        "--max_error_rate", limit)  # fmt: skip
    assert done.returncode == status, done.stderr
    assert (out / "_blur_log" / "_SUCCESS").exists()  # the log is complete either way
    if status:
        assert "1 of 6 outputs failed (16.7%), more than --max_error_rate=0.1" in done.stderr
