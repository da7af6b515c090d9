"""Inputs that hang, blow up, collide or vanish: each ends in a clear error row or one clear
line, bounded in memory and time, with every other input written once under its exact name."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import tarfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image, ImageOps

from tests.support.command import blur_augment, measured
from tests.support.datasets import coco
from tests.support.helpers import textured, write_image
from tests.support.shards import encoded, read_webdataset


def log_rows(out: Path) -> list[dict]:
    return pq.read_table(out / "_blur_log").to_pylist()


def error_rows(out: Path) -> list[dict]:
    return pq.read_table(out / "_blur_errors").to_pylist()


def image(path: Path, seed: int = 0) -> Path:
    return write_image(path, textured(24, 32, 3, seed=seed))


def summary_lines(done: subprocess.CompletedProcess) -> list[str]:
    lines = done.stderr.strip().splitlines()
    assert not [line for line in lines if not line.startswith(("blur-augment:", "  "))], lines
    return lines


# -- special files and links ----------------------------------------------------------------


def test_fifos_devices_and_bad_links_are_skipped_and_never_opened(tmp_path: Path):
    root = tmp_path / "in"
    image(root / "ok.jpg")
    image(root / "sub" / "deeper" / "fine.png", 1)
    os.mkfifo(root / "pipe.jpg")
    os.mkfifo(root / "sub" / "deeper" / "pipe.png")
    os.symlink("/dev/zero", root / "zero.jpg")
    os.symlink("/dev/zero", root / "sub" / "zero.png")
    os.symlink("loop.jpg", root / "sub" / "loop.jpg")  # a link to itself
    os.symlink(root / "nowhere.jpg", root / "dangling.jpg")
    image(tmp_path / "elsewhere" / "linked.jpg", 2)
    os.symlink(tmp_path / "elsewhere" / "linked.jpg", root / "sub" / "linked.jpg")
    out = tmp_path / "out"
    done, peak = measured("run", "--input", str(root), "--output", str(out), timeout=120)
    assert done.returncode == 0, done.stderr
    assert peak < 600, f"peak {peak} MB"
    assert sorted(r["key"] for r in log_rows(out)) == ["ok.jpg", "sub/deeper/fine.png",
                                                       "sub/linked.jpg"]  # fmt: skip
    lines = summary_lines(done)
    assert any("WARNING: 6 entries of --input are not regular files" in line for line in lines)


def test_a_named_special_file_is_an_error_row(tmp_path: Path):
    """Named by a manifest, a link to /dev/zero is read neither whole nor at all."""
    root = tmp_path / "in"
    image(root / "ok.jpg")
    os.symlink("/dev/zero", root / "zero.jpg")
    os.mkfifo(root / "pipe.jpg")
    manifest = tmp_path / "list.txt"
    manifest.write_text("".join(f"{root / n}\n" for n in ("ok.jpg", "zero.jpg", "pipe.jpg")))
    out = tmp_path / "out"
    done, peak = measured("run", "--input", str(root), "--input_manifest", str(manifest),
                          "--output", str(out), timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert peak < 600
    errors = {e["key"]: e for e in error_rows(out)}
    assert errors["zero.jpg"]["stage"] == "read" and "character device" in errors[
        "zero.jpg"]["message"]  # fmt: skip
    assert "FIFO" in errors["pipe.jpg"]["message"]
    assert [r["key"] for r in log_rows(out)] == ["ok.jpg"]


def test_files_over_max_bytes_are_error_rows_naming_the_limit(tmp_path: Path):
    root = tmp_path / "in"
    write_image(root / "big.png", textured(200, 200, 3, seed=1))
    write_image(root / "small.png", np.zeros((4, 4, 3), np.uint8))
    out = tmp_path / "out"
    done = blur_augment("run", "--input", str(root), "--output", str(out), "--max_bytes", "2000")
    assert done.returncode == 0, done.stderr
    [error] = error_rows(out)
    assert (error["key"], error["stage"]) == ("big.png", "read")
    assert "over --max_bytes=2,000" in error["message"]
    assert [r["key"] for r in log_rows(out)] == ["small.png"]


# -- names ------------------------------------------------------------------------------------

ODD_NAMES = ["photos [2019]/a.jpg", "sub[1]/b.jpg", "sub1/c.jpg", "q?/d.jpg", "qx/e.jpg",
             "*/f.jpg", "star/g.jpg", "a\\b.jpg", "a/b.jpg", "new\nline.jpg"]  # fmt: skip


def test_names_are_taken_exactly_never_as_patterns(tmp_path: Path):
    root = tmp_path / "in"
    for seed, name in enumerate(ODD_NAMES):
        image(root / name, seed)
    out = tmp_path / "out"
    done = blur_augment("run", "--input", str(root), "--output", str(out))
    assert done.returncode == 0, done.stderr
    keys = sorted(r["key"] for r in log_rows(out))
    assert keys == sorted(ODD_NAMES)  # each once, nothing lost, nothing twice
    for name in ODD_NAMES:  # and each output is its own source's copy
        row = next(r for r in log_rows(out) if r["key"] == name)
        assert (out / name).read_bytes() != b"" and row["output_uri"] == str(out / name)
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == row["output_sha256"]


def test_a_copy_never_takes_another_inputs_name(tmp_path: Path):
    root = tmp_path / "in"
    image(root / "x.jpg", 1)
    image(root / "x_blur0.jpg", 2)  # the name copy 0 of x.jpg would take
    image(root / "y.jpg", 3)
    originals = {n: (root / n).read_bytes() for n in ("x.jpg", "x_blur0.jpg", "y.jpg")}
    out = tmp_path / "out"
    done = blur_augment("run", "--input", str(root), "--output", str(out), "--copies", "2",
                        "--include_originals")  # fmt: skip
    assert done.returncode == 0, done.stderr
    errors = sorted((e["key"], e["copy_index"], e["stage"]) for e in error_rows(out))
    assert errors == [("x.jpg", 0, "write"), ("x_blur0.jpg", -1, "write")]
    assert "neither is written" in error_rows(out)[0]["message"]
    assert not (out / "x_blur0.jpg").exists()
    rows = log_rows(out)
    assert len(rows) == 9 - 2
    for row in rows:  # every logged file is the one its row describes
        data = Path(row["output_uri"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == row["output_sha256"], row["key"]
    assert (out / "x.jpg").read_bytes() == originals["x.jpg"]
    assert (out / "x_blur0_blur1.jpg").exists()  # the other input's own copies are made


# -- tar shards ------------------------------------------------------------------------------


def _tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _file(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def test_a_sparse_member_claiming_gigabytes_is_refused_in_little_memory(tmp_path: Path):
    root = tmp_path / "in"
    root.mkdir()
    holes = tmp_path / "make"
    holes.mkdir()
    jpeg = encoded(".jpg", textured(24, 32, 3))
    (holes / "s0.jpg").write_bytes(jpeg)
    with open(holes / "s1.jpg", "wb") as f:  # 2 GiB, almost all of it a hole
        f.write(jpeg)
        f.truncate(2 << 30)
    (holes / "s2.jpg").write_bytes(jpeg)
    subprocess.run(["tar", "--sparse", "--format=gnu", "-cf", str(root / "sparse.tar"), "-C",
                    str(holes), "s0.jpg", "s1.jpg", "s2.jpg"], check=True)  # fmt: skip
    assert (root / "sparse.tar").stat().st_size < 100_000
    out = tmp_path / "out"
    done, peak = measured("run", "--input", str(root), "--output", str(out))
    assert done.returncode == 0, done.stderr
    assert peak < 700, f"peak {peak} MB"
    [error] = error_rows(out)
    assert error["key"] == "sparse.tar#s1.jpg" and "GNU sparse member" in error["message"]
    assert sorted(s["__key__"] for s in read_webdataset([out / "sparse.tar"])) == ["s0", "s2"]


def test_links_special_members_and_oversized_members_fail_their_samples(tmp_path: Path):
    jpeg = encoded(".jpg", textured(24, 32, 3))
    link = tarfile.TarInfo("b.json")
    link.type, link.linkname = tarfile.SYMTYPE, "a.json"
    hard = tarfile.TarInfo("c.jpg")
    hard.type, hard.linkname = tarfile.LNKTYPE, "a.jpg"
    fifo = tarfile.TarInfo("d.cls")
    fifo.type = tarfile.FIFOTYPE
    shard = _tar(tmp_path / "in" / "odd.tar", [
        _file("a.jpg", jpeg), _file("a.json", b"{}"),
        _file("b.jpg", jpeg), (link, None),
        (hard, None),
        _file("d.jpg", jpeg), (fifo, None),
        _file("e.jpg", jpeg + b"\0" * 5000),
        _file("f.jpg", jpeg),
    ])  # fmt: skip
    out = tmp_path / "out"
    done = blur_augment("run", "--input", str(shard.parent), "--output", str(out),
                        "--max_bytes", str(len(jpeg) + 100))  # fmt: skip
    assert done.returncode == 0, done.stderr
    errors = {e["key"]: e["message"] for e in error_rows(out)}  # named by the samples' images
    assert "sample b is not written: its member b.json is a symbolic link to 'a.json'" in errors[
        "odd.tar#b.jpg"]  # fmt: skip
    assert "c.jpg is a hard link to 'a.jpg'" in errors["odd.tar#c.jpg"]
    assert "d.cls is a FIFO" in errors["odd.tar#d.jpg"]
    assert "over --max_bytes" in errors["odd.tar#e.jpg"]
    assert len(errors) == 4
    written = read_webdataset([out / "odd.tar"])
    assert sorted(s["__key__"] for s in written) == ["a", "f"]
    assert sorted(r["key"] for r in log_rows(out)) == ["odd.tar#a.jpg", "odd.tar#f.jpg"]


def test_duplicate_and_clashing_sample_names_are_never_written_twice(tmp_path: Path):
    jpegs = [encoded(".jpg", textured(24, 32, 3, seed=i)) for i in range(6)]
    shard = _tar(tmp_path / "in" / "dup.tar", [
        _file("x.jpg", jpegs[0]), _file("x_blur0.jpg", jpegs[1]),  # x's copy 0 takes that name
        _file("y.jpg", jpegs[2]), _file("z.jpg", jpegs[3]), _file("y.jpg", jpegs[4]),
        _file("w.jpg", jpegs[5]), _file("w.cls", b"1"), _file("w.cls", b"2"),
    ])  # fmt: skip
    out = tmp_path / "out"
    done = blur_augment("run", "--input", str(shard.parent), "--output", str(out),
                        "--include_originals")  # fmt: skip
    assert done.returncode == 0, done.stderr
    errors = sorted((e["key"], e["copy_index"]) for e in error_rows(out))
    assert errors == [
        ("dup.tar#w.jpg", -1), ("dup.tar#w.jpg", 0),
        ("dup.tar#x.jpg", 0),
        ("dup.tar#x_blur0.jpg", -1), ("dup.tar#x_blur0.jpg", 0),
        ("dup.tar#y.jpg", -1), ("dup.tar#y.jpg", -1), ("dup.tar#y.jpg", 0), ("dup.tar#y.jpg", 0),
    ]  # fmt: skip
    written = read_webdataset([out / "dup.tar"])  # webdataset refuses duplicate samples
    assert [s["__key__"] for s in written] == ["x", "z", "z_blur0"]
    rows = {(r["key"], r["copy_index"]): r for r in log_rows(out)}
    assert sorted(rows) == [("dup.tar#x.jpg", -1), ("dup.tar#z.jpg", -1), ("dup.tar#z.jpg", 0)]
    for sample in written:  # each logged member is the one its row describes
        row = rows[(f"dup.tar#{sample['__key__'].split('_blur')[0]}.jpg",
                    0 if "_blur" in sample["__key__"] else -1)]  # fmt: skip
        assert hashlib.sha256(sample["jpg"]).hexdigest() == row["output_sha256"]


# -- COCO and YAML ---------------------------------------------------------------------------


def test_odd_coco_entries_are_error_rows_and_the_rest_is_written(tmp_path: Path):
    from pycocotools.coco import COCO

    root = coco(tmp_path / "ds")
    path = root / "annotations" / "instances_train2017.json"
    data = json.loads(path.read_text())
    for name in ("e.jpg", "f.jpg", "g.jpg"):
        image(root / "train2017" / name)
    data["images"] += [
        {"id": "seven", "file_name": "e.jpg", "width": 64, "height": 48},  # a string id
        {"file_name": "f.jpg", "width": 64, "height": 48},  # no id
        17,  # a number
        {"id": 99, "file_name": "g.jpg", "width": 64, "height": 48},
        {"id": 99, "file_name": "c.jpg", "width": 640, "height": 480},  # c.jpg listed twice
    ]
    data["annotations"].append({"id": 5000, "image_id": {"odd": 1}, "bbox": [1, 2, 3, 4]})
    path.write_text(json.dumps(data))
    out = tmp_path / "out"
    done = blur_augment("run", "--input", str(root), "--output", str(out), "--copies", "2")
    assert done.returncode == 0, done.stderr
    errors = {(e["key"], e["copy_index"]): e["message"] for e in error_rows(out)}
    json_key = "annotations/instances_train2017.json"
    assert "images[5] is int, not an object" in errors[(json_key, -1)]
    assert "has no integer id (id: 'seven')" in errors[("train2017/e.jpg", 0)]
    assert "has no integer id (id: None)" in errors[("train2017/f.jpg", 0)]
    assert "shares id 99 with" in errors[("train2017/g.jpg", 0)]
    assert ("train2017/c.jpg", 0) in errors  # listed twice: ambiguous, refused
    written = COCO(str(out / json_key))
    copies = [im for im in written.dataset["images"] if "_blur0" in str(im.get("file_name"))]
    assert sorted(im["file_name"] for im in copies) == ["a_blur0.jpg", "b_blur0.jpg"]
    for copy in copies:  # a copy has its own source's size and boxes, never another's
        source = next(i for i in data["images"] if isinstance(i, dict) and i.get(
            "file_name") == copy["file_name"].replace("_blur0", ""))  # fmt: skip
        assert (copy["width"], copy["height"]) == (source["width"], source["height"])
        boxes = [a["bbox"] for a in written.imgToAnns[copy["id"]]]
        assert boxes == [a["bbox"] for a in data["annotations"] if a["image_id"] == source["id"]]


def test_a_json_nested_deeply_fails_in_one_line_in_little_memory(tmp_path: Path):
    root = coco(tmp_path / "ds")
    path = root / "annotations" / "instances_train2017.json"
    data = json.loads(path.read_text())
    deep = '{"info": ' + "[" * 100_000 + "]" * 100_000 + ", " + json.dumps(data)[1:]
    path.write_text(deep)
    done, peak = measured("run", "--input", str(root), "--output", str(tmp_path / "out"))
    assert done.returncode == 1, done.stderr
    assert peak < 700, f"peak {peak} MB"
    [line] = done.stderr.strip().splitlines()
    assert "instances_train2017.json" in line and "nested more than 64 levels" in line


def test_a_yaml_alias_bomb_is_refused_at_launch(tmp_path: Path):
    from tests.support.datasets import yolo

    root = yolo(tmp_path / "ds")
    levels = ["a: &a [x, x, x, x, x, x, x, x, x]"] + [
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]" for i in range(8)
    ]
    (root / "data.yaml").write_text(
        "\n".join(levels) + "\ntrain: images/train\nval: images/val\nnames: {0: cat, 1: dog}\n"
    )
    done, peak = measured("run", "--input", str(root), "--output", str(tmp_path / "out"))
    assert done.returncode == 2, done.stderr
    assert peak < 600
    [line] = done.stderr.strip().splitlines()
    assert "data.yaml" in line and "through its aliases" in line


# -- output and input ----------------------------------------------------------------------


def test_the_output_inside_the_input_through_a_symlink_is_refused(tmp_path: Path):
    root = tmp_path / "in"
    image(root / "sub" / "x.jpg")
    os.symlink(root / "sub", tmp_path / "shortcut")
    for option in ("--output", "--log"):
        args = ["--output", str(tmp_path / "out")] if option == "--log" else []
        done = blur_augment("run", "--input", str(root), *args, option,
                            str(tmp_path / "shortcut" / "blurred"))  # fmt: skip
        assert done.returncode == 2, done.stderr
        assert f"{option} " in done.stderr and "inside the input tree" in done.stderr
    assert not (root / "sub" / "blurred").exists()


# -- faithful TIFFs and quiet runs ----------------------------------------------------------


def _tiff_with_bad_strip_counts() -> bytes:
    """A TIFF whose StripByteCounts lists 3 of its 8 strips: tifffile logs an error and fills
    the rest with zeros, so the file is damaged, not an image."""
    import struct

    import tifffile

    buffer = io.BytesIO()
    tifffile.imwrite(buffer, textured(64, 80, 3), photometric="rgb", rowsperstrip=8)
    data = bytearray(buffer.getvalue())
    ifd = struct.unpack_from("<I", data, 4)[0]
    for i in range(struct.unpack_from("<H", data, ifd)[0]):
        if struct.unpack_from("<H", data, ifd + 2 + 12 * i)[0] == 279:
            struct.pack_into("<I", data, ifd + 2 + 12 * i + 4, 3)
    return bytes(data)


def test_tiffs_keep_orientation_and_resolution_and_damage_is_an_error_row(tmp_path: Path):
    import tifffile

    root = tmp_path / "in"
    root.mkdir()
    for orientation in range(1, 9):
        tifffile.imwrite(root / f"o{orientation}.tif", textured(20, 36, 3, seed=orientation),
                         photometric="rgb", resolution=(300, 300), resolutionunit="INCH",
                         extratags=[(274, "H", 1, orientation, False)])  # fmt: skip
    (root / "damaged.tif").write_bytes(_tiff_with_bad_strip_counts())
    out = tmp_path / "out"
    done = blur_augment("run", "--input", str(root), "--output", str(out))
    assert done.returncode == 0, done.stderr
    summary_lines(done)  # tifffile's own log lines never reach stderr
    assert "tifffile" not in done.stderr
    [error] = error_rows(out)
    assert error["key"] == "damaged.tif" and "incorrect StripByteCounts" in error["message"]
    rows = {r["key"]: r for r in log_rows(out)}
    for orientation in range(1, 9):
        name = f"o{orientation}.tif"
        source, copy = Image.open(root / name), Image.open(out / name)
        assert copy.getexif().get(274) == orientation == rows[name]["exif_orientation"]
        assert copy.info.get("dpi") == source.info.get("dpi") == (300, 300)
        # a viewer (Pillow applies the tag) shows the copy the way up it shows the source
        assert ImageOps.exif_transpose(copy).size == ImageOps.exif_transpose(source).size
        assert copy.size == source.size  # pixels as stored


def test_a_parquet_shard_with_duplicate_columns_is_an_error_row_quietly(tmp_path: Path):
    root = tmp_path / "in"
    root.mkdir()
    jpeg = encoded(".jpg", textured(24, 32, 3))
    table = pa.Table.from_arrays([pa.array([jpeg]), pa.array([1]), pa.array([2])],
                                 names=["image", "label", "label"])  # fmt: skip
    pq.write_table(table, root / "dup.parquet")
    out = tmp_path / "out"
    done = blur_augment("run", "--input", str(root), "--output", str(out), "--image_column",
                        "image")  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary_lines(done)
    assert "Exception ignored" not in done.stderr
    [error] = error_rows(out)
    assert error["key"] == "dup.parquet" and "several columns named 'label'" in error["message"]


# -- typos and messages ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typo", "suggestion"),
    [("--max_sigms", "--max_sigma"), ("--copy", "--copies"), ("--direct_num_worker",
                                                              "--direct_num_workers")],
)  # fmt: skip
def test_unknown_options_are_refused_with_the_closest_one(tmp_path: Path, typo, suggestion):
    image(tmp_path / "in" / "x.jpg")
    done = blur_augment("run", "--input", str(tmp_path / "in"), "--output",
                        str(tmp_path / "out"), typo, "9")  # fmt: skip
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert f"unknown option {typo}" in line and f"did you mean {suggestion}?" in line
    assert not (tmp_path / "out").exists()


def test_no_error_row_is_a_bare_exception_text():
    from blur_augment.transforms.codec import ImageError
    from blur_augment.transforms.errors import error_row

    assert (
        error_row("k", "u", 0, "decode", ZeroDivisionError("division by zero"))["message"]
        == "the image cannot be decoded (a field that must not be zero is zero)"
    )
    assert error_row("k", "u", 0, "decode", IndexError("list index out of range"))["message"] == (
        "the image cannot be decoded (a field points outside the data (truncated or inconsistent))"
    )
    assert error_row("k", "u", 0, "decode", ImageError("a clear reason"))["message"] == (
        "a clear reason")  # fmt: skip


# -- reports with perfect bins -----------------------------------------------------------------


@pytest.mark.parametrize("value", [0, 1])
def test_reports_draw_bins_whose_metric_is_all_0_or_all_1(tmp_path: Path, capsys, value):
    from tests.support.command import cli

    root = tmp_path / "in"
    for i in range(30):
        image(root / f"img{i:02d}.png", i)
    out = tmp_path / "out"
    assert blur_augment("run", "--input", str(root), "--output", str(out)).returncode == 0
    results = tmp_path / "results.csv"
    keys = sorted(r["key"] for r in log_rows(out))
    results.write_text("key,correct\n" + "".join(f"{k},{value}\n" for k in keys))
    chart, page = tmp_path / "chart.png", tmp_path / "page.html"
    code, _, err = cli(capsys, "report", str(out / "_blur_log"), "--results", str(results),
                          "--bins", "3", "--plot", str(chart), "--html", str(page))  # fmt: skip
    assert code == 0, err
    assert Image.open(chart).size[0] > 100 and "data:image/png;base64," in page.read_text()
    code, data, err = cli(capsys, "report", str(out / "_blur_log"), "--results", str(results),
                          "--bins", "3", "--format", "json")  # fmt: skip
    assert code == 0, err
    bins = [b for b in json.loads(data) if b["images"]]
    assert bins and all(b["mean_correct"] == value for b in bins)
    assert all(b["ci95_low"] <= value <= b["ci95_high"] for b in bins)  # clamped, not NaN


# -- the fallbacks -------------------------------------------------------------------------


def test_without_libturbojpeg_the_note_is_one_line_and_the_run_quiet(tmp_path: Path):
    """The world of a machine without the system package, forced without uninstalling it:
    PyTurboJPEG's own search runs with the library hidden."""
    for i in range(3):
        image(tmp_path / "in" / f"x{i}.jpg", i)
    out = tmp_path / "out"
    done = blur_augment("run", "--input", str(tmp_path / "in"), "--output", str(out),
                        env={"BLUR_AUGMENT_LIBTURBOJPEG": "none"})  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = summary_lines(done)
    [note] = [line for line in lines if "note:" in line]
    assert "libturbojpeg was not found" in note and "libturbojpeg0" in note
    assert {r["codec_path"] for r in log_rows(out)} == {"pixels"}


