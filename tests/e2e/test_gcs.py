"""gs:// end to end against a real GCS-compatible server (gcp-storage-emulator on 127.0.0.1)."""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from blur_augment.pipeline.analysis.query import query
from blur_augment.pipeline.analysis.reading import read_table
from blur_augment.pipeline.analysis.summary import summary
from blur_augment.transforms.io import storage
from blur_augment.transforms.sampling import BlurSpec, sample
from tests.support.command import blur_augment, read_log_from_gcs
from tests.support.helpers import ConnectionSentinel, textured

NESTED = {
    "train/cats/a.jpg": textured(40, 48, 3, seed=1),
    "train/cats/deep/b.png": textured(33, 41, 3, seed=2),
    "train/dogs/c d é.png": textured(30, 30, 1, seed=3),
    "train/e16.png": textured(20, 50, 3, "uint16", seed=4),
}


def upload_dataset(client, bucket_name: str, objects: dict) -> None:
    import cv2

    bucket = client.bucket(bucket_name)
    for name, image in objects.items():
        ok, buf = cv2.imencode(Path(name).suffix, image)
        assert ok
        bucket.blob(name).upload_from_string(buf.tobytes())
    bucket.blob("train/README.txt").upload_from_string(b"not an image")


@pytest.mark.parametrize("workers", [1, 2])
def test_gs_to_gs_run(gcs_client, bucket_name, workers):
    upload_dataset(gcs_client, bucket_name, NESTED)
    out_bucket = bucket_name + "-out"
    gcs_client.create_bucket(out_bucket)
    args = ["run", "--input", f"gs://{bucket_name}/train", "--output", f"gs://{out_bucket}/blurred",
            "--seed", "9", "--max_sigma", "2"]  # fmt: skip
    if workers == 2:
        args += ["--direct_num_workers", "2", "--direct_running_mode", "multi_processing"]
    with ConnectionSentinel() as metadata_server:
        done = blur_augment(*args, env=metadata_server.metadata_env)
    assert done.returncode == 0, done.stderr
    # Without the anonymous client every process, workers included, would first look for
    # credentials (20-30 s of metadata-server retries on a machine outside Google Cloud).
    assert metadata_server.connections == 0, "a process looked for Google credentials"

    names = {b.name for b in gcs_client.list_blobs(out_bucket, prefix="blurred/")}
    for key in ("cats/a.jpg", "cats/deep/b.png", "dogs/c d é.png", "e16.png"):
        assert f"blurred/{key}" in names
    log = read_log_from_gcs(gcs_client, out_bucket, "blurred/_blur_log/")
    assert log.num_rows == 4
    for row in log.to_pylist():
        assert row["sigma_x"] == sample(9, 0, row["key"], BlurSpec(0, 2)).sigma_x
        assert row["output_uri"] == f"gs://{out_bucket}/blurred/{row['key']}"
        blob = gcs_client.bucket(out_bucket).blob(f"blurred/{row['key']}")
        assert len(blob.download_as_bytes()) == row["output_bytes"]

    # The same log through Beam's FileSystems (pyarrow on the bytes), and the summary command.
    assert read_table(f"gs://{out_bucket}/blurred/_blur_log").num_rows == 4
    counted = query(f"gs://{out_bucket}/blurred/_blur_log", "SELECT count(*) AS n FROM blur_log")
    assert counted.to_pylist() == [{"n": 4}]
    assert "rows: 4" in summary(f"gs://{out_bucket}/blurred/_blur_log")
    shown = blur_augment("summary", f"gs://{out_bucket}/blurred/_blur_log")
    assert shown.returncode == 0 and "errors: 0" in shown.stdout
    if workers == 1:
        report_on_gs(gcs_client, out_bucket, log)


