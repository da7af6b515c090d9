"""Datasets in, bigger datasets out: every layout, opened by the loaders users have.

Each dataset is generated (tests/support/datasets.py), run through the command as a user would
run it, and the output opened with supervision and pycocotools: every copy must carry exactly its
source's annotations, and no mask may differ from its source by a single byte.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import supervision as sv
import yaml

from blur_augment.pipeline.cli import main
from tests.support import datasets
from tests.support.helpers import textured, write_image


def run(source: Path, out: Path, *extra: str, capsys=None) -> tuple[int, str]:
    status = main(
        ["run", "--input", str(source), "--output", str(out), "--seed", "3", "--max_sigma", "2",
         *extra]
    )  # fmt: skip
    err = capsys.readouterr().err if capsys else ""
    return status, err


def log_rows(out: Path) -> list[dict]:
    return pq.read_table(out / "_blur_log").to_pylist()


def error_rows(out: Path) -> list[dict]:
    folder = out / "_blur_errors"
    return pq.read_table(folder).to_pylist() if any(folder.glob("*.parquet")) else []


def same_detections(a: sv.Detections, b: sv.Detections, masks: bool = False) -> None:
    assert len(a) == len(b)
    np.testing.assert_array_equal(a.xyxy, b.xyxy)
    np.testing.assert_array_equal(a.class_id, b.class_id)
    if masks:
        np.testing.assert_array_equal(a.mask, b.mask)


@pytest.mark.parametrize("variant", ["ultralytics", "roboflow"])
def test_yolo_copies_carry_their_labels(tmp_path: Path, variant: str, capsys):
    source = datasets.yolo(tmp_path / "ds", variant)
    out = tmp_path / "out"
    status, err = run(source, out, "--copies", "2", "--include_originals", capsys=capsys)
    assert status == 0, err
    assert f"dataset: yolo ({variant}); splits:" in err and "augmented: train" in err
    val = "val" if variant == "ultralytics" else "valid"

    def folder(kind: str, split: str) -> Path:
        return (out / kind / split) if variant == "ultralytics" else (out / split / kind)

    data_yaml = yaml.safe_load((out / "data.yaml").read_text())
    assert data_yaml["path"] == str(out) and data_yaml["names"] in (
        {0: "cat", 1: "dog"},
        ["cat", "dog"],
    )
    for split_key, split in (("train", "train"), ("val", val)):
        assert (out / data_yaml[split_key]).resolve() == folder("images", split).resolve()
    loaded = sv.DetectionDataset.from_yolo(
        str(folder("images", "train")), str(folder("labels", "train")), str(out / "data.yaml")
    )
    assert loaded.classes == ["cat", "dog"]
    by_name = {Path(p).name: d for p, d in loaded.annotations.items()}
    assert len(by_name) == 9  # a, b, c and two copies of each
    for stem in ("a", "b", "c"):
        for k in (0, 1):
            same_detections(by_name[f"{stem}_blur{k}.jpg"], by_name[f"{stem}.jpg"])
    assert len(by_name["a_blur0.jpg"]) == 2 and len(by_name["c_blur1.jpg"]) == 0
    # label files are the source's bytes; the background image stays without one
    labels = folder("labels", "train")
    assert (labels / "b_blur1.txt").read_text() == datasets.YOLO_LABELS["b"]
    assert not (labels / "c_blur0.txt").exists() and not (labels / "c.txt").exists()
    # val: copied as it is, never blurred
    assert (folder("images", val) / "d.jpg").read_bytes() == (
        (source / "images" / "val" / "d.jpg")
        if variant == "ultralytics"
        else (source / "valid" / "images" / "d.jpg")
    ).read_bytes()
    assert not list(folder("images", val).glob("*_blur*"))
    assert (out / "README.roboflow.txt").exists()
    rows = log_rows(out)
    assert {(r["split"], r["copy_index"]) for r in rows} == {
        ("train", -1), ("train", 0), ("train", 1), (val, -1)
    }  # fmt: skip
    row = next(r for r in rows if r["key"].endswith("a.jpg") and r["copy_index"] == 1)
    assert row["label_uris"] == [str(labels / "a_blur1.txt")]
    metadata = json.loads(pq.read_schema(next((out / "_blur_log").glob("*.parquet"))).metadata[
        b"blur_augment"])  # fmt: skip
    assert metadata["dataset"]["kind"] == "yolo" and metadata["dataset"]["augmented_splits"] == [
        "train"
    ]


def test_yolo_without_originals_writes_copies_and_points_val_at_the_source(tmp_path: Path):
    roboflow = datasets.yolo(tmp_path / "rf", "roboflow")
    assert run(roboflow, tmp_path / "rf_out", "--copies", "1")[0] == 0
    data_yaml = yaml.safe_load((tmp_path / "rf_out" / "data.yaml").read_text())
    assert data_yaml["train"] == "train/images" and data_yaml["val"] == f"{roboflow}/valid/images"
    source = datasets.yolo(tmp_path / "ds")
    out = tmp_path / "out"
    assert run(source, out, "--copies", "1")[0] == 0
    images = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.jpg"))
    assert images == ["images/train/a.jpg", "images/train/b.jpg", "images/train/c.jpg"]
    assert sorted(p.name for p in (out / "labels" / "train").iterdir()) == ["a.txt", "b.txt"]
    data_yaml = yaml.safe_load((out / "data.yaml").read_text())
    assert data_yaml["train"] == "images/train"
    assert data_yaml["val"] == f"{source}/images/val"
    assert not (out / "README.roboflow.txt").exists()


@pytest.mark.parametrize("variant", ["2017", "images", "roboflow"])
def test_coco_json_lists_every_written_copy(tmp_path: Path, variant: str, capsys):
    from pycocotools.coco import COCO

    source = datasets.coco(tmp_path / "ds", variant)
    out = tmp_path / "out"
    status, err = run(source, out, "--copies", "2", "--include_originals", capsys=capsys)
    assert status == 0, err
    train, val = {"2017": ("train2017", "val2017"), "images": ("train", "val")}.get(
        variant, ("train", "valid")
    )
    images = out / "images" / train if variant == "images" else out / train
    if variant == "roboflow":
        annotations = images / "_annotations.coco.json"
    else:
        annotations = out / "annotations" / f"instances_{train}.json"
    api = COCO(str(annotations))
    names = {img["file_name"]: img for img in api.dataset["images"]}
    assert sorted(names) == sorted(
        f"{s}{suffix}.jpg" for s in "abc" for suffix in ("", "_blur0", "_blur1")
    )
    assert len({img["id"] for img in api.dataset["images"]}) == 9
    assert len({a["id"] for a in api.dataset["annotations"]}) == len(api.dataset["annotations"])
    assert api.dataset["categories"] == datasets.coco_json([])["categories"]
    assert api.dataset["info"] == {"description": "test set", "year": 2026}
    for stem in "abc":
        original = api.loadAnns(api.getAnnIds(imgIds=names[f"{stem}.jpg"]["id"], iscrowd=None))
        for k in (0, 1):
            copy = names[f"{stem}_blur{k}.jpg"]
            assert (copy["width"], copy["height"]) == (datasets.W, datasets.H)
            copied = api.loadAnns(api.getAnnIds(imgIds=copy["id"], iscrowd=None))
            strip = [{k: v for k, v in a.items() if k not in ("id", "image_id")} for a in copied]
            assert strip == [
                {k: v for k, v in a.items() if k not in ("id", "image_id")} for a in original
            ]
            for a, b in zip(copied, original, strict=True):  # masks from polygons and RLE
                np.testing.assert_array_equal(api.annToMask(a), api.annToMask(b))
    loaded = sv.DetectionDataset.from_coco(str(images), str(annotations), force_masks=True)
    by_name = {Path(p).name: d for p, d in loaded.annotations.items()}
    for stem in "abc":
        for k in (0, 1):
            same_detections(by_name[f"{stem}_blur{k}.jpg"], by_name[f"{stem}.jpg"], masks=True)
    if variant == "2017":
        captions = json.loads((out / "annotations" / f"captions_{train}.json").read_text())
        assert len(captions["images"]) == 9 and len(captions["annotations"]) == 9
        val_json = out / "annotations" / f"instances_{val}.json"
        assert val_json.read_bytes() == (source / "annotations" / val_json.name).read_bytes()


def test_coco_without_originals_lists_only_the_copies(tmp_path: Path, capsys):
    source = datasets.coco(tmp_path / "ds")
    write_image(source / "train2017" / "unlisted.jpg", textured(8, 8, 3))
    out = tmp_path / "out"
    status, err = run(source, out, "--copies", "1", capsys=capsys)
    assert status == 0, err
    assert "WARNING: 1 images are listed in no COCO JSON of their split" in err
    data = json.loads((out / "annotations" / "instances_train2017.json").read_text())
    assert sorted(i["file_name"] for i in data["images"]) == ["a.jpg", "b.jpg", "c.jpg"]
    assert (out / "train2017" / "unlisted.jpg").exists()
    assert min(i["id"] for i in data["images"]) > 21  # new ids, above the source's
    assert not (out / "annotations" / "instances_val2017.json").exists()
    assert not (out / "val2017").exists()


@pytest.mark.parametrize("variant", ["devkit", "roboflow"])
def test_voc_copies_carry_xml_masks_and_list_lines(tmp_path: Path, variant: str, capsys):
    source = datasets.voc(tmp_path / "ds", variant)
    out = tmp_path / "out"
    status, err = run(source, out, "--copies", "2", "--include_originals", capsys=capsys)
    assert status == 0, err
    images = out / "JPEGImages" if variant == "devkit" else out / "train"
    xmls = out / "Annotations" if variant == "devkit" else out / "train"
    loaded = sv.DetectionDataset.from_pascal_voc(str(images), str(xmls))
    by_name = {Path(p).name: d for p, d in loaded.annotations.items()}
    for stem in ("2008_000001", "2008_000002"):
        for k in (0, 1):
            same_detections(by_name[f"{stem}_blur{k}.jpg"], by_name[f"{stem}.jpg"])
    assert len(by_name["2008_000001_blur1.jpg"]) == 2
    assert not (xmls / "2008_000003_blur0.xml").exists()  # no XML: none for its copies either
    assert (images / "2008_000003_blur0.jpg").exists()
    text = (xmls / "2008_000001_blur1.xml").read_text()
    assert "<filename>2008_000001_blur1.jpg</filename>" in text
    assert f"<path>{images / '2008_000001_blur1.jpg'}</path>" in text
    if variant == "roboflow":
        assert (
            not list((out / "valid").glob("*_blur*"))
            and (out / "valid" / "2008_000004.xml").exists()
        )
        return
    for folder in ("SegmentationClass", "SegmentationObject"):
        for stem in ("2008_000001", "2008_000002"):
            original = (source / folder / f"{stem}.png").read_bytes()
            for name in (f"{stem}.png", f"{stem}_blur0.png", f"{stem}_blur1.png"):
                assert (out / folder / name).read_bytes() == original  # masks: never blurred
    main_train = (out / "ImageSets" / "Main" / "train.txt").read_text().split()
    assert main_train == [f"2008_00000{i}{s}" for i in (1, 2, 3) for s in ("", "_blur0", "_blur1")]
    cat_train = (out / "ImageSets" / "Main" / "cat_train.txt").read_text().splitlines()
    assert cat_train[:3] == ["2008_000001  1", "2008_000001_blur0  1", "2008_000001_blur1  1"]
    assert cat_train[3:6] == ["2008_000002 -1", "2008_000002_blur0 -1", "2008_000002_blur1 -1"]
    seg_train = (out / "ImageSets" / "Segmentation" / "train.txt").read_text().split()
    assert seg_train == [f"2008_00000{i}{s}" for i in (1, 2) for s in ("", "_blur0", "_blur1")]
    val = (out / "ImageSets" / "Main" / "val.txt").read_text()
    assert val == (source / "ImageSets" / "Main" / "val.txt").read_text()
    assert not list(out.glob("JPEGImages/2008_000004_blur*"))
    rows = log_rows(out)
    row = next(r for r in rows if r["key"] == "JPEGImages/2008_000001.jpg" and r["copy_index"] == 0)
    assert row["split"] == "train"
    assert sorted(Path(u).relative_to(out).as_posix() for u in row["label_uris"]) == [
        "Annotations/2008_000001_blur0.xml",
        "SegmentationClass/2008_000001_blur0.png",
        "SegmentationObject/2008_000001_blur0.png",
    ]


def test_plain_folder_masks_are_copied_and_excluded_files_left_out(tmp_path: Path, capsys):
    source = tmp_path / "ds"
    for seed, name in enumerate(("x", "y")):
        write_image(source / "images" / f"{name}.jpg", textured(24, 32, 3, seed=seed))
        write_image(
            source / "masks" / f"{name}.png",
            (textured(24, 32, 1, seed=seed) > 128).astype(np.uint8),
        )
    (source / "images" / "thumbs.db").write_bytes(b"junk")
    write_image(source / "previews" / "x.jpg", textured(24, 32, 3))
    out = tmp_path / "out"
    status, err = run(source, out, "--copies", "2", "--masks", "masks/*", "--exclude", "previews/*",
                      capsys=capsys)  # fmt: skip
    assert status == 0, err
    for name in ("x", "y"):
        for k in (0, 1):
            assert (out / "masks" / f"{name}_blur{k}.png").read_bytes() == (
                source / "masks" / f"{name}.png"
            ).read_bytes()
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.jpg")) == [
        f"images/{n}_blur{k}.jpg" for n in "xy" for k in (0, 1)
    ]
    assert "excluded 1" in err
    assert {r["key"] for r in log_rows(out)} == {"images/x.jpg", "images/y.jpg"}


def test_label_failures_are_error_rows_and_orphans_are_counted(tmp_path: Path, capsys):
    source = datasets.yolo(tmp_path / "ds")
    (source / "labels" / "train" / "b.txt").write_text("0 0.5 oops 0.1 0.1\n")
    (source / "labels" / "train" / "ghost.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    out = tmp_path / "out"
    status, err = run(source, out, "--copies", "2", "--include_originals", capsys=capsys)
    assert status == 0, err
    errors = error_rows(out)
    assert sorted((e["key"], e["copy_index"], e["stage"]) for e in errors) == [
        ("images/train/b.jpg", 0, "labels"),
        ("images/train/b.jpg", 1, "labels"),
    ]
    assert "labels/train/b.txt" in errors[0]["message"] and "not numeric" in errors[0]["message"]
    assert not list((out / "images" / "train").glob("b_blur*"))
    assert not list((out / "labels" / "train").glob("b_blur*"))
    assert "1 label files or index entries name an image that does not exist" in err
    assert not (out / "labels" / "train" / "ghost.txt").exists()


def test_coco_duplicate_and_escaping_file_names(tmp_path: Path):
    source = datasets.coco(tmp_path / "ds")
    path = source / "annotations" / "instances_train2017.json"
    data = json.loads(path.read_text())
    data["images"].append({**data["images"][0], "id": 99})  # a.jpg listed twice
    data["images"].append({"id": 98, "file_name": "../val2017/d.jpg", "width": 1, "height": 1})
    path.write_text(json.dumps(data))
    out = tmp_path / "out"
    assert run(source, out, "--copies", "1", "--include_originals")[0] == 0
    errors = sorted((e["key"], e["copy_index"], e["stage"]) for e in error_rows(out))
    assert errors == [
        ("annotations/instances_train2017.json", -1, "labels"),
        ("train2017/a.jpg", 0, "labels"),
    ]
    written = json.loads(path.name and (out / "annotations" / path.name).read_text())
    names = [i["file_name"] for i in written["images"]]
    assert "a_blur0.jpg" not in names and "b_blur0.jpg" in names
    assert not (out / "train2017" / "a_blur0.jpg").exists()
    assert (out / "train2017" / "a.jpg").exists()  # the original, listed as it was


def test_unknown_split_is_a_usage_error(tmp_path: Path, capsys):
    source = datasets.yolo(tmp_path / "ds")
    status, err = run(source, tmp_path / "out", "--splits", "training", capsys=capsys)
    assert status == 2
    assert "no split training" in err and "splits: train, val" in err


def test_coco_panoptic_pngs_are_copied_and_renamed_in_the_json(tmp_path: Path):
    source = datasets.coco(tmp_path / "ds")
    folder = source / "annotations" / "panoptic_train2017"
    segments = []
    for i, name in enumerate(("a", "b")):
        png = np.zeros((datasets.H, datasets.W, 3), np.uint8)
        png[4:20, 4:30] = (i + 1, 0, 0)
        write_image(folder / f"{name}.png", png)
        segments.append(
            {"image_id": 1 + 10 * i, "file_name": f"{name}.png",
             "segments_info": [{"id": i + 1, "category_id": 1, "area": 416, "iscrowd": 0,
                                "bbox": [4, 4, 26, 16]}]}
        )  # fmt: skip
    panoptic = {**datasets.coco_json(["a.jpg", "b.jpg", "c.jpg"]), "annotations": segments}
    (source / "annotations" / "panoptic_train2017.json").write_text(json.dumps(panoptic))
    out = tmp_path / "out"
    assert run(source, out, "--copies", "2", "--include_originals")[0] == 0
    for name in ("a", "b"):
        for k in (0, 1):
            assert (
                out / "annotations" / "panoptic_train2017" / f"{name}_blur{k}.png"
            ).read_bytes() == (folder / f"{name}.png").read_bytes()
    data = json.loads((out / "annotations" / "panoptic_train2017.json").read_text())
    image_of = {i["id"]: i["file_name"] for i in data["images"]}
    pairs = sorted((image_of[a["image_id"]], a["file_name"]) for a in data["annotations"])
    assert pairs == sorted(
        (f"{n}{s}.jpg", f"{n}{s}.png") for n in "ab" for s in ("", "_blur0", "_blur1")
    )
    assert all(len(a["segments_info"]) == 1 for a in data["annotations"])
