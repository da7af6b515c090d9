"""The levels `report` and `evaluate` give one row each: which blurred copies belong together.

- a `--corruption` run: one level per severity of its ladder (`motion_blur 3`);
- a `--sigmas` run: one level per sigma of the ladder (`sigma 2`);
- a drawn run: `bins` equal-width bins of a numeric log column (`--by`, by default the kind's
  own parameter, its descriptor's `level`: sigma_x for the Gaussian, and so on) over the
  run's range of it (its metadata's, else the log's); an integer column with no more values in
  its range than `bins` gets one level per value. When the run mixed kinds, each kind is
  binned on its own (`motion [3, 5.2)`).

Unblurred copies and originals are never in a level (they are the clean row). Pure: the
ranges a level needs from the log come through `observed`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from blur_augment.pipeline.schema import LOG_SCHEMA
from blur_augment.pipeline.usage import UsageError
from blur_augment.transforms.sampling import BLUR_KINDS, CORRUPTION_KINDS, spec_from

# Each kind's main parameter (its descriptor's level): what its levels bin on unless --by says.
KIND_COLUMN = {kind.name: kind.level for kind in BLUR_KINDS.values()}
NUMERIC_COLUMNS = tuple(
    f.name for f in LOG_SCHEMA
    if pa.types.is_integer(f.type) or pa.types.is_floating(f.type)
)  # fmt: skip
_INTEGER_COLUMNS = {f.name for f in LOG_SCHEMA if pa.types.is_integer(f.type)}
KIND_SQL = "coalesce(blur_kind, 'gaussian')"  # logs before the kinds: every row Gaussian

# (kind or None for every kind, column) -> (min, max) over the blurred rows, None when none
Observed = Callable[[str | None, str], tuple[float | None, float | None]]


@dataclass(frozen=True)
class Bound:
    """One level: the blurred copies of `kind` (None: any) whose `column` lies in
    [low, high) (closed when `closed`; exactly `low` when `exact`). `first`/`last` levels of
    a kind also take what lies below/above them, as a bin of the run's range does."""

    label: str
    kind: str | None
    column: str
    low: float
    high: float
    closed: bool = False
    exact: bool = False
    first: bool = False
    last: bool = False

    def holds(self, kind: str, value: float) -> bool:
        if self.kind is not None and kind != self.kind:
            return False
        if self.exact:
            return value == self.low
        above = self.first or value >= self.low
        below = self.last or value < self.high or (self.closed and value == self.high)
        return above and below

    def sql(self) -> str:
        """The same test as `holds`, over the blur_log view."""
        column = f'"{self.column}"'
        tests = [] if self.kind is None else [f"{KIND_SQL} = '{self.kind}'"]
        if self.exact:
            tests.append(f"{column} = {self.low!r}")
        else:
            if not self.first:
                tests.append(f"{column} >= {self.low!r}")
            if not self.last:
                operator = "<=" if self.closed else "<"
                tests.append(f"{column} {operator} {self.high!r}")
        return " AND ".join(tests) or "TRUE"

    @property
    def sigma(self) -> bool:
        """Whether the level is a plain sigma interval (today's tables and charts)."""
        return self.column == "sigma_x" and self.kind is None


def run_kinds(metadata: dict[str, Any]) -> list[str]:
    """The kinds a run drew (weight above 0), in the order given; a corruption's kind."""
    if metadata.get("corruption"):
        return [CORRUPTION_KINDS[metadata["corruption"]]]
    weights = metadata.get("blur") or [["gaussian", 1.0]]
    return [str(kind) for kind, weight in weights if float(weight) > 0] or ["gaussian"]


def check_column(by: str | None) -> None:
    if by is not None and by not in NUMERIC_COLUMNS:
        raise UsageError(f"--by must be a numeric log column, got {by!r}; one of: "
                         + ", ".join(NUMERIC_COLUMNS))  # fmt: skip


def bounds(metadata: dict[str, Any], by: str | None, bins: int, observed: Observed) -> list[Bound]:
    """The levels of a run (see the module)."""
    check_column(by)
    if bins < 1:
        raise UsageError(f"--bins must be >= 1, got {bins}")
    if by is None and metadata.get("corruption"):
        name = metadata["corruption"]
        return [Bound(f"{name} {s}", None, "severity", float(s), float(s), exact=True)
                for s in sorted({int(s) for s in metadata.get("severities") or ()})]  # fmt: skip
    if by is None and metadata.get("sigmas"):
        ladder = sorted({float(s) for s in metadata["sigmas"] if float(s) > 0})
        return [Bound(f"sigma {s:g}", None, "sigma_x", s, s, exact=True) for s in ladder]
    kinds = run_kinds(metadata)
    mixed = len(kinds) > 1
    found = []
    for kind in kinds:
        column = by or KIND_COLUMN[kind]
        low, high = _range(metadata, kind, column, observed, mixed)
        found += binned(kind if mixed else None, column, low, high, bins)
    return found


def _range(metadata: dict[str, Any], kind: str, column: str, observed: Observed,
           mixed: bool) -> tuple[float, float]:  # fmt: skip
    """The run's range of a column: the spec's for the kind's own parameter, else the log's."""
    if column == KIND_COLUMN.get(kind) and not metadata.get("corruption"):
        if column == "sigma_x" and "min_sigma" in metadata:
            return float(metadata["min_sigma"]), float(metadata["max_sigma"])
        if column != "sigma_x" and metadata.get(column):
            low, high = getattr(spec_from(metadata).kinds, column)
            return float(low), float(high)
    low, high = observed(kind if mixed else None, column)
    if low is None:
        return 0.0, 1.0
    return float(low), float(high)


def binned(kind: str | None, column: str, low: float, high: float, bins: int) -> list[Bound]:
    prefix = f"{kind} " if kind else ""
    if column in _INTEGER_COLUMNS and math.floor(high) - math.ceil(low) + 1 <= bins:
        values = range(math.ceil(low), math.floor(high) + 1)
        return [Bound(f"{prefix}{column} {v}", kind, column, float(v), float(v), exact=True)
                for v in values]  # fmt: skip
    high = max(high, low + 1e-9)
    edges = np.linspace(low, high, bins + 1)
    found = []
    for b in range(bins):
        last = b == bins - 1
        label = f"{prefix}[{edges[b]:.3g}, {edges[b + 1]:.3g}{']' if last else ')'}"
        found.append(Bound(label, kind, column, float(edges[b]), float(edges[b + 1]),
                           closed=last, first=b == 0, last=last))  # fmt: skip
    return found


def level_case(levels: list[Bound], unblurred: int, outside: int) -> str:
    """SQL giving each log row its level's number: `unblurred` when not blurred, `outside`
    when no level holds it."""
    cases = " ".join(f"WHEN {bound.sql()} THEN {number}" for number, bound in enumerate(levels))
    return f"CASE WHEN NOT applied THEN {unblurred} {cases} ELSE {outside} END"


def range_columns(level: Bound) -> dict[str, Any]:
    """The level's columns in a table: today's sigma_low/sigma_high for a plain sigma level,
    else its kind, the column it bins and the range."""
    if level.sigma:
        return {"sigma_low": level.low, "sigma_high": level.high}
    return {"kind": level.kind, "parameter": level.column, "low": level.low, "high": level.high}
