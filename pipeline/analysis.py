"""Reading a run's log back: summary, query, report against model results, and plots.

Logs are read through Beam's FileSystems, so a gs:// log reads like a local one. DuckDB and
matplotlib are optional extras: every text answer works without matplotlib, and the message
for a missing extra says what to install.
"""

from __future__ import annotations

import io
import json
import logging
import math
import posixpath
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from pipeline.options import DEFAULT_ERRORS_DIR, UsageError
from pipeline.schema import ERROR_SCHEMA, MARKER, SHARD_GLOB, run_metadata
from transforms import keys, storage

OUTPUT_FORMATS = ("table", "csv", "json", "parquet")
_log = logging.getLogger(__name__)


# --- reading -------------------------------------------------------------------------------


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


# --- summary -------------------------------------------------------------------------------


def applied_sigmas(log: pa.Table) -> np.ndarray:
    """sigma_x of the rows that were blurred."""
    mask = log.column("applied").to_numpy(zero_copy_only=False).astype(bool)
    return log.column("sigma_x").to_numpy()[mask]


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
        from pipeline import plots

        storage.write_bytes(plot, plots.sigma_histogram_png(blurred, log.num_rows - blurred.size))
        lines.append(f"histogram written to {plot}")
    return "\n".join(lines)


# --- query ---------------------------------------------------------------------------------


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


def format_table(table: pa.Table, max_rows: int = 200) -> str:
    """An aligned text table of the first `max_rows` rows."""
    names = table.column_names
    if not names:
        return "(no result)"
    rows = [[_cell(v) for v in row.values()] for row in table.slice(0, max_rows).to_pylist()]
    widths = [max([len(n)] + [len(r[i]) for r in rows]) for i, n in enumerate(names)]
    numeric = [pa.types.is_integer(t) or pa.types.is_floating(t) for t in table.schema.types]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if num else c.ljust(w)
            for c, w, num in zip(cells, widths, numeric, strict=True)
        ).rstrip()

    out = [line(names), line(["-" * w for w in widths]), *(line(r) for r in rows)]
    if table.num_rows > max_rows:
        out.append(f"... {table.num_rows - max_rows} more rows (use --format csv --out FILE)")
    out.append(f"({table.num_rows} row{'s' if table.num_rows != 1 else ''})")
    return "\n".join(out)


def _cell(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def render(table: pa.Table, fmt: str) -> bytes:
    """The table as bytes in one of OUTPUT_FORMATS."""
    if fmt == "table":
        return (format_table(table) + "\n").encode()
    sink = io.BytesIO()
    if fmt == "csv":
        pacsv.write_csv(table, sink)
    elif fmt == "json":
        sink.write(json.dumps(table.to_pylist(), default=str, indent=1).encode() + b"\n")
    elif fmt == "parquet":
        pq.write_table(table, sink)
    else:
        raise UsageError(f"--format must be one of {', '.join(OUTPUT_FORMATS)}, got {fmt!r}")
    return sink.getvalue()


# --- report --------------------------------------------------------------------------------


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


# Two-sided 97.5% quantiles of Student's t for 1..30 degrees of freedom.
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
         2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
         2.060, 2.056, 2.052, 2.048, 2.045, 2.042)  # fmt: skip


def confidence_interval(values: np.ndarray, binary: bool) -> tuple[float, float]:
    """95% interval of the mean: Wilson's for 0/1 metrics, Student's t otherwise."""
    n = values.size
    mean = float(values.mean())
    if binary:
        z = 1.959964
        centre = (mean + z * z / (2 * n)) / (1 + z * z / n)
        half = z * math.sqrt(mean * (1 - mean) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        return max(0.0, centre - half), min(1.0, centre + half)
    if n < 2:
        return float("nan"), float("nan")
    t = _T975[n - 2] if n - 1 <= len(_T975) else 1.959964
    half = t * float(values.std(ddof=1)) / math.sqrt(n)
    return mean - half, mean + half


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


# --- preview -------------------------------------------------------------------------------


def _displayable(pixels: np.ndarray) -> np.ndarray:
    """8-bit BGR for a contact sheet: 16-bit scaled, gray expanded, alpha over a checkerboard."""
    import cv2

    if pixels.dtype == np.uint16:
        pixels = (pixels // 257).astype(np.uint8)
    if pixels.ndim == 2:
        return cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR)
    if pixels.shape[2] == 4:
        height, width = pixels.shape[:2]
        y, x = np.mgrid[0:height, 0:width]
        board = np.where(((x // 8 + y // 8) % 2)[..., None] == 0, 200, 255).astype(np.float32)
        alpha = pixels[:, :, 3:4].astype(np.float32) / 255
        return (pixels[:, :, :3] * alpha + board * (1 - alpha)).astype(np.uint8)
    return pixels


def preview_sheet(
    data: bytes, sigmas: list[float], tile_width: int = 360, columns: int = 3
) -> bytes:
    """A labelled PNG contact sheet of the image blurred at each sigma, by the pipeline's own
    blur function, shown at a common tile size (blur first, then scale, as the model sees it)."""
    import cv2

    from transforms import codec
    from transforms.blur import blur

    if not sigmas:
        raise UsageError("--sigmas needs at least one value")
    if any(s < 0 for s in sigmas):
        raise UsageError(f"--sigmas must be >= 0, got {sigmas}")
    try:
        decoded = codec.decode(data)
    except codec.ImageError as error:
        raise UsageError(f"cannot preview: {error}") from error
    pixels = decoded.pixels
    height, width = pixels.shape[:2]
    scale = min(1.0, tile_width / width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    label_height = 28
    tiles = []
    for sigma in sigmas:
        blurred, kernel, _ = blur(pixels, sigma, sigma)
        tile = cv2.resize(_displayable(blurred), size, interpolation=cv2.INTER_AREA)
        band = np.full((label_height, size[0], 3), 255, np.uint8)
        text = f"sigma {sigma:g}  kernel {kernel.width}x{kernel.height}"
        cv2.putText(band, text, (6, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        tiles.append(np.vstack([band, tile]))
    columns = min(columns, len(tiles))
    blank = np.full_like(tiles[0], 255)
    tiles += [blank] * (-len(tiles) % columns)
    gap = 4
    rows = []
    for r in range(0, len(tiles), columns):
        row = tiles[r : r + columns]
        spaced = [np.pad(t, ((gap, gap), (gap, gap), (0, 0)), constant_values=255) for t in row]
        rows.append(np.hstack(spaced))
    return codec.encode(np.vstack(rows), "png")
