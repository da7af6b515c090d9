"""`run`: blur a dataset. Every argument goes to the run's own parser (its options and
Beam's), so `arguments` declares none; `run --help` prints the run's options."""

from __future__ import annotations

import argparse
import contextlib
import logging
import re
import signal
import sys
from collections.abc import Iterator

from blur_augment.pipeline.usage import PROG, UsageError

HELP = "blur a dataset (see `blur-augment run --help`)"
ADD_HELP = False  # `run --help` is the run's own (Beam's parser, with every run option)
TAKES_REST = True  # unknown arguments are the run's (and Beam's) options


def arguments(parser: argparse.ArgumentParser) -> None:
    """None here: the run's options are parsed by its own PipelineOptions."""


class _Interrupts:
    """Remembers Ctrl-C during a local run. Beam re-raises a KeyboardInterrupt from inside a
    DoFn as a RuntimeError, and now and then (once in some 90 runs here) loses one altogether;
    the exit status and message must still say "interrupted", and Ctrl-C again must stop."""

    def __init__(self) -> None:
        self.count = 0

    @contextlib.contextmanager
    def watching(self) -> Iterator[None]:
        def on_interrupt(signum: int, frame: object) -> None:
            self.count += 1
            raise KeyboardInterrupt

        try:
            previous = signal.signal(signal.SIGINT, on_interrupt)
        except ValueError:  # not the main thread: leave signals alone
            yield
            return
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)


def interrupted() -> int:
    print(f"{PROG}: interrupted; no completion marker was written", file=sys.stderr)
    return 130


def _run_help() -> str:
    from apache_beam.options.pipeline_options import _BeamArgumentParser

    from blur_augment.pipeline.options import BlurAugmentOptions

    parser = _BeamArgumentParser(
        prog=f"{PROG} run",
        usage=f"{PROG} run --input PATTERN --output PREFIX [options] [any Beam pipeline option]",
        description="Blur every image matched by --input with a seeded random blur (Gaussian, "
        "motion, defocus, zoom, glass, camera shake, or a benchmark ladder) and write the "
        "images, a Parquet blur log and a Parquet error table.",
    )
    BlurAugmentOptions._add_argparse_args(parser)
    return parser.format_help()


def run(args: argparse.Namespace, rest: list[str]) -> int:
    if "-h" in rest or "--help" in rest:
        print(_run_help())
        return 0
    from blur_augment.pipeline import run as launch

    interrupts = _Interrupts()
    try:
        with interrupts.watching():
            status = launch.run(rest)
    except UsageError:
        raise
    except KeyboardInterrupt:
        return interrupted()
    except Exception as error:
        if interrupts.count:
            return interrupted()
        logging.getLogger(PROG).debug("run failed", exc_info=True)
        print(f"{PROG}: error: {failure_line(error)}", file=sys.stderr)
        return 1
    if interrupts.count:
        print(f"{PROG}: the runner absorbed the interrupt and carried on to the end (see above)",
              file=sys.stderr)  # fmt: skip
    return status


_WHILE_RUNNING = re.compile(r"\s*\[while running '[^']*'\]")


def failure_line(error: BaseException) -> str:
    """One line for a failed run. Beam re-raises a DoFn's exception as a RuntimeError whose
    text names the original; an InfrastructureError (full disk, read-only output, forbidden
    bucket) is the cause itself and is told as such."""
    text = str(error).strip()
    message = _WHILE_RUNNING.sub("", text.splitlines()[-1] if text else repr(error))
    marker = "InfrastructureError: "
    if type(error).__name__ == "InfrastructureError" or marker in message:
        cause = message[message.index(marker) + len(marker) :] if marker in message else message
        return f"{cause[:500]}; the run stopped and no completion marker was written"
    return (
        f"the run failed ({type(error).__name__}: {message[:500]}); no completion marker was "
        "written. Rerun with --overwrite once the cause is fixed."
    )
