"""Benchmarks in one command (`run --sigmas`) and `evaluate`: a detector that really degrades
with blur (tests/support/detector.py), its predictions written in every format detectors
write, and AP per level equal to pycocotools' COCOeval restricted to each level's images."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.e2e.test_report_html import needs_browser
from tests.support.command import blur_augment
from tests.support.detector import (
    CLASSES,
    coco_shapes,
    detect,
    image_of,
    segment,
    voc_shapes,
    yolo_shapes,
)

LADDER = "0,1,2,3"
METRIC_STATS = {"AP": 0, "AP50": 1, "AP75": 2, "AR100": 8}


def benchmark(tmp_path: Path, layout: str, images: int = 12, **options) -> Path:
    builders = {"coco": coco_shapes, "yolo": yolo_shapes, "voc": voc_shapes}
    root = builders[layout](tmp_path / f"{layout}_ds", images, **options)
    out = tmp_path / f"{layout}_bench"
    split = {"coco": "val2017", "yolo": "val", "voc": "val"}[layout]
    done = blur_augment("run", "--input", str(root), "--output", str(out), "--sigmas", LADDER,
                        "--splits", split)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return out


def log_rows(out: Path) -> list[dict]:
    return pq.read_table(out / "_blur_log").to_pylist()


def relative(out: Path, row: dict) -> str:
    return row["output_uri"][len(str(out)) + 1 :]


def detections(out: Path) -> dict[str, list]:
    """The detector on every copy: relative path -> [(class, box, score)]."""
    return {relative(out, r): detect(image_of(Path(r["output_uri"]))) for r in log_rows(out)}


def evaluate_json(out: Path, predictions: Path, *extra: str) -> dict:
    done = blur_augment("evaluate", str(out / "_blur_log"), "--predictions", str(predictions),
                        "--format", "json", *extra)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


# -- --sigmas ---------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["coco", "yolo", "voc"])
def test_a_validation_split_becomes_a_benchmark_in_one_run(tmp_path: Path, layout: str):
    out = benchmark(tmp_path, layout, images=4)
    rows = log_rows(out)
    assert len(rows) == 4 * 4
    ladder = [float(s) for s in LADDER.split(",")]
    for row in rows:
        sigma = ladder[row["copy_index"]]
        assert (row["sigma_x"], row["sigma_y"], row["applied"]) == (sigma, sigma, sigma > 0)
        if sigma == 0:  # the unblurred level is the source's bytes
            source = Path(row["source_uri"]).read_bytes()
            assert Path(row["output_uri"]).read_bytes() == source
    metadata = json.loads(pq.read_schema(next((out / "_blur_log").glob("*.parquet"))).metadata[
        b"blur_augment"])  # fmt: skip
    assert metadata["sigmas"] == ladder and metadata["copies"] == 4
    if layout == "coco":
        from pycocotools.coco import COCO

        with contextlib.redirect_stdout(io.StringIO()):
            written = COCO(str(out / "annotations" / "instances_val2017.json"))
        names = sorted(i["file_name"] for i in written.dataset["images"])
        assert names == sorted(f"s{i:03d}_blur{k}.png" for i in range(4) for k in range(4))
        assert len({i["id"] for i in written.dataset["images"]}) == 16
    if layout == "voc":
        listed = (out / "ImageSets" / "Main" / "val.txt").read_text().split()
        assert sorted(listed) == sorted(f"s{i:03d}_blur{k}" for i in range(4) for k in range(4))


@pytest.mark.parametrize(
    ("options", "named"),
    [(["--max_sigma", "4"], "--max_sigma"), (["--probability", "0.5"], "--probability"),
     (["--sigma_y", "independent"], "--sigma_y"), (["--copies", "3"], "--copies"),
     (["--min_sigma", "1"], "--min_sigma")],
)  # fmt: skip
def test_a_ladder_with_a_draws_option_is_a_usage_error(tmp_path: Path, options, named):
    (tmp_path / "in").mkdir()
    cv2.imwrite(str(tmp_path / "in" / "x.png"), np.zeros((8, 8, 3), np.uint8))
    done = blur_augment("run", "--input", str(tmp_path / "in"), "--output",
                        str(tmp_path / "out"), "--sigmas", LADDER, *options)  # fmt: skip
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert "--sigmas" in line and named in line


# -- evaluate against pycocotools -------------------------------------------------------------


def coco_results(out: Path, found: dict[str, list], by_path: bool = False) -> list[dict]:
    """COCO results: image_id the output JSON's id (or the path relative to --output)."""
    data = json.loads((out / "annotations" / "instances_val2017.json").read_text())
    ids = {f"val2017/{i['file_name']}": i["id"] for i in data["images"]}
    return [
        {"image_id": path if by_path else ids[path], "category_id": cls + 1, "bbox": box,
         "score": score}
        for path, dets in found.items() for cls, box, score in dets
    ]  # fmt: skip


