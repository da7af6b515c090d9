"""The pipeline: `build` wires the graph (and returns its outputs for tests), `run` launches it."""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.metadata
import json
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import (
    GoogleCloudOptions,
    PipelineOptions,
    SetupOptions,
    StandardOptions,
    TestOptions,
)
from apache_beam.runners.runner import PipelineResult

from pipeline.dataset import detect
from pipeline.options import (
    RunConfig,
    UsageError,
    refuse_unknown_options,
    resolve,
    str_to_bool,
)
from pipeline.schema import ERROR_SCHEMA, LOG_SCHEMA, MARKER, SHARD_GLOB, with_run_metadata
from transforms import jpeg_planes, keys, progress, storage
from transforms.beam import NAMESPACE, BlurImages

_log = logging.getLogger(__name__)


def package_version() -> str:
    try:
        return importlib.metadata.version("blur-augment")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def run_metadata(config: RunConfig) -> dict[str, object]:
    """What goes into the Parquet metadata: the parameters and the versions that made the log."""
    return {
        **config.parameters(),
        "blur_augment_version": package_version(),
        "beam_version": beam.__version__,
    }


@dataclass(frozen=True)
class BlurOutputs:
    """The graph's outputs: the log rows and the error rows (both also written to Parquet)."""

    rows: beam.PCollection
    errors: beam.PCollection


def build(pipeline: beam.Pipeline, config: RunConfig) -> BlurOutputs:
    """Add the whole job to `pipeline` without running it (and without touching storage)."""
    outputs = pipeline | "BlurImages" >> BlurImages(
        config.input, config.job, config.manifest, config.manifest_column
    )
    metadata = run_metadata(config)
    rows, errors = outputs["rows"], outputs["errors"]
    shards = {}
    for label, pcoll, directory, schema in (
        ("WriteLog", rows, config.log, LOG_SCHEMA),
        ("WriteErrors", errors, config.errors, ERROR_SCHEMA),
    ):
        shards[label] = pcoll | label >> beam.io.WriteToParquet(
            keys.join(directory, "part"),
            schema=with_run_metadata(schema, metadata),
            codec="snappy",
            file_name_suffix=".parquet",
        )
    # The completion marker: written last, once both tables' shards are final, with the counts
    # a reader can check. A run that fails or is interrupted leaves none.
    _ = (
        pipeline
        | "MarkerTrigger" >> beam.Create([None])
        | "WriteMarker"
        >> beam.ParDo(
            WriteMarker(config.log),
            log_shards=beam.pvalue.AsList(shards["WriteLog"]),
            error_shards=beam.pvalue.AsList(shards["WriteErrors"]),
            dataset_files=beam.pvalue.AsList(outputs["files"]),
            log_rows=beam.pvalue.AsSingleton(rows | "CountRows" >> beam.combiners.Count.Globally()),
            error_rows=beam.pvalue.AsSingleton(
                errors | "CountErrors" >> beam.combiners.Count.Globally()
            ),
        )
    )
    return BlurOutputs(rows=rows, errors=errors)


class WriteMarker(beam.DoFn):
    """Writes LOG/_SUCCESS (JSON: shards and row counts) after every shard is in place."""

    def __init__(self, log_dir: str) -> None:
        self._path = keys.join(log_dir, MARKER)

    def process(
        self, _: None, log_shards, error_shards, dataset_files, log_rows: int, error_rows: int
    ):
        marker = {
            "log_rows": log_rows,
            "error_rows": error_rows,
            "log_shards": sorted(log_shards),
            "error_shards": sorted(error_shards),
            "dataset_files": len(dataset_files),
            # added in 0.4: what `verify` checks the index and other files against
            "dataset_file_hashes": {
                f.uri: {"bytes": f.size, "sha256": f.sha256}
                for f in sorted(dataset_files, key=lambda f: f.uri)
            },
        }
        storage.write_bytes(self._path, json.dumps(marker, indent=1).encode())
        yield self._path


RUN_FILE = "_RUN.json"  # the options of the run writing this log, for --resume to check
# Parameters a resumed run may change: they do not decide what is written.
_RESUMABLE_CHANGES = frozenset({"max_error_rate"})


def prepare_log_dirs(config: RunConfig) -> None:
    """Refuse to mix two runs' shards in one log; with --overwrite, clear the old shards first;
    with --resume, check that the earlier run had the same options. Then record this run's
    options in LOG/_RUN.json.

    The completion marker of an earlier run goes first, so that a log is never marked complete
    while it is being replaced.
    """
    run_file = keys.join(config.log, RUN_FILE)
    if config.resume:
        check_resumable(config, run_file)
    old = {
        option: storage.list_files(keys.join(directory, SHARD_GLOB))
        for option, directory in (("--log", config.log), ("--errors", config.errors))
    }
    if not (config.overwrite or config.resume):
        for option, shards in old.items():
            if shards:
                directory = config.log if option == "--log" else config.errors
                raise UsageError(
                    f"{option} {directory} already holds {len(shards)} Parquet shard(s) from "
                    "an earlier run; pass --overwrite to replace them"
                )
    storage.delete_files(storage.list_files(keys.join(config.log, MARKER)))
    for directory in (config.log, config.errors):  # what a killed run's Parquet sinks left
        storage.delete_files(storage.list_files(keys.join(directory, "beam-temp-*/*")))
    for shards in old.values():
        if shards:
            _log.info("deleting %d old shard(s)", len(shards))
            storage.delete_files(shards)
    storage.write_bytes(run_file, json.dumps(resumable_parameters(config), indent=1).encode())


