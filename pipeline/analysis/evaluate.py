"""`evaluate`: a detector's (or a segmenter's) quality per blur level, from the log joined
with its predictions: COCO AP, AP50, AP75 and AR@100 per level (or mean IoU and pixel
accuracy for semantic masks), the clean row, mPC (the mean AP over the blurred levels), rPC =
mPC / clean AP (as the robustness benchmarks of Michaelis et al. 2019 report them), the worst
level and, with --per_class, the AP of each class per level.

Levels (grouping): for a --corruption run, one per severity; for a --sigmas run, one per sigma
of the ladder (copy k at sigma_k); for a drawn run, --bins equal-width bins of the kind's
parameter (or of --by COLUMN) over the run's range, each kind on its own when the run mixed
kinds, as `report` bins. Unblurred copies (sigma 0, not applied) and originals are the clean
row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from blur_augment.pipeline.analysis.cocometrics import METRICS, evaluate_level
from blur_augment.pipeline.analysis.detection import (
    Detections,
    GroundTruth,
    ground_truth,
    predictions,
)
from blur_augment.pipeline.analysis.formatting import csv_text
from blur_augment.pipeline.analysis.levels import Level, accounting_lines, levels, log_copies
from blur_augment.pipeline.analysis.records import Accounting
from blur_augment.pipeline.usage import UsageError


@dataclass
class LevelRow:
    level: Level
    images: int
    metrics: dict[str, float]
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    per_class: dict[int, float] = field(default_factory=dict)
    objects: int | None = None  # evaluate --objects: the ground-truth objects of the level

    def as_dict(self) -> dict[str, Any]:
        level = self.level
        row: dict[str, Any] = {"level": level.label, **level.ranges(), "images": self.images}
        if self.objects is not None:
            row["objects"] = self.objects
        for name in METRICS:
            row[name] = self.metrics.get(name)
            low, high = self.intervals.get(name, (None, None))
            row[f"{name}_low"], row[f"{name}_high"] = low, high
        return row


@dataclass
class Evaluation:
    """Every level's row, the clean row and the summary figures."""

    rows: list[LevelRow]
    clean: LevelRow | None
    iou_type: str
    accounting: Accounting
    categories: dict[int, str]
    truth: GroundTruth
    log_dir: str
    bootstrap: int
    output_root: str = ""  # the run's --output, where the copies are
    detections: Detections | None = None

    @property
    def mpc(self) -> float | None:
        values = [r.metrics["AP"] for r in self.rows if r.images and r.metrics["AP"] >= 0]
        return float(np.mean(values)) if values else None

    @property
    def rpc(self) -> float | None:
        if self.mpc is None or self.clean is None or self.clean.metrics["AP"] <= 0:
            return None
        return self.mpc / self.clean.metrics["AP"]

    @property
    def worst(self) -> LevelRow | None:
        scored = [r for r in self.rows if r.images and r.metrics["AP"] >= 0]
        return min(scored, key=lambda r: r.metrics["AP"]) if scored else None

    def per_class_drops(self) -> list[tuple[str, float, float, list[float]]]:
        """(class, clean AP - mean AP over the levels, clean AP, AP per level), largest drop
        first."""
        if self.clean is None:
            return []
        found = []
        for category, name in self.categories.items():
            clean = self.clean.per_class.get(category)
            levels = [r.per_class.get(category, float("nan")) for r in self.rows]
            known = [v for v in levels if v == v]
            if clean is not None and known:
                found.append((name, clean - float(np.mean(known)), clean, levels))
        return sorted(found, key=lambda f: -f[1])

    def text(self, per_class: bool = False) -> str:
        return _text(self, per_class)

    def json_text(self) -> str:
        return json.dumps(self.as_json(), indent=1)

    def csv_text(self) -> str:
        return csv_text([r.as_dict() for r in _shown(self)])

    def chart_png(self) -> bytes:
        from blur_augment.pipeline.analysis import plots

        return plots.evaluation_png(self)

    def page(self) -> str:
        from blur_augment.pipeline.analysis import evaluation_page

        return evaluation_page.page(self)

    def as_json(self) -> dict[str, Any]:
        worst = self.worst
        return {
            "iou_type": self.iou_type,
            "rows": [r.as_dict() for r in self.rows],
            "clean": self.clean.as_dict() if self.clean else None,
            "mPC": self.mpc,
            "rPC": self.rpc,
            "worst": worst.level.label if worst else None,
            "bootstrap": self.bootstrap,
            "accounting": {k: v for k, v in vars(self.accounting).items() if k != "examples"},
        }


