"""COCO detection metrics per blur level, and their bootstrap intervals.

The numbers are COCOeval's: each level is evaluated by faster-coco-eval (the C++ COCOeval,
the same numbers as pycocotools' `COCOeval` with `params.imgIds` restricted to the level, about
8x faster here), once per level, so splitting by level costs what one evaluation of every image
costs. The intervals come from the per-image matches of that one evaluation: the matching of
COCOeval's `evaluateImg` (greedy by score, per IoU threshold, crowd and ignored boxes as it
treats them) is redone here for area "all" and 100 detections, each detection's true/false
positive flag kept; then each bootstrap resample of the level's images is a vector of weights,
and AP, AP50, AP75 and AR@100 follow from weighted cumulative sums over detections sorted once
(no evaluation again). With all weights 1 these sums give exactly COCOeval's AP, and with
integer weights exactly what COCOeval gives for the images repeated that many times (among
equal scores a repeated image's detections count together, where COCOeval would interleave
them), which the tests check.
"""

from __future__ import annotations

import contextlib
import io
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from blur_augment.pipeline.usage import UsageError

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
RECALL_THRESHOLDS = np.linspace(0.0, 1.0, 101)
MAX_DETECTIONS = 100
AREA_ALL = (0.0, 1e5**2)
METRICS = ("AP", "AP50", "AP75", "AR100")


@dataclass
class LevelResult:
    """One level's metrics (COCOeval's), per-class AP, and the bootstrap intervals."""

    images: int
    metrics: dict[str, float]
    per_class: dict[int, float] = field(default_factory=dict)
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)


def _coco_eval(
    gt: dict[str, Any], detections: list[dict[str, Any]], iou_type: str,
    area: tuple[float, float] = AREA_ALL,
):  # fmt: skip
    """faster-coco-eval over one level's images, quietly (it prints as pycocotools does), for
    ground truth whose area lies in `area` (COCO's area range; the rest is ignored)."""
    try:
        from faster_coco_eval import COCO, COCOeval_faster
    except ImportError as error:
        raise UsageError(
            "evaluate needs faster-coco-eval: pip install 'blur-augment[eval]' (or pip "
            "install faster-coco-eval)"
        ) from error

    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO(gt)
        if iou_type == "bbox" and detections and "id" in detections[0]:
            found = COCO()  # the results already hold what loadRes would add (ids, areas)
            found.dataset = {"images": gt["images"], "categories": gt["categories"],
                             "annotations": detections}  # fmt: skip
            found.createIndex()
        else:
            found = truth.loadRes(detections) if detections else truth.loadRes([])
        evaluation = COCOeval_faster(truth, found, iou_type)
        evaluation.params.imgIds = sorted(i["id"] for i in gt["images"])
        evaluation.params.areaRng = [list(map(float, area))]
        evaluation.params.areaRngLbl = ["all"]
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return evaluation


def _per_class(evaluation) -> dict[int, float]:
    """AP (IoU 0.50:0.95, area all, 100 detections) of each category with ground truth."""
    precision = evaluation.eval["precision"]  # [T, R, K, A, M]
    found = {}
    for k, category in enumerate(evaluation.params.catIds):
        values = precision[:, :, k, 0, -1]
        values = values[values > -1]
        if values.size:
            found[int(category)] = float(values.mean())
    return found


def evaluate_level(
    gt: dict[str, Any], detections: list[dict[str, Any]], iou_type: str, bootstrap: int,
    seed: int = 0, area: tuple[float, float] = AREA_ALL,
) -> LevelResult:  # fmt: skip
    """COCOeval's AP, AP50, AP75 and AR@100 for one level, per-class AP, and 95% intervals
    from `bootstrap` resamples of its images (0: none). `area`: COCO's area range, for
    ground truth whose `area` encodes something else (evaluate --objects: a level)."""
    evaluation = _coco_eval(gt, detections, iou_type, area)
    result = LevelResult(len(gt["images"]), _summarized(evaluation), _per_class(evaluation))
    if bootstrap > 0 and gt["images"]:
        matches = match_level(gt, detections, iou_type, area)
        result.intervals = matches.intervals(bootstrap, seed)
    return result


