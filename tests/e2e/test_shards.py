"""Sharded datasets in, sharded datasets out: WebDataset tars written by `webdataset` and Parquet
files written by Hugging Face `datasets` (and by pyarrow), run through the command, read back
with the same packages: the same samples and rows, every other member and column unchanged,
each image its source blurred with the logged sigma, every image accounted for."""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from blur_augment.transforms.sampling import BlurSpec, sample
from blur_augment.transforms.shards import parquet, split_item_uri, webdataset
from tests.support.command import blur_augment
from tests.support.shards import (
    blurred_as_logged,
    decodes_like,
    read_webdataset,
    webdataset_samples,
    write_binary_parquet,
    write_hf_parquet,
    write_webdataset,
)

# -- the pure layer ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["000123.jpg", "a/b/000123.seg.png", "dir.v2/x.tar.gz.cls", "noext", "a/.hidden", "k.JPG"],
)
def test_member_names_split_as_webdataset_splits_them(name: str):
    from webdataset.tariterators import base_plus_ext

    key, suffix = base_plus_ext(name)
    assert webdataset.split_name(name) == ((key, suffix) if key is not None else None)


def test_samples_group_as_webdataset_groups_them(tmp_path: Path):
    samples = webdataset_samples(0, 7)
    shard = write_webdataset(tmp_path / "s.tar", samples)
    with open(shard, "rb") as f:
        ours = list(webdataset.read_samples(f))
    theirs = read_webdataset([shard])
    assert [s.key for s in ours] == [s["__key__"] for s in theirs]
    for mine, their in zip(ours, theirs, strict=True):
        suffixes = {m.name[len(mine.key) + 1 :]: m.data for m in mine.members}
        assert suffixes == {k: v for k, v in their.items() if not k.startswith("__")}
        assert [m.name.rsplit(".", 1)[-1] for m in mine.images()] in (["jpg"], ["png"])


def test_copy_names_rename_the_whole_sample():
    assert webdataset.copy_name("d/s1.seg.png", 2, True) == "d/s1_blur2.seg.png"
    assert webdataset.copy_name("d/s1.jpg", 0, False) == "d/s1.jpg"
    assert webdataset.copy_name("d/s1.jpg", -1, True) == "d/s1.jpg"
    assert split_item_uri("gs://b/x/train-0.tar#d/s1.jpg") == ("gs://b/x/train-0.tar", "d/s1.jpg")
    assert split_item_uri("/o/t.parquet#12") == ("/o/t.parquet", "12")
    assert split_item_uri("/o/a.jpg") is None


def test_the_image_column_is_found_or_refused_by_name(tmp_path: Path):
    hf = pq.read_schema(write_hf_parquet(tmp_path / "hf.parquet", 2))
    assert parquet.image_column(hf) == "image"
    plain = pq.read_schema(write_binary_parquet(tmp_path / "plain.parquet", 2))
    assert parquet.image_column(plain, "jpeg") == "jpeg"
    with pytest.raises(parquet.ShardError, match=r"--image_column.*columns: id, jpeg"):
        parquet.image_column(plain)
    with pytest.raises(parquet.ShardError, match="int64, neither binary"):
        parquet.image_column(plain, "id")


# -- WebDataset end to end ---------------------------------------------------------------------


def check_webdataset_output(
    sources: dict[str, dict], out_shards: list[Path], log: list[dict], copies: int, originals: bool
) -> None:
    """Every good source sample is in the output once per copy (renamed KEY_blur{k} when
    numbered), its other members byte for byte, its image the source blurred as logged."""
    numbered = copies > 1 or originals
    rows = {(r["key"].split("#", 1)[1], r["copy_index"]): r for r in log}
    got = {s["__key__"]: s for s in read_webdataset(out_shards)}
    expected_keys = []
    for key, source in sources.items():
        image_suffix = "jpg" if "jpg" in source else "png"
        indices = ([-1] if originals else []) + list(range(copies))
        for copy_index in indices:
            copy_key = f"{key}_blur{copy_index}" if numbered and copy_index >= 0 else key
            expected_keys.append(copy_key)
            copy = got[copy_key]
            assert set(copy) - {"__url__", "__local_path__"} == set(source), copy_key
            for suffix, data in source.items():
                if suffix not in ("__key__", image_suffix):
                    assert copy[suffix] == data, (copy_key, suffix)  # carried byte for byte
            row = rows[(f"{key}.{image_suffix}", copy_index)]
            assert copy[image_suffix] == blurred_as_logged(source[image_suffix], row)
            assert decodes_like(copy[image_suffix], source[image_suffix])
            assert row["output_uri"].endswith(f".tar#{copy_key}.{image_suffix}")
            assert row["output_sha256"] == hashlib.sha256(copy[image_suffix]).hexdigest()
    assert sorted(got) == sorted(expected_keys)