def resumable_parameters(config: RunConfig) -> dict[str, object]:
    """The parameters that decide what a run writes (as stored in the log's metadata)."""
    return {
        k: v for k, v in json.loads(json.dumps(config.parameters())).items()
        if k not in _RESUMABLE_CHANGES
    }  # fmt: skip


def check_resumable(config: RunConfig, run_file: str) -> None:
    """--resume continues the run recorded in LOG/_RUN.json, with the same options, or not at
    all: a different seed or sigma range would mix two runs' images in one output."""
    try:
        earlier = json.loads(storage.read_bytes(run_file))
    except Exception as error:
        raise UsageError(
            f"--resume: no earlier run to resume in {config.log} ({RUN_FILE} cannot be read: "
            f"{type(error).__name__}); start the run without --resume"
        ) from error
    now = resumable_parameters(config)
    for name in sorted(set(earlier) | set(now)):
        if earlier.get(name) != now.get(name):
            option = "--dataset (the layout found)" if name == "dataset" else f"--{name}"
            raise UsageError(
                f"--resume: {option} was {earlier.get(name)!r} in the earlier run and is "
                f"{now.get(name)!r} now; resume with the same options, or start afresh with "
                "--overwrite"
            )


COUNTERS = (
    "matched",
    "images",
    "label_files",
    "skipped",
    "excluded",
    "copied_files",
    "augmented_images",
    "kept_images",
    "not_augmented",
    "orphan_labels",
    "unlisted_images",
    "resumed_images",
    "planar_jpegs",
    "manifest_lines",
    "manifest_duplicates",
    "shards",
    "carried_members",
    "special_files",
    "written",
    "failed",
)


def counters(result: PipelineResult) -> dict[str, int]:
    """The job's counters (see COUNTERS), summed over steps."""
    totals = dict.fromkeys(COUNTERS, 0)
    query = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))
    for counter in query["counters"]:
        name = counter.key.metric.name
        value = counter.committed if counter.committed is not None else counter.attempted
        totals[name] = totals.get(name, 0) + int(value or 0)
    return totals


def launch(argv: list[str] | None = None) -> tuple[RunConfig, PipelineOptions, PipelineResult]:
    """Validate, prepare the log directories and start the job; returns without waiting.

    Nothing here lists the input: matching happens inside the job. The only storage calls are
    the log folder checks of `prepare_log_dirs`, skipped by a `--dry_run=True` build, which
    touches neither storage nor the network.
    """
    refuse_unknown_options(list(argv or []))
    options = PipelineOptions(argv)
    config = resolve(options)
    setup = options.view_as(SetupOptions)
    setup.beam_plugins = sorted({*(setup.beam_plugins or []), storage.PLUGIN_MODULE})
    test_options = options.view_as(TestOptions)
    # Beam reads --dry_run as a string, so "False" would be truthy: normalise it.
    test_options.dry_run = str_to_bool(test_options.dry_run or False)
    layout = detect(config, probe=not test_options.dry_run)
    config = dataclasses.replace(config, job=dataclasses.replace(config.job, layout=layout))
    if not test_options.dry_run:
        if config.manifest and storage.first_match(config.manifest) is None:
            raise UsageError(f"--input_manifest {config.manifest} matches no file")
        prepare_log_dirs(config)
    runner = local_runner(options) if pinned_local(options) else None
    shows_progress = runner is not None and not test_options.dry_run and on_terminal()
    if shows_progress:
        directory = tempfile.mkdtemp(prefix="blur-augment-progress-")
        config = dataclasses.replace(
            config, job=dataclasses.replace(config.job, progress_dir=directory)
        )
    pipeline = beam.Pipeline(runner=runner, options=options)
    build(pipeline, config)
    with progress_bar(config.job.progress_dir) if shows_progress else contextlib.nullcontext():
        result = pipeline.run()  # the local runner returns once the run is over
    return config, options, result


def on_terminal() -> bool:
    """A person watching: stderr is a terminal and this is not a CI job."""
    return sys.stderr.isatty() and not os.environ.get("CI")


