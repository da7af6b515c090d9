"""The log, the error table and a results file as DuckDB views over the files themselves.

DuckDB scans the Parquet shards (and a CSV or Parquet results file) where they lie, reading
only the columns and row groups a query needs and aggregating as it streams, within a memory
limit beyond which it spills to a temporary directory: a 20-million-row log is never held in
memory. Shards are listed through Beam's FileSystems (local, gs://, any other); DuckDB reads
non-local paths through an fsspec filesystem registered with it (gcsfs for gs://, pointed at
STORAGE_EMULATOR_HOST when it is set), so no DuckDB extension is ever downloaded.
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from blur_augment.pipeline.schema import (
    DEFAULT_ERRORS_DIR,
    ERROR_SCHEMA,
    LOG_SCHEMA,
    METADATA_KEY,
    OBJECT_SCHEMA,
    SHARD_GLOB,
)
from blur_augment.pipeline.usage import UsageError
from blur_augment.transforms import keys
from blur_augment.transforms.io import storage

# DuckDB's own memory for a command (it spills beyond it): the command's peak stays under
# 1 GB with Python, pyarrow and DuckDB's code around it, whatever the log's size.
MEMORY_LIMIT = "512MB"
_SQL_TYPES = {pa.string(): "VARCHAR", pa.int32(): "INTEGER", pa.int64(): "BIGINT",
              pa.float64(): "DOUBLE", pa.bool_(): "BOOLEAN",
              pa.list_(pa.string()): "VARCHAR[]"}  # fmt: skip


def duckdb_module() -> Any:
    try:
        import duckdb
    except ImportError as error:
        raise UsageError(
            "this command needs DuckDB: pip install 'blur-augment[query]' (or pip install duckdb)"
        ) from error
    return duckdb


def _sql_list(paths: list[str]) -> str:
    return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"


def _fsspec_filesystem(scheme: str) -> Any:
    """The fsspec filesystem DuckDB reads `scheme://` paths with: gcsfs's plain GCS filesystem
    for gs:// (its default class first asks the Storage Control API for the bucket's layout,
    which an emulator does not serve; plain object reads need none of it), pointed at
    STORAGE_EMULATOR_HOST when that is set; fsspec's registry for other schemes."""
    try:
        if scheme in ("gs", "gcs"):
            from gcsfs.core import GCSFileSystem

            emulator = os.environ.get(storage.EMULATOR_ENV)
            options = {"endpoint_url": emulator, "token": "anon"} if emulator else {}
            return GCSFileSystem(**options)
        import fsspec

        return fsspec.filesystem(scheme)
    except (ImportError, ValueError) as error:
        package = "gcsfs" if scheme in ("gs", "gcs") else f"the fsspec package for {scheme}://"
        raise UsageError(f"reading {scheme}:// paths needs {package} ({error})") from error


@dataclass
class LogDatabase:
    """A DuckDB connection with the views `blur_log`, `blur_errors` (when the run has an error
    table) and, once `attach_results` ran, `results`."""

    connection: Any
    log_dir: str
    log_columns: set[str]
    metadata: dict[str, Any]
    errors_dir: str
    has_errors: bool = False
    has_objects: bool = False  # a run with --object_blur: the view blur_objects
    _schemes: set[str] = field(default_factory=set)

    def value(self, sql: str, *parameters: Any) -> Any:
        """The first column of the first row of a query."""
        rows = self.rows(sql, *parameters)
        return rows[0][0] if rows else None

    def rows(self, sql: str, *parameters: Any) -> list[tuple]:
        return self.connection.execute(sql, list(parameters)).fetchall()

    def _register(self, paths: list[str]) -> None:
        """Let DuckDB read these paths: an fsspec filesystem per non-local scheme."""
        for path in paths:
            scheme = storage.scheme(path)
            if scheme in (None, "file") or scheme in self._schemes:
                continue
            self.connection.register_filesystem(_fsspec_filesystem(scheme))
            self._schemes.add(scheme)

    def attach_results(self, path: str) -> list[str]:
        """The view `results` over a CSV or Parquet file; returns its column names."""
        try:
            if not storage.exists(path):
                raise UsageError(f"cannot read results file {path}: it does not exist")
        except UsageError:
            raise
        except Exception as error:
            raise UsageError(f"cannot read results file {path}: {error}") from error
        self._register([path])
        quoted = "'" + path.replace("'", "''") + "'"
        reader = (
            f"read_parquet({quoted})"
            if path.lower().endswith((".parquet", ".pq"))
            else f"read_csv({quoted}, auto_detect = true)"
        )
        duckdb = duckdb_module()
        try:
            self.connection.execute(f"CREATE VIEW results AS SELECT * FROM {reader}")
            return [row[0] for row in self.rows("DESCRIBE results")]
        except duckdb.Error as error:
            raise UsageError(f"cannot parse results file {path}: {error}") from error


