"""The article's scenes through the command: objects that move in a still frame (--blur none
--object_blur), a shaking camera over moving objects (--blur shake --object_blur motion), on
COCO, YOLO and Pascal VOC datasets. Every copy's every object has its row in the object table,
a COCO object's row names its annotation in the output JSON, pixels away from the objects keep
their values exactly (PNG), and the run is refused at launch on a dataset without labels."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import cv2
import duckdb
import numpy as np
import pyarrow.parquet as pq
import pytest

from blur_augment.pipeline.cli import main
from blur_augment.transforms import objects
from blur_augment.transforms.job import BlurJob
from blur_augment.transforms.sampling import BlurSpec, KindRanges
from tests.support import datasets
from tests.support.command import cli
from tests.support.detector import coco_shapes, detect, image_of
from tests.support.helpers import textured, write_image

STILL_CAMERA = ("--blur", "none", "--object_blur", "motion", "--motion_length", "6,12")


def run(source: Path, out: Path, *extra: str) -> None:
    args = ["run", "--input", str(source), "--output", str(out), "--seed", "5", *extra]
    assert main(args) == 0


def table(folder: Path) -> list[dict]:
    return sorted(pq.read_table(folder).to_pylist(),
                  key=lambda r: (r["key"], r["copy_index"], r.get("object_index", 0)))  # fmt: skip


def test_coco_objects_name_their_annotations_in_the_output_json(tmp_path: Path, capsys):
    source = datasets.coco(tmp_path / "coco")
    out = tmp_path / "out"
    run(source, out, *STILL_CAMERA, "--copies", "2")
    log, found = table(out / "_blur_log"), table(out / "_blur_objects")
    output = json.loads((out / "annotations" / "instances_train2017.json").read_text())
    images = {i["id"]: i["file_name"] for i in output["images"]}
    annotations = {a["id"]: a for a in output["annotations"]}
    given = json.loads((source / "annotations" / "instances_train2017.json").read_text())
    by_source = {a["id"]: a for a in given["annotations"]}
    # every copy's every object (captions are no objects; c.jpg has none)
    expected = {(r["key"], r["copy_index"]) for r in log if r["key"] != "train2017/c.jpg"}
    assert {(r["key"], r["copy_index"]) for r in found} == expected
    assert len(found) == 2 * len(expected)
    for row in found:
        copy = annotations[row["annotation_id"]]
        assert Path(row["output_uri"]).name == images[copy["image_id"]]
        assert copy["bbox"] == by_source[row["source_annotation_id"]]["bbox"]
        assert [row["box_x"], row["box_y"], row["box_width"], row["box_height"]] == copy["bbox"]
        assert row["mask"] == ("polygon" if row["object_index"] == 0 else "mask")
        assert row["applied"] and row["blur_kind"] == "motion"
        assert 6 <= row["motion_length"] <= 12
    for row in log:
        moved = [o for o in found if (o["key"], o["copy_index"]) == (row["key"], row["copy_index"])]
        assert row["objects_blurred"] == len(moved) and row["blur_kind"] == "none"
        assert row["codec_path"] == ("pixels" if moved else "none")  # objects move on pixels
    capsys.readouterr()
    code, stdout, err = cli(capsys, "query", str(out / "_blur_log"), "SELECT count(*) AS n, "
                            "count(DISTINCT annotation_id) AS ids FROM blur_objects WHERE applied",
                            "--format", "csv")  # fmt: skip
    assert code == 0, err
    assert stdout.split() == ['"n","ids"', "8,8"]
    code, stdout, err = cli(capsys, "summary", str(out / "_blur_log"))
    assert code == 0, err
    assert "objects: 8 in 4 copies, 8 blurred (100.0%)" in stdout
    assert "  motion 8: motion_length " in stdout  # each kind with its ranges


@pytest.mark.parametrize("layout", ["yolo", "voc"])
def test_yolo_and_voc_objects_have_a_row_each_in_label_order(tmp_path: Path, layout: str):
    source = getattr(datasets, layout)(tmp_path / layout)
    out = tmp_path / "out"
    run(source, out, *STILL_CAMERA, "--object_probability", "0.5", "--copies", "3")
    found = table(out / "_blur_objects")
    for row in table(out / "_blur_log"):
        stem = Path(row["key"]).stem
        expected = _expected_objects(layout, stem)
        mine = [o for o in found if (o["key"], o["copy_index"]) == (row["key"], row["copy_index"])]
        assert [o["object_index"] for o in mine] == list(range(len(expected)))
        assert [(o["box_x"], o["box_y"], o["box_width"], o["box_height"]) for o in mine] == [
            e.box for e in expected]  # fmt: skip
        assert [o["category"] for o in mine] == [e.category for e in expected]
        assert all(o["annotation_id"] is None for o in mine)  # no ids in these formats
        assert row["objects_blurred"] == sum(o["applied"] for o in mine)
    assert 0 < sum(o["applied"] for o in found) < len(found)  # --object_probability 0.5


def _expected_objects(layout: str, stem: str) -> list[objects.SceneObject]:
    """An image's objects as the test datasets label them."""
    if layout == "yolo":
        labels = datasets.YOLO_LABELS.get(stem)
        return objects.from_yolo(labels.encode(), datasets.W, datasets.H) if labels else []
    if stem not in datasets.VOC_OBJECTS:
        return []
    return objects.from_voc(datasets.voc_xml("x.jpg", datasets.VOC_OBJECTS[stem], "f").encode())


