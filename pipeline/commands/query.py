"""`query`: SQL over the log (blur_log), the error table (blur_errors) and, after a run with
--object_blur, the object table (blur_objects)."""

from __future__ import annotations

import argparse
import sys

from blur_augment.pipeline.commands.common import log_dir_argument, write
from blur_augment.pipeline.usage import OUTPUT_FORMATS, UsageError

HELP = "run SQL over the log (table blur_log), errors (blur_errors) and objects (blur_objects)"


def arguments(parser: argparse.ArgumentParser) -> None:
    log_dir_argument(parser)
    parser.add_argument(
        "sql", help='e.g. "SELECT round(sigma_x) s, count(*) FROM blur_log GROUP BY s"'
    )
    parser.add_argument("--format", choices=OUTPUT_FORMATS, default="table")
    parser.add_argument("--out", metavar="FILE", help="write the result here instead of stdout")


def run(args: argparse.Namespace, rest: list[str]) -> int:
    from blur_augment.pipeline.analysis.formatting import render
    from blur_augment.pipeline.analysis.query import query

    if args.format == "parquet" and not args.out:
        raise UsageError("--format parquet needs --out FILE")
    data = render(query(args.log_dir, args.sql), args.format)
    if args.out:
        write(args.out, data, "result")
    else:
        sys.stdout.write(data.decode())
    return 0
