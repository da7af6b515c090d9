"""`report`: the model's metric per sigma bin, from the log joined with per-image results.

DuckDB joins the results file with the log shards where they lie and returns one aggregate
row per bin (count, mean, standard deviation); the intervals come from those. Memory stays
bounded whatever the number of rows: DuckDB spills beyond its limit.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from blur_augment.pipeline.analysis import grouping
from blur_augment.pipeline.analysis.database import LogDatabase, duckdb_module, log_database
from blur_augment.pipeline.analysis.formatting import format_table
from blur_augment.pipeline.analysis.reading import warn_if_incomplete
from blur_augment.pipeline.analysis.stats import confidence_interval
from blur_augment.pipeline.usage import UsageError

_NUMERIC = ("BOOLEAN", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT",
            "USMALLINT", "UINTEGER", "UBIGINT", "FLOAT", "DOUBLE", "DECIMAL")  # fmt: skip
UNBLURRED = -1  # the bin number of the copies that were not blurred
OUTSIDE = -2  # the bin number of blurred copies no level holds (none, for a run's own levels)


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
    number: int = UNBLURRED  # UNBLURRED, or 0.. for the levels
    level: grouping.Bound | None = None  # None for the unblurred images


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

    def bin(self, label: str | None) -> Bin | None:
        return next((b for b in self.bins if b.label == label), None)

    def best(self) -> str | None:
        """The label of the best-scoring bin (the opposite end from `worst`)."""
        scored = [b for b in self.bins if b.mean is not None]
        if not scored:
            return None
        pick = min if self.lower_is_better else max
        return pick(scored, key=lambda b: b.mean).label

    @property
    def by(self) -> str:
        """What the levels bin on: sigma_x, one column, or each kind's parameter."""
        columns = {b.level.column for b in self.bins if b.level is not None}
        return columns.pop() if len(columns) == 1 else "each kind's parameter"

    def table(self) -> pa.Table:
        plain = all(b.level is None or b.level.sigma for b in self.bins)
        rows = []
        for b in self.bins:
            if plain:
                ranges = {"sigma_low": b.low, "sigma_high": b.high}
            elif b.level is None:
                ranges = {"kind": "none", "parameter": None, "low": None, "high": None}
            else:
                ranges = grouping.range_columns(b.level)
            rows.append({"bin": b.label, **ranges, "images": b.count,
                         f"mean_{self.metric}": b.mean, "ci95_low": b.ci_low,
                         "ci95_high": b.ci_high, "worst": b.label == self.worst})  # fmt: skip
        return pa.Table.from_pylist(rows)

    def text(self) -> str:
        lines = [
            f"metric: {self.metric} by {self.by} ({'lower' if self.lower_is_better else 'higher'} "
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


def _check_columns(database: LogDatabase, results_path: str, on: str, metric: str) -> None:
    types = dict(database.rows("SELECT column_name, column_type FROM (DESCRIBE results)"))
    columns = ", ".join(types)
    if on not in types:
        raise UsageError(f"results have no join column {on!r} (--on); columns: {columns}")
    if metric not in types:
        raise UsageError(f"results have no column {metric!r} (--metric); columns: {columns}")
    if not types[metric].startswith(_NUMERIC):
        raise UsageError(f"--metric column {metric!r} is {types[metric]}, not numeric")


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _join(database: LogDatabase, on: str, metric: str, output: str, bin_sql: str) -> None:
    """Temporary table `scored`: for each log row with a result, its first valid result (file
    order) and its level (`bin_sql` over the log row). A result names a log row by its
    output_uri, its output path relative to --output, or its input key where that key has a
    single row."""
    prefix = output.rstrip("/") + "/" if output else ""
    database.connection.execute(
        f"""
        CREATE TEMP TABLE named AS
        SELECT row_number() OVER () AS result_row, CAST({_quoted(on)} AS VARCHAR) AS name,
               CAST({_quoted(metric)} AS DOUBLE) AS value
        FROM results
        """
    )
    database.connection.execute(
        f"""
        CREATE TEMP TABLE matches AS
        SELECT n.result_row, n.value, l.output_uri, l.key, l.applied, l.sigma_x,
               {bin_sql} AS bin  -- over l's columns: named has none of those names
        FROM named n JOIN blur_log l ON l.output_uri =
            CASE WHEN n.name LIKE '%://%' OR starts_with(n.name, '/') THEN n.name
                 ELSE $1 || n.name END
        """,
        [prefix],
    )
    unmatched = database.value(
        "SELECT (SELECT count(*) FROM named) - (SELECT count(*) FROM matches)"
    )
    if unmatched:  # names that are no output path: input keys, where a key has one row
        database.connection.execute(
            f"""
            INSERT INTO matches
            WITH single_keys AS (
                SELECT key, any_value(output_uri) AS output_uri, any_value(applied) AS applied,
                       any_value(sigma_x) AS sigma_x, any_value({bin_sql}) AS bin
                FROM blur_log GROUP BY key HAVING count(*) = 1
            )
            SELECT n.result_row, n.value, k.output_uri, k.key, k.applied, k.sigma_x, k.bin
            FROM named n JOIN single_keys k ON k.key = n.name
            WHERE n.result_row NOT IN (SELECT result_row FROM matches)
            """
        )
    database.connection.execute(
        """
        CREATE TEMP TABLE scored AS
        SELECT output_uri, any_value(key) AS key, arg_min(value, result_row) AS value,
               any_value(applied) AS applied, any_value(sigma_x) AS sigma_x,
               any_value(bin) AS bin
        FROM matches WHERE value IS NOT NULL AND NOT isnan(value)
        GROUP BY output_uri
        """
    )


def observed_range(database: LogDatabase) -> grouping.Observed:
    """The log's own range of a column over the blurred rows (of a kind)."""

    def observed(kind: str | None, column: str) -> tuple[float | None, float | None]:
        where = "applied" + (f" AND {grouping.KIND_SQL} = ?" if kind else "")
        return database.rows(f'SELECT min("{column}"), max("{column}") FROM blur_log '
                             f"WHERE {where}", *([kind] if kind else []))[0]  # fmt: skip

    return observed


def report(
    log_dir: str,
    results_path: str,
    on: str = "key",
    metric: str = "correct",
    bins: int = 10,
    lower_is_better: bool | None = None,
    database: LogDatabase | None = None,
    by: str | None = None,
) -> Report:
    """Mean metric per level (grouping: sigma bins, ladder steps, severities, kinds), with 95%
    intervals, from the log joined with results. With `database` (an open log) the temporary
    tables stay there for the HTML page's gallery."""
    if bins < 1:
        raise UsageError(f"--bins must be >= 1, got {bins}")
    grouping.check_column(by)
    if database is None:
        with log_database(log_dir) as opened:
            return report(log_dir, results_path, on, metric, bins, lower_is_better, opened, by)
    duckdb = duckdb_module()
    total = database.value("SELECT count(*) FROM blur_log")
    warn_if_incomplete(database.log_dir, total)
    if total == 0:
        raise UsageError(f"the log in {log_dir} has no rows")
    database.attach_results(results_path)
    _check_columns(database, results_path, on, metric)
    if lower_is_better is None:
        lower_is_better = any(word in metric.lower() for word in ("loss", "error", "err"))
    meta = database.metadata
    levels = grouping.bounds(meta, by, bins, observed_range(database))
    try:
        _join(database, on, metric, str(meta.get("output", "")),
              grouping.level_case(levels, UNBLURRED, OUTSIDE))  # fmt: skip
        results_rows, matches = database.rows(
            "SELECT (SELECT count(*) FROM named), (SELECT count(*) FROM matches)"
        )[0]
        valid_matches, matched, binary = database.rows(
            "SELECT (SELECT count(*) FROM matches WHERE value IS NOT NULL AND NOT isnan(value)),"
            " count(*), coalesce(bool_and(value = 0 OR value = 1), false) FROM scored"
        )[0]
        aggregates = {
            number: (count, mean, std)
            for number, count, mean, std in database.rows(
                "SELECT bin, count(*), avg(value), stddev_samp(value) FROM scored GROUP BY bin"
            )
        }
    except duckdb.Error as error:
        raise UsageError(f"cannot join {results_path} with the log: {error}") from error

    def make_bin(number: int, label: str, level: grouping.Bound | None) -> Bin:
        lo, hi = (level.low, level.high) if level else (0.0, 0.0)
        count, mean, std = aggregates.get(number, (0, None, None))
        if not count:
            return Bin(label, lo, hi, 0, None, None, None, number, level)
        ci = confidence_interval(int(count), float(mean), std, bool(binary))
        return Bin(label, lo, hi, int(count), float(mean), *ci, number, level)

    table = [make_bin(UNBLURRED, "unblurred", None)]
    table += [make_bin(b, level.label, level) for b, level in enumerate(levels)]
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
        results_rows=int(results_rows),
        matched=int(matched),
        results_not_in_log=int(results_rows - matches),
        log_not_in_results=int(total - matched),
        duplicate_results=int(valid_matches - matched),
        interval="Wilson (0/1 metric)" if binary else "Student's t",
    )


def bin_members(
    database: LogDatabase, report: Report, label: str | None, limit: int, worst_first: bool
) -> list[tuple[str, str, float, float]]:
    """Up to `limit` scored copies of a bin (key, output_uri, sigma_x, metric), the worst
    scores first or the best first: the gallery of `report --html`."""
    chosen = report.bin(label)
    if chosen is None:
        return []
    ascending = worst_first != report.lower_is_better  # higher is better: worst = smallest
    return database.rows(
        f"SELECT key, output_uri, sigma_x, value FROM scored WHERE bin = ? "
        f"ORDER BY value {'ASC' if ascending else 'DESC'}, output_uri LIMIT ?",
        chosen.number, limit,
    )  # fmt: skip
