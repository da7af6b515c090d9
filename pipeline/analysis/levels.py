"""What `evaluate` needs of a log: its copies (path relative to --output, size, blur) and the
levels they are evaluated in; and the notes on what could not be matched."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from blur_augment.pipeline.analysis.database import log_database
from blur_augment.pipeline.analysis.grouping import (
    KIND_COLUMN,
    KIND_SQL,
    Bound,
    bounds,
    check_column,
    range_columns,
)
from blur_augment.pipeline.analysis.records import Accounting, Copy
from blur_augment.pipeline.usage import UsageError

CLEAN = "clean"


@dataclass(frozen=True)
class Level:
    """A set of copies evaluated together (grouping.Bound: a ladder step, a severity, a bin of
    a kind's parameter), or the clean row (bound None)."""

    label: str
    low: float
    high: float
    copies: tuple[Copy, ...]
    bound: Bound | None = None

    def ranges(self) -> dict[str, Any]:
        """The level's range columns in a table (grouping.range_columns)."""
        if self.bound is None:
            return {"sigma_low": 0.0, "sigma_high": 0.0}
        return range_columns(self.bound)


def log_copies(log_dir: str, by: str | None = None) -> tuple[list[Copy], dict[str, Any]]:
    """The log's image copies with what their levels test: the kind, each kind's parameter,
    the severity and the --by column."""
    check_column(by)
    columns = sorted(set(KIND_COLUMN.values()) | {"severity"} | ({by} if by else set()))
    selected = ", ".join(f'coalesce("{c}", 0)' for c in columns)
    with log_database(log_dir) as database:
        metadata = database.metadata
        output = str(metadata.get("output", ""))
        rows = database.rows(
            "SELECT output_uri, copy_index, applied, sigma_x, width, height, label_uris, "
            f"{KIND_SQL}, {selected} FROM blur_log ORDER BY output_uri"
        )
        if metadata.get("online"):  # a training loop's draws: named by their keys
            rows = _named_by_key(database, rows)
    prefix = output.rstrip("/") + "/"
    copies = [
        Copy(uri[len(prefix) :] if uri.startswith(prefix) else uri, int(copy_index),
             bool(applied), float(sigma), int(width), int(height), tuple(labels or ()), kind,
             tuple(zip(columns, (float(v) for v in values), strict=True)))
        for uri, copy_index, applied, sigma, width, height, labels, kind, *values in rows
        if "#" not in uri[len(prefix) :]
    ]  # fmt: skip
    if not copies:
        raise UsageError(f"the log in {log_dir} names no image file (shards are not evaluated)")
    return copies, metadata


def _named_by_key(database: Any, rows: list[tuple]) -> list[tuple]:
    """An online log's rows (LogWriter: output_uri KEY@COPY, no file) named by their key where
    the key has one row, so that a ground truth's file_name finds them."""
    single = {key for (key,) in database.rows(
        "SELECT key FROM blur_log GROUP BY key HAVING count(*) = 1")}  # fmt: skip
    named = []
    for uri, *rest in rows:
        key = uri.rpartition("@")[0]
        named.append((key if key in single else uri, *rest))
    return named


def levels(
    copies: list[Copy], metadata: dict[str, Any], bins: int, by: str | None = None
) -> tuple[Level, list[Level]]:
    """The clean row and the blurred levels (grouping.bounds)."""
    clean = tuple(c for c in copies if c.copy_index < 0 or not c.applied)
    blurred = [c for c in copies if c.copy_index >= 0 and c.applied]

    def observed(kind: str | None, column: str) -> tuple[float | None, float | None]:
        values = [c.value(column) for c in blurred if kind is None or c.kind == kind]
        return (min(values), max(values)) if values else (None, None)

    found, values = [], {}
    for bound in bounds(metadata, by, bins, observed):
        if bound.column not in values:
            values[bound.column] = [c.value(bound.column) for c in blurred]
        members = tuple(c for c, v in zip(blurred, values[bound.column], strict=True)
                        if bound.holds(c.kind, v))  # fmt: skip
        found.append(Level(bound.label, bound.low, bound.high, members, bound))
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
