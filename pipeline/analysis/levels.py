"""What `evaluate` needs of a log: its copies (path relative to --output, size, blur) and the
levels they are evaluated in; and the notes on what could not be matched."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.analysis.database import log_database
from pipeline.analysis.detection import Accounting, Copy
from pipeline.usage import UsageError

CLEAN = "clean"


@dataclass(frozen=True)
class Level:
    """A set of copies evaluated together: a sigma of the ladder, a bin, or the clean row."""

    label: str
    sigma_low: float
    sigma_high: float
    copies: tuple[Copy, ...]


def log_copies(log_dir: str) -> tuple[list[Copy], dict[str, Any]]:
    with log_database(log_dir) as database:
        metadata = database.metadata
        output = str(metadata.get("output", ""))
        rows = database.rows(
            "SELECT output_uri, copy_index, applied, sigma_x, width, height, label_uris "
            "FROM blur_log ORDER BY output_uri"
        )
    prefix = output.rstrip("/") + "/"
    copies = [
        Copy(uri[len(prefix) :] if uri.startswith(prefix) else uri, int(copy_index),
             bool(applied), float(sigma), int(width), int(height), tuple(labels or ()))
        for uri, copy_index, applied, sigma, width, height, labels in rows
        if "#" not in uri[len(prefix) :]
    ]  # fmt: skip
    if not copies:
        raise UsageError(f"the log in {log_dir} names no image file (shards are not evaluated)")
    return copies, metadata


def levels(copies: list[Copy], metadata: dict[str, Any], bins: int) -> tuple[Level, list[Level]]:
    """The clean row and the blurred levels (see the module)."""
    clean = tuple(c for c in copies if c.copy_index < 0 or not c.applied)
    blurred = [c for c in copies if c.copy_index >= 0 and c.applied]
    ladder = [float(s) for s in metadata.get("sigmas") or ()]
    if ladder:
        found = []
        for sigma in sorted({s for s in ladder if s > 0}):
            members = tuple(c for c in blurred if c.sigma == sigma)
            found.append(Level(f"sigma {sigma:g}", sigma, sigma, members))
        return Level(CLEAN, 0.0, 0.0, clean), found
    if bins < 1:
        raise UsageError(f"--bins must be >= 1, got {bins}")
    low = float(metadata.get("min_sigma", min((c.sigma for c in blurred), default=0.0)))
    high = float(metadata.get("max_sigma", max((c.sigma for c in blurred), default=1.0)))
    high = max(high, low + 1e-9)
    edges = np.linspace(low, high, bins + 1)
    found = []
    for b in range(bins):
        last = b == bins - 1
        members = tuple(c for c in blurred if edges[b] <= c.sigma < edges[b + 1]
                        or (last and c.sigma == edges[b + 1]))  # fmt: skip
        closing = "]" if last else ")"
        found.append(Level(f"[{edges[b]:.3g}, {edges[b + 1]:.3g}{closing}", float(edges[b]),
                           float(edges[b + 1]), members))  # fmt: skip
    return Level(CLEAN, 0.0, 0.0, clean), found


def accounting_lines(accounting: Accounting) -> list[str]:
    """A line for each thing that could not be matched (nothing is dropped silently)."""
    told = {
        "no_image": "predictions name no image of the log",
        "unknown_category": "predictions have a category the ground truth does not know",
        "outside_image": "predicted boxes reach outside their image (kept as they are)",
        "without_file": "copies have no prediction file (no detections)",
        "without_predictions": "copies have no prediction (counted as images without "
        "detections, as COCOeval does)",
    }
    lines = []
    for name, words in told.items():
        count = getattr(accounting, name)
        if count:
            example = accounting.examples.get(name)
            lines.append(f"note: {count} {words}" + (f" (e.g. {example})" if example else ""))
    return lines