def _summarized(evaluation) -> dict[str, float]:
    """COCOeval's summarize for the one area range and 100 detections: AP over IoU 0.50:0.95,
    at 0.50 and 0.75, and AR@100 (-1 where there is no ground truth), from its arrays."""
    precision = evaluation.eval["precision"][:, :, :, 0, -1]  # [T, R, K]
    recall = evaluation.eval["recall"][:, :, 0, -1]  # [T, K]

    def mean(values: np.ndarray) -> float:
        values = values[values > -1]
        return float(values.mean()) if values.size else -1.0

    return {"AP": mean(precision), "AP50": mean(precision[0]), "AP75": mean(precision[5]),
            "AR100": mean(recall)}  # fmt: skip


# -- COCOeval's matching, kept per detection -------------------------------------------------


def _bbox_iou(dt: np.ndarray, gt: np.ndarray, crowd: np.ndarray) -> np.ndarray:
    """pycocotools' box IoU ([x, y, w, h]; a crowd box's union is the detection's area)."""
    dx1, dy1 = dt[:, 0:1], dt[:, 1:2]
    dx2, dy2 = dx1 + dt[:, 2:3], dy1 + dt[:, 3:4]
    gx1, gy1 = gt[:, 0][None], gt[:, 1][None]
    gx2, gy2 = gx1 + gt[:, 2][None], gy1 + gt[:, 3][None]
    w = np.minimum(dx2, gx2) - np.maximum(dx1, gx1)
    h = np.minimum(dy2, gy2) - np.maximum(dy1, gy1)
    inter = np.where((w > 0) & (h > 0), w * h, 0.0)
    dt_area = (dt[:, 2] * dt[:, 3])[:, None]
    gt_area = (gt[:, 2] * gt[:, 3])[None]
    union = np.where(crowd[None], dt_area, dt_area + gt_area - inter)
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def _rle(segmentation: Any, height: int, width: int) -> Any:
    """A segmentation as one RLE, as COCOeval's annToRLE makes it (polygons and uncompressed
    RLE converted with the image's size)."""
    from faster_coco_eval.core import mask as mask_utils

    if isinstance(segmentation, list):
        return mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width))
    if isinstance(segmentation.get("counts"), list):
        return mask_utils.frPyObjects(segmentation, height, width)
    return segmentation