def check_options(iou_type: str, bootstrap: int) -> None:
    if iou_type not in ("bbox", "segm"):
        raise UsageError(f"--iou_type must be bbox or segm, got {iou_type!r}")
    if bootstrap < 0:
        raise UsageError(f"--bootstrap must be >= 0, got {bootstrap}")


def evaluate(
    log_dir: str,
    predictions_path: str,
    ground_truth_path: str | None = None,
    iou_type: str = "bbox",
    bins: int = 10,
    bootstrap: int = 100,
    by: str | None = None,
) -> Evaluation:
    """The evaluation of predictions against the dataset a log describes (see the module)."""
    check_options(iou_type, bootstrap)
    copies, metadata = log_copies(log_dir, by)
    truth = ground_truth(copies, metadata, ground_truth_path)
    evaluated = [c for c in copies if c.relative in truth.id_of]
    found, accounting = predictions(predictions_path, truth, evaluated,
                                    str(metadata.get("output", "")), iou_type)  # fmt: skip
    clean, blurred = levels(evaluated, metadata, bins, by)

    def row(level: Level) -> LevelRow:
        ids = {truth.id_of[c.relative] for c in level.copies}
        if not ids:
            return LevelRow(level, 0, dict.fromkeys(METRICS, -1.0))
        result = evaluate_level(truth.subset(ids), found.of(ids), iou_type, bootstrap)
        return LevelRow(level, result.images, result.metrics, result.intervals, result.per_class)

    rows = [row(level) for level in blurred]
    categories = {int(c["id"]): str(c.get("name", c["id"])) for c in truth.categories}
    return Evaluation(rows, row(clean) if clean.copies else None, iou_type, accounting,
                      categories, truth, log_dir, bootstrap, str(metadata.get("output", "")),
                      found)  # fmt: skip


# -- output ----------------------------------------------------------------------------------


def run(
    log_dir: str, predictions_path: str, ground_truth_path: str | None, iou_type: str,
    bins: int, bootstrap: int, by: str | None = None,
) -> Any:  # fmt: skip
    """`evaluate`: predicted masks (a folder of PNGs, for a dataset with masks) give mean IoU
    and pixel accuracy per level, anything else detection AP (per level of each object's own
    blur: object_levels)."""
    from blur_augment.pipeline.analysis import segmentation

    if segmentation.is_mask_folder(predictions_path):
        return segmentation.evaluate_masks(log_dir, predictions_path, bins, by)
    return evaluate(log_dir, predictions_path, ground_truth_path, iou_type, bins, bootstrap, by)


def _cell(row: LevelRow, name: str) -> str:
    value = row.metrics.get(name, -1.0)
    if value is None or value < 0:
        return "-"
    low, high = row.intervals.get(name, (None, None))
    return f"{value:.3f}" + (f" [{low:.3f}, {high:.3f}]" if low is not None else "")


def _text(evaluation: Evaluation, per_class: bool = False) -> str:
    """The table a person reads: a row per level, then mPC, rPC, the worst level and what
    could not be matched."""
    counted = "objects" if evaluation.rows and evaluation.rows[0].objects is not None else ""
    lines = [f"{'level':<18} {counted or 'images':>7}  "
             + "  ".join(f"{m:<22}" for m in METRICS)]  # fmt: skip
    for row in _shown(evaluation):
        number = row.objects if counted else row.images
        lines.append(f"{row.level.label:<18} {number:>7}  "
                     + "  ".join(f"{_cell(row, m):<22}" for m in METRICS))  # fmt: skip
    mpc, rpc, worst = evaluation.mpc, evaluation.rpc, evaluation.worst
    lines.append("")
    lines.append(f"mPC (mean AP over the blurred levels): {mpc:.4f}" if mpc is not None
                 else "mPC: no blurred level")  # fmt: skip
    if rpc is not None:
        lines.append(f"rPC (mPC / clean AP): {rpc:.1%}")
    if worst is not None:
        lines.append(f"worst level: {worst.level.label} (AP {worst.metrics['AP']:.4f})")
    if evaluation.bootstrap:
        lines.append(f"intervals: 95%, from {evaluation.bootstrap} bootstrap resamples of each "
                     "level's images")  # fmt: skip
    lines += accounting_lines(evaluation.accounting)
    if per_class:
        lines += ["", "AP per class: clean, then each level (largest drop first):"]
        for name, drop, clean, values in evaluation.per_class_drops():
            cells = " ".join(f"{v:.3f}" if v == v else "-" for v in values)
            lines.append(f"  {name:<20} drop {drop:+.3f}  clean {clean:.3f}  levels {cells}")
    return "\n".join(lines)


def _shown(evaluation: Evaluation) -> list[LevelRow]:
    return ([evaluation.clean] if evaluation.clean else []) + evaluation.rows
