"""`summary`: a log directory in a few lines."""

from __future__ import annotations

import argparse

from blur_augment.pipeline.commands.common import log_dir_argument

HELP = "summarise a blur log directory"


def arguments(parser: argparse.ArgumentParser) -> None:
    log_dir_argument(parser)
    parser.add_argument("--plot", metavar="PNG", help="also write the sigma histogram as a PNG")


def run(args: argparse.Namespace, rest: list[str]) -> int:
    from blur_augment.pipeline.analysis.summary import summary

    print(summary(args.log_dir, plot=args.plot))
    return 0
