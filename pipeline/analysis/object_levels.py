"""`evaluate --objects`: a detector's AP per level of each object's own blur (a run with
--object_blur), from the object table joined with the ground truth and the predictions.

The rule: a level's ground truth is its objects (those whose own blur parameter lies in the
level); every other object is ignored, and so is a detection matched to one; a detection that
matches no object counts against every level. The clean row is the objects left sharp. That is
COCOeval's area-range rule with each object's level in place of its area: every ground-truth
`area` is replaced by its object's level number (0: left sharp, k + 1: level k), a level is the
range [k + 1, k + 1], and every detection's area is put inside it, so pycocotools with that
areaRng is the reference (the tests compare with it to 1e-6). Every image is in every level.

Levels are those of `report` and `evaluate` (grouping.bounds) over the objects' kinds: --bins
equal-width bins of each kind's own parameter (its descriptor's level: a motion's length) over the
run's range of it, each kind on its own when objects drew several; or of --by, any numeric
column of the object table, over its observed range.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from blur_augment.pipeline.analysis.cocometrics import METRICS, evaluate_level
from blur_augment.pipeline.analysis.database import log_database
from blur_augment.pipeline.analysis.detection import OBJECT_INDEX, ground_truth, predictions
from blur_augment.pipeline.analysis.evaluate import Evaluation, LevelRow, check_options
from blur_augment.pipeline.analysis.grouping import KIND_COLUMN, Bound, binned, bounds
from blur_augment.pipeline.analysis.levels import CLEAN, Level, log_copies
from blur_augment.pipeline.schema import OBJECT_SCHEMA
from blur_augment.pipeline.usage import UsageError

OBJECT_NUMERIC = tuple(
    f.name for f in OBJECT_SCHEMA
    if (pa.types.is_integer(f.type) or pa.types.is_floating(f.type)) and not f.name.endswith("_id")
)  # fmt: skip
SHARP = 0  # the level number of objects left sharp; level k is k + 1
UNKNOWN = -1  # ground truth with no object row: ignored in every level


@dataclass(frozen=True)
class ObjectRow:
    """What a level needs of one object of one copy."""

    relative: str  # the copy's path relative to --output
    object_index: int
    annotation_id: int | None
    applied: bool
    kind: str
    values: dict[str, float]


def object_rows(log_dir: str, by: str | None) -> tuple[list[ObjectRow], dict[str, Any]]:
    """The object table's rows with the columns levels bin on."""
    if by is not None and by not in OBJECT_NUMERIC:
        raise UsageError(f"--by with --objects must be a numeric column of the object table, "
                         f"got {by!r}; one of: {', '.join(OBJECT_NUMERIC)}")  # fmt: skip
    columns = sorted(set(KIND_COLUMN.values()) & set(OBJECT_NUMERIC) | ({by} if by else set()))
    with log_database(log_dir) as database:
        metadata = database.metadata
        if not metadata.get("object_blur"):
            raise UsageError(f"--objects: the run of {log_dir} did not blur objects "
                             "(run it with --object_blur)")  # fmt: skip
        if not database.has_objects:
            raise UsageError(f"--objects: no object table at {metadata.get('objects_log')}")
        selected = ", ".join(f'coalesce("{c}", 0)' for c in columns)
        rows = database.rows(
            f"SELECT output_uri, object_index, annotation_id, applied, blur_kind, {selected} "
            "FROM blur_objects"
        )
    prefix = str(metadata.get("output", "")).rstrip("/") + "/"
    found = [
        ObjectRow(uri[len(prefix) :] if uri.startswith(prefix) else uri, int(index), ident,
                  bool(applied), kind, dict(zip(columns, map(float, values), strict=True)))
        for uri, index, ident, applied, kind, *values in rows
    ]  # fmt: skip
    return found, metadata


