"""The `run` command: validate, prepare the log directories, launch the graph, and on the
local runner wait and print the run's summary."""

from __future__ import annotations

import contextlib
import dataclasses
import sys
import tempfile
import time

import apache_beam as beam
from apache_beam.options.pipeline_options import (
    GoogleCloudOptions,
    PipelineOptions,
    SetupOptions,
    StandardOptions,
    TestOptions,
)
from apache_beam.runners.runner import PipelineResult

from pipeline.dataset import detect
from pipeline.graph import build
from pipeline.local import local_runner, on_terminal, pinned_local, progress_bar
from pipeline.logdirs import prepare_log_dirs
from pipeline.options import RunConfig, refuse_unknown_options, resolve
from pipeline.outcome import counters, error_rate_status, print_run_summary
from pipeline.usage import UsageError, str_to_bool
from transforms.io import storage


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
