"""Reading a run's log, error table and results back through Beam's FileSystems (local,
gs://, any other), with the checks that say whether a log is complete."""

from __future__ import annotations

import io
import json
import logging
import posixpath

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from pipeline.options import DEFAULT_ERRORS_DIR, UsageError
from pipeline.schema import ERROR_SCHEMA, MARKER, SHARD_GLOB, run_metadata
from transforms import keys, storage

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


def completion(log_dir: str, log: pa.Table) -> str | None:
    """None when the log's completion marker agrees with it; otherwise what is wrong."""
    try:
        marker = json.loads(storage.read_bytes(keys.join(log_dir, MARKER)))
    except Exception:
        return (
            f"no {MARKER} marker in {log_dir}: the run that wrote this log did not finish "
            "(or is still running), so the log may be incomplete"
        )
    if marker.get("log_rows") != log.num_rows:
        return (
            f"the log has {log.num_rows} rows but its {MARKER} marker says {marker.get('log_rows')}"
        )
    return None


def read_checked_log(log_dir: str) -> pa.Table:
    """The log, with a warning on stderr when it is not marked complete."""
    log = read_table(log_dir.rstrip("/"))
    problem = completion(log_dir.rstrip("/"), log)
    if problem:
        _log.warning(problem)
    return log


def errors_dir_for(log_dir: str, log: pa.Table) -> str:
    """Where the error table of a log lives: as recorded in the log, else beside it."""
    recorded = run_metadata(log.schema).get("errors")
    if recorded:
        return str(recorded)
    return posixpath.join(posixpath.dirname(log_dir.rstrip("/")), DEFAULT_ERRORS_DIR)


def read_errors(log_dir: str, log: pa.Table) -> pa.Table | None:
    """The error table beside a log, or None when there is none."""
    try:
        return read_table(errors_dir_for(log_dir, log), ERROR_SCHEMA)
    except UsageError:
        return None


def read_results(path: str) -> pa.Table:
    """A results file (CSV, or Parquet by its extension), local or on any Beam filesystem."""
    try:
        data = storage.read_bytes(path)
    except Exception as error:
        raise UsageError(f"cannot read results file {path}: {error}") from error
    try:
        if path.lower().endswith((".parquet", ".pq")):
            return pq.read_table(io.BytesIO(data))
        return pacsv.read_csv(io.BytesIO(data))
    except pa.ArrowException as error:
        raise UsageError(f"cannot parse results file {path}: {error}") from error


def applied_sigmas(log: pa.Table) -> np.ndarray:
    """sigma_x of the rows that were blurred."""
    mask = log.column("applied").to_numpy(zero_copy_only=False).astype(bool)
    return log.column("sigma_x").to_numpy()[mask]