def _png_yolo(root: Path) -> Path:
    """A YOLO dataset of PNGs: two images with a box and a polygon each, one without labels."""
    for seed, name in enumerate(["p", "q", "r"]):
        write_image(root / "images" / "train" / f"{name}.png", textured(60, 90, 3, seed=seed))
    labels = root / "labels" / "train"
    labels.mkdir(parents=True)
    (labels / "p.txt").write_text("0 0.3 0.4 0.2 0.3\n1 0.7 0.5 0.6 0.4 0.8 0.6 0.65 0.7\n")
    (labels / "q.txt").write_text("1 0.5 0.5 0.3 0.3\n")
    (root / "data.yaml").write_text("train: images/train\nnames:\n  0: car\n  1: bike\n")
    return root


def test_a_still_camera_keeps_every_pixel_away_from_the_objects(tmp_path: Path):
    source = _png_yolo(tmp_path / "png")
    out = tmp_path / "out"
    run(source, out, "--blur", "none", "--object_blur", "motion=1,shake=1", "--copies", "2")
    job = BlurJob(str(out), BlurSpec(kinds=KindRanges(weights=())), seed=5, copies=2,
                  objects=(("motion", 1.0), ("shake", 1.0)))  # fmt: skip
    for row in table(out / "_blur_log"):
        before = cv2.imread(str(source / row["key"]), cv2.IMREAD_UNCHANGED)
        after = cv2.imread(row["output_uri"], cv2.IMREAD_UNCHANGED)
        label = source / "labels" / "train" / (Path(row["key"]).stem + ".txt")
        if not label.exists():  # no objects: the source's own bytes
            assert Path(row["output_uri"]).read_bytes() == (source / row["key"]).read_bytes()
            continue
        found = objects.from_yolo(label.read_bytes(), 90, 60)
        draws = job.object_draws(row["key"], row["copy_index"], len(found))
        supports = [objects.support(o, 90, 60) for o in found]
        expected, count = objects.composite(before, supports, draws)
        assert np.array_equal(after, expected)  # the pure layer's pixels, exactly
        assert count == row["objects_blurred"] == len(found)
        near = np.zeros((60, 90), np.uint8)
        for where, params in zip(supports, draws, strict=True):
            kernel = objects.object_kernel(params, "uint8")
            reach = kernel.shape[0] // 2 + 1, kernel.shape[1] // 2 + 1
            rows, cols = where.pixels.shape
            near[max(where.top - reach[0], 0) : where.top + rows + reach[0],
                 max(where.left - reach[1], 0) : where.left + cols + reach[1]] = 1  # fmt: skip
        assert np.array_equal(after[near == 0], before[near == 0])  # the road stays as it was
        assert not np.array_equal(after, before)


def test_the_drone_shakes_the_frame_and_moves_the_objects(tmp_path: Path):
    source = datasets.coco(tmp_path / "coco")
    out = tmp_path / "out"
    run(source, out, "--blur", "shake", "--object_blur", "motion", "--copies", "1")
    log = {r["key"]: r for r in table(out / "_blur_log")}
    assert {r["blur_kind"] for r in log.values()} == {"shake"}
    assert log["train2017/a.jpg"]["objects_blurred"] == 2
    assert log["train2017/a.jpg"]["codec_path"] == "pixels"  # objects move on pixels
    without = log["train2017/c.jpg"]  # no objects: the frame alone, as stored planes
    assert without["objects_blurred"] == 0 and without["codec_path"] in ("yuv_planes", "pixels")
    shaken_only = tmp_path / "frame"
    run(source, shaken_only, "--blur", "shake", "--copies", "1")
    frame = {r["key"]: r for r in table(shaken_only / "_blur_log")}
    assert without["output_sha256"] == frame["train2017/c.jpg"]["output_sha256"]
    assert log["train2017/a.jpg"]["output_sha256"] != frame["train2017/a.jpg"]["output_sha256"]
    shown = duckdb.sql(f"select count(*) from '{out}/_blur_objects/*.parquet' where applied")
    assert shown.fetchall() == [(4,)]