def reference(ground_truth: Path, results: list[dict], image_ids: list[int],
              iou_type: str = "bbox") -> dict[str, float]:  # fmt: skip
    """pycocotools' COCOeval restricted to some images, as the anchors do it."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO(str(ground_truth))
        found = truth.loadRes(json.loads(json.dumps(results))) if results else truth.loadRes([])
        evaluation = COCOeval(truth, found, iou_type)
        evaluation.params.imgIds = sorted(image_ids)
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return {name: float(evaluation.stats[i]) for name, i in METRIC_STATS.items()}


def level_ids(out: Path, truth: dict) -> dict[str, list[int]]:
    ids = {f"val2017/{i['file_name']}": i["id"] for i in truth["images"]}
    levels: dict[str, list[int]] = {}
    for row in log_rows(out):
        label = "clean" if row["sigma_x"] == 0 else f"sigma {row['sigma_x']:g}"
        levels.setdefault(label, []).append(ids[relative(out, row)])
    return levels


def test_ap_per_level_equals_cocoeval_restricted_to_the_level(tmp_path: Path):
    out = benchmark(tmp_path, "coco", images=16)
    results = coco_results(out, detections(out))
    (tmp_path / "results.json").write_text(json.dumps(results))
    got = evaluate_json(out, tmp_path / "results.json", "--bootstrap", "0")
    truth_path = out / "annotations" / "instances_val2017.json"
    levels = level_ids(out, json.loads(truth_path.read_text()))
    for row in [got["clean"], *got["rows"]]:
        expected = reference(truth_path, results, levels[row["level"]])
        for name, value in expected.items():
            assert abs(row[name] - value) <= 1e-9, (row["level"], name, row[name], value)
        assert row["images"] == 16
    aps = [r["AP"] for r in got["rows"]]
    assert got["clean"]["AP"] > aps[0] > aps[-1]  # the detector really degrades with blur
    assert got["worst"] == "sigma 3"
    assert abs(got["mPC"] - np.mean(aps)) < 1e-12
    assert abs(got["rPC"] - got["mPC"] / got["clean"]["AP"]) < 1e-12


def test_every_prediction_format_gives_the_same_numbers(tmp_path: Path):
    out = benchmark(tmp_path, "coco", images=8)
    found = detections(out)
    (tmp_path / "ids.json").write_text(json.dumps(coco_results(out, found)))
    (tmp_path / "paths.json").write_text(json.dumps(coco_results(out, found, by_path=True)))
    table = [{"image": path, "category": CLASSES[cls], "x_min": box[0], "y_min": box[1],
              "x_max": box[0] + box[2], "y_max": box[1] + box[3], "score": score}
             for path, dets in found.items() for cls, box, score in dets]  # fmt: skip
    pq.write_table(pa.Table.from_pylist(table), tmp_path / "table.parquet")
    pa.csv.write_csv(pa.Table.from_pylist(table), tmp_path / "table.csv")
    folder = tmp_path / "predict" / "labels"  # as Ultralytics saves them: by stem, normalised
    folder.mkdir(parents=True)
    for path, dets in found.items():
        if dets:  # (Ultralytics writes no file for an image without detections)
            (folder / f"{Path(path).stem}.txt").write_text("".join(
                f"{cls} {(x + w / 2) / 160} {(y + h / 2) / 120} {w / 160} {h / 120} {score}\n"
                for cls, (x, y, w, h), score in dets))  # fmt: skip
    # (the folder's classes are numbered from 0, the COCO JSON's categories from 1: class i is
    # the i-th category in id order, as Ultralytics numbers COCO's)
    results = [evaluate_json(out, tmp_path / name, "--bootstrap", "0")
               for name in ("ids.json", "paths.json", "table.parquet", "table.csv",
                            "predict")]  # fmt: skip
    first = results[0]
    for other in results[1:]:
        for a, b in zip([first["clean"], *first["rows"]], [other["clean"], *other["rows"]],
                        strict=True):  # fmt: skip
            for name in METRIC_STATS:
                assert abs(a[name] - b[name]) < 1e-12, (name, a, b)


def test_a_yolo_benchmark_with_ultralytics_prediction_files(tmp_path: Path):
    out = benchmark(tmp_path, "yolo", images=10)
    found = detections(out)
    folder = tmp_path / "runs" / "detect" / "predict" / "labels"
    folder.mkdir(parents=True)
    empty = 0
    for path, dets in found.items():
        if not dets:
            empty += 1
            continue
        (folder / f"{Path(path).stem}.txt").write_text("".join(
            f"{cls} {(x + w / 2) / 160:.6f} {(y + h / 2) / 120:.6f} {w / 160:.6f} {h / 120:.6f} "
            f"{score:.5f}\n" for cls, (x, y, w, h), score in dets))  # fmt: skip
    got = evaluate_json(out, folder.parent, "--bootstrap", "0")
    # the reference: the true boxes the labels were written from, and the same predictions
    truth, results, levels = _coco_from_files(out, folder)
    truth_path = tmp_path / "truth.json"
    truth_path.write_text(json.dumps(truth))
    for row in [got["clean"], *got["rows"]]:
        expected = reference(truth_path, results, levels[row["level"]])
        assert abs(row["AP"] - expected["AP"]) <= 1e-9, (row, expected)
    assert got["accounting"]["without_file"] == empty


def _coco_from_files(out: Path, folder: Path, polygons: bool = False) -> tuple[dict, list, dict]:
    """An independent COCO conversion of the YOLO output (boxes, or polygons) and of the
    prediction files in `folder`."""
    images, annotations, results, levels = [], [], [], {}
    for number, row in enumerate(sorted(log_rows(out), key=lambda r: r["output_uri"]), 1):
        rel = relative(out, row)
        images.append({"id": number, "file_name": rel, "width": 160, "height": 120})
        label = Path(str(row["label_uris"][0]))
        for line in label.read_text().splitlines():
            annotations.append(_annotation(line, len(annotations) + 1, number, polygons))
        predicted = folder / f"{Path(rel).stem}.txt"
        for line in predicted.read_text().splitlines() if predicted.exists() else []:
            cls, cx, cy, w, h, score = (float(v) for v in line.split())
            results.append({"image_id": number, "category_id": int(cls), "score": score,
                            "bbox": [(cx - w / 2) * 160, (cy - h / 2) * 120, w * 160,
                                     h * 120]})  # fmt: skip
        label_name = "clean" if row["sigma_x"] == 0 else f"sigma {row['sigma_x']:g}"
        levels.setdefault(label_name, []).append(number)
    categories = [{"id": 0, "name": "square"}, {"id": 1, "name": "disk"}]
    return {"images": images, "annotations": annotations, "categories": categories}, results, levels


def _annotation(line: str, number: int, image_id: int, polygon: bool) -> dict:
    values = [float(v) for v in line.split()]
    if not polygon:
        cx, cy, w, h = values[1:]
        box = [(cx - w / 2) * 160, (cy - h / 2) * 120, w * 160, h * 120]
        return {"id": number, "image_id": image_id, "category_id": int(values[0]), "bbox": box,
                "area": box[2] * box[3], "iscrowd": 0}  # fmt: skip
    xs, ys = [v * 160 for v in values[1::2]], [v * 120 for v in values[2::2]]
    box = [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]
    points = [c for pair in zip(xs, ys, strict=True) for c in pair]
    return {"id": number, "image_id": image_id, "category_id": int(values[0]), "bbox": box,
            "area": box[2] * box[3], "segmentation": [points], "iscrowd": 0}  # fmt: skip


def test_a_voc_benchmark_ignores_difficult_objects(tmp_path: Path):
    out = benchmark(tmp_path, "voc", images=10, difficult_every=3)
    found = detections(out)
    table = [{"image": path, "category": CLASSES[cls], "x_min": box[0], "y_min": box[1],
              "x_max": box[0] + box[2], "y_max": box[1] + box[3], "score": score}
             for path, dets in found.items() for cls, box, score in dets]  # fmt: skip
    pa.csv.write_csv(pa.Table.from_pylist(table), tmp_path / "found.csv")
    got = evaluate_json(out, tmp_path / "found.csv", "--bootstrap", "0")
    plain = voc_shapes(tmp_path / "plain", 10)  # the same scenes, nothing difficult
    done = blur_augment("run", "--input", str(plain), "--output", str(tmp_path / "plain_out"),
                        "--sigmas", LADDER, "--splits", "val")  # fmt: skip
    assert done.returncode == 0
    every = evaluate_json(tmp_path / "plain_out", tmp_path / "found.csv", "--bootstrap", "0")
    # a detection of a difficult object is neither a true nor a false positive, and a missed
    # difficult object costs nothing: AP never falls by ignoring them, and here it changes
    assert got["clean"]["AP"] != every["clean"]["AP"]
    assert got["rows"][-1]["AR100"] >= every["rows"][-1]["AR100"] - 1e-12


def test_segm_iou_on_yolo_polygons_equals_cocoeval(tmp_path: Path):
    from faster_coco_eval.core import mask as mask_utils

    out = benchmark(tmp_path, "yolo", images=6, polygons=True)
    results = []
    for row in log_rows(out):
        image = image_of(Path(row["output_uri"]))
        for cls in (1, 2):
            predicted = np.asfortranarray((segment(image) == cls).astype(np.uint8))
            regions, labels = cv2.connectedComponents(predicted)
            for region in range(1, regions):
                rle = mask_utils.encode(np.asfortranarray((labels == region).astype(np.uint8)))
                rle["counts"] = rle["counts"].decode()
                results.append({"image_id": relative(out, row), "category_id": cls - 1,
                                "segmentation": rle, "score": 0.5 + 0.01 * region})  # fmt: skip
    (tmp_path / "masks.json").write_text(json.dumps(results))
    got = evaluate_json(out, tmp_path / "masks.json", "--iou_type", "segm", "--bootstrap", "10")
    assert got["clean"]["AP"] > got["rows"][-1]["AP"]
    truth, _, levels = _coco_from_files(out, tmp_path, polygons=True)
    truth_path = tmp_path / "truth.json"
    truth_path.write_text(json.dumps(truth))
    number = {img["file_name"]: img["id"] for img in truth["images"]}
    renumbered = [{**r, "image_id": number[r["image_id"]]} for r in results]
    for row in [got["clean"], *got["rows"]]:
        expected = reference(truth_path, renumbered, levels[row["level"]], "segm")
        assert abs(row["AP"] - expected["AP"]) <= 1e-9, (row, expected)
        assert row["AP_low"] <= row["AP"] + 1e-9 and row["AP"] <= row["AP_high"] + 1e-9


def test_semantic_masks_give_mean_iou_per_level(tmp_path: Path):
    from PIL import Image

    out = benchmark(tmp_path, "voc", images=6)
    predicted = tmp_path / "masks"
    predicted.mkdir()
    confusion: dict[str, np.ndarray] = {}
    for row in log_rows(out):
        mask = segment(image_of(Path(row["output_uri"])))
        Image.fromarray(mask).save(predicted / f"{Path(row['output_uri']).stem}.png")
        truth = np.asarray(Image.open(next(u for u in row["label_uris"] if "SegmentationClass"
                                           in u)))  # fmt: skip
        label = "clean" if row["sigma_x"] == 0 else f"sigma {row['sigma_x']:g}"
        valid = truth != 255
        counts = np.bincount(truth[valid].astype(int) * 3 + mask[valid], minlength=9)
        confusion[label] = confusion.get(label, np.zeros(9, int)) + counts
    got = evaluate_json(out, predicted)
    for row in [got["clean"], *got["rows"]]:
        matrix = confusion[row["level"]].reshape(3, 3)
        iou = np.diag(matrix) / (matrix.sum(0) + matrix.sum(1) - np.diag(matrix))
        assert abs(row["mIoU"] - iou.mean()) < 1e-12
        assert abs(row["pixel_accuracy"] - np.trace(matrix) / matrix.sum()) < 1e-12
    assert got["clean"]["mIoU"] > got["rows"][-1]["mIoU"]


def test_intervals_hold_the_estimate_and_cost_no_new_evaluation(tmp_path: Path):
    out = benchmark(tmp_path, "coco", images=10)
    (tmp_path / "r.json").write_text(json.dumps(coco_results(out, detections(out))))
    first = evaluate_json(out, tmp_path / "r.json")
    again = evaluate_json(out, tmp_path / "r.json")
    assert first == again  # seeded resamples: the same intervals every time
    for row in [first["clean"], *first["rows"]]:
        for name in METRIC_STATS:
            assert row[f"{name}_low"] <= row[name] + 1e-9 <= row[f"{name}_high"] + 2e-9
    none = evaluate_json(out, tmp_path / "r.json", "--bootstrap", "0")
    assert none["rows"][0]["AP_low"] is None and none["rows"][0]["AP"] == first["rows"][0]["AP"]


def test_what_cannot_be_matched_is_counted(tmp_path: Path):
    out = benchmark(tmp_path, "coco", images=4)
    results = coco_results(out, detections(out))
    results += [{"image_id": 999999, "category_id": 1, "bbox": [1, 1, 5, 5], "score": 0.5},
                {"image_id": results[0]["image_id"], "category_id": 77, "bbox": [1, 1, 5, 5],
                 "score": 0.5},
                {"image_id": results[0]["image_id"], "category_id": 1, "bbox": [150, 110, 40, 40],
                 "score": 0.1}]  # fmt: skip
    (tmp_path / "r.json").write_text(json.dumps(results))
    done = blur_augment("evaluate", str(out / "_blur_log"), "--predictions",
                        str(tmp_path / "r.json"), "--bootstrap", "0")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "note: 1 predictions name no image of the log (e.g. 999999)" in done.stdout
    assert "note: 1 predictions have a category the ground truth does not know" in done.stdout
    assert "note: 1 predicted boxes reach outside their image" in done.stdout


@needs_browser
def test_the_evaluation_page_opens_in_chromium(tmp_path: Path):
    from tests.e2e.test_report_html import open_in_chromium

    out = benchmark(tmp_path, "coco", images=6)
    (tmp_path / "r.json").write_text(json.dumps(coco_results(out, detections(out))))
    page = tmp_path / "ap.html"
    done = blur_augment("evaluate", str(out / "_blur_log"), "--predictions",
                        str(tmp_path / "r.json"), "--html", str(page))  # fmt: skip
    assert done.returncode == 0, done.stderr
    widths, messages, requests = open_in_chromium(page, tmp_path / "shot.png")
    assert len(widths) >= 1 + 6 and all(w > 0 for w in widths), widths  # chart + worst level
    assert not [m for m in messages if m.startswith(("error", "pageerror"))], messages
    assert all(u.startswith(("file:", "data:")) for u in requests), requests


def test_the_chart_the_page_and_csv(tmp_path: Path):
    out = benchmark(tmp_path, "coco", images=6)
    (tmp_path / "r.json").write_text(json.dumps(coco_results(out, detections(out))))
    chart, page = tmp_path / "ap.png", tmp_path / "ap.html"
    done = blur_augment("evaluate", str(out / "_blur_log"), "--predictions",
                        str(tmp_path / "r.json"), "--format", "csv", "--plot", str(chart),
                        "--html", str(page), "--per_class", "--bootstrap", "20")  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0].startswith("level,sigma_low,sigma_high,images,AP,AP_low,AP_high")
    assert len(lines) == 1 + 4
    assert cv2.imread(str(chart)) is not None
    text = page.read_text()
    assert text.count("<img") >= 2 and "Per class" in text and "worst level" in text


@pytest.mark.parametrize(
    ("case", "message"),
    [("plain", "has no annotations"), ("unknown", "not a COCO results JSON, a CSV or Parquet"),
     ("other", "no prediction names an image of the log")],
)  # fmt: skip
def test_mistakes_end_in_one_line_and_exit_2(tmp_path: Path, case: str, message: str):
    if case == "plain":
        (tmp_path / "in").mkdir()
        cv2.imwrite(str(tmp_path / "in" / "x.png"), np.zeros((8, 8, 3), np.uint8))
        assert blur_augment("run", "--input", str(tmp_path / "in"), "--output",
                            str(tmp_path / "out")).returncode == 0  # fmt: skip
        out = tmp_path / "out"
        predictions = tmp_path / "r.json"
        predictions.write_text("[]")
    else:
        out = benchmark(tmp_path, "coco", images=2)
        predictions = tmp_path / ("notes.md" if case == "unknown" else "r.json")
        other = [{"image_id": 123456, "category_id": 1, "bbox": [0, 0, 4, 4], "score": 0.5}]
        predictions.write_text("# notes" if case == "unknown" else json.dumps(other))
    done = blur_augment("evaluate", str(out / "_blur_log"), "--predictions", str(predictions))
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert message in line, line


def test_a_benchmark_and_its_evaluation_on_gcs(gcs_client, bucket_name, tmp_path: Path):
    root = coco_shapes(tmp_path / "ds", 4)
    bucket = gcs_client.bucket(bucket_name)
    for path in root.rglob("*"):
        if path.is_file():
            bucket.blob(f"ds/{path.relative_to(root).as_posix()}").upload_from_filename(path)
    prefix = f"gs://{bucket_name}"
    done = blur_augment("run", "--input", f"{prefix}/ds", "--output", f"{prefix}/bench",
                        "--sigmas", LADDER, "--splits", "val2017")  # fmt: skip
    assert done.returncode == 0, done.stderr
    data = json.loads(bucket.blob("bench/annotations/instances_val2017.json").download_as_bytes())
    results = [{"image_id": i["id"], "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.5}
               for i in data["images"]]  # fmt: skip
    bucket.blob("preds.json").upload_from_string(json.dumps(results))
    got = blur_augment("evaluate", f"{prefix}/bench/_blur_log", "--predictions",
                       f"{prefix}/preds.json", "--format", "json", "--bootstrap", "5")  # fmt: skip
    assert got.returncode == 0, got.stderr
    evaluation = json.loads(got.stdout)
    assert evaluation["clean"]["images"] == 4
    assert [row["images"] for row in evaluation["rows"]] == [4] * (len(LADDER.split(",")) - 1)
