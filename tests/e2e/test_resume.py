"""--resume: a killed run finished without blurring again what it had written, ending with the
same log and error table as a run that was never interrupted."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.support.command import COMMAND, blur_augment
from tests.support.helpers import textured, write_image

COPIES = ("--copies", "2", "--include_originals", "--seed", "4", "--max_sigma", "9")


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("resume") / "in"
    for i in range(150):
        ext = ".png" if i % 10 == 0 else ".jpg"
        write_image(root / f"d{i % 4}" / f"img{i:03d}{ext}", textured(384, 512, 3, seed=i))
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff not really")
    return root


def rows(folder: Path, name: str, out: Path) -> list[tuple]:
    """Rows with the output prefix taken out, sorted: comparable between two outputs."""
    table = pq.read_table(folder / name).to_pylist()
    prefix = str(out)
    found = []
    for row in table:
        row = {k: (v.replace(prefix, "OUT") if isinstance(v, str) else v) for k, v in row.items()}
        if "label_uris" in row:
            row["label_uris"] = tuple(row["label_uris"])
        found.append(tuple(sorted(row.items())))
    return sorted(found)


def test_killed_run_resumed_equals_an_uninterrupted_one(images: Path, tmp_path: Path):
    reference = tmp_path / "reference"
    done = blur_augment("run", "--input", str(images), "--output", str(reference), *COPIES)
    assert done.returncode == 0, done.stderr
    total = len(list(reference.rglob("img*")))

    out = tmp_path / "out"
    process = subprocess.Popen(
        [COMMAND, "run", "--input", str(images), "--output", str(out), *COPIES],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(out.rglob("img*"))) < total // 3:
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    before = {p: p.stat().st_mtime_ns for p in out.rglob("img*") if not p.name.startswith(".")}
    assert total // 3 <= len(before) < total, "the run was not killed half-way"
    assert not (out / "_blur_log" / "_SUCCESS").exists()

    resumed = blur_augment("run", "--input", str(images), "--output", str(out), *COPIES,
                           "--resume")  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed:" in resumed.stderr
    assert (out / "_blur_log" / "_SUCCESS").exists()
    assert not list(out.glob("_blur_*/beam-temp-*/*")), "the killed run's temporaries are left"
    assert rows(out, "_blur_log", out) == rows(reference, "_blur_log", reference)
    assert rows(out, "_blur_errors", out) == rows(reference, "_blur_errors", reference)
    for path, mtime in before.items():  # written before the kill: not made again
        assert path.stat().st_mtime_ns == mtime, path
    for path in reference.rglob("img*"):
        twin = out / path.relative_to(reference)
        assert twin.read_bytes() == path.read_bytes(), twin


def test_resume_with_other_options_is_refused(images: Path, tmp_path: Path):
    out = tmp_path / "out"
    assert blur_augment("run", "--input", str(images), "--output", str(out), "--seed", "1",
                        "--max_sigma", "1").returncode == 0  # fmt: skip
    done = blur_augment("run", "--input", str(images), "--output", str(out), "--seed", "2",
                        "--max_sigma", "1", "--resume")  # fmt: skip
    assert done.returncode == 2
    assert "--seed was 1 in the earlier run and is 2 now" in done.stderr


def test_resume_without_an_earlier_run_is_refused(images: Path, tmp_path: Path):
    done = blur_augment("run", "--input", str(images), "--output", str(tmp_path / "o"),
                        "--resume")  # fmt: skip
    assert done.returncode == 2 and "no earlier run to resume" in done.stderr


def test_an_image_with_some_copies_written_makes_only_the_missing_ones(tmp_path: Path):
    source = tmp_path / "in"
    write_image(source / "a.jpg", textured(64, 80, 3, seed=1))
    write_image(source / "b.png", textured(64, 80, 3, seed=2))
    out = tmp_path / "out"
    argv = ["--input", str(source), "--output", str(out), *COPIES]
    assert blur_augment("run", *argv).returncode == 0
    expected = rows(out, "_blur_log", out)
    kept, lost = out / "a_blur0.jpg", out / "a_blur1.jpg"
    mtime, lost_bytes = kept.stat().st_mtime_ns, lost.read_bytes()
    lost.unlink()  # killed between the two copies of a.jpg
    (out / "_blur_log" / "_SUCCESS").unlink()
    done = blur_augment("run", *argv, "--resume")
    assert done.returncode == 0, done.stderr
    assert kept.stat().st_mtime_ns == mtime and lost.read_bytes() == lost_bytes
    assert rows(out, "_blur_log", out) == expected