def test_resume_rebuilds_the_object_rows(tmp_path: Path):
    source = datasets.voc(tmp_path / "voc")
    out = tmp_path / "out"
    run(source, out, *STILL_CAMERA, "--copies", "2")
    first_log, first_objects = table(out / "_blur_log"), table(out / "_blur_objects")
    (out / "JPEGImages" / "2008_000001_blur1.jpg").unlink()  # as a killed run leaves it
    run(source, out, *STILL_CAMERA, "--copies", "2", "--resume")
    assert table(out / "_blur_objects") == first_objects
    assert table(out / "_blur_log") == first_log


@pytest.mark.parametrize(
    ("make", "args", "message"),
    [
        ("plain", (), "--object_blur blurs the objects a dataset labels, and --input"),
        ("coco", ("--corruption", "motion_blur"), "--object_blur cannot be combined with"),
        ("coco", ("--object_probability", "2"), "--object_probability must lie in [0, 1]"),
    ],
)
def test_object_blur_is_refused_at_launch_in_one_line(tmp_path: Path, capsys, make, args,
                                                      message):  # fmt: skip
    if make == "plain":
        source = tmp_path / "plain"
        write_image(source / "x.jpg", textured(20, 20))
    else:
        source = datasets.coco(tmp_path / "coco")
    code, _, err = cli(capsys, "run", "--input", str(source), "--output", str(tmp_path / "o"),
                       "--object_blur", "motion", *args)  # fmt: skip
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "o").exists()


# -- evaluate --objects ----------------------------------------------------------------------


def _pycocotools_by_level(out: Path, results: list[dict], low: float, high: float,
                          bins: int) -> dict[str, list[float]]:  # fmt: skip
    """The reference: pycocotools' COCOeval with areaRng, each object's level (computed here
    from its motion_length alone) as its area, 0 for the objects left sharp."""
    coco = pytest.importorskip("pycocotools.coco")
    cocoeval = pytest.importorskip("pycocotools.cocoeval")
    gt = json.loads((out / "annotations" / "instances_val2017.json").read_text())
    level = {}
    for row in pq.read_table(out / "_blur_objects").to_pylist():
        step = min(int((row["motion_length"] - low) / (high - low) * bins), bins - 1)
        level[row["annotation_id"]] = step + 1 if row["applied"] else 0
    ours = [{**a, "area": float(level[a["id"]])} for a in gt["annotations"]]
    found: dict[str, list[float]] = {}
    for number in range(bins + 1):
        truth = coco.COCO()
        truth.dataset = {**gt, "annotations": ours}
        with contextlib.redirect_stdout(io.StringIO()):
            truth.createIndex()
            detected = truth.loadRes(results) if results else coco.COCO()
            for annotation in detected.dataset["annotations"]:
                annotation["area"] = float(number)  # inside every level (see the docs' rule)
            detected.createIndex()
            evaluation = cocoeval.COCOeval(truth, detected, "bbox")
            evaluation.params.areaRng = [[float(number), float(number)]]
            evaluation.params.areaRngLbl = ["all"]
            evaluation.evaluate()
            evaluation.accumulate()
            evaluation.summarize()
        stats = evaluation.stats
        found["clean" if number == 0 else str(number)] = [stats[0], stats[1], stats[2], stats[8]]
    return found


