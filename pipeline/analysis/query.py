"""`query`: SQL over the log (view blur_log) and the error table (blur_errors), in DuckDB,
which reads the shards where they lie."""

from __future__ import annotations

import pyarrow as pa

from blur_augment.pipeline.analysis.database import duckdb_module, log_database
from blur_augment.pipeline.analysis.reading import warn_if_incomplete
from blur_augment.pipeline.usage import UsageError


def query(log_dir: str, sql: str) -> pa.Table:
    """Run SQL over the log (`blur_log`) and, when present, the errors (`blur_errors`); only
    the result is held in memory."""
    duckdb = duckdb_module()
    with log_database(log_dir) as database:
        warn_if_incomplete(database.log_dir, database.value("SELECT count(*) FROM blur_log"))
        try:
            relation = database.connection.sql(sql)
            if relation is None:  # a statement without a result
                return pa.table({})
            return relation.to_arrow_table()
        except duckdb.Error as error:
            raise UsageError(f"SQL error: {error}") from error
