"""`verify`: every file a log names checked against it, and copies made again."""

from __future__ import annotations

import argparse

from blur_augment.pipeline.commands.common import log_dir_argument

HELP = "check every file a log names against it (and make copies again)"
TAKES_REST = True  # Beam options (--direct_num_workers, ...) go to Beam


def arguments(parser: argparse.ArgumentParser) -> None:
    log_dir_argument(parser)
    parser.add_argument(
        "--recompute", metavar="N|all", help="also make N copies (or all) again from their "
        "sources and the log's parameters alone, and check they come out byte for byte",
    )  # fmt: skip


def run(args: argparse.Namespace, rest: list[str]) -> int:
    from blur_augment.pipeline import verify

    verdict = verify.verify(args.log_dir, verify.recompute_count(args.recompute), rest)
    verify.print_verdict(args.log_dir, verdict)
    return verdict.status
