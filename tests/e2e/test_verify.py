"""`blur-augment verify`: every file a log names checked against it, locally and on gs://,
and copies made again from their sources and the log's parameters alone."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tests.support.command import blur_augment
from tests.support.helpers import textured
from tests.support.shards import encoded


def log_rows(out: Path) -> list[dict]:
    return pq.read_table(out / "_blur_log").to_pylist()


def _augmented_dataset(tmp_path: Path) -> Path:
    from tests.support.datasets import yolo

    root = yolo(tmp_path / "ds")
    out = tmp_path / "ds_aug"
    done = blur_augment("run", "--input", str(root), "--output", str(out), "--copies", "2",
                        "--include_originals")  # fmt: skip
    assert done.returncode == 0, done.stderr
    return out


def test_verify_passes_on_a_whole_run_and_remakes_every_copy(tmp_path: Path):
    out = _augmented_dataset(tmp_path)
    done = blur_augment("verify", str(out / "_blur_log"), "--recompute", "all")
    assert done.returncode == 0, done.stdout + done.stderr
    rows = log_rows(out)
    labels = sum(len(r["label_uris"]) for r in rows)
    marker = json.loads((out / "_blur_log" / "_SUCCESS").read_text())
    files = len(rows) + labels + len(marker["dataset_file_hashes"])
    assert f"{files} files checked against the log" in done.stdout
    assert f"{len(rows)} copies made again from their sources" in done.stdout
    assert "every file is as the log says" in done.stdout
    assert str(out / "data.yaml") in marker["dataset_file_hashes"]


def test_verify_names_every_missing_or_changed_file(tmp_path: Path):
    out = _augmented_dataset(tmp_path)
    rows = {Path(r["output_uri"]).name: r for r in log_rows(out)}
    (out / "images" / "train" / "a_blur0.jpg").unlink()
    with open(out / "images" / "train" / "b_blur1.jpg", "ab") as f:
        f.write(b"\0")
    (out / "labels" / "train" / "a_blur1.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    (out / "data.yaml").write_text("train: elsewhere\n")
    assert rows["b_blur1.jpg"]["output_bytes"] > 0
    done = blur_augment("verify", str(out / "_blur_log"), "--recompute", "3")
    assert done.returncode == 1, done.stdout + done.stderr
    problems = [line.strip() for line in done.stdout.splitlines() if ": " in line.strip()[:12]]
    assert problems == sorted(problems) and len(problems) == 4, done.stdout
    assert f"missing: {out / 'images' / 'train' / 'a_blur0.jpg'}" in done.stdout
    size = rows["b_blur1.jpg"]["output_bytes"]
    assert (f"changed: {out / 'images' / 'train' / 'b_blur1.jpg'} is {size + 1:,} bytes, the log "
            f"says {size:,}") in done.stdout  # fmt: skip
    assert f"changed: {out / 'labels' / 'train' / 'a_blur1.txt'}: its sha256" in done.stdout
    assert f"changed: {out / 'data.yaml'}" in done.stdout


def test_verify_recompute_catches_a_copy_its_parameters_do_not_make(tmp_path: Path):
    out = _augmented_dataset(tmp_path)
    table = pq.read_table(out / "_blur_log")
    rows = table.to_pylist()
    changed = next(r for r in rows if r["copy_index"] == 0)
    changed["sigma_x"] = changed["sigma_y"] = changed["sigma_x"] + 0.5  # a log edited by hand
    [shard] = (out / "_blur_log").glob("*.parquet")
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), shard)
    done = blur_augment("verify", str(out / "_blur_log"), "--recompute", "all")
    assert done.returncode == 1
    assert f"not reproduced: {changed['key']} copy 0: the sampler draws" in done.stdout


def test_verify_on_gcs(gcs_client, bucket_name, tmp_path: Path):
    bucket = gcs_client.bucket(bucket_name)
    for i in range(4):
        bucket.blob(f"in/x{i}.png").upload_from_string(encoded(".png", textured(20, 24, 3, seed=i)))
    prefix = f"gs://{bucket_name}"
    done = blur_augment("run", "--input", f"{prefix}/in", "--output", f"{prefix}/out")
    assert done.returncode == 0, done.stderr
    ok = blur_augment("verify", f"{prefix}/out/_blur_log", "--recompute", "2")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "4 files checked" in ok.stdout and "2 copies made again" in ok.stdout
    bucket.blob("out/x1.png").delete()
    bucket.blob("out/x2.png").upload_from_string(b"not the copy")
    bad = blur_augment("verify", f"{prefix}/out/_blur_log")
    assert bad.returncode == 1
    assert f"missing: {prefix}/out/x1.png" in bad.stdout
    assert f"changed: {prefix}/out/x2.png" in bad.stdout


def test_verify_of_a_folder_without_a_log_exits_2(tmp_path: Path):
    done = blur_augment("verify", str(tmp_path))
    assert done.returncode == 2 and "no Parquet shards" in done.stderr