def _mask_iou(dt: list[Any], gt: list[Any], crowd: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    from faster_coco_eval.core import mask as mask_utils

    height, width = size
    dt = [_rle(d, height, width) for d in dt]
    gt = [_rle(g, height, width) for g in gt]
    return np.asarray(mask_utils.iou(dt, gt, crowd.astype(np.uint8).tolist()), dtype=float)


def _greedy(
    ious: np.ndarray, gt_ignore: np.ndarray, crowd: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """COCOeval's evaluateImg matching for one (image, category): detections in score order
    (ious' rows), ground truth with ignored boxes last (its columns). Per IoU threshold, which
    detections are matched, and whether the box they matched is ignored."""
    thresholds, detections, truths = len(IOU_THRESHOLDS), ious.shape[0], ious.shape[1]
    matched = np.zeros((thresholds, detections), bool)
    ignored = np.zeros((thresholds, detections), bool)
    for t, threshold in enumerate(IOU_THRESHOLDS):
        taken = np.zeros(truths, bool)
        for d in range(detections):
            best, m = min(threshold, 1 - 1e-10), -1
            for g in range(truths):
                if taken[g] and not crowd[g]:
                    continue
                if m > -1 and not gt_ignore[m] and gt_ignore[g]:
                    break
                if ious[d, g] < best:
                    continue
                best, m = ious[d, g], g
            if m > -1:
                matched[t, d], ignored[t, d], taken[m] = True, gt_ignore[m], True
    return matched, ignored


@dataclass(frozen=True)
class _Threshold:
    """One IoU threshold's true positives, laid out once for every resample: their positions
    among the level's detections (accumulate's order), their category, where each category's
    run of them starts and ends, and for each the weight-independent bounds of the ignored
    detections (those that matched a crowd, which count neither way) before it."""

    tp: np.ndarray  # positions of the true positives, by category then score
    segment: np.ndarray  # the category of each
    first: np.ndarray  # [K] where each category's true positives start
    last: np.ndarray  # [K] ... and end
    category_start: np.ndarray  # the position where each one's category starts
    ignored: np.ndarray  # positions of the ignored detections
    ignored_upto: np.ndarray  # for each true positive: ignored detections up to it
    ignored_from: np.ndarray  # ... and before its category starts


def _threshold(tp: np.ndarray, neither: np.ndarray, bounds: np.ndarray) -> _Threshold:
    categories = bounds.size - 1
    positions = np.flatnonzero(tp)
    segment = np.searchsorted(bounds, positions, side="right") - 1
    ignored = np.flatnonzero(neither)
    return _Threshold(
        positions, segment,
        np.searchsorted(segment, np.arange(categories), side="left"),
        np.searchsorted(segment, np.arange(categories), side="right"),
        bounds[segment], ignored,
        np.searchsorted(ignored, positions, side="right"),
        np.searchsorted(ignored, bounds[segment], side="left"),
    )  # fmt: skip


@dataclass
class LevelMatches:
    """Every detection of a level (area all, at most 100 per image and category), sorted once
    as COCOeval's accumulate sorts them (by category, then score, then image), with its
    image; per IoU threshold, its true positives; and each (category, image)'s count of boxes
    that are not ignored.

    Only true positives are kept per threshold: recall changes only there, so the first
    detection at which a recall threshold is reached is one, and so is the detection where
    the precision envelope (the largest precision at or after a detection) is reached; the
    other detections count through the cumulative weight of all. A resample then costs a
    pass over the detections' weights and one over the true positives."""

    image_index: np.ndarray  # [n] the image of each detection, in accumulate's order
    thresholds: list[_Threshold]
    positives: np.ndarray  # [K, images] boxes not ignored
    categories: list[int]
    images: int

    def metrics(self, weights: np.ndarray | None = None) -> dict[str, float]:
        """AP, AP50, AP75 and AR@100 with each image counted `weights[i]` times: COCOeval's
        accumulate and summarize (area all, 100 detections), every category at once."""
        weights = np.ones(self.images) if weights is None else np.asarray(weights, float)
        positives = self.positives @ weights  # [K]
        valid = positives > 0
        if not valid.any():
            return dict.fromkeys(METRICS, -1.0)
        detection_weight = weights[self.image_index]
        counted = np.r_[0.0, np.cumsum(detection_weight)]  # weight of the detections before
        curves = [_curves(t, detection_weight, counted, positives) for t in self.thresholds]
        precision = np.stack([c[0] for c in curves])[:, valid]  # [T, K, R]
        recall = np.stack([c[1] for c in curves])[:, valid]  # [T, K]
        return {
            "AP": float(precision.mean()),
            "AP50": float(precision[0].mean()),
            "AP75": float(precision[5].mean()),
            "AR100": float(recall.mean()),
        }

    def intervals(self, resamples: int, seed: int = 0) -> dict[str, tuple[float, float]]:
        """95% percentile intervals of each metric over `resamples` bootstrap resamples of the
        level's images (seeded: the same intervals every time)."""
        rng = np.random.default_rng(seed)
        draws = defaultdict(list)
        probabilities = np.full(self.images, 1.0 / self.images)
        for _ in range(resamples):
            weights = rng.multinomial(self.images, probabilities).astype(float)
            for name, value in self.metrics(weights).items():
                if value >= 0:  # -1: the resample holds no ground truth (no metric at all)
                    draws[name].append(value)
        return {
            name: (float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5)))
            for name, values in draws.items()
        }


_RECALL_KEYS = len(RECALL_THRESHOLDS) + 1


