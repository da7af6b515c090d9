"""Reading a run's log back: its shards as one pyarrow table (small logs, tests), and the check
that says whether a log is complete. The commands query the files through `database` instead."""

from __future__ import annotations

import io
import json
import logging

import pyarrow as pa
import pyarrow.parquet as pq

from blur_augment.pipeline.schema import MARKER, SHARD_GLOB, run_metadata
from blur_augment.pipeline.usage import UsageError
from blur_augment.transforms import keys
from blur_augment.transforms.io import storage

_log = logging.getLogger(__name__)


def read_table(directory: str, schema: pa.Schema | None = None) -> pa.Table:
    """All Parquet shards of a log directory as one table; UsageError if there are none."""
    shards = storage.list_files(keys.join(directory, SHARD_GLOB))
    if not shards:
        raise UsageError(f"no Parquet shards ({SHARD_GLOB}) in {directory}")
    tables = [pq.read_table(io.BytesIO(storage.read_bytes(shard))) for shard in shards]
    if schema is not None:
        tables = [t.cast(schema.with_metadata(t.schema.metadata)) for t in tables]
    return pa.concat_tables(tables, promote_options="default")


def log_metadata(log_dir: str) -> dict:
    """The run parameters a log's first shard records in its footer ({} when none)."""
    shards = storage.list_files(keys.join(log_dir.rstrip("/"), SHARD_GLOB))
    if not shards:
        raise UsageError(f"no Parquet shards ({SHARD_GLOB}) in {log_dir}")
    return run_metadata(pq.read_schema(io.BytesIO(storage.read_bytes(shards[0]))))


def completion(log_dir: str, rows: int) -> str | None:
    """None when the log's completion marker agrees with its row count, or when the log is a
    training loop's (LogWriter: an online log has no end to mark); else what is wrong."""
    try:
        marker = json.loads(storage.read_bytes(keys.join(log_dir, MARKER)))
    except Exception:
        if log_metadata(log_dir).get("online"):
            return None
        return (
            f"no {MARKER} marker in {log_dir}: the run that wrote this log did not finish "
            "(or is still running), so the log may be incomplete"
        )
    if marker.get("log_rows") != rows:
        return f"the log has {rows} rows but its {MARKER} marker says {marker.get('log_rows')}"
    return None


def warn_if_incomplete(log_dir: str, rows: int) -> None:
    """A warning on stderr when the log is not marked complete."""
    problem = completion(log_dir.rstrip("/"), rows)
    if problem:
        _log.warning(problem)
