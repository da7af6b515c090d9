"""Storage faults and interruptions: nothing lost, nothing partial, and failure is loud."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.support.command import COMMAND, read_log_from_gcs
from tests.support.faults import FaultyProxy
from tests.support.helpers import textured, write_image


def upload_images(client, bucket_name: str, count: int) -> None:
    bucket = client.bucket(bucket_name)
    for i in range(count):
        data = cv2.imencode(".png", textured(24, 32, 3, seed=i))[1].tobytes()
        bucket.blob(f"in/set{i % 3}/img{i:03d}.png").upload_from_string(data)


def run_through(proxy_url: str, bucket_name: str, *extra: str, timeout: float = 300):
    env = {**os.environ, "STORAGE_EMULATOR_HOST": proxy_url}
    return subprocess.run(
        [COMMAND, "run", "--input", f"gs://{bucket_name}/in", "--output",
         f"gs://{bucket_name}/out", "--seed", "3", *extra],
        capture_output=True, text=True, timeout=timeout, env=env,
    )  # fmt: skip


def test_few_percent_of_faults_are_absorbed(gcs_emulator, gcs_client, bucket_name):
    upload_images(gcs_client, bucket_name, 24)
    with FaultyProxy(gcs_emulator, failure_rate=0.04, seed=1) as proxy:
        done = run_through(proxy.url, bucket_name)
    assert proxy.failed_503 + proxy.dropped > 0, "no fault was injected"
    assert done.returncode == 0, done.stderr[-3000:]
    assert "written 24, failed 0" in done.stderr
    names = {b.name for b in gcs_client.list_blobs(bucket_name, prefix="out/")}
    assert sum(n.endswith(".png") for n in names) == 24
    assert "out/_blur_log/_SUCCESS" in names
    assert read_log_from_gcs(gcs_client, bucket_name, "out/_blur_log/").num_rows == 24


def test_too_many_faults_fail_loudly_without_a_complete_log(gcs_emulator, gcs_client, bucket_name):
    """Every request fails: the client gives up after its retry deadline, the run exits
    non-zero with a message, and no completion marker claims the log is whole."""
    upload_images(gcs_client, bucket_name, 3)
    with FaultyProxy(gcs_emulator, failure_rate=1.0, seed=2) as proxy:
        done = run_through(proxy.url, bucket_name, timeout=600)
    assert proxy.requests > 0
    assert done.returncode != 0
    assert "the run failed" in done.stderr or "error" in done.stderr.lower()
    names = {b.name for b in gcs_client.list_blobs(bucket_name, prefix="out/")}
    assert "out/_blur_log/_SUCCESS" not in names


def test_interrupted_run_leaves_only_complete_files(tmp_path: Path):
    images = tmp_path / "in"
    for i in range(150):
        write_image(images / f"d{i % 5}" / f"img{i:03d}.jpg", textured(540, 720, 3, seed=i))
    out = tmp_path / "out"
    args = [COMMAND, "run", "--input", str(images), "--output", str(out), "--max_sigma", "6"]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(out.rglob("img*.jpg"))) < 10:
        time.sleep(0.05)
    for _ in range(6):  # as a user would, press Ctrl-C again if the first one was absorbed
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=5)
            break
        except subprocess.TimeoutExpired:
            continue
    else:
        process.kill()
    stderr = process.communicate()[1]
    assert process.returncode == 130, stderr[-2000:]
    assert "interrupted; no completion marker was written" in stderr
    written = [p for p in out.rglob("*.jpg") if not p.name.startswith(".")]
    assert 0 < len(written) < 150, "interrupt the run in the middle"
    for path in written:  # every visible file is a whole image
        data = path.read_bytes()
        assert data.endswith(b"\xff\xd9"), path
        assert cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED) is not None
    assert not (out / "_blur_log" / "_SUCCESS").exists()

    rerun = subprocess.run([*args, "--overwrite"], capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    log = pq.read_table(out / "_blur_log").to_pylist()
    assert len(log) == 150 and (out / "_blur_log" / "_SUCCESS").exists()
    for row in log:
        assert (
            hashlib.sha256(Path(row["output_uri"]).read_bytes()).hexdigest() == row["output_sha256"]
        )
    leftovers = [p for p in out.rglob(".*") if p.is_file()]
    assert all(p.name.endswith(".partial") for p in leftovers)


@pytest.mark.parametrize("signal_to_send", [signal.SIGKILL])
def test_killed_run_leaves_only_complete_files(tmp_path: Path, signal_to_send):
    images = tmp_path / "in"
    for i in range(80):
        write_image(images / f"img{i:03d}.png", textured(400, 600, 3, seed=i))
    out = tmp_path / "out"
    process = subprocess.Popen(
        [COMMAND, "run", "--input", str(images), "--output", str(out), "--max_sigma", "6"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(out.glob("img*.png"))) < 5:
        time.sleep(0.02)
    process.send_signal(signal_to_send)
    process.wait(timeout=30)
    assert len(list(out.glob("img*.png"))) >= 5, "no output appeared in time: nothing was tested"
    for path in out.glob("img*.png"):
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        assert image is not None and image.shape == (400, 600, 3), path
