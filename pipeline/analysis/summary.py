"""`summary`: rows, keys, applied share, sigmas, dataset splits and errors of a log."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.analysis.reading import (
    applied_sigmas,
    completion,
    errors_dir_for,
    read_errors,
    read_table,
)
from pipeline.schema import MARKER, run_metadata
from transforms import storage


def text_histogram(values: np.ndarray, bins: int = 10, width: int = 40) -> list[str]:
    """One line per equal-width bin: range, count and a bar of '#'."""
    if values.size == 0:
        return ["  (no blurred images)"]
    low, high = float(values.min()), float(values.max())
    if high == low:
        high = low + 1e-9
    counts, edges = np.histogram(values, bins=bins, range=(low, high))
    peak = max(int(counts.max()), 1)
    return [
        f"  [{edges[i]:7.3f}, {edges[i + 1]:7.3f}{']' if i == bins - 1 else ')'} "
        f"{int(count):8d} {'#' * round(width * int(count) / peak)}"
        for i, count in enumerate(counts)
    ]


def dataset_lines(log: pa.Table) -> list[str]:
    """The dataset layout the run recognised, and rows per split (logs of dataset runs only;
    older logs have neither)."""
    dataset = run_metadata(log.schema).get("dataset") or {}
    if dataset.get("kind", "images") == "images" or "split" not in log.column_names:
        return []
    variant = f" ({dataset['variant']})" if dataset.get("variant") else ""
    augmented = ", ".join(dataset.get("augmented_splits") or []) or "all"
    counts = pc.value_counts(log.column("split")).to_pylist()
    per_split = ", ".join(f"{c['values'] or '(none)'} {c['counts']}" for c in sorted(
        counts, key=lambda c: c["values"]))  # fmt: skip
    return [
        f"dataset: {dataset['kind']}{variant}, augmented splits: {augmented}",
        f"rows per split: {per_split}",
    ]


def summary(log_dir: str, plot: str | None = None) -> str:
    """The summary of a log directory as text (rows, keys, applied share, sigmas, errors)."""
    log_dir = log_dir.rstrip("/")
    log = read_table(log_dir)
    lines = [f"log: {log_dir}", f"rows: {log.num_rows}"]
    problem = completion(log_dir, log)
    lines.append(f"WARNING: {problem}" if problem else f"complete: yes ({MARKER} marker agrees)")
    blurred = applied_sigmas(log) if log.num_rows else np.array([])
    if log.num_rows:
        lines += [
            f"distinct keys: {len(pc.unique(log.column('key')))}",
            f"applied: {blurred.size} of {log.num_rows} ({blurred.size / log.num_rows:.1%})",
        ]
        if blurred.size:
            lines.append(
                f"sigma_x of blurred rows: min {blurred.min():.3f}, mean {blurred.mean():.3f}, "
                f"max {blurred.max():.3f}"
            )
        lines.append("histogram of sigma_x (blurred rows):")
        lines += text_histogram(blurred)
    lines += dataset_lines(log)
    errors = read_errors(log_dir, log)
    if errors is None:
        lines.append(f"errors: no error table at {errors_dir_for(log_dir, log)}")
    else:
        lines.append(f"errors: {errors.num_rows} ({errors_dir_for(log_dir, log)})")
        stages = errors.column("stage").to_pylist()
        lines += [f"  {stage}: {stages.count(stage)}" for stage in sorted(set(stages))]
    if plot:
        from pipeline.analysis import plots

        storage.write_bytes(plot, plots.sigma_histogram_png(blurred, log.num_rows - blurred.size))
        lines.append(f"histogram written to {plot}")
    return "\n".join(lines)
