"""`report`: the model's metric per sigma bin, from the log joined with per-image results."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from pipeline.analysis.formatting import format_table
from pipeline.analysis.reading import applied_sigmas, read_checked_log, read_results
from pipeline.analysis.stats import confidence_interval
from pipeline.options import UsageError
from pipeline.schema import run_metadata


@dataclass(frozen=True)
class Bin:
    """One row of the report: a sigma interval (or the unblurred images) and its metric."""

    label: str
    low: float | None
    high: float | None
    count: int
    mean: float | None
    ci_low: float | None
    ci_high: float | None


@dataclass(frozen=True)
class Report:
    metric: str
    joined_on: str
    bins: list[Bin]
    worst: str | None
    lower_is_better: bool
    results_rows: int
    matched: int
    results_not_in_log: int
    log_not_in_results: int
    duplicate_results: int
    interval: str

    def table(self) -> pa.Table:
        return pa.Table.from_pylist(
            [
                {
                    "bin": b.label,
                    "sigma_low": b.low,
                    "sigma_high": b.high,
                    "images": b.count,
                    f"mean_{self.metric}": b.mean,
                    "ci95_low": b.ci_low,
                    "ci95_high": b.ci_high,
                    "worst": b.label == self.worst,
                }
                for b in self.bins
            ]
        )

    def text(self) -> str:
        lines = [
            f"metric: {self.metric} by sigma_x ({'lower' if self.lower_is_better else 'higher'} "
            f"is better); 95% intervals: {self.interval}",
            format_table(self.table()),
            f"worst bin: {self.worst}" if self.worst else "worst bin: none (no matched images)",
            f"joined on {self.joined_on}: {self.matched} of {self.results_rows} result rows "
            "matched the log",
            f"results not in the log: {self.results_not_in_log}",
            f"log rows without a result: {self.log_not_in_results}",
        ]
        if self.duplicate_results:
            lines.append(f"duplicate result rows (first one used): {self.duplicate_results}")
        return "\n".join(lines)


def _numeric_metric(results: pa.Table, metric: str) -> np.ndarray:
    if metric not in results.column_names:
        columns = ", ".join(results.column_names)
        raise UsageError(f"results have no column {metric!r} (--metric); columns: {columns}")
    column = results.column(metric)
    if pa.types.is_boolean(column.type):
        column = column.cast(pa.int8())
    if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
        raise UsageError(f"--metric column {metric!r} is {column.type}, not numeric")
    return column.cast(pa.float64()).to_numpy(zero_copy_only=False)


def _log_identifiers(log: pa.Table) -> dict[str, int]:
    """Every name a result row may use for a log row -> its index: output_uri, the output's
    path relative to --output, and the input key where a key has a single row."""
    output = str(run_metadata(log.schema).get("output", "")).rstrip("/")
    ids: dict[str, int] = {}
    key_rows: dict[str, list[int]] = {}
    for i, (key, uri) in enumerate(
        zip(log.column("key").to_pylist(), log.column("output_uri").to_pylist(), strict=True)
    ):
        ids[uri] = i
        if output and uri.startswith(output + "/"):
            ids.setdefault(uri[len(output) + 1 :], i)
        key_rows.setdefault(key, []).append(i)
    for key, rows in key_rows.items():
        if len(rows) == 1:
            ids.setdefault(key, rows[0])
    return ids


def report(
    log_dir: str,
    results_path: str,
    on: str = "key",
    metric: str = "correct",
    bins: int = 10,
    lower_is_better: bool | None = None,
) -> Report:
    """Mean metric per sigma bin, with 95% intervals, from the log joined with results."""
    if bins < 1:
        raise UsageError(f"--bins must be >= 1, got {bins}")
    log = read_checked_log(log_dir)
    if log.num_rows == 0:
        raise UsageError(f"the log in {log_dir} has no rows")
    results = read_results(results_path)
    if on not in results.column_names:
        columns = ", ".join(results.column_names)
        raise UsageError(f"results have no join column {on!r} (--on); columns: {columns}")
    values = _numeric_metric(results, metric)
    if lower_is_better is None:
        lower_is_better = any(word in metric.lower() for word in ("loss", "error", "err"))

    ids = _log_identifiers(log)
    matched_log_rows: dict[int, float] = {}
    not_in_log = duplicates = 0
    for name, value in zip(results.column(on).to_pylist(), values, strict=True):
        row = ids.get(str(name)) if name is not None else None
        if row is None:
            not_in_log += 1
        elif row in matched_log_rows:
            duplicates += 1
        elif not math.isnan(value):
            matched_log_rows[row] = value
    index = np.fromiter(matched_log_rows.keys(), dtype=np.int64)
    metric_values = np.fromiter(matched_log_rows.values(), dtype=np.float64)
    applied = log.column("applied").to_numpy(zero_copy_only=False).astype(bool)[index]
    sigmas = log.column("sigma_x").to_numpy()[index]
    binary = bool(metric_values.size) and bool(np.isin(metric_values, (0.0, 1.0)).all())

    meta = run_metadata(log.schema)
    all_sigmas = applied_sigmas(log)
    low = float(meta.get("min_sigma", all_sigmas.min() if all_sigmas.size else 0.0))
    high = float(meta.get("max_sigma", all_sigmas.max() if all_sigmas.size else 1.0))
    if high <= low:
        high = low + 1e-9
    edges = np.linspace(low, high, bins + 1)

    def make_bin(label: str, lo: float | None, hi: float | None, mask: np.ndarray) -> Bin:
        chosen = metric_values[mask]
        if chosen.size == 0:
            return Bin(label, lo, hi, 0, None, None, None)
        ci = confidence_interval(chosen, binary)
        return Bin(label, lo, hi, int(chosen.size), float(chosen.mean()), *ci)

    table = [make_bin("unblurred", 0.0, 0.0, ~applied)]
    which = np.clip(np.searchsorted(edges, sigmas, side="right") - 1, 0, bins - 1)
    for b in range(bins):
        closing = "]" if b == bins - 1 else ")"
        label = f"[{edges[b]:.3g}, {edges[b + 1]:.3g}{closing}"
        table.append(make_bin(label, float(edges[b]), float(edges[b + 1]), applied & (which == b)))
    scored = [b for b in table if b.mean is not None]
    worst = None
    if scored:
        pick = max if lower_is_better else min
        worst = pick(scored, key=lambda b: b.mean).label
    return Report(
        metric=metric,
        joined_on=on,
        bins=table,
        worst=worst,
        lower_is_better=lower_is_better,
        results_rows=results.num_rows,
        matched=len(matched_log_rows),
        results_not_in_log=not_in_log,
        log_not_in_results=log.num_rows - len(matched_log_rows),
        duplicate_results=duplicates,
        interval="Wilson (0/1 metric)" if binary else "Student's t",
    )