def test_evaluate_objects_is_cocoeval_with_levels_as_areas(tmp_path: Path, capsys):
    source = coco_shapes(tmp_path / "shapes", 8)
    out = tmp_path / "out"
    run(source, out, "--splits", "val2017", "--blur", "none", "--object_blur", "motion",
        "--motion_length", "2,30", "--object_probability", "0.7", "--copies", "2")  # fmt: skip
    capsys.readouterr()
    results = []
    ids = {i["file_name"]: i["id"] for i in json.loads(
        (out / "annotations" / "instances_val2017.json").read_text())["images"]}  # fmt: skip
    for row in table(out / "_blur_log"):
        for cls, box, score in detect(image_of(Path(row["output_uri"]))):
            results.append({"image_id": ids[Path(row["output_uri"]).name],
                            "category_id": cls + 1, "bbox": box, "score": score})  # fmt: skip
    predictions = tmp_path / "predictions.json"
    predictions.write_text(json.dumps(results))
    code, stdout, err = cli(capsys, "evaluate", str(out / "_blur_log"), "--predictions",
                            str(predictions), "--objects", "--bins", "3", "--bootstrap", "20",
                            "--format", "json")  # fmt: skip
    assert code == 0, err
    evaluation = json.loads(stdout)
    reference = _pycocotools_by_level(out, results, 2.0, 30.0, 3)
    rows = [evaluation["clean"], *evaluation["rows"]]
    assert [r["level"] for r in rows] == ["clean", "[2, 11.3)", "[11.3, 20.7)", "[20.7, 30]"]
    for row, number in zip(rows, reference, strict=True):
        assert row["objects"] > 0 and row["images"] == 16
        got = [row[m] for m in ("AP", "AP50", "AP75", "AR100")]
        assert np.allclose(got, reference[number], atol=1e-6), (row["level"], got)
        assert row["AP_low"] <= row["AP"] <= row["AP_high"]
    assert 0 < evaluation["rows"][-1]["AP"] < evaluation["clean"]["AP"]  # fast objects: lost
    page, chart = tmp_path / "objects.html", tmp_path / "objects.png"
    code, stdout, err = cli(capsys, "evaluate", str(out / "_blur_log"), "--predictions",
                            str(predictions), "--objects", "--bins", "3", "--bootstrap", "0",
                            "--html", str(page), "--plot", str(chart))  # fmt: skip
    assert code == 0, err
    assert stdout.startswith("level") and "objects" in stdout.splitlines()[0]
    assert "<th>objects</th>" in page.read_text() and chart.stat().st_size > 1000


@pytest.mark.parametrize("layout", ["coco", "yolo", "voc"])
def test_verify_remakes_the_drones_copies_byte_for_byte(tmp_path: Path, capsys, layout: str):
    source = getattr(datasets, layout)(tmp_path / layout)
    out = tmp_path / "out"
    run(source, out, "--blur", "shake", "--object_blur", "motion=1,shake=1", "--copies", "2")
    moved = sum(r["objects_blurred"] > 0 for r in table(out / "_blur_log"))
    assert moved >= 3
    capsys.readouterr()
    code, stdout, err = cli(capsys, "verify", str(out / "_blur_log"), "--recompute", "all")
    assert code == 0, stdout + err
    assert "6 copies made again from their sources" in stdout


def test_preview_streaks_a_dataset_images_objects_and_nothing_else(tmp_path: Path, capsys):
    source = _png_yolo(tmp_path / "png")
    image = source / "images" / "train" / "p.png"  # its labels are found by the YOLO rule
    sheet = tmp_path / "sheet.png"
    code, _, err = cli(capsys, "preview", str(image), "--object_blur", "motion", "--values",
                       "0,20", "--motion_angle", "0", "--out", str(sheet))  # fmt: skip
    assert code == 0, err
    pixels = cv2.imread(str(image))
    tiles = cv2.imread(str(sheet))
    top, gap, band = 4, 4, 28  # the grid's gap and each tile's caption band
    still = tiles[top + band : top + band + 60, gap : gap + 90]
    moved = tiles[top + band : top + band + 60, 3 * gap + 90 : 3 * gap + 180]
    assert np.array_equal(still, pixels)  # value 0: as it is
    found = objects.from_yolo((source / "labels" / "train" / "p.txt").read_bytes(), 90, 60)
    near = np.zeros((60, 90), bool)
    for obj in found:  # a horizontal streak of 20 pixels reaches 11 beyond each side
        x, y, w, h = obj.box
        near[max(int(y) - 1, 0) : int(y + h) + 2, max(int(x) - 12, 0) : int(x + w) + 13] = True
    near[:12, 90 - 70 :] = True  # the kernel's inset, top right
    assert np.array_equal(moved[~near], pixels[~near])
    assert not np.array_equal(moved[near], pixels[near])
    code, _, err = cli(capsys, "preview", str(source / "images" / "train" / "r.png"),
                       "--object_blur", "motion", "--out", str(sheet))  # fmt: skip
    assert code == 2 and "no labels found" in err


def test_a_malformed_annotation_is_its_images_error_row_and_the_run_goes_on(tmp_path: Path):
    source = datasets.coco(tmp_path / "coco")
    index = source / "annotations" / "instances_train2017.json"
    data = json.loads(index.read_text())
    data["annotations"][0]["segmentation"] = [[1, 2, "x", 4, 5, 6]]  # a.jpg's first object
    index.write_text(json.dumps(data))
    out = tmp_path / "out"
    run(source, out, *STILL_CAMERA)
    [error] = pq.read_table(out / "_blur_errors").to_pylist()
    assert (error["key"], error["stage"]) == ("train2017/a.jpg", "labels")
    assert sorted(r["key"] for r in table(out / "_blur_log")) == ["train2017/b.jpg",
                                                                  "train2017/c.jpg"]  # fmt: skip
