"""The `blur-augment` command: thin; parses, calls and prints.

Mistakes a user can make (bad option, missing directory) end with one line and exit code 2.
"""

from __future__ import annotations

import argparse
import logging
import sys

from apache_beam.options.pipeline_options import _BeamArgumentParser

from pipeline.options import BlurAugmentOptions, UsageError

PROG = "blur-augment"


def _run_help() -> str:
    parser = _BeamArgumentParser(
        prog=f"{PROG} run",
        usage=f"{PROG} run --input PATTERN --output PREFIX [options] [any Beam pipeline option]",
        description="Blur every image matched by --input with a seeded random Gaussian and "
        "write the images, a Parquet blur log and a Parquet error table.",
    )
    BlurAugmentOptions._add_argparse_args(parser)
    return parser.format_help()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Seeded random Gaussian blur for image datasets, on Apache Beam."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser(
        "run", add_help=False, help="blur a dataset (see `blur-augment run --help`)"
    )
    summary = commands.add_parser("summary", help="summarise a blur log directory")
    summary.add_argument("log_dir", help="the --log directory of a run (local or gs://)")
    return parser


class _DropWorkerNoise(logging.Filter):
    """Known-harmless warnings of DirectRunner's multi_processing workers: they parse the
    pipeline options before importing ours (the options reach the DoFns pickled anyway), and
    have no semi-persistent directory outside a container."""

    NOISE = ("Discarding unparseable args", "No semi_persistent_directory found")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(noise in message for noise in self.NOISE)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(_DropWorkerNoise())
    parser = _parser()
    args, rest = parser.parse_known_args(argv)
    try:
        if args.command == "run":
            if "-h" in rest or "--help" in rest:
                print(_run_help())
                return 0
            from pipeline.run import run

            return run(rest)
        if rest:
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        from pipeline.analysis import summary

        print(summary(args.log_dir))
        return 0
    except UsageError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2


def entry_point() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry_point()
