"""`evaluate`: a detector's AP (or a segmenter's mIoU) per blur level, from predictions."""

from __future__ import annotations

import argparse
import sys

from blur_augment.pipeline.commands.common import BY_HELP, TABLE_FORMATS, log_dir_argument, write

HELP = "a detector's AP (or a segmenter's mIoU) per blur level, from predictions"


def arguments(parser: argparse.ArgumentParser) -> None:
    log_dir_argument(parser)
    parser.add_argument(
        "--predictions", required=True, help="a COCO results JSON, a folder of Ultralytics "
        "prediction .txt files, a CSV or Parquet table, or a folder of predicted mask PNGs",
    )  # fmt: skip
    parser.add_argument(
        "--ground_truth", metavar="FILE", help="a COCO JSON instead of the log's dataset"
    )
    parser.add_argument("--iou_type", choices=("bbox", "segm"), default="bbox")
    parser.add_argument("--bins", type=int, default=10, help="bins of a drawn run (10)")
    parser.add_argument("--by", metavar="COLUMN", help=BY_HELP)
    parser.add_argument(
        "--bootstrap", type=int, default=100, help="resamples for the 95%% intervals (100; 0: none)"
    )
    parser.add_argument(
        "--objects", action="store_true", help="levels of each object's own blur (a run with "
        "--object_blur): a level's ground truth is its objects, the others are ignored",
    )  # fmt: skip
    parser.add_argument("--per_class", action="store_true", help="AP per class and level")
    parser.add_argument("--format", choices=TABLE_FORMATS, default="table")
    parser.add_argument("--plot", metavar="PNG", help="write AP against sigma as a chart")
    parser.add_argument("--html", metavar="FILE", help="also write the evaluation as a page")


def run(args: argparse.Namespace, rest: list[str]) -> int:
    from blur_augment.pipeline.analysis import evaluate, object_levels

    how = object_levels.evaluate_objects if args.objects else evaluate.run
    result = how(args.log_dir, args.predictions, args.ground_truth, args.iou_type, args.bins,
                 args.bootstrap, args.by)  # fmt: skip
    if args.format == "json":
        print(result.json_text())
    elif args.format == "csv":
        sys.stdout.write(result.csv_text())
    else:
        print(result.text(args.per_class))
    if args.plot:
        write(args.plot, result.chart_png(), "chart")
    if args.html:
        write(args.html, result.page().encode(), "page")
    return 0