def report_on_gs(gcs_client, out_bucket: str, log) -> None:
    """`report --html` with the log, the results file and the images all on gs://: DuckDB
    reads the shards and the CSV through gcsfs, the thumbnails come through the storage
    layer; nothing is fetched from a real Google endpoint (no credentials are looked for)."""
    rows = "".join(f"{r['key']},{int(r['sigma_x'] < 1)}\n" for r in log.to_pylist())
    results = f"gs://{out_bucket}/eval/results.csv"
    gcs_client.bucket(out_bucket).blob("eval/results.csv").upload_from_string(
        "key,correct\n" + rows
    )
    page = f"gs://{out_bucket}/eval/report.html"
    with ConnectionSentinel() as metadata_server:
        done = blur_augment("report", f"gs://{out_bucket}/blurred/_blur_log", "--results",
                            results, "--bins", "2", "--html", page,
                            env=metadata_server.metadata_env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "joined on key: 4 of 4 result rows matched the log" in done.stdout
    assert metadata_server.connections == 0
    html = gcs_client.bucket(out_bucket).blob("eval/report.html").download_as_text()
    assert html.count('src="data:image/jpeg;base64,') >= 2  # thumbnails read from gs://
    assert "cannot show" not in html


def test_traversal_object_names_are_error_rows(gcs_client, bucket_name):
    bucket = gcs_client.bucket(bucket_name)
    import cv2

    jpeg = cv2.imencode(".jpg", textured(16, 16))[1].tobytes()
    for name in ("in/ok.jpg", "in/a/../../escape.jpg", "in/x/../../../etc/evil.jpg"):
        bucket.blob(name).upload_from_string(jpeg)
    done = blur_augment("run", "--input", f"gs://{bucket_name}/in", "--output",
                        f"gs://{bucket_name}/out")  # fmt: skip
    assert done.returncode == 0, done.stderr
    names = sorted(b.name for b in gcs_client.list_blobs(bucket_name))
    assert "out/ok.jpg" in names
    assert not [n for n in names if "escape" in n and not n.startswith("in/")]
    assert not [n for n in names if "evil" in n and not n.startswith("in/")]
    errors = read_table(f"gs://{bucket_name}/out/_blur_errors").to_pylist()
    assert sorted((e["key"], e["stage"], e["error_type"]) for e in errors) == [
        ("a/../../escape.jpg", "write", "UnsafeKeyError"),
        ("x/../../../etc/evil.jpg", "write", "UnsafeKeyError"),
    ]


def test_credential_lookup_skipped_under_emulator(gcs_client, bucket_name, monkeypatch):
    """Counted, in this process: no google.auth.default() call for a gs:// round trip."""
    import google.auth

    calls = []
    real_default = google.auth.default

    def counting_default(*args, **kwargs):
        calls.append(args)
        return real_default(*args, **kwargs)

    monkeypatch.setattr(google.auth, "default", counting_default)
    path = f"gs://{bucket_name}/probe/x.bin"
    storage.write_bytes(path, b"hello")
    assert storage.read_bytes(path) == b"hello"
    assert storage.list_files(f"gs://{bucket_name}/probe/*") == [path]
    assert calls == []


def test_preview_reads_and_writes_gs(gcs_client, bucket_name):
    import cv2

    png = cv2.imencode(".png", textured(40, 60, 3))[1].tobytes()
    gcs_client.bucket(bucket_name).blob("one/x.png").upload_from_string(png)
    done = blur_augment("preview", f"gs://{bucket_name}/one/x.png", "--sigmas", "0,2",
                        "--out", f"gs://{bucket_name}/preview.png")  # fmt: skip
    assert done.returncode == 0, done.stderr
    sheet = gcs_client.bucket(bucket_name).blob("preview.png").download_as_bytes()
    assert sheet.startswith(b"\x89PNG")


@pytest.mark.parametrize("kind", ["coco", "voc"])
def test_dataset_gs_to_gs(gcs_client, bucket_name, tmp_path: Path, kind: str):
    """A dataset on gs:// is recognised and rewritten as a local one is (two worker processes)."""
    from tests.support import datasets

    source = getattr(datasets, kind)(tmp_path / "ds")
    bucket = gcs_client.bucket(bucket_name)
    for path in source.rglob("*"):
        if path.is_file():
            bucket.blob(f"ds/{path.relative_to(source).as_posix()}").upload_from_filename(path)
    done = blur_augment(
        "run", "--input", f"gs://{bucket_name}/ds", "--output", f"gs://{bucket_name}/out",
        "--copies", "2", "--include_originals",
        "--direct_num_workers", "2", "--direct_running_mode", "multi_processing",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"dataset: {kind}" in done.stderr and "augmented: train" in done.stderr
    names = {b.name for b in gcs_client.list_blobs(bucket_name, prefix="out/")}
    if kind == "coco":
        import json

        blob = bucket.blob("out/annotations/instances_train2017.json")
        data = json.loads(blob.download_as_bytes())
        listed = sorted(i["file_name"] for i in data["images"])
        assert listed == sorted(f"{s}{x}.jpg" for s in "abc" for x in ("", "_blur0", "_blur1"))
        assert {f"out/train2017/{n}" for n in listed} <= names
    else:
        listed = bucket.blob("out/ImageSets/Main/train.txt").download_as_text().split()
        assert len(listed) == 9 and "2008_000002_blur1" in listed
        assert "out/Annotations/2008_000002_blur1.xml" in names
        assert (
            bucket.blob("out/SegmentationClass/2008_000001_blur0.png").download_as_bytes()
            == (source / "SegmentationClass" / "2008_000001.png").read_bytes()
        )


def test_a_stream_that_fails_half_way_leaves_no_object(gcs_client, bucket_name):
    path = f"gs://{bucket_name}/out/instances.json"
    with pytest.raises(RuntimeError, match="half-way"), storage.open_atomic(path) as out:
        out.write(b'{"images": [')
        raise RuntimeError("failed half-way")
    assert not list(gcs_client.list_blobs(bucket_name, prefix="out/"))
    with storage.open_atomic(path) as out:
        out.write(b"{}")
    assert gcs_client.bucket(bucket_name).blob("out/instances.json").download_as_bytes() == b"{}"


def test_missing_output_bucket_fails_the_run_in_one_line(gcs_client, bucket_name):
    upload_dataset(gcs_client, bucket_name, {"train/a.png": textured(8, 8, 3)})
    done = blur_augment(
        "run", "--input", f"gs://{bucket_name}/train", "--output", "gs://no-such-bucket-x1/out",
    )  # fmt: skip
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("blur-augment: error:") and "no-such-bucket-x1" in done.stderr
    assert "Traceback" not in done.stderr, done.stderr


def test_inventory_report_manifest_on_gs(gcs_client, bucket_name):
    """A Storage Insights inventory report (CSV and Parquet shards, bucket and name columns
    among others) as --input_manifest: the objects it names under --input, and nothing listed."""
    import pyarrow as pa

    upload_dataset(gcs_client, bucket_name, NESTED)
    bucket = gcs_client.bucket(bucket_name)
    names = sorted(NESTED)
    header = "bucket,name,size,storageClass\n"
    rows = "".join(f'{bucket_name},"{n}",100,STANDARD\n' for n in names[:2])
    bucket.blob("inventory/shard-0.csv").upload_from_string(header + rows)
    shard = io.BytesIO()
    pq.write_table(pa.table({"bucket": [bucket_name] * 2, "name": names[2:], "size": [1, 2]}),
                   shard)  # fmt: skip
    bucket.blob("inventory/shard-1.parquet").upload_from_string(shard.getvalue())
    for pattern in (
        f"gs://{bucket_name}/inventory/*.csv",
        f"gs://{bucket_name}/inventory/*.parquet",
    ):
        out = f"gs://{bucket_name}/out-{pattern[-3:]}"
        done = blur_augment("run", "--input", f"gs://{bucket_name}/train", "--input_manifest",
                            pattern, "--output", out)  # fmt: skip
        assert done.returncode == 0, done.stderr
        log = read_log_from_gcs(gcs_client, bucket_name, f"out-{pattern[-3:]}/_blur_log/")
        expected = names[:2] if pattern.endswith("csv") else names[2:]
        assert sorted(log.column("key").to_pylist()) == [n[len("train/") :] for n in expected]
    nothing = f"gs://{bucket_name}/nothing.txt"
    missing = blur_augment("run", "--input", f"gs://{bucket_name}/train", "--input_manifest",
                           nothing, "--output", f"gs://{bucket_name}/x")  # fmt: skip
    assert missing.returncode == 2 and "matches no file" in missing.stderr


def test_one_read_and_one_write_request_per_image_and_they_overlap(
    gcs_emulator, gcs_client, bucket_name
):
    """Counted by a recording proxy with 50 ms of latency on every request: twenty more images
    cost twenty more media GETs and twenty more uploads, nothing else (Beam's filesystem looked
    the bucket and the object up on every open and create and made a resumable upload: about
    4.8 requests per image); and the worker keeps several requests in flight while it blurs."""
    from tests.e2e.test_faults import run_through, upload_images
    from tests.support.faults import FaultyProxy

    counts = []
    for images, bucket in ((10, bucket_name), (30, bucket_name + "-more")):
        if bucket != bucket_name:
            gcs_client.create_bucket(bucket)
        upload_images(gcs_client, bucket, images)
        with FaultyProxy(gcs_emulator, latency=0.05) as proxy:
            done = run_through(proxy.url, bucket)
        assert done.returncode == 0, done.stderr[-3000:]
        assert f"written {images}, failed 0" in done.stderr
        counts.append(proxy.kinds)
    per_image = {kind: (counts[1][kind] - counts[0][kind]) / 20 for kind in counts[1]}
    assert per_image == {**dict.fromkeys(per_image, 0.0), "media": 1.0, "upload": 1.0}, per_image
    assert proxy.peak >= 3, "reads and writes did not overlap"