def object_bounds(
    metadata: dict[str, Any], rows: list[ObjectRow], bins: int, by: str | None
) -> list[Bound]:
    """The levels of the objects' blur: grouping's, over the kinds --object_blur drew."""
    moved = [r for r in rows if r.applied]

    def observed(kind: str | None, column: str) -> tuple[float | None, float | None]:
        values = [r.values[column] for r in moved if kind is None or r.kind == kind]
        return (min(values), max(values)) if values else (None, None)

    if by is not None:
        low, high = observed(None, by)
        return binned(None, by, low or 0.0, high if high is not None else 1.0, bins)
    drawn = {**metadata, "blur": metadata["object_blur"], "corruption": "", "sigmas": []}
    return bounds(drawn, None, bins, observed)


def level_numbers(rows: list[ObjectRow], levels: list[Bound]) -> dict[tuple, int]:
    """Each object's level number (SHARP, or k + 1 for the first level k that holds it), by
    (copy, object index) and, for COCO, by its annotation id in the output JSON."""
    numbers: dict[tuple, int] = {}
    for row in rows:
        number = SHARP
        if row.applied:
            number = next((k + 1 for k, b in enumerate(levels)
                           if b.holds(row.kind, row.values[b.column])), UNKNOWN)  # fmt: skip
        numbers[("object", row.relative, row.object_index)] = number
        if row.annotation_id is not None:
            numbers[("id", row.annotation_id)] = number
    return numbers


def encoded(
    annotations: list[dict[str, Any]], id_of: dict[str, int], numbers: dict[tuple, int]
) -> list[dict[str, Any]]:
    """The annotations with each one's area replaced by its object's level number (`id_of`:
    each copy's image id)."""
    relative_of = {image_id: relative for relative, image_id in id_of.items()}
    found = []
    for annotation in annotations:
        if OBJECT_INDEX in annotation:
            key: tuple = ("object", relative_of.get(annotation["image_id"]),
                          annotation[OBJECT_INDEX])  # fmt: skip
        else:
            key = ("id", annotation.get("id"))
        found.append({**annotation, "area": float(numbers.get(key, UNKNOWN))})
    return found


def evaluate_objects(
    log_dir: str,
    predictions_path: str,
    ground_truth_path: str | None = None,
    iou_type: str = "bbox",
    bins: int = 10,
    bootstrap: int = 100,
    by: str | None = None,
) -> Evaluation:
    """The evaluation per level of the objects' own blur (see the module)."""
    check_options(iou_type, bootstrap)
    if bins < 1:
        raise UsageError(f"--bins must be >= 1, got {bins}")
    rows, metadata = object_rows(log_dir, by)
    copies, _ = log_copies(log_dir)
    truth = ground_truth(copies, metadata, ground_truth_path)
    evaluated = [c for c in copies if c.relative in truth.id_of]
    output = str(metadata.get("output", ""))
    found, accounting = predictions(predictions_path, truth, evaluated, output, iou_type)
    levels = object_bounds(metadata, rows, bins, by)
    ids = {truth.id_of[c.relative] for c in evaluated}
    subset = truth.subset(ids)
    gt = {**subset, "annotations": encoded(subset["annotations"], truth.id_of,
                                           level_numbers(rows, levels))}  # fmt: skip
    detections = found.of(ids)

    def row(level: Level, number: int) -> LevelRow:
        objects = sum(1 for a in gt["annotations"]
                      if a["area"] == number and not a.get("iscrowd"))  # fmt: skip
        if not objects:
            return LevelRow(level, len(ids), dict.fromkeys(METRICS, -1.0), objects=0)
        inside = [{**d, "area": float(number)} for d in detections]
        result = evaluate_level(gt, inside, iou_type, bootstrap, area=(number, number))
        return LevelRow(level, result.images, result.metrics, result.intervals,
                        result.per_class, objects=objects)  # fmt: skip

    everything = tuple(evaluated)
    blurred = [row(Level(b.label, b.low, b.high, everything, b), k + 1)
               for k, b in enumerate(levels)]  # fmt: skip
    clean = row(Level(CLEAN, 0.0, 0.0, everything), SHARP)
    categories = {int(c["id"]): str(c.get("name", c["id"])) for c in truth.categories}
    return Evaluation(blurred, clean if clean.objects else None, iou_type, accounting,
                      categories, truth, log_dir, bootstrap, output, found)  # fmt: skip
