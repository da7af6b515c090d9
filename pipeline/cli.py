"""The `blur-augment` command: thin; parses, calls and prints.

Mistakes a user can make (bad option, missing directory) end with one line and exit code 2.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import re
import signal
import sys
from collections.abc import Iterator

from apache_beam.options.pipeline_options import _BeamArgumentParser

from blur_augment.pipeline.analysis import OUTPUT_FORMATS
from blur_augment.pipeline.options import BlurAugmentOptions
from blur_augment.pipeline.usage import UsageError, package_version
from blur_augment.transforms.sampling import CORRUPTIONS, KINDS

PROG = "blur-augment"


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


def _interrupted() -> int:
    print(f"{PROG}: interrupted; no completion marker was written", file=sys.stderr)
    return 130


def _run_help() -> str:
    parser = _BeamArgumentParser(
        prog=f"{PROG} run",
        usage=f"{PROG} run --input PATTERN --output PREFIX [options] [any Beam pipeline option]",
        description="Blur every image matched by --input with a seeded random Gaussian and "
        "write the images, a Parquet blur log and a Parquet error table.",
    )
    BlurAugmentOptions._add_argparse_args(parser)
    return parser.format_help()


def _sigma_list(text: str) -> list[float]:
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError as error:
        raise argparse.ArgumentTypeError(
            f"not a comma-separated list of numbers: {text}"
        ) from error


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Seeded random blur (Gaussian, motion, defocus, zoom, glass) for image "
        "datasets, on Apache Beam.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {package_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser(
        "run", add_help=False, help="blur a dataset (see `blur-augment run --help`)"
    )
    summary = commands.add_parser("summary", help="summarise a blur log directory")
    summary.add_argument("log_dir", help="the --log directory of a run (local or gs://)")
    summary.add_argument("--plot", metavar="PNG", help="also write the sigma histogram as a PNG")

    query = commands.add_parser(
        "query", help="run SQL over the log (table blur_log) and errors (blur_errors)"
    )
    query.add_argument("log_dir", help="the --log directory of a run (local or gs://)")
    query.add_argument(
        "sql", help='e.g. "SELECT round(sigma_x) s, count(*) FROM blur_log GROUP BY s"'
    )
    query.add_argument("--format", choices=OUTPUT_FORMATS, default="table")
    query.add_argument("--out", metavar="FILE", help="write the result here instead of stdout")

    report = commands.add_parser(
        "report", help="mean model metric per sigma bin, from the log joined with results"
    )
    report.add_argument("log_dir", help="the --log directory of a run (local or gs://)")
    report.add_argument(
        "--results", required=True, help="CSV or Parquet of per-image evaluation results"
    )
    report.add_argument(
        "--on", default="key", help="results column naming the image: a log key, an output path "
        "relative to --output, or an output_uri (default: key)",
    )  # fmt: skip
    report.add_argument(
        "--metric", default="correct", help="numeric results column, e.g. correct, loss, iou"
    )
    report.add_argument("--bins", type=int, default=10, help="equal-width bins (10)")
    report.add_argument("--by", metavar="COLUMN", help=_BY_HELP)
    report.add_argument(
        "--lower_is_better", choices=("auto", "true", "false"), default="auto",
        help="which end of the metric is worse; auto: lower is better for names with loss/error",
    )  # fmt: skip
    report.add_argument("--plot", metavar="PNG", help="write the chart of metric against sigma")
    report.add_argument(
        "--html", metavar="FILE", help="also write the report as one self-contained HTML page: "
        "parameters, charts, the table, errors by stage, thumbnails of the worst and best bins",
    )  # fmt: skip
    report.add_argument(
        "--gallery", type=int, default=8, help="thumbnails per bin in the HTML page (8)"
    )
    report.add_argument("--format", choices=("table", "csv", "json"), default="table")

    evaluate = commands.add_parser(
        "evaluate", help="a detector's AP (or a segmenter's mIoU) per blur level, from predictions"
    )
    evaluate.add_argument("log_dir", help="the --log directory of a run (local or gs://)")
    evaluate.add_argument(
        "--predictions", required=True, help="a COCO results JSON, a folder of Ultralytics "
        "prediction .txt files, a CSV or Parquet table, or a folder of predicted mask PNGs",
    )  # fmt: skip
    evaluate.add_argument(
        "--ground_truth", metavar="FILE", help="a COCO JSON instead of the log's dataset"
    )
    evaluate.add_argument("--iou_type", choices=("bbox", "segm"), default="bbox")
    evaluate.add_argument("--bins", type=int, default=10, help="bins of a drawn run (10)")
    evaluate.add_argument("--by", metavar="COLUMN", help=_BY_HELP)
    evaluate.add_argument(
        "--bootstrap", type=int, default=100, help="resamples for the 95%% intervals (100; 0: none)"
    )
    evaluate.add_argument("--per_class", action="store_true", help="AP per class and level")
    evaluate.add_argument("--format", choices=("table", "csv", "json"), default="table")
    evaluate.add_argument("--plot", metavar="PNG", help="write AP against sigma as a chart")
    evaluate.add_argument("--html", metavar="FILE", help="also write the evaluation as a page")

    verify = commands.add_parser(
        "verify", help="check every file a log names against it (and make copies again)"
    )
    verify.add_argument("log_dir", help="the --log directory of a run (local or gs://)")
    verify.add_argument(
        "--recompute", metavar="N|all", help="also make N copies (or all) again from their "
        "sources and the log's parameters alone, and check they come out byte for byte",
    )  # fmt: skip

    preview = commands.add_parser(
        "preview", help="a contact sheet of one image over a range of one blur kind's parameter, "
        "to pick the ranges of a run",
    )  # fmt: skip
    preview.add_argument("image", help="an image file (local or gs://)")
    preview.add_argument("--blur", choices=KINDS, default="gaussian", help="the kind (gaussian)")
    preview.add_argument(
        "--values", type=_sigma_list, help="the kind's parameter per tile: sigma, motion length, "
        "defocus radius, zoom factor, glass displacement, or severities with --corruption "
        "(default: a range for the kind)",
    )  # fmt: skip
    preview.add_argument("--sigmas", type=_sigma_list, help="--values of the Gaussian")
    preview.add_argument("--corruption", choices=sorted(CORRUPTIONS),
                         help="a benchmark corruption at --values severities (1-5)")  # fmt: skip
    preview.add_argument("--motion_angle", type=float, default=0.0,
                         help="motion blur's angle, degrees (0)")  # fmt: skip
    preview.add_argument("--glass_sigma", type=float, default=1.0, help="glass blur's sigma (1)")
    preview.add_argument("--seed", type=int, default=0, help="glass blur's displacements (0)")
    preview.add_argument("--out", default="preview.png", help="the PNG to write (preview.png)")
    return parser


_BY_HELP = (
    "a numeric log column to bin on (default: each kind's parameter: sigma_x, "
    "motion_length, defocus_radius, zoom_factor, glass_delta; a ladder's steps)"
)


def _write_or_print(data: bytes, out: str | None) -> None:
    if out:
        from blur_augment.transforms.io import storage

        storage.write_bytes(out, data)
        print(f"written to {out}", file=sys.stderr)
    else:
        sys.stdout.write(data.decode())


def _evaluate(args: argparse.Namespace) -> None:
    from blur_augment.pipeline.analysis import evaluate as evaluation_module
    from blur_augment.transforms.io import storage

    result = evaluation_module.run(args.log_dir, args.predictions, args.ground_truth,
                                   args.iou_type, args.bins, args.bootstrap, args.by)  # fmt: skip
    if args.format == "json":
        print(result.json_text())
    elif args.format == "csv":
        sys.stdout.write(result.csv_text())
    else:
        print(result.text(args.per_class))
    if args.plot:
        storage.write_bytes(args.plot, result.chart_png())
        print(f"chart written to {args.plot}", file=sys.stderr)
    if args.html:
        storage.write_bytes(args.html, result.page().encode())
        print(f"page written to {args.html}", file=sys.stderr)


def _summary(args: argparse.Namespace) -> None:
    from blur_augment.pipeline import analysis

    print(analysis.summary(args.log_dir, plot=args.plot))


def _query(args: argparse.Namespace) -> None:
    from blur_augment.pipeline import analysis

    if args.format == "parquet" and not args.out:
        raise UsageError("--format parquet needs --out FILE")
    table = analysis.query(args.log_dir, args.sql)
    _write_or_print(analysis.render(table, args.format), args.out)


def _report(args: argparse.Namespace) -> None:
    from blur_augment.pipeline import analysis
    from blur_augment.transforms.io import storage

    lower = None if args.lower_is_better == "auto" else args.lower_is_better == "true"
    options = (args.log_dir, args.results, args.on, args.metric, args.bins, lower)
    if args.html:
        result, page = analysis.html_report(*options, gallery=max(args.gallery, 0), by=args.by)
        storage.write_bytes(args.html, page.encode())
        print(f"page written to {args.html}", file=sys.stderr)
    else:
        result = analysis.report(*options, by=args.by)
    if args.format == "table":
        print(result.text())
    else:
        sys.stdout.write(analysis.render(result.table(), args.format).decode())
    if args.plot:
        from blur_augment.pipeline.analysis import plots

        storage.write_bytes(args.plot, plots.report_png(result))
        print(f"chart written to {args.plot}", file=sys.stderr)


def _preview(args: argparse.Namespace) -> None:
    from blur_augment.pipeline import analysis
    from blur_augment.transforms.io import storage

    try:
        data = storage.read_bytes(args.image)
    except Exception as error:
        raise UsageError(f"cannot read {args.image}: {error}") from error
    if args.sigmas is not None and (args.values is not None or args.blur != "gaussian"):
        raise UsageError("--sigmas is the Gaussian's --values: give one of them")
    values = args.values if args.values is not None else args.sigmas
    if values is not None and not values:
        raise UsageError("--values needs at least one value")
    sheet = analysis.Sheet(args.blur, tuple(values or ()), args.motion_angle, args.glass_sigma,
                           corruption=args.corruption or "", seed=args.seed)  # fmt: skip
    storage.write_bytes(args.out, analysis.preview_sheet(data, sheet=sheet))
    print(f"preview written to {args.out}", file=sys.stderr)


_COMMANDS = {"summary": _summary, "query": _query, "report": _report, "evaluate": _evaluate,
             "preview": _preview}  # fmt: skip


def _dispatch(args: argparse.Namespace) -> int:
    _COMMANDS[args.command](args)
    return 0


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


def _run(rest: list[str], interrupts: _Interrupts) -> int:
    """`run`: every argument goes to the run's own parser (its options, and Beam's)."""
    if "-h" in rest or "--help" in rest:
        print(_run_help())
        return 0
    from blur_augment.pipeline.run import run

    with interrupts.watching():
        status = run(rest)
    if interrupts.count:
        print(f"{PROG}: the runner absorbed the interrupt and carried on to the end (see above)",
              file=sys.stderr)  # fmt: skip
    return status


def _verify(args: argparse.Namespace, rest: list[str]) -> int:
    """`verify`: Beam options (--direct_num_workers, ...) go to Beam."""
    from blur_augment.pipeline import verify

    verdict = verify.verify(args.log_dir, verify.recompute_count(args.recompute), rest)
    verify.print_verdict(args.log_dir, verdict)
    return verdict.status


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(_DropWorkerNoise())
    parser = _parser()
    args, rest = parser.parse_known_args(argv)
    interrupts = _Interrupts()
    try:
        if args.command == "run":
            return _run(rest, interrupts)
        if args.command == "verify":
            return _verify(args, rest)
        if rest:
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        return _dispatch(args)
    except UsageError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return _interrupted()
    except Exception as error:
        if args.command != "run":
            raise
        if interrupts.count:
            return _interrupted()
        logging.getLogger(PROG).debug("run failed", exc_info=True)
        print(f"{PROG}: error: {_failure_line(error)}", file=sys.stderr)
        return 1


_WHILE_RUNNING = re.compile(r"\s*\[while running '[^']*'\]")


def _failure_line(error: BaseException) -> str:
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


def entry_point() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry_point()
