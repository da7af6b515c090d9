"""`query`: SQL over the log (table blur_log) and the error table (blur_errors), in DuckDB."""

from __future__ import annotations

import pyarrow as pa

from pipeline.analysis.reading import read_checked_log, read_errors
from pipeline.options import UsageError


def _duckdb():
    try:
        import duckdb
    except ImportError as error:
        raise UsageError(
            "query needs DuckDB: pip install 'blur-augment[query]' (or pip install duckdb)"
        ) from error
    return duckdb


def query(log_dir: str, sql: str) -> pa.Table:
    """Run SQL over the log (table `blur_log`) and, when present, the errors (`blur_errors`).

    The tables are read here (pyarrow through Beam's FileSystems) and handed to DuckDB, so no
    DuckDB extension is fetched for gs:// paths.
    """
    duckdb = _duckdb()
    log = read_checked_log(log_dir)
    connection = duckdb.connect()
    connection.register("blur_log", log)
    errors = read_errors(log_dir.rstrip("/"), log)
    if errors is not None:
        connection.register("blur_errors", errors)
    try:
        relation = connection.sql(sql)
        if relation is None:  # a statement without a result
            return pa.table({})
        return relation.to_arrow_table()
    except duckdb.Error as error:
        raise UsageError(f"SQL error: {error}") from error