def test_webdataset_shards_in_and_out(tmp_path: Path):
    """Two shards named by a brace list, two copies and the originals; a sample whose image is
    damaged and a sample without an image are error rows, and the rest of their shard is
    written; the output opens in webdataset with the same layout."""
    root = tmp_path / "shards"
    good = {0: webdataset_samples(0, 6), 1: webdataset_samples(1, 5)}
    damaged = dict(good[1][2], jpg=b"\xff\xd8\xff\xe0 not a jpeg")
    textless = {"__key__": "01/only_text", "txt": b"no image here"}
    write_webdataset(root / "train-000000.tar", good[0])
    write_webdataset(root / "train-000001.tar", [*good[1][:2], damaged, *good[1][3:], textless])
    out = tmp_path / "out"
    done = blur_augment(
        "run",
        "--input",
        str(root / "train-{000000..000001}.tar"),
        "--output",
        str(out),
        "--seed",
        "4",
        "--max_sigma",
        "3",
        "--copies",
        "2",
        "--include_originals",
    )
    assert done.returncode == 0, done.stderr
    assert "shards: 2" in done.stderr and "WARNING" not in done.stderr
    log = pq.read_table(out / "_blur_log").to_pylist()
    errors = pq.read_table(out / "_blur_errors").to_pylist()
    sources = {s["__key__"]: s for s in good[0] + good[1] if s["__key__"] != damaged["__key__"]}
    check_webdataset_output(
        sources, [out / "train-000000.tar", out / "train-000001.tar"], log, copies=2, originals=True
    )
    assert len(log) == len(sources) * 3
    for row in log:
        if row["copy_index"] >= 0:
            assert (
                row["sigma_x"] == sample(4, row["copy_index"], row["key"], BlurSpec(0, 3)).sigma_x
            )
        assert re.fullmatch(r"train-00000[01]\.tar#\d\d/s\d{4}\.(jpg|png)", row["key"])
        assert row["source_uri"] == f"{root}/{row['key']}"
    by_key = {}
    for error in errors:
        by_key.setdefault(error["key"], []).append(error)
    assert sorted(by_key) == ["train-000001.tar#01/only_text", "train-000001.tar#01/s0002.jpg"]
    assert [e["stage"] for e in by_key["train-000001.tar#01/s0002.jpg"]] == ["decode"] * 3
    assert "no image member" in by_key["train-000001.tar#01/only_text"][0]["message"]
    assert "written 30, failed 6" in done.stderr  # 10 good images x 3, 2 bad inputs x 3


