"""The local runner: Beam's FnApiRunner pinned (in process or with worker processes, never a
download), and the progress bar a local run on a terminal shows."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import threading
from collections.abc import Iterator

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from blur_augment.transforms.io import progress


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
