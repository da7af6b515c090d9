"""The `blur-augment` command: thin; parses, calls and prints.

Each subcommand is a module of `blur_augment.pipeline.commands` that declares its arguments
and its run; this loops over them. Declaring them is light, so `--help` and `--version` answer
at once; only the command that runs imports what it needs. Mistakes a user can make (bad
option, missing directory) end with one line and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from types import ModuleType

from blur_augment.pipeline.commands import NAMES
from blur_augment.pipeline.usage import PROG, UsageError, package_version


def _command(name: str) -> ModuleType:
    return importlib.import_module(f"blur_augment.pipeline.commands.{name}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Seeded random blur (Gaussian, motion, defocus, zoom, glass, camera shake; the "
        "ImageNet-C / COCO-C ladders) for image datasets, on Apache Beam, and the analysis of "
        "what it does to a model.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {package_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in NAMES:
        module = _command(name)
        sub = commands.add_parser(
            name, help=module.HELP, add_help=getattr(module, "ADD_HELP", True)
        )
        module.arguments(sub)
    return parser


class _DropWorkerNoise(logging.Filter):
    """Known-harmless warnings of DirectRunner's multi_processing workers (they parse the
    pipeline options before importing ours, the options reach the DoFns pickled anyway, and
    have no semi-persistent directory outside a container), and Beam's tracebacks of a DoFn
    that failed the run (the local runner's, and the portable job service's and its SDK
    workers', which log them on the root logger): the command reports that failure in one
    line of its own."""

    NOISE = ("Discarding unparseable args", "No semi_persistent_directory found")
    JOB_FAILED = "Error running pipeline"  # the embedded job service, before it re-raises

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "[while running '" in message and (record.name.startswith("apache_beam")
                                              or record.name == "root"):  # fmt: skip
            return False
        if record.name.startswith("apache_beam.runners") and message.startswith(self.JOB_FAILED):
            return False
        return not any(noise in message for noise in self.NOISE)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(_DropWorkerNoise())
    parser = _parser()
    args, rest = parser.parse_known_args(argv)
    command = _command(args.command)
    if rest and not getattr(command, "TAKES_REST", False):
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        return command.run(args, rest)
    except UsageError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return _command("run").interrupted()


def entry_point() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry_point()
