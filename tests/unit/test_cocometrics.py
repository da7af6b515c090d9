"""The per-detection matching behind the intervals: with every weight 1 it gives COCOeval's
own AP, AP50, AP75 and AR@100, and with integer weights exactly what COCOeval gives when each
image is there that many times (a bootstrap resample), ties, crowds and empty images included."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest

from blur_augment.pipeline.analysis.cocometrics import evaluate_level, match_level

STATS = {"AP": 0, "AP50": 1, "AP75": 2, "AR100": 8}


def synthetic(images: int, seed: int, ties: bool = True) -> tuple[dict, list[dict]]:
    """Boxes of 3 categories, some crowds, detections near them and elsewhere, and (`ties`)
    many equal scores."""
    rng = np.random.default_rng(seed)
    gt = {"images": [{"id": 10 + i, "width": 200, "height": 150} for i in range(images)],
          "annotations": [], "categories": [{"id": c} for c in (1, 2, 3)]}  # fmt: skip
    dets = []
    for image in gt["images"]:
        for _ in range(int(rng.integers(0, 6))):
            w, h = rng.uniform(5, 60, 2)
            x, y = rng.uniform(0, 200 - w), rng.uniform(0, 150 - h)
            category = int(rng.integers(1, 4))
            crowd = int(rng.random() < 0.1)
            gt["annotations"].append({"id": len(gt["annotations"]) + 1, "image_id": image["id"],
                                      "category_id": category, "bbox": [x, y, w, h],
                                      "area": w * h, "iscrowd": crowd})  # fmt: skip
            for _ in range(int(rng.integers(0, 3))):
                box = [x + rng.normal(0, 3), y + rng.normal(0, 3), w * rng.uniform(0.8, 1.2),
                       h * rng.uniform(0.8, 1.2)]  # fmt: skip
                dets.append({"image_id": image["id"], "category_id": category, "bbox": box,
                             "score": _score(rng.uniform(0.3, 1), ties)})  # fmt: skip
        for _ in range(int(rng.integers(0, 4))):
            dets.append({"image_id": image["id"], "category_id": int(rng.integers(1, 4)),
                         "bbox": [float(v) for v in rng.uniform(0, 100, 4)],
                         "score": _score(rng.uniform(0, 0.6), ties)})  # fmt: skip
    for d in dets:
        d["area"] = d["bbox"][2] * d["bbox"][3]
    return gt, dets


def _score(value: float, ties: bool) -> float:
    return round(float(value), 1) if ties else float(value)


def pycocotools(gt: dict, dets: list[dict]) -> dict[str, float]:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO()
        truth.dataset = json.loads(json.dumps(gt))
        truth.createIndex()
        found = truth.loadRes(json.loads(json.dumps(dets))) if dets else truth.loadRes([])
        evaluation = COCOeval(truth, found, "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return {name: float(evaluation.stats[i]) for name, i in STATS.items()}


@pytest.mark.parametrize("seed", range(4))
def test_at_weight_one_the_matches_give_cocoevals_numbers(seed: int):
    gt, dets = synthetic(40, seed)
    expected = pycocotools(gt, dets)
    own = match_level(gt, dets, "bbox").metrics()
    assert own == pytest.approx(expected, abs=1e-9)
    assert evaluate_level(gt, dets, "bbox", 0).metrics == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("seed", range(3))
def test_integer_weights_are_images_counted_that_many_times(seed: int):
    """(Without equal scores: among equal scores COCOeval puts an image's detections before
    the next image's, so a repeated image's detections would interleave; a resample counts
    an image's repeats together, which only reorders detections of equal score.)"""
    gt, dets = synthetic(25, seed, ties=False)
    weights = np.random.default_rng(seed + 7).multinomial(25, np.full(25, 1 / 25))
    repeated: dict = {"images": [], "annotations": [], "categories": gt["categories"]}
    repeated_dets: list[dict] = []
    for image, times in zip(sorted(gt["images"], key=lambda i: i["id"]), weights, strict=True):
        boxes = [a for a in gt["annotations"] if a["image_id"] == image["id"]]
        found = [d for d in dets if d["image_id"] == image["id"]]
        for copy in range(int(times)):
            new_id = image["id"] * 100 + copy
            repeated["images"].append({**image, "id": new_id})
            for box in boxes:
                number = len(repeated["annotations"]) + 1
                repeated["annotations"].append({**box, "id": number, "image_id": new_id})
            repeated_dets += [{**d, "image_id": new_id} for d in found]
    weighted = match_level(gt, dets, "bbox").metrics(weights.astype(float))
    assert weighted == pytest.approx(pycocotools(repeated, repeated_dets), abs=1e-9)
