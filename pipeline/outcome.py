"""A run's outcome: its counters read back (the names `transforms.beam.counters` declares),
the summary printed to stderr, and the exit status --max_error_rate asks for."""

from __future__ import annotations

import io
import sys

from apache_beam.metrics.metric import MetricsFilter
from apache_beam.runners.runner import PipelineResult

from blur_augment.pipeline.options import RunConfig
from blur_augment.pipeline.schema import SHARD_GLOB
from blur_augment.transforms import jpeg_planes
from blur_augment.transforms import keys as keys_module
from blur_augment.transforms.beam.counters import NAMES, NAMESPACE
from blur_augment.transforms.io import storage


def counters(result: PipelineResult) -> dict[str, int] | None:
    """The job's counters, summed over steps (every name, 0 when nothing counted it); None
    when the runner reports none at all (some portable runners report no user metrics)."""
    totals = dict.fromkeys(NAMES, 0)
    try:
        query = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))
    except Exception:  # NotImplementedError, or a job service that cannot say
        return None
    if not query["counters"]:
        return None
    for counter in query["counters"]:
        name = counter.key.metric.name
        value = counter.committed if counter.committed is not None else counter.attempted
        totals[name] = totals.get(name, 0) + int(value or 0)
    return totals


ERROR_RATE_EXIT = 3


def error_rate_status(config: RunConfig, totals: dict[str, int]) -> int:
    """0, or ERROR_RATE_EXIT when more than --max_error_rate of the outputs failed: the log is
    complete, but a scheduled job must not take the run for a good one."""
    outputs = totals["written"] + totals["failed"]
    if config.max_error_rate is None or not outputs:
        return 0
    rate = totals["failed"] / outputs
    if rate <= config.max_error_rate:
        return 0
    print(
        f"blur-augment: error: {totals['failed']} of {outputs} outputs failed ({rate:.1%}), "
        f"more than --max_error_rate={config.max_error_rate:g}; the log and the error table "
        f"are complete in {config.log} and {config.errors}",
        file=sys.stderr,
    )
    return ERROR_RATE_EXIT


def counted_from_tables(config: RunConfig) -> dict[str, int]:
    """The counters a summary needs, from what the job wrote: its log rows are the written
    outputs, its error rows the failed ones, their distinct keys the matched files."""
    totals = dict.fromkeys(NAMES, 0)
    log_keys, log_rows = _keys(config.log)
    error_keys, error_rows = _keys(config.errors)
    matched = len(log_keys | error_keys)
    totals.update(matched=matched, images=matched, written=log_rows, failed=error_rows)
    return totals


def _keys(directory: str) -> tuple[set[str], int]:
    """The distinct keys and the row count of a directory's Parquet shards (none: empty)."""
    import pyarrow.parquet as pq

    keys, rows = set(), 0
    for shard in storage.list_files(keys_module.join(directory, SHARD_GLOB)):
        table = pq.read_table(io.BytesIO(storage.read_bytes(shard)), columns=["key"])
        keys.update(table.column("key").to_pylist())
        rows += table.num_rows
    return keys, rows


def print_run_summary(
    config: RunConfig, totals: dict[str, int], elapsed: float, source: str = "metrics"
) -> None:
    """The run's summary on stderr: what was matched and written, then a line per thing worth
    knowing (shards, the dataset, warnings, the codec path), then where the log is. `source`
    "tables": the counts come from the log and the error table (counted_from_tables)."""
    outputs = totals["written"] + totals["failed"]
    lines = _manifest_lines(config, totals)
    lines += [
        f"blur-augment: matched {totals['matched']} files ({totals['images']} images, "
        f"{totals['skipped']} skipped as not images)",
        f"  written {totals['written']}, failed {totals['failed']} in {elapsed:.1f} s "
        f"({outputs / elapsed if elapsed > 0 else 0:.1f} images/s)",
    ]
    lines += _shard_lines(totals) + _dataset_lines(config, totals) + _note_lines(config, totals)
    if source == "tables":
        lines.append("  (the runner reported no metrics: counted from the log and the error "
                     "table; files skipped or excluded are not known)")  # fmt: skip
    lines += [f"  log:    {config.log}", f"  errors: {config.errors}"]
    if source != "tables":
        lines += _accounting_lines(config, totals)
    print("\n".join(lines), file=sys.stderr)


def _manifest_lines(config: RunConfig, totals: dict[str, int]) -> list[str]:
    if not config.manifest:
        return []
    duplicates = totals["manifest_duplicates"]
    return [
        f"blur-augment: manifest {config.manifest}: {totals['manifest_lines']} lines"
        + (f", {duplicates} naming a file already named (made once)" if duplicates else "")
    ]


def _shard_lines(totals: dict[str, int]) -> list[str]:
    if not totals["shards"]:
        return []
    carried = totals["carried_members"]
    return [
        f"  shards: {totals['shards']} (WebDataset tars and Parquet files), each written "
        f"whole under --output; images in them: {totals['augmented_images']}"
        + (f"; members of no sample carried: {carried}" if carried else "")
    ]


def _dataset_lines(config: RunConfig, totals: dict[str, int]) -> list[str]:
    layout = config.job.layout
    if layout.kind == "images" and not layout.masks and not layout.exclude:
        return []
    splits = ", ".join(layout.splits) or "none"
    augmented = ", ".join(layout.augmented) if layout.splits else "all"
    variant = f" ({layout.variant})" if layout.variant else ""
    lines = [
        f"  dataset: {layout.kind}{variant}; splits: {splits}; augmented: {augmented}",
        f"  label files and masks: {totals['label_files']}; images augmented "
        f"{totals['augmented_images']}, copied as they are {totals['kept_images']}, "
        f"left out (other splits) {totals['not_augmented']}; other files copied "
        f"{totals['copied_files']}, excluded {totals['excluded']}",
    ]
    if totals["unlisted_images"]:
        lines.append(
            f"  WARNING: {totals['unlisted_images']} images are listed in no COCO JSON of "
            "their split: written, but no loader will see them"
        )
    if totals["orphan_labels"]:
        lines.append(
            f"  WARNING: {totals['orphan_labels']} label files or index entries name an "
            "image that does not exist (left as they are)"
        )
    return lines


def _note_lines(config: RunConfig, totals: dict[str, int]) -> list[str]:
    lines = []
    if totals["special_files"]:
        lines.append(
            f"  WARNING: {totals['special_files']} entries of --input are not regular files "
            "(FIFOs, devices, sockets, symbolic links that loop or dangle): skipped, never opened"
        )
    if config.resume:
        lines.append(
            f"  resumed: {totals['resumed_images']} images were already written and were "
            "logged again without being blurred again"
        )
    if config.job.codec_path == "auto" and jpeg_planes.missing_reason():
        lines.append(
            f"  note: JPEGs were decoded to pixels, not blurred as stored planes (slower, same "
            f"log): {jpeg_planes.missing_reason()}"
        )
    elif totals["planar_jpegs"]:
        lines.append(f"  JPEGs blurred as stored planes: {totals['planar_jpegs']}")
    return lines


def _accounting_lines(config: RunConfig, totals: dict[str, int]) -> list[str]:
    """A warning when the outputs do not add up to what was matched (a bug, if ever)."""
    outputs = totals["written"] + totals["failed"]
    expected = totals["augmented_images"] * len(config.job.copy_indices()) + totals["kept_images"]
    images = totals["augmented_images"] + totals["kept_images"] + totals["not_augmented"]
    if outputs != expected or totals["images"] != images:
        return [f"  WARNING: expected {expected} outputs, accounted for {outputs}"]
    return []