def _shards(directory: str) -> list[str]:
    return storage.list_files(keys.join(directory, SHARD_GLOB))


def _create_view(database: LogDatabase, name: str, shards: list[str], schema: pa.Schema) -> set:
    """A view with every column of `schema`, in its order and type: columns that older shards
    lack come back NULL, so queries written for today's log run on any log."""
    source = f"read_parquet({_sql_list(shards)}, union_by_name = true)"
    present = {row[0] for row in database.rows(f"DESCRIBE SELECT * FROM {source}")}
    columns = [
        f'"{f.name}"' if f.name in present else f'NULL::{_SQL_TYPES[f.type]} AS "{f.name}"'
        for f in schema
    ]
    database.connection.execute(f"CREATE VIEW {name} AS SELECT {', '.join(columns)} FROM {source}")
    return present


def _run_metadata(database: LogDatabase, shard: str) -> dict[str, Any]:
    """The run parameters in a shard's Parquet footer (schema metadata), or {}."""
    rows = database.rows(
        "SELECT value FROM parquet_kv_metadata(?) WHERE key = ?", shard, METADATA_KEY
    )
    return json.loads(rows[0][0]) if rows else {}


def open_log(log_dir: str) -> LogDatabase:
    """The log directory's shards (and its error table's, when there is one) as views."""
    duckdb = duckdb_module()
    log_dir = log_dir.rstrip("/")
    shards = _shards(log_dir)
    if not shards:
        raise UsageError(f"no Parquet shards ({SHARD_GLOB}) in {log_dir}")
    connection = duckdb.connect(
        config={
            "memory_limit": MEMORY_LIMIT,
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
        }
    )
    database = LogDatabase(connection, log_dir, set(), {}, "")
    database._register(shards)
    database.metadata = _run_metadata(database, shards[0])
    database.log_columns = _create_view(database, "blur_log", shards, LOG_SCHEMA)
    database.errors_dir = str(
        database.metadata.get("errors") or keys.join(posixpath.dirname(log_dir), DEFAULT_ERRORS_DIR)
    )
    with contextlib.suppress(Exception):  # no error table, or one that cannot be listed
        error_shards = _shards(database.errors_dir)
        if error_shards:
            database._register(error_shards)
            _create_view(database, "blur_errors", error_shards, ERROR_SCHEMA)
            database.has_errors = True
    objects_dir = database.metadata.get("objects_log")
    if objects_dir:  # --object_blur's table; a run's files moved elsewhere: none
        with contextlib.suppress(Exception):
            object_shards = _shards(str(objects_dir))
            if object_shards:
                database._register(object_shards)
                _create_view(database, "blur_objects", object_shards, OBJECT_SCHEMA)
                database.has_objects = True
    return database


@contextlib.contextmanager
def log_database(log_dir: str) -> Iterator[LogDatabase]:
    database = open_log(log_dir)
    try:
        yield database
    finally:
        database.connection.close()