def _curves(
    at: _Threshold, weight: np.ndarray, counted: np.ndarray, positives: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """One IoU threshold, every category: precision at the 101 recall thresholds [K, R] and
    the final recall [K]. Sums of integer weights are exact in float64, and a recall is
    compared with the thresholds as COCOeval compares them."""
    categories = at.first.size
    precision = np.zeros((categories, len(RECALL_THRESHOLDS)))
    recall = np.zeros(categories)
    if at.tp.size == 0:
        return precision, recall
    total = np.cumsum(weight[at.tp])
    tp_sum = total - np.where(at.first > 0, total[np.maximum(at.first - 1, 0)], 0.0)[at.segment]
    seen = counted[at.tp + 1] - counted[at.category_start]
    if at.ignored.size:  # detections that matched a crowd count neither way
        ignored = np.r_[0.0, np.cumsum(weight[at.ignored])]
        seen -= ignored[at.ignored_upto] - ignored[at.ignored_from]
    rc = tp_sum / np.where(positives > 0, positives, 1.0)[at.segment]
    pr = _envelope(tp_sum / (seen + np.spacing(1)), at.segment)
    has = at.last > at.first
    recall[has] = rc[at.last[has] - 1]
    # the first true positive of its category whose recall reaches each threshold: by the
    # count of thresholds its recall reaches (exact comparisons), per category
    key = at.segment * _RECALL_KEYS + np.searchsorted(RECALL_THRESHOLDS, rc, side="right")
    query = np.arange(categories)[:, None] * _RECALL_KEYS + np.arange(1, _RECALL_KEYS)[None, :]
    found = np.searchsorted(key, query, side="left")
    reached = found < at.last[:, None]
    precision[reached] = pr[found[reached]]
    return precision, recall


def _envelope(pr: np.ndarray, segment: np.ndarray) -> np.ndarray:
    """Each precision replaced by the largest at or after it within its category (COCOeval's
    interpolation). The categories are kept apart by offsets of 2 (precisions lie in [0, 1]);
    a value comes back within 1e-13 of itself."""
    offset = 2.0 * (segment[-1] - segment)
    return np.maximum.accumulate((pr + offset)[::-1])[::-1] - offset


def _by_image_and_category(records: Iterable[dict[str, Any]]) -> dict[tuple[int, int], list]:
    grouped: dict[tuple[int, int], list] = defaultdict(list)
    for record in records:
        grouped[(record["image_id"], record["category_id"])].append(record)
    return grouped


def _truth_of(
    truths: list[dict[str, Any]], area: tuple[float, float] = AREA_ALL
) -> tuple[list[dict[str, Any]], np.ndarray, np.ndarray]:
    """Ground truth of one (image, category) as COCOeval orders it: not ignored first."""
    # pycocotools replaces a box's `ignore` with its `iscrowd` before it matches
    ignore = np.array([bool(g.get("iscrowd", 0)) or not area[0] <= g.get("area", 0) <= area[1]
                       for g in truths], bool)  # fmt: skip
    order = np.argsort(ignore, kind="mergesort")
    truths = [truths[i] for i in order]
    crowd = np.array([bool(g.get("iscrowd", 0)) for g in truths], bool)
    return truths, ignore[order], crowd


def _groups(image: np.ndarray, category: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each run of equal (image, category) starts and ends."""
    if image.size == 0:
        return np.zeros(0, int), np.zeros(0, int)
    change = (np.diff(image) != 0) | (np.diff(category) != 0)
    starts = np.r_[0, np.flatnonzero(change) + 1]
    return starts, np.r_[starts[1:], image.size]


def match_level(
    gt: dict[str, Any], detections: list[dict[str, Any]], iou_type: str,
    area: tuple[float, float] = AREA_ALL,
) -> LevelMatches:  # fmt: skip
    """COCOeval's matching for every (image, category) of a level (see the module); the
    detections' own areas lie inside `area` (none is ignored for its area)."""
    # COCOeval's image order (sorted ids) decides how equal scores of two images are ordered
    index = {image_id: i for i, image_id in enumerate(sorted(i["id"] for i in gt["images"]))}
    truths = {
        key: _truth_of(boxes, area)
        for key, boxes in _by_image_and_category(
            a for a in gt["annotations"] if a["image_id"] in index
        ).items()
    }
    categories = sorted({c["id"] for c in gt.get("categories", [])} | {k[1] for k in truths})
    position = {c: k for k, c in enumerate(categories)}
    positives = np.zeros((len(categories), len(index)))
    for (image_id, category), (_, ignore, _) in truths.items():
        positives[position[category], index[image_id]] = float((~ignore).sum())
    kept = [d for d in detections if d["image_id"] in index and d["category_id"] in position]
    image = np.array([index[d["image_id"]] for d in kept], dtype=np.int64)
    category = np.array([d["category_id"] for d in kept], dtype=np.int64)
    score = np.array([d["score"] for d in kept], dtype=float)
    order = np.lexsort((-score, category, image))  # COCOeval's per-image order (stable)
    starts, ends = _groups(image[order], category[order])
    rank = np.arange(order.size) - np.repeat(starts, ends - starts)
    order = order[rank < MAX_DETECTIONS]
    tp = np.zeros((len(IOU_THRESHOLDS), order.size), bool)
    fp = np.ones((len(IOU_THRESHOLDS), order.size), bool)  # neither: ignored
    ids = {i: image_id for image_id, i in index.items()}
    sizes = {i["id"]: (int(i.get("height", 0)), int(i.get("width", 0))) for i in gt["images"]}
    for start, end in zip(*_groups(image[order], category[order]), strict=True):
        first = order[start]
        truth = truths.get((ids[int(image[first])], int(category[first])))
        if truth is not None:
            matched, ignored = _match(truth, [kept[i] for i in order[start:end]], iou_type,
                                      sizes[ids[int(image[first])]])  # fmt: skip
            tp[:, start:end] = matched & ~ignored
            fp[:, start:end] = ~matched
    # COCOeval's accumulate: per category, by score, equal scores in image order
    by_score = np.lexsort((np.arange(order.size), -score[order], category[order]))
    segment = np.array([position[c] for c in category[order][by_score]], dtype=np.int64)
    bounds = np.searchsorted(segment, np.arange(len(categories) + 1), side="left")
    tp, fp = tp[:, by_score], fp[:, by_score]
    thresholds = [_threshold(tp[t], ~tp[t] & ~fp[t], bounds) for t in range(tp.shape[0])]
    return LevelMatches(image[order][by_score], thresholds, positives, categories, len(index))


def _match(
    truth: tuple[list[dict[str, Any]], np.ndarray, np.ndarray],
    dts: list[dict[str, Any]],
    iou_type: str,
    size: tuple[int, int],
) -> tuple[np.ndarray, np.ndarray]:
    """The greedy matching of one (image, category): which detections matched, and whether
    the box each matched is ignored (a crowd)."""
    gts, ignore, crowd = truth
    if iou_type == "bbox":
        ious = _bbox_iou(np.array([d["bbox"] for d in dts], float),
                         np.array([g["bbox"] for g in gts], float), crowd)  # fmt: skip
    else:
        ious = _mask_iou([d["segmentation"] for d in dts], [g["segmentation"] for g in gts],
                         crowd, size)  # fmt: skip
    if len(gts) == 1:
        return _greedy_one(ious[:, 0], bool(ignore[0]), bool(crowd[0]))
    return _greedy(ious, ignore, crowd)


def _greedy_one(ious: np.ndarray, ignore: bool, crowd: bool) -> tuple[np.ndarray, np.ndarray]:
    """`_greedy` for a single box: at each threshold the best-scored detection that overlaps
    it enough takes it (a crowd box takes every such detection)."""
    reach = ious[None, :] >= np.minimum(IOU_THRESHOLDS, 1 - 1e-10)[:, None]
    if crowd:
        matched = reach
    else:
        matched = np.zeros_like(reach)
        first = np.argmax(reach, axis=1)
        rows = np.flatnonzero(reach.any(axis=1))
        matched[rows, first[rows]] = True
    return matched, matched & ignore
