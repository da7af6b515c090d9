"""The `run` command: validate, prepare the log directories, launch the graph on any runner
(the local one, PortableRunner, Flink, Spark, Dataflow), wait for it and print the run's
summary."""

from __future__ import annotations

import contextlib
import dataclasses
import sys
import tempfile
import threading
import time
from collections.abc import Iterator

import apache_beam as beam
from apache_beam.options.pipeline_options import (
    GoogleCloudOptions,
    PipelineOptions,
    PortableOptions,
    SetupOptions,
    StandardOptions,
    TestOptions,
)
from apache_beam.runners.runner import PipelineResult

from blur_augment.pipeline.dataset import detect
from blur_augment.pipeline.graph import build
from blur_augment.pipeline.local import local_runner, on_terminal, pinned_local, progress_bar
from blur_augment.pipeline.logdirs import prepare_log_dirs
from blur_augment.pipeline.options import RunConfig, refuse_unknown_options, resolve
from blur_augment.pipeline.outcome import (
    counted_from_tables,
    counters,
    error_rate_status,
    print_run_summary,
)
from blur_augment.pipeline.usage import UsageError, str_to_bool
from blur_augment.transforms.io import storage


def launch(
    argv: list[str] | None = None,
) -> tuple[RunConfig, PipelineOptions, PipelineResult | None]:
    """Validate, prepare the log directories and start the job; returns without waiting.

    Nothing here lists the input: matching happens inside the job. The only storage calls are
    the log folder checks of `prepare_log_dirs`, skipped by a `--dry_run=True` build, which
    touches neither storage nor the network.
    """
    refuse_unknown_options(list(argv or []))
    options = PipelineOptions(argv)
    config = resolve(options)
    refuse_detached_local_workers(config, options)
    warn_of_local_paths_on_a_cluster(config, options)
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
    if test_options.dry_run and not is_dataflow(options):
        return config, options, None  # only Dataflow's runner knows --dry_run: do not submit
    with progress_bar(config.job.progress_dir) if shows_progress else contextlib.nullcontext():
        result = submitted(pipeline, options)  # the local runner returns once the run is over
    return config, options, result


def submitted(pipeline: beam.Pipeline, options: PipelineOptions) -> PipelineResult:
    """The pipeline started; a job service that never answers is said in those words (Beam
    says FutureTimeoutError())."""
    try:
        return pipeline.run()
    except Exception as error:
        if type(error).__name__ != "FutureTimeoutError":
            raise
        endpoint = options.view_as(PortableOptions).job_endpoint
        raise RuntimeError(
            f"no job service answered at {endpoint} (--job_endpoint): is the Flink or Spark "
            "job server running there?"
        ) from error


def console_url(project: str | None, region: str | None, job_id: str) -> str:
    """Where the Cloud console shows a Dataflow job's graph, progress and logs."""
    return (
        f"https://console.cloud.google.com/dataflow/jobs/{region or 'us-central1'}/{job_id}"
        f"?project={project or ''}"
    )


def refuse_detached_local_workers(config: RunConfig, options: PipelineOptions) -> None:
    """--no_wait where the job lives in this process (Beam's embedded job service, or
    LOOPBACK workers) would end the job with the command: refused, not a silent loss."""
    portable = options.view_as(PortableOptions)
    if config.no_wait and (portable.job_endpoint == "embed"
                           or str(portable.environment_type).upper() == "LOOPBACK"):  # fmt: skip
        raise UsageError(
            "--no_wait cannot go with --job_endpoint embed or --environment_type LOOPBACK: "
            "the job runs inside this command and would end with it"
        )


def warn_of_local_paths_on_a_cluster(config: RunConfig, options: PipelineOptions) -> None:
    """Workers in containers or on other machines (Flink, Spark, a portable job server with
    DOCKER or PROCESS workers) see their own disks: a local --input or --output works only on
    a mount they all share. Said once, before anything runs."""
    if pinned_local(options) or is_dataflow(options):
        return
    environment = str(options.view_as(PortableOptions).environment_type or "DOCKER").upper()
    if environment == "LOOPBACK":
        return
    paths = {"--input": config.input, "--output": config.job.output, "--log": config.log}
    local = [name for name, path in paths.items() if storage.scheme(path) in (None, "file")]
    if local:
        print(f"blur-augment: warning: {', '.join(local)} are local paths, and {environment} "
              "workers see their own disks: use gs:// (or another filesystem every worker "
              "reads), or a mount every worker shares", file=sys.stderr)  # fmt: skip


