"""`summary`: rows, keys, applied share, sigmas, dataset splits and errors of a log, each an
aggregate DuckDB computes over the shards."""

from __future__ import annotations

import numpy as np

from blur_augment.pipeline.analysis.database import LogDatabase, log_database
from blur_augment.pipeline.analysis.grouping import KIND_SQL
from blur_augment.pipeline.analysis.reading import completion
from blur_augment.pipeline.schema import MARKER
from blur_augment.transforms.io import storage
from blur_augment.transforms.sampling import BLUR_KINDS

_GAUSSIAN = f"applied AND {KIND_SQL} = 'gaussian'"
# Each kind's drawn parameters (its descriptor's; the Gaussian's are the sigmas), as the
# summary lists their ranges.
KIND_PARAMETERS = {
    kind.name: tuple(p.name for p in kind.parameters) or ("sigma_x", "sigma_y")
    for kind in BLUR_KINDS.values()
}


def sigma_histogram(database: LogDatabase, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Counts and edges of sigma_x over the Gaussian-blurred rows, `bins` equal-width bins
    from the smallest to the largest (the last bin closed), counted by DuckDB as it scans."""
    low, high = database.rows(f"SELECT min(sigma_x), max(sigma_x) FROM blur_log WHERE {_GAUSSIAN}")[
        0
    ]
    if low is None:
        return np.zeros(0, np.int64), np.zeros(0)
    if high == low:
        high = low + 1e-9
    counts = np.zeros(bins, np.int64)
    found = database.rows(
        "SELECT least(CAST(floor((sigma_x - $1) / ($2 - $1) * $3) AS BIGINT), $3 - 1) AS bin, "
        f"count(*) FROM blur_log WHERE {_GAUSSIAN} GROUP BY bin",
        low, high, bins,
    )  # fmt: skip
    for index, count in found:
        counts[int(index)] = count
    return counts, np.linspace(low, high, bins + 1)


def text_histogram(counts: np.ndarray, edges: np.ndarray, width: int = 40) -> list[str]:
    """One line per bin: range, count and a bar of '#'."""
    if counts.size == 0:
        return ["  (no blurred images)"]
    peak = max(int(counts.max()), 1)
    last = counts.size - 1
    return [
        f"  [{edges[i]:7.3f}, {edges[i + 1]:7.3f}{']' if i == last else ')'} "
        f"{int(count):8d} {'#' * round(width * int(count) / peak)}"
        for i, count in enumerate(counts)
    ]


def kind_lines(database: LogDatabase) -> list[str]:
    """The mix of kinds among the blurred rows and each kind's parameter ranges, or the
    corruption's severities; nothing for a Gaussian-only log (today's summary says it all)."""
    mix = database.rows(f"SELECT {KIND_SQL} AS kind, count(*) FROM blur_log WHERE applied "
                        "GROUP BY kind ORDER BY count(*) DESC, kind")  # fmt: skip
    corruptions = database.rows(
        "SELECT corruption, severity, count(*) FROM blur_log WHERE applied AND corruption <> '' "
        "GROUP BY corruption, severity ORDER BY corruption, severity"
    )
    if [kind for kind, _ in mix] in ([], ["gaussian"]) and not corruptions:
        return []
    total = sum(count for _, count in mix)
    lines = ["kinds of blurred rows: " + ", ".join(
        f"{kind} {count} ({count / total:.1%})" for kind, count in mix)]  # fmt: skip
    for kind, _ in mix:
        for column in KIND_PARAMETERS.get(kind, ()):
            low, mean, high = database.rows(
                f'SELECT min("{column}"), avg("{column}"), max("{column}") FROM blur_log '
                f"WHERE applied AND {KIND_SQL} = ?", kind,
            )[0]  # fmt: skip
            lines.append(f"  {kind} {column}: min {low:.3f}, mean {mean:.3f}, max {high:.3f}")
    if corruptions:
        lines.append("corruption severities: " + ", ".join(
            f"{name} {severity}: {count}" for name, severity, count in corruptions))  # fmt: skip
    return lines


def dataset_lines(database: LogDatabase) -> list[str]:
    """The dataset layout the run recognised, and rows per split (logs of dataset runs only;
    older logs have neither)."""
    dataset = database.metadata.get("dataset") or {}
    if dataset.get("kind", "images") == "images" or "split" not in database.log_columns:
        return []
    variant = f" ({dataset['variant']})" if dataset.get("variant") else ""
    augmented = ", ".join(dataset.get("augmented_splits") or []) or "all"
    counts = database.rows("SELECT split, count(*) FROM blur_log GROUP BY split ORDER BY split")
    per_split = ", ".join(f"{split or '(none)'} {count}" for split, count in counts)
    return [
        f"dataset: {dataset['kind']}{variant}, augmented splits: {augmented}",
        f"rows per split: {per_split}",
    ]


def object_lines(database: LogDatabase) -> list[str]:
    """--object_blur's table: objects, how many moved and how, and each kind's ranges."""
    if not database.has_objects:
        if database.metadata.get("objects_log"):
            return [f"objects: no object table at {database.metadata['objects_log']}"]
        return []
    total, moved, images = database.rows(
        "SELECT count(*), count(*) FILTER (WHERE applied), count(DISTINCT (key, copy_index)) "
        "FROM blur_objects"
    )[0]
    lines = [f"objects: {total} in {images} copies, {moved} blurred "
             f"({moved / max(total, 1):.1%}) ({database.metadata['objects_log']})"]  # fmt: skip
    by_kind = database.rows("SELECT blur_kind, count(*) FROM blur_objects WHERE applied "
                            "GROUP BY blur_kind ORDER BY count(*) DESC, blur_kind")  # fmt: skip
    for kind, count in by_kind:
        ranges = [
            "{} {:.3f}-{:.3f}".format(column, *database.rows(
                f'SELECT min("{column}"), max("{column}") FROM blur_objects '
                "WHERE applied AND blur_kind = ?", kind)[0])
            for column in KIND_PARAMETERS.get(kind, ())
        ]  # fmt: skip
        lines.append(f"  {kind} {count}" + (": " + ", ".join(ranges) if ranges else ""))
    return lines


def errors_by_stage(database: LogDatabase) -> list[tuple[str, int]] | None:
    """Error rows per stage, or None when the run has no error table."""
    if not database.has_errors:
        return None
    return database.rows("SELECT stage, count(*) FROM blur_errors GROUP BY stage ORDER BY stage")


def summary(log_dir: str, plot: str | None = None) -> str:
    """The summary of a log directory as text (rows, keys, applied share, sigmas, errors)."""
    with log_database(log_dir) as database:
        rows, keys, applied, low, mean, high = database.rows(
            "SELECT count(*), count(DISTINCT key), count(*) FILTER (WHERE applied), "
            f"min(sigma_x) FILTER (WHERE {_GAUSSIAN}), avg(sigma_x) FILTER (WHERE {_GAUSSIAN}), "
            f"max(sigma_x) FILTER (WHERE {_GAUSSIAN}) FROM blur_log"
        )[0]
        lines = [f"log: {database.log_dir}", f"rows: {rows}"]
        problem = completion(database.log_dir, rows)
        lines.append(
            f"WARNING: {problem}" if problem else f"complete: yes ({MARKER} marker agrees)"
        )
        if rows:
            lines += [f"distinct keys: {keys}",
                      f"applied: {applied} of {rows} ({applied / rows:.1%})"]  # fmt: skip
            lines += kind_lines(database)
            if low is not None:
                lines.append(f"sigma_x of Gaussian-blurred rows: min {low:.3f}, mean {mean:.3f}, "
                             f"max {high:.3f}")  # fmt: skip
                lines.append("histogram of sigma_x (Gaussian-blurred rows):")
                lines += text_histogram(*sigma_histogram(database, 10))
        lines += dataset_lines(database)
        lines += object_lines(database)
        stages = errors_by_stage(database)
        if stages is None:
            lines.append(f"errors: no error table at {database.errors_dir}")
        else:
            lines.append(f"errors: {sum(c for _, c in stages)} ({database.errors_dir})")
            lines += [f"  {stage}: {count}" for stage, count in stages]
        if plot:
            from blur_augment.pipeline.analysis import plots

            counts, edges = sigma_histogram(database, 20)
            storage.write_bytes(plot, plots.sigma_histogram_png(counts, edges, rows - applied))
            lines.append(f"histogram written to {plot}")
    return "\n".join(lines)