@contextlib.contextmanager
def progress_bar(directory: str) -> Iterator[None]:
    """Images done out of matched, the rate and the time left (tqdm), redrawn from the counts
    the DoFns leave in `directory` (see transforms/progress.py) until the run is over."""
    from tqdm import tqdm

    bar = tqdm(desc="blur-augment", unit=" images", file=sys.stderr, leave=False,
               dynamic_ncols=True, smoothing=0.1)  # fmt: skip
    stop = threading.Event()

    def update() -> None:
        counts = progress.totals(directory)
        if counts[progress.MATCHED] and bar.total != counts[progress.MATCHED]:
            bar.total = counts[progress.MATCHED]
        if counts[progress.DONE] > bar.n:
            bar.update(counts[progress.DONE] - bar.n)
        else:
            bar.refresh()

    def poll() -> None:
        while not stop.wait(0.25):
            update()

    watcher = threading.Thread(target=poll, name="blur-augment-progress", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        stop.set()
        watcher.join()
        update()
        bar.close()
        shutil.rmtree(directory, ignore_errors=True)


def pinned_local(options: PipelineOptions) -> bool:
    """No --runner, or DirectRunner: the local engine is ours to choose (see local_runner)."""
    runner = options.view_as(StandardOptions).runner
    return runner is None or str(runner).split(".")[-1] in ("DirectRunner", "SwitchingDirectRunner")


def local_runner(options: PipelineOptions):
    """Beam's FnApiRunner, in process or with --direct_num_workers worker processes.

    Since Beam 2.68 the DirectRunner first tries Prism, downloading its binary from GitHub
    where it can, and only falls back to the FnApiRunner where that fails. A local run must
    neither download anything nor change engines from one machine to the next, so we build
    the FnApiRunner the way the DirectRunner does; `--runner PrismRunner` stays a choice.
    """
    from apache_beam.portability.api import beam_provision_api_pb2
    from apache_beam.runners.portability.fn_api_runner import fn_runner
    from apache_beam.runners.portability.portable_runner import JobServiceHandle

    encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
    provision = beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded)
    return fn_runner.FnApiRunner(provision_info=fn_runner.ExtendedProvisionInfo(provision))


def console_url(project: str | None, region: str | None, job_id: str) -> str:
    """Where the Cloud console shows a Dataflow job's graph, progress and logs."""
    return (
        f"https://console.cloud.google.com/dataflow/jobs/{region or 'us-central1'}/{job_id}"
        f"?project={project or ''}"
    )


def is_local(options: PipelineOptions) -> bool:
    runner = options.view_as(StandardOptions).runner
    return runner is None or "direct" in str(runner).lower()


def run(argv: list[str] | None = None) -> int:
    """The `run` command: launch; on the local runner wait and print the run's summary."""
    started = time.monotonic()
    config, options, result = launch(argv)
    if options.view_as(TestOptions).dry_run:
        print("blur-augment: dry run: the job was built and not submitted", file=sys.stderr)
        return 0
    if not is_local(options):
        job_id = result.job_id() if hasattr(result, "job_id") else "?"
        print(
            f"blur-augment: submitted job {job_id}; when it is done, the log is in {config.log}",
            file=sys.stderr,
        )
        cloud = options.view_as(GoogleCloudOptions)
        if "dataflow" in str(options.view_as(StandardOptions).runner).lower():
            print(f"  follow it at {console_url(cloud.project, cloud.region, job_id)}",
                  file=sys.stderr)  # fmt: skip
        return 0
    result.wait_until_finish()
    totals = counters(result)
    print_run_summary(config, totals, time.monotonic() - started)
    return error_rate_status(config, totals)


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
    job = config.job
    layout = job.layout
    outputs = totals["written"] + totals["failed"]
    lines = []
    if config.manifest:
        duplicates = totals["manifest_duplicates"]
        lines.append(
            f"blur-augment: manifest {config.manifest}: {totals['manifest_lines']} lines"
            + (f", {duplicates} naming a file already named (made once)" if duplicates else "")
        )
    lines += [
        f"blur-augment: matched {totals['matched']} files ({totals['images']} images, "
        f"{totals['skipped']} skipped as not images)",
        f"  written {totals['written']}, failed {totals['failed']} in {elapsed:.1f} s "
        f"({outputs / elapsed if elapsed > 0 else 0:.1f} images/s)",
    ]
    if totals["shards"]:
        lines.append(
            f"  shards: {totals['shards']} (WebDataset tars and Parquet files), each written "
            f"whole under --output; images in them: {totals['augmented_images']}"
            + (f"; members of no sample carried: {totals['carried_members']}"
               if totals["carried_members"] else "")
        )  # fmt: skip
    if layout.kind != "images" or layout.masks or layout.exclude:
        splits = ", ".join(layout.splits) or "none"
        augmented = ", ".join(layout.augmented) if layout.splits else "all"
        variant = f" ({layout.variant})" if layout.variant else ""
        lines += [
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
    if job.codec_path == "auto" and jpeg_planes.missing_reason():
        lines.append(
            f"  note: JPEGs were decoded to pixels, not blurred as stored planes (slower, same "
            f"log): {jpeg_planes.missing_reason()}"
        )
    elif totals["planar_jpegs"]:
        lines.append(f"  JPEGs blurred as stored planes: {totals['planar_jpegs']}")
    lines += [f"  log:    {config.log}", f"  errors: {config.errors}"]
    expected = totals["augmented_images"] * len(job.copy_indices()) + totals["kept_images"]
    if outputs != expected or totals["images"] != (
        totals["augmented_images"] + totals["kept_images"] + totals["not_augmented"]
    ):
        lines.append(f"  WARNING: expected {expected} outputs, accounted for {outputs}")
    print("\n".join(lines), file=sys.stderr)