def test_the_missing_library_reason_is_one_line(monkeypatch):
    from blur_augment.transforms import jpeg_planes

    monkeypatch.setenv(jpeg_planes.LIBRARY_ENV, "none")
    jpeg_planes._library.cache_clear()
    try:
        reason = jpeg_planes.missing_reason()
    finally:
        monkeypatch.delenv(jpeg_planes.LIBRARY_ENV)
        jpeg_planes._library.cache_clear()
    assert reason and "\n" not in reason and "Unable to locate turbojpeg" in reason


def test_names_on_gcs_are_listed_exactly(gcs_client, bucket_name, tmp_path: Path):
    bucket = gcs_client.bucket(bucket_name)
    names = ["photos [2019]/a.jpg", "sub[1]/b.jpg", "sub1/c.jpg", "q?/d.jpg", "a\\b.jpg",
             "a/b.jpg"]  # fmt: skip
    for seed, name in enumerate(names):
        bucket.blob(f"in/{name}").upload_from_string(
            encoded(".jpg", textured(20, 24, 3, seed=seed))
        )
    prefix = f"gs://{bucket_name}"
    done = blur_augment("run", "--input", f"{prefix}/in", "--output", f"{prefix}/out")
    assert done.returncode == 0, done.stderr
    from tests.support.command import read_log_from_gcs

    log = read_log_from_gcs(gcs_client, bucket_name, "out/_blur_log/")
    assert sorted(log.column("key").to_pylist()) == sorted(names)
    written = {b.name for b in gcs_client.list_blobs(bucket_name, prefix="out/")}
    assert {f"out/{n}" for n in names} <= written
