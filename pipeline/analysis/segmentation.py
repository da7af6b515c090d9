"""`evaluate` for semantic masks: predicted mask PNGs (a class index per pixel, as VOC's
SegmentationClass stores it) against each copy's own mask, per blur level: mean IoU over the
classes and pixel accuracy, with VOC's border label 255 ignored, from one confusion matrix per
level (as the VOC devkit and torchvision's references compute them)."""

from __future__ import annotations

import io
import json
import posixpath
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from blur_augment.pipeline.analysis.formatting import csv_text
from blur_augment.pipeline.analysis.levels import Level, levels, log_copies
from blur_augment.pipeline.analysis.records import Copy
from blur_augment.pipeline.usage import UsageError
from blur_augment.transforms import keys
from blur_augment.transforms.io import storage

IGNORE = 255


def is_mask_folder(path: str) -> bool:
    """A folder (not a file) holding PNGs."""
    if path.lower().rstrip("/").endswith((".json", ".csv", ".parquet", ".pq", ".png")):
        return False
    return bool(storage.list_files(keys.join(path, "**.png")))


def _mask(data: bytes) -> np.ndarray:
    """A mask's class indices: a palette PNG's indices (not its colours), or its gray values."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        if image.mode not in ("P", "L", "I", "I;16"):
            image = image.convert("L")
        return np.asarray(image).astype(np.int64)


@dataclass
class MaskRow:
    level: Level
    images: int
    metrics: dict[str, float]
    per_class_iou: dict[int, float] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.level.label

    def as_dict(self) -> dict[str, Any]:
        return {"level": self.label, **self.level.ranges(), "images": self.images,
                **self.metrics}  # fmt: skip


@dataclass
class MaskEvaluation:
    rows: list[MaskRow]
    clean: MaskRow | None
    missing: int  # copies with a mask but no predicted mask
    unmatched: int  # predicted masks naming no copy
    log_dir: str

    @property
    def worst(self) -> MaskRow | None:
        scored = [r for r in self.rows if r.images]
        return min(scored, key=lambda r: r.metrics["mIoU"]) if scored else None

    def text(self, per_class: bool = False) -> str:
        lines = [f"{'level':<18} {'images':>7}  {'mIoU':>8}  {'pixel accuracy':>15}"]
        for row in ([self.clean] if self.clean else []) + self.rows:
            lines.append(f"{row.label:<18} {row.images:>7}  {row.metrics['mIoU']:>8.4f}  "
                         f"{row.metrics['pixel_accuracy']:>15.4f}")  # fmt: skip
        worst = self.worst
        if worst is not None:
            lines.append(f"\nworst level: {worst.label} (mIoU {worst.metrics['mIoU']:.4f})")
        if self.missing:
            lines.append(f"note: {self.missing} copies have no predicted mask (left out)")
        if self.unmatched:
            lines.append(f"note: {self.unmatched} predicted masks name no copy of the log")
        if per_class:
            lines += ["", "IoU per class (clean, then each level):"]
            classes = sorted({c for r in self.rows for c in r.per_class_iou})
            for c in classes:
                cells = " ".join(f"{r.per_class_iou.get(c, float('nan')):.3f}" for r in self.rows)
                clean = (
                    self.clean.per_class_iou.get(c, float("nan")) if self.clean else float("nan")
                )
                lines.append(f"  class {c:<4} clean {clean:.3f}  levels {cells}")
        return "\n".join(lines)

    def json_text(self) -> str:
        worst = self.worst
        return json.dumps({
            "rows": [r.as_dict() for r in self.rows],
            "clean": self.clean.as_dict() if self.clean else None,
            "worst": worst.label if worst else None,
            "missing": self.missing, "unmatched": self.unmatched,
        }, indent=1)  # fmt: skip

    def csv_text(self) -> str:
        return csv_text([r.as_dict() for r in ([self.clean] if self.clean else []) + self.rows])

    def chart_png(self) -> bytes:
        from blur_augment.pipeline.analysis import plots

        return plots.mask_evaluation_png(self)

    def page(self) -> str:
        from blur_augment.pipeline.analysis import evaluation_page

        return evaluation_page.mask_page(self)


def _scores(confusion: np.ndarray) -> tuple[dict[str, float], dict[int, float]]:
    tp = np.diag(confusion).astype(float)
    union = confusion.sum(0) + confusion.sum(1) - tp
    present = union > 0
    iou = np.divide(tp, union, out=np.zeros_like(tp), where=present)
    total = confusion.sum()
    metrics = {"mIoU": float(iou[present].mean()) if present.any() else 0.0,
               "pixel_accuracy": float(tp.sum() / total) if total else 0.0}  # fmt: skip
    return metrics, {int(c): float(iou[c]) for c in np.flatnonzero(present)}


def evaluate_masks(
    log_dir: str, predicted_dir: str, bins: int, by: str | None = None
) -> MaskEvaluation:
    """mIoU and pixel accuracy per level (see the module)."""
    copies, metadata = log_copies(log_dir, by)
    with_mask = [c for c in copies if _truth_mask(c)]
    if not with_mask:
        raise UsageError(f"the log in {log_dir} names no mask (VOC SegmentationClass or --masks)")
    predicted = _predicted(predicted_dir)
    found = {c.relative: predicted.get(_stem(c.relative)) for c in with_mask}
    missing = sum(1 for uri in found.values() if uri is None)
    used = {u for u in found.values() if u}
    unmatched = len(set(predicted.values()) - used)
    clean, blurred = levels([c for c in with_mask if found[c.relative]], metadata, bins, by)

    def row(level: Level) -> MaskRow:
        members = level.copies
        confusion = np.zeros((256, 256), np.int64)
        for copy in members:
            truth = _mask(storage.read_bytes(_truth_mask(copy)))
            guess = _mask(storage.read_bytes(found[copy.relative]))
            if guess.shape != truth.shape:
                raise UsageError(f"the predicted mask {found[copy.relative]} is "
                                 f"{guess.shape[1]}x{guess.shape[0]}, its copy "
                                 f"{truth.shape[1]}x{truth.shape[0]}")  # fmt: skip
            valid = (truth != IGNORE) & (truth < 256) & (guess >= 0) & (guess < 256)
            confusion += np.bincount(truth[valid] * 256 + guess[valid],
                                     minlength=256 * 256).reshape(256, 256)  # fmt: skip
        metrics, per_class = _scores(confusion)
        return MaskRow(level, len(members), metrics, per_class)

    rows = [row(level) for level in blurred]
    clean_row = row(clean) if clean.copies else None
    return MaskEvaluation(rows, clean_row, missing, unmatched, log_dir)


def _truth_mask(copy: Copy) -> str | None:
    pngs = [u for u in copy.label_uris if u.lower().endswith(".png")]
    chosen = [u for u in pngs if "SegmentationClass/" in u] or pngs
    return chosen[0] if chosen else None


def _stem(relative: str) -> str:
    return posixpath.splitext(posixpath.basename(relative))[0]


def _predicted(directory: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for path in storage.list_files(keys.join(directory, "**.png")):
        found.setdefault(_stem(path), path)
    return found