def is_dataflow(options: PipelineOptions) -> bool:
    return "dataflow" in str(options.view_as(StandardOptions).runner).lower()


def waits(config: RunConfig, options: PipelineOptions) -> bool:
    """Whether `run` waits for the job and prints its summary: on every runner (the local one,
    PortableRunner, Flink, Spark, Prism) unless --no_wait; Dataflow submissions return at once
    (a flex template's launcher must), with the console URL."""
    return not config.no_wait and not is_dataflow(options)


def run(argv: list[str] | None = None) -> int:
    """The `run` command: launch, wait for the job (see `waits`), print the run's summary and
    return its exit status."""
    started = time.monotonic()
    config, options, result = launch(argv)
    if options.view_as(TestOptions).dry_run:
        print("blur-augment: dry run: the job was built and not submitted", file=sys.stderr)
        return 0
    if not waits(config, options):
        _print_submitted(config, options, result)
        return 0
    loopback = str(options.view_as(PortableOptions).environment_type).upper() == "LOOPBACK"
    with worker_tracebacks_dropped() if loopback else contextlib.nullcontext():
        finished(result)
    totals = counters(result)
    source = "metrics"
    if totals is None:  # the runner reports no metrics: count what the job wrote
        totals, source = counted_from_tables(config), "tables"
    print_run_summary(config, totals, time.monotonic() - started, source)
    return error_rate_status(config, totals)


def finished(result: PipelineResult) -> None:
    """Wait for the job; Ctrl-C cancels it (then stops the command, as locally); a job that
    ends in any state but DONE raises, so the command exits non-zero with one line."""
    try:
        state = result.wait_until_finish()
    except KeyboardInterrupt:
        with contextlib.suppress(Exception):
            result.cancel()
        raise
    state = state or result.state
    if state is not None and str(state).split(".")[-1] not in ("DONE", "UNKNOWN"):
        raise RuntimeError(f"the job ended in state {state}")


class _WithoutWorkerTracebacks:
    """stderr, less the tracebacks other threads print (see worker_tracebacks_dropped)."""

    def __init__(self, stream) -> None:
        self._stream = stream
        self._dropping: set[int] = set()

    def write(self, text: str) -> int:
        if threading.current_thread() is not threading.main_thread():
            thread = threading.get_ident()
            if text.startswith("Traceback (most recent call last)"):
                self._dropping.add(thread)
                return len(text)
            if thread in self._dropping and text == "\n":  # print()'s end
                self._dropping.discard(thread)
                return len(text)
        return self._stream.write(text)

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


@contextlib.contextmanager
def worker_tracebacks_dropped() -> Iterator[None]:
    """LOOPBACK SDK workers run in this process, and print a failed bundle's traceback on
    stderr (Beam's sdk_worker.py) before the job reports the failure: the command tells it in
    one line of its own (the traceback is logged at DEBUG)."""
    stream = sys.stderr
    sys.stderr = _WithoutWorkerTracebacks(stream)
    yield  # (on an exception, left in place: a cancelled job's threads print until exit)
    sys.stderr = stream


def _print_submitted(config: RunConfig, options: PipelineOptions, result: PipelineResult) -> None:
    job_id = result.job_id() if hasattr(result, "job_id") else "?"
    print(f"blur-augment: submitted job {job_id}; when it is done, the log is in {config.log}",
          file=sys.stderr)  # fmt: skip
    if is_dataflow(options):
        cloud = options.view_as(GoogleCloudOptions)
        print(f"  follow it at {console_url(cloud.project, cloud.region, job_id)}",
              file=sys.stderr)  # fmt: skip