def test_a_truncated_shard_keeps_its_whole_samples(tmp_path: Path):
    samples = webdataset_samples(0, 8)
    shard = write_webdataset(tmp_path / "in" / "cut.tar", samples)
    data = shard.read_bytes()
    with tarfile.open(shard) as tar:
        offsets = [m.offset_data for m in tar.getmembers()]
    shard.write_bytes(data[: offsets[len(offsets) // 2] + 100])  # inside a member of sample 4
    out = tmp_path / "out"
    done = blur_augment(
        "run", "--input", str(tmp_path / "in"), "--output", str(out), "--max_sigma", "2"
    )
    assert done.returncode == 0, done.stderr
    kept = read_webdataset([out / "cut.tar"])
    assert 0 < len(kept) < len(samples)
    assert [s["__key__"] for s in kept] == [s["__key__"] for s in samples[: len(kept)]]
    errors = pq.read_table(out / "_blur_errors").to_pylist()
    [error] = [e for e in errors if e["key"] == "cut.tar"]
    assert error["stage"] == "read"
    assert "cannot be read past its member" in error["message"]
    assert "every sample before it was written, and nothing after it" in error["message"]
    # the sample the damage cut through is named: not written, never silently dropped
    cut = samples[len(kept)]["__key__"]
    [partial] = [e for e in errors if e["key"] != "cut.tar"]
    assert partial["key"].startswith(f"cut.tar#{cut}.")
    assert f"sample {cut} is not written" in partial["message"]
    assert pq.read_table(out / "_blur_log").num_rows == len(kept)


# -- Parquet end to end ------------------------------------------------------------------------


def test_hugging_face_parquet_in_and_out(tmp_path: Path):
    """A `datasets` Parquet shard with a damaged row: the output has the same schema and
    features, loads with `datasets.load_dataset("parquet")`, holds every good row once per copy
    (its label and text unchanged, its path renamed as a loose copy), and each image is its
    source blurred as logged."""
    import datasets

    root = tmp_path / "hf" / "data"
    write_hf_parquet(root / "train-00000-of-00002.parquet", 5, seed=0, broken=3)
    write_hf_parquet(root / "train-00001-of-00002.parquet", 4, seed=10)
    out = tmp_path / "out"
    done = blur_augment(
        "run",
        "--input",
        str(tmp_path / "hf"),
        "--output",
        str(out),
        "--seed",
        "2",
        "--max_sigma",
        "4",
        "--copies",
        "2",
    )
    assert done.returncode == 0, done.stderr
    assert "written 16, failed 2" in done.stderr
    names = ["train-00000-of-00002.parquet", "train-00001-of-00002.parquet"]
    for name in names:
        source = pq.read_table(root / name)
        copied = pq.read_table(out / "data" / name)
        assert copied.schema.equals(source.schema, check_metadata=True)
    loaded = datasets.load_dataset(
        "parquet", data_files=[str(out / "data" / n) for n in names], split="train"
    )
    expected = datasets.load_dataset(
        "parquet", data_files=[str(root / n) for n in names], split="train"
    )
    assert loaded.features == expected.features
    assert loaded.num_rows == (expected.num_rows - 1) * 2
    log = {r["output_uri"]: r for r in pq.read_table(out / "_blur_log").to_pylist()}
    output_rows = 0
    for name in names:
        source_rows = pq.read_table(root / name).to_pylist()
        for out_row, cell in enumerate(pq.read_table(out / "data" / name).to_pylist()):
            row = log[f"{out}/data/{name}#{out_row}"]
            index = int(row["key"].rsplit("#", 1)[1])
            original = source_rows[index]
            assert row["key"] == f"data/{name}#{index}"
            assert (cell["label"], cell["text"]) == (original["label"], original["text"])
            stem = original["image"]["path"][: -len(".png")]
            assert cell["image"]["path"] == f"{stem}_blur{row['copy_index']}.png"
            assert cell["image"]["bytes"] == blurred_as_logged(original["image"]["bytes"], row)
            output_rows += 1
    assert output_rows == loaded.num_rows == len(log)
    assert loaded[0]["image"].size == (34, 30)  # a PIL image, decoded by datasets itself
    [bad] = {e["key"] for e in pq.read_table(out / "_blur_errors").to_pylist()}
    assert bad == "data/train-00000-of-00002.parquet#3"


def test_a_plain_binary_column_by_name(tmp_path: Path):
    write_binary_parquet(tmp_path / "in" / "t.parquet", 3)
    out = tmp_path / "out"
    done = blur_augment(
        "run",
        "--input",
        str(tmp_path / "in"),
        "--output",
        str(out),
        "--image_column",
        "jpeg",
        "--min_sigma",
        "1",
        "--max_sigma",
        "2",
    )
    assert done.returncode == 0, done.stderr
    copied = pq.read_table(out / "t.parquet")
    source = pq.read_table(tmp_path / "in" / "t.parquet")
    assert copied.schema == source.schema and copied["id"] == source["id"]
    log = sorted(pq.read_table(out / "_blur_log").to_pylist(), key=lambda r: r["key"])
    assert [r["format"] for r in log] == ["jpeg"] * 3
    for row, data, src in zip(
        log, copied["jpeg"].to_pylist(), source["jpeg"].to_pylist(), strict=True
    ):
        assert data == blurred_as_logged(src, row) and data != src


def test_a_parquet_file_without_an_image_column_is_an_error_row(tmp_path: Path):
    (tmp_path / "in").mkdir()
    pq.write_table(pa.table({"a": [1, 2]}), tmp_path / "in" / "numbers.parquet")
    out = tmp_path / "out"
    done = blur_augment("run", "--input", str(tmp_path / "in"), "--output", str(out))
    assert done.returncode == 0, done.stderr
    [error] = pq.read_table(out / "_blur_errors").to_pylist()
    assert (error["key"], error["stage"]) == ("numbers.parquet", "read")
    assert "no image column" in error["message"]
    assert not (out / "numbers.parquet").exists()


# -- gs:// --------------------------------------------------------------------------------------


def test_shards_gs_to_gs(gcs_client, bucket_name, tmp_path: Path):
    """A WebDataset shard set named by a brace list (one shard missing: an error row) and a
    Hugging Face Parquet shard, on the emulator, with two worker processes; the outputs,
    downloaded, open in webdataset and datasets."""
    import datasets

    bucket = gcs_client.bucket(bucket_name)
    local = tmp_path / "made"
    tars = [
        write_webdataset(local / f"train-{i:06d}.tar", webdataset_samples(i, 4)) for i in range(2)
    ]
    hf = write_hf_parquet(local / "hf.parquet", 3)
    for path in (*tars, hf):
        bucket.blob(f"in/{path.name}").upload_from_filename(str(path))
    workers = ["--direct_num_workers", "2", "--direct_running_mode", "multi_processing"]
    done = blur_augment(
        "run",
        "--input",
        f"gs://{bucket_name}/in/train-{{000000..000002}}.tar",
        "--output",
        f"gs://{bucket_name}/out",
        "--seed",
        "5",
        "--max_sigma",
        "2",
        *workers,
    )
    assert done.returncode == 0, done.stderr
    downloaded = tmp_path / "downloaded"
    downloaded.mkdir()
    for i in range(2):
        bucket.blob(f"out/train-{i:06d}.tar").download_to_filename(downloaded / f"{i}.tar")
    got = read_webdataset([downloaded / "0.tar", downloaded / "1.tar"])
    assert [s["__key__"] for s in got] == [f"{i:02d}/s{j:04d}" for i in range(2) for j in range(4)]

    def table(prefix: str) -> list[dict]:
        blobs = gcs_client.list_blobs(bucket_name, prefix=prefix)
        return [
            row
            for b in blobs
            if b.name.endswith(".parquet")
            for row in pq.read_table(io.BytesIO(b.download_as_bytes())).to_pylist()
        ]

    rows = table("out/_blur_log/")
    assert len(rows) == 8
    for row in rows:
        shard, member = split_item_uri(row["output_uri"])
        assert shard.startswith(f"gs://{bucket_name}/out/train-00000") and re.fullmatch(
            r"\d\d/s\d{4}\.(jpg|png)", member
        )
    errors = table("out/_blur_errors/")
    assert [(e["key"], e["stage"]) for e in errors] == [("train-000002.tar", "read")]

    done = blur_augment(
        "run",
        "--input",
        f"gs://{bucket_name}/in/hf.parquet",
        "--output",
        f"gs://{bucket_name}/out-hf",
        *workers,
    )
    assert done.returncode == 0, done.stderr
    bucket.blob("out-hf/hf.parquet").download_to_filename(downloaded / "hf.parquet")
    loaded = datasets.load_dataset(
        "parquet", data_files=str(downloaded / "hf.parquet"), split="train"
    )
    assert loaded.num_rows == 3 and loaded.features["image"] == datasets.Image()
    assert json.loads(pq.read_schema(downloaded / "hf.parquet").metadata[b"huggingface"])
    assert len(table("out-hf/_blur_log/")) == 3


def test_report_html_shows_images_inside_shards(tmp_path: Path):
    """The gallery of `report --html` reads its thumbnails out of the output shards (a tar
    member, a Parquet row), so a sharded run's worst bin is as visible as a folder's."""
    from blur_augment.transforms.io.items import read_items

    write_webdataset(tmp_path / "in" / "train-000000.tar", webdataset_samples(0, 4))
    write_hf_parquet(tmp_path / "in" / "rows.parquet", 4)
    out = tmp_path / "out"
    done = blur_augment("run", "--input", str(tmp_path / "in"), "--output", str(out),
                        "--max_sigma", "4")  # fmt: skip
    assert done.returncode == 0, done.stderr
    log = pq.read_table(out / "_blur_log").to_pylist()
    items = read_items([r["output_uri"] for r in log] + [f"{out}/rows.parquet#99"])
    for row in log:
        assert hashlib.sha256(items[row["output_uri"]]).hexdigest() == row["output_sha256"]
    assert isinstance(items[f"{out}/rows.parquet#99"], LookupError)
    results = tmp_path / "results.csv"
    lines = [f"{r['output_uri']},{i % 2}" for i, r in enumerate(log)]
    results.write_text("output_uri,correct\n" + "\n".join(lines) + "\n")
    page = tmp_path / "report.html"
    done = blur_augment("report", str(out / "_blur_log"), "--results", str(results),
                        "--on", "output_uri", "--bins", "2", "--html", str(page))  # fmt: skip
    assert done.returncode == 0, done.stderr
    text = page.read_text()
    assert "cannot show" not in text
    assert text.count('src="data:image/jpeg') >= 4  # thumbnails of both bins
