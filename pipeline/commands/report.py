"""`report`: a model's per-image metric per blur level, from the log joined with results."""

from __future__ import annotations

import argparse
import sys

from blur_augment.pipeline.commands.common import BY_HELP, TABLE_FORMATS, log_dir_argument, write

HELP = "mean model metric per sigma bin, from the log joined with results"


def arguments(parser: argparse.ArgumentParser) -> None:
    log_dir_argument(parser)
    parser.add_argument(
        "--results", required=True, help="CSV or Parquet of per-image evaluation results"
    )
    parser.add_argument(
        "--on", default="key", help="results column naming the image: a log key, an output path "
        "relative to --output, or an output_uri (default: key)",
    )  # fmt: skip
    parser.add_argument(
        "--metric", default="correct", help="numeric results column, e.g. correct, loss, iou"
    )
    parser.add_argument("--bins", type=int, default=10, help="equal-width bins (10)")
    parser.add_argument("--by", metavar="COLUMN", help=BY_HELP)
    parser.add_argument(
        "--lower_is_better", choices=("auto", "true", "false"), default="auto",
        help="which end of the metric is worse; auto: lower is better for names with loss/error",
    )  # fmt: skip
    parser.add_argument("--plot", metavar="PNG", help="write the chart of metric against sigma")
    parser.add_argument(
        "--html", metavar="FILE", help="also write the report as one self-contained HTML page: "
        "parameters, charts, the table, errors by stage, thumbnails of the worst and best bins",
    )  # fmt: skip
    parser.add_argument(
        "--gallery", type=int, default=8, help="thumbnails per bin in the HTML page (8)"
    )
    parser.add_argument("--format", choices=TABLE_FORMATS, default="table")


def run(args: argparse.Namespace, rest: list[str]) -> int:
    from blur_augment.pipeline.analysis.formatting import render
    from blur_augment.pipeline.analysis.page import html_report
    from blur_augment.pipeline.analysis.report import report

    lower = None if args.lower_is_better == "auto" else args.lower_is_better == "true"
    options = (args.log_dir, args.results, args.on, args.metric, args.bins, lower)
    if args.html:
        result, page = html_report(*options, gallery=max(args.gallery, 0), by=args.by)
        write(args.html, page.encode(), "page")
    else:
        result = report(*options, by=args.by)
    if args.format == "table":
        print(result.text())
    else:
        sys.stdout.write(render(result.table(), args.format).decode())
    if args.plot:
        from blur_augment.pipeline.analysis import plots

        write(args.plot, plots.report_png(result), "chart")
    return 0
