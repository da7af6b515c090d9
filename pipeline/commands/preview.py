"""`preview`: a contact sheet of one image over a range of one blur kind's parameter."""

from __future__ import annotations

import argparse

from blur_augment.pipeline.commands.common import write
from blur_augment.pipeline.usage import UsageError
from blur_augment.transforms.sampling import BLUR_KINDS, CORRUPTIONS, KINDS, PARAMETERS

HELP = (
    "a contact sheet of one image over a range of one blur kind's parameter, to pick the "
    "ranges of a run"
)
# The kinds' parameters a sheet holds fixed (each kind's level is what its tiles vary).
_FIXED = [p for p in PARAMETERS.values() if p.name not in {k.level for k in BLUR_KINDS.values()}]


def _numbers(text: str) -> list[float]:
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError as error:
        raise argparse.ArgumentTypeError(
            f"not a comma-separated list of numbers: {text}"
        ) from error


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", help="an image file (local or gs://)")
    parser.add_argument("--blur", choices=KINDS, default="gaussian", help="the kind (gaussian)")
    parser.add_argument(
        "--values", type=_numbers, help="the kind's parameter per tile ("
        + ", ".join(f"{k.name}: {k.level}" for k in BLUR_KINDS.values())
        + "), or severities with --corruption (default: a range for the kind)",
    )  # fmt: skip
    parser.add_argument("--sigmas", type=_numbers, help="--values of the Gaussian")
    parser.add_argument("--corruption", choices=sorted(CORRUPTIONS),
                        help="a benchmark corruption at --values severities (1-5)")  # fmt: skip
    for p in _FIXED:
        parser.add_argument(f"--{p.name}", type=float, default=None,
                            help=f"the {p.help} ({p.preview:g})")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="glass blur's displacements (0)")
    parser.add_argument("--out", default="preview.png", help="the PNG to write (preview.png)")


def run(args: argparse.Namespace, rest: list[str]) -> int:
    from blur_augment.pipeline.analysis.preview import Sheet, preview_sheet
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
    fixed = tuple((p.name, getattr(args, p.name)) for p in _FIXED
                  if getattr(args, p.name) is not None)  # fmt: skip
    sheet = Sheet(args.blur, tuple(values or ()), fixed, args.corruption or "", args.seed)
    write(args.out, preview_sheet(data, sheet=sheet), "preview")
    return 0
