"""A run's outcome: its counters read back (the names `transforms.beam.counters` declares),
the summary printed to stderr, and the exit status --max_error_rate asks for."""

from __future__ import annotations

import sys

from apache_beam.metrics.metric import MetricsFilter
from apache_beam.runners.runner import PipelineResult

from pipeline.options import RunConfig
from transforms import jpeg_planes
from transforms.beam.counters import NAMES, NAMESPACE


def counters(result: PipelineResult) -> dict[str, int]:
    """The job's counters, summed over steps (every name, 0 when nothing counted it)."""
    totals = dict.fromkeys(NAMES, 0)
    query = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))
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


def print_run_summary(config: RunConfig, totals: dict[str, int], elapsed: float) -> None:
    """The run's summary on stderr: what was matched and written, then a line per thing worth
    knowing (shards, the dataset, warnings, the codec path), then where the log is."""
    outputs = totals["written"] + totals["failed"]
    lines = _manifest_lines(config, totals)
    lines += [
        f"blur-augment: matched {totals['matched']} files ({totals['images']} images, "
        f"{totals['skipped']} skipped as not images)",
        f"  written {totals['written']}, failed {totals['failed']} in {elapsed:.1f} s "
        f"({outputs / elapsed if elapsed > 0 else 0:.1f} images/s)",
    ]
    lines += _shard_lines(totals) + _dataset_lines(config, totals) + _note_lines(config, totals)
    lines += [f"  log:    {config.log}", f"  errors: {config.errors}"]
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
