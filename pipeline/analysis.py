"""Reading a run's log back: summary (and, later, query, report, preview).

Logs are read through Beam's FileSystems, so a gs:// log reads like a local one.
"""

from __future__ import annotations

import io
import posixpath

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.options import DEFAULT_ERRORS_DIR, UsageError
from pipeline.schema import ERROR_SCHEMA, run_metadata
from transforms import keys, storage

SHARD_GLOB = "*.parquet"


def read_table(directory: str, schema: pa.Schema | None = None) -> pa.Table:
    """All Parquet shards of a log directory as one table; UsageError if there are none."""
    shards = storage.list_files(keys.join(directory, SHARD_GLOB))
    if not shards:
        raise UsageError(f"no Parquet shards ({SHARD_GLOB}) in {directory}")
    tables = [pq.read_table(io.BytesIO(storage.read_bytes(shard))) for shard in shards]
    if schema is not None:
        tables = [t.cast(schema.with_metadata(t.schema.metadata)) for t in tables]
    return pa.concat_tables(tables, promote_options="default")


def errors_dir_for(log_dir: str, log: pa.Table) -> str:
    """Where the error table of a log lives: as recorded in the log, else beside it."""
    recorded = run_metadata(log.schema).get("errors")
    if recorded:
        return str(recorded)
    return posixpath.join(posixpath.dirname(log_dir.rstrip("/")), DEFAULT_ERRORS_DIR)


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


def summary(log_dir: str) -> str:
    """The summary of a log directory as text (rows, keys, applied share, sigmas, errors)."""
    log_dir = log_dir.rstrip("/")
    log = read_table(log_dir)
    lines = [f"log: {log_dir}", f"rows: {log.num_rows}"]
    if log.num_rows:
        applied = log.column("applied").to_numpy(zero_copy_only=False)
        sigma_x = log.column("sigma_x").to_numpy()
        blurred = sigma_x[applied]
        lines += [
            f"distinct keys: {len(set(log.column('key').to_pylist()))}",
            f"applied: {int(applied.sum())} of {log.num_rows} ({applied.mean():.1%})",
        ]
        if blurred.size:
            lines.append(
                f"sigma_x of blurred rows: min {blurred.min():.3f}, mean {blurred.mean():.3f}, "
                f"max {blurred.max():.3f}"
            )
        lines.append("histogram of sigma_x (blurred rows):")
        lines += text_histogram(blurred)
    errors_dir = errors_dir_for(log_dir, log)
    try:
        errors = read_table(errors_dir, ERROR_SCHEMA)
    except UsageError:
        lines.append(f"errors: no error table at {errors_dir}")
    else:
        lines.append(f"errors: {errors.num_rows} ({errors_dir})")
        stages = errors.column("stage").to_pylist()
        for stage in sorted(set(stages)):
            lines.append(f"  {stage}: {stages.count(stage)}")
    return "\n".join(lines)
