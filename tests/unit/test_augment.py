"""blur_augment.Augmenter and LogWriter: the pipeline's blur in a training loop, equal to what
the pipeline writes on its pixel path, and its rows read back by the analysis commands."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from blur_augment import Augmenter, LogWriter
from blur_augment.pipeline.cli import main
from tests.support.helpers import textured, write_image

RUNS = {
    "kinds": ["--blur", "gaussian,motion,defocus,zoom,glass,shake", "--copies", "7",
              "--max_sigma", "8"],
    "corruption": ["--corruption", "motion_blur", "--severities", "1,3,5"],
    "glass_corruption": ["--corruption", "glass_blur", "--severities", "2,5"],
    "ladder": ["--sigmas", "0,1,7"],
    "exact": ["--blur", "gaussian,defocus", "--copies", "4", "--max_sigma", "9",
              "--defocus_radius", "6,12", "--blur_method", "exact"],
}  # fmt: skip


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """8- and 16-bit, gray, BGR and BGRA PNGs, loose and in a sub-folder."""
    root = tmp_path_factory.mktemp("aug") / "in"
    write_image(root / "a.png", textured(40, 48, 3, seed=1))
    write_image(root / "sub" / "deeper" / "g.png", textured(33, 41, 1, seed=2))
    write_image(root / "w16.png", textured(30, 50, 3, "uint16", seed=4))
    write_image(root / "sub" / "al.png", textured(25, 35, 4, seed=5))
    write_image(root / "g16.png", textured(21, 27, 1, "uint16", seed=6))
    return root


@pytest.fixture(scope="module", params=sorted(RUNS))
def logged(request, inputs: Path) -> tuple[Path, list[dict]]:
    out = inputs.parent / f"out-{request.param}"
    argv = [
        "run",
        "--input",
        str(inputs),
        "--output",
        str(out),
        "--seed",
        "5",
        *RUNS[request.param],
    ]
    assert main(argv) == 0
    return out / "_blur_log", pq.read_table(out / "_blur_log").to_pylist()


def test_from_log_makes_every_copy_the_pipeline_wrote(inputs: Path, logged):
    """Sample for sample, every kind and corruption, every depth and channel count: the image
    equals the written PNG's pixels, the row equals the log row's columns."""
    log_dir, rows = logged
    augmenter = Augmenter.from_log(str(log_dir))
    for row in rows:
        source = cv2.imread(str(inputs / row["key"]), cv2.IMREAD_UNCHANGED)
        result = augmenter(source, key=row["key"], copy=row["copy_index"])
        written = cv2.imread(row["output_uri"], cv2.IMREAD_UNCHANGED)
        assert result.image.dtype == source.dtype and result.image.shape == source.shape
        assert np.array_equal(result.image, written), (row["key"], row["copy_index"])
        assert {k: row[k] for k in result.row} == result.row, (row["key"], row["copy_index"])


def test_rgb_arrays_and_pil_images_come_back_as_they_went_in(inputs: Path, logged):
    log_dir, rows = logged
    augmenter = Augmenter.from_log(str(log_dir))
    row = next(r for r in rows if r["key"] == "a.png" and r["applied"])
    written = cv2.imread(row["output_uri"], cv2.IMREAD_UNCHANGED)
    bgr = cv2.imread(str(inputs / "a.png"), cv2.IMREAD_UNCHANGED)
    rgb = augmenter(bgr[:, :, ::-1], key="a.png", copy=row["copy_index"], rgb=True).image
    assert np.array_equal(rgb, written[:, :, ::-1])
    image = Image.open(inputs / "a.png")
    pil = augmenter(image, key="a.png", copy=row["copy_index"]).image
    assert isinstance(pil, Image.Image) and pil.mode == "RGB" and pil.size == image.size
    assert np.array_equal(np.asarray(pil), written[:, :, ::-1])
    gray = Image.open(inputs / "sub" / "deeper" / "g.png")
    assert augmenter(gray, key="sub/deeper/g.png", copy=0).image.mode == "L"


def test_boxes_and_masks_pass_through_untouched():
    boxes, masks = [[1, 2, 10, 12]], np.ones((8, 8), np.uint8)
    result = Augmenter(seed=1)(textured(8, 8, 3), key="x.jpg", boxes=boxes, masks=masks)
    assert result.boxes is boxes and result.masks is masks


def test_each_call_draws_as_the_sampler_does():
    augmenter = Augmenter(seed=3, blur="motion", motion_length=(4, 9))
    first = augmenter(textured(20, 20, 3), key="k.png", copy=0)
    assert first.params == augmenter.draw("k.png", 0)
    assert 4 <= first.row["motion_length"] <= 9 and first.row["blur_kind"] == "motion"
    again = augmenter(textured(20, 20, 3), key="k.png", copy=0)
    assert np.array_equal(first.image, again.image)
    assert augmenter.draw("k.png", 1) != first.params  # the next epoch draws afresh


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_sigma": 1, "min_sigma": 2}, "--max_sigma (1.0) must be >= --min_sigma (2.0)"),
        ({"blur": "swirl"}, "--blur: unknown kind 'swirl'"),
        ({"motion_length": (3, 5)}, "--motion_length is a parameter of motion blur, which --blur"),
        ({"blur": "zoom", "zoom_factor": (0.5, 1)}, "--zoom_factor must be >= 1, got '0.5,1'"),
        ({"sigmas": (1, 2), "max_sigma": 3}, "--sigmas and --max_sigma cannot be combined"),
        ({"blur_method": "fast"}, "--blur_method must be one of auto, exact, got 'fast'"),
        ({"max_sigmaa": 3}, "unknown option max_sigmaa"),
    ],
)  # fmt: skip
def test_options_are_refused_as_the_command_refuses_them(options: dict, message: str):
    with pytest.raises(ValueError) as refused:
        Augmenter(**options)
    assert str(refused.value).startswith(message)


def test_a_ladder_refuses_a_copy_past_its_levels():
    with pytest.raises(ValueError, match="outside the ladder's 2 levels"):
        Augmenter(sigmas=(0, 2))(textured(8, 8, 3), key="x.png", copy=2)


def _write_rows(directory: str, worker: int) -> None:
    augmenter = Augmenter(seed=7, max_sigma=5)
    log = LogWriter(directory, augmenter, rows_per_shard=3)
    for index in range(5):
        key = f"w{worker}/img{index}.png"
        log.add(augmenter(textured(16, 20, 3, seed=index), key=key, copy=0), key=key, copy=0,
                split="train")  # fmt: skip
    # no close(): the process's exit flushes the rest


def test_the_writer_from_two_processes_is_read_by_summary_and_report(tmp_path: Path, capsys):
    log_dir = tmp_path / "online"
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_write_rows, args=(str(log_dir), w)) for w in (0, 1)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    shards = sorted(log_dir.glob("*.parquet"))
    assert len(shards) == 4 and not list(log_dir.glob(".*"))  # 3 + 2 rows a process, whole
    table = pq.read_table(log_dir)
    assert table.num_rows == 10 and set(table.column("split").to_pylist()) == {"train"}
    assert main(["summary", str(log_dir)]) == 0
    summary = capsys.readouterr().out
    assert "rows: 10" in summary and "distinct keys: 10" in summary
    results = tmp_path / "results.csv"
    results.write_text("key,correct\n" + "".join(
        f"w{w}/img{i}.png,{i % 2}\n" for w in (0, 1) for i in range(5)))  # fmt: skip
    assert main(["report", str(log_dir), "--results", str(results), "--bins", "2"]) == 0
    assert "joined on key: 10 of 10 result rows matched the log" in capsys.readouterr().out


def test_a_shard_appears_whole_or_not_at_all(tmp_path: Path):
    """Written under a hidden partial name and renamed: a writer that dies before its flush
    leaves nothing behind, one that flushed leaves whole shards only."""
    augmenter = Augmenter(seed=1)
    log = LogWriter(str(tmp_path / "log"), augmenter)
    log.add(augmenter(textured(8, 8, 3), key="a.png"), key="a.png", copy=0)
    assert not (tmp_path / "log").exists()  # nothing written before a flush
    log.close()
    [shard] = (tmp_path / "log").iterdir()
    assert pq.read_table(shard).num_rows == 1
    with pytest.raises(ValueError, match="not columns of the log: nonsense"):
        log.add(augmenter(textured(8, 8, 3), key="b.png"), key="b.png", copy=0, nonsense=1)


def test_evaluate_reads_an_online_log_with_its_ground_truth(tmp_path: Path, capsys):
    """A training loop's draws, named by their keys, evaluated against a COCO JSON."""
    import json

    augmenter = Augmenter(seed=1, max_sigma=4)
    images, annotations, predictions = [], [], []
    with LogWriter(str(tmp_path / "log"), augmenter) as log:
        for i in range(6):
            key = f"val/img{i}.jpg"
            log.add(augmenter(textured(40, 50, 3, seed=i), key=key), key=key, copy=0)
            images.append({"id": i + 1, "file_name": key, "width": 50, "height": 40})
            annotations.append({"id": i + 1, "image_id": i + 1, "category_id": 1,
                                "bbox": [5, 5, 20, 20], "area": 400, "iscrowd": 0})  # fmt: skip
            predictions.append({"image_id": i + 1, "category_id": 1,
                                "bbox": [5, 5, 20, 20], "score": 0.9})  # fmt: skip
    truth = {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "x"}]}
    (tmp_path / "gt.json").write_text(json.dumps(truth))
    (tmp_path / "preds.json").write_text(json.dumps(predictions))
    code = main(["evaluate", str(tmp_path / "log"), "--predictions", str(tmp_path / "preds.json"),
                 "--ground_truth", str(tmp_path / "gt.json"), "--bins", "2", "--bootstrap", "0",
                 "--format", "json"])  # fmt: skip
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert sum(row["images"] for row in result["rows"]) == 6
    assert all(row["AP"] == 1.0 for row in result["rows"])
