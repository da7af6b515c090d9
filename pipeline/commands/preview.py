"""`preview`: a contact sheet of one image over a range of one blur kind's parameter."""

from __future__ import annotations

import argparse

from blur_augment.pipeline.commands.common import write
from blur_augment.pipeline.usage import UsageError
from blur_augment.transforms.sampling import (
    BLUR_KINDS,
    CORRUPTIONS,
    KINDS,
    OBJECT_KINDS,
    PARAMETERS,
)

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
    parser.add_argument(
        "--object_blur", choices=OBJECT_KINDS, help="blur each labelled object of a dataset "
        "image at --values of the kind, over a sharp frame (labels: --labels, else the "
        "image's YOLO .txt or VOC .xml where its dataset keeps it)",
    )  # fmt: skip
    parser.add_argument("--frame", metavar="KIND=VALUE",
                        help="with --object_blur: the frame blurred with KIND at VALUE of its "
                        "parameter in every tile (shake=12: the drone), else sharp")  # fmt: skip
    parser.add_argument("--labels", metavar="FILE",
                        help="with --object_blur: a YOLO .txt, a VOC .xml or a COCO JSON "
                        "listing the image")  # fmt: skip
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
    labels, frame = None, None
    if args.object_blur:
        if args.blur != "gaussian" or args.corruption:
            raise UsageError("--object_blur varies the objects' blur over one frame: leave "
                             "--blur and --corruption out (--frame blurs the frame)")  # fmt: skip
        labels = image_labels(args.image, args.labels)
        frame = _frame(args.frame, fixed, args.seed) if args.frame else None
    elif args.frame:
        raise UsageError("--frame is for --object_blur")
    kind = args.object_blur or args.blur
    sheet = Sheet(kind, tuple(values or ()), fixed, args.corruption or "", args.seed)
    write(args.out, preview_sheet(data, sheet=sheet, labels=labels, frame=frame), "preview")
    return 0


def _frame(text: str, fixed: tuple, seed: int):
    """--frame KIND=VALUE: the frame's blur in every tile of an --object_blur sheet."""
    from blur_augment.pipeline.analysis.preview import Sheet

    kind, _, value = text.partition("=")
    if kind not in KINDS:
        raise UsageError(f"--frame: unknown kind {kind!r} (kinds: {', '.join(KINDS)})")
    try:
        level = float(value)
    except ValueError:
        raise UsageError(f"--frame takes KIND=VALUE, e.g. shake=12; got {text!r}") from None
    return Sheet(kind, (level,), fixed, "", seed + 1).params(level)[0], f"{kind} {level:g}"


def image_labels(image: str, given: str | None):
    """A dataset image's own labels: --labels (a YOLO .txt, a VOC .xml, or a COCO JSON that
    lists the image by its file name), else its YOLO label file or VOC XML where the dataset
    layouts keep them."""
    import posixpath

    from blur_augment.transforms.io import storage
    from blur_augment.transforms.labels import coco
    from blur_augment.transforms.labels.layout import yolo_label_key
    from blur_augment.transforms.objects import Labels

    stem = posixpath.splitext(image)[0]
    head, _, name = stem.rpartition("/JPEGImages/")
    candidates = (
        [given]
        if given
        else [
            yolo_label_key(image),
            stem + ".xml",
            f"{head}/Annotations/{name}.xml" if head else None,
        ]
    )
    for path in filter(None, candidates):
        if not storage.exists(path):
            continue
        if not path.endswith(".json"):
            return Labels(((path, storage.read_bytes(path)),))
        base = posixpath.basename(image)
        with storage.open_read(path) as stream:  # streamed: a train2017 JSON is 450 MB
            ids = {
                e.image_id
                for e in coco.image_entries(stream, path)
                if not isinstance(e, Exception) and posixpath.basename(e.file_name) == base
            }
        with storage.open_read(path) as stream:
            found = [a for _, _, a in coco.image_annotations(stream, ids) if coco.is_object(a)]
        return Labels(annotations=tuple(found))
    raise UsageError(f"--object_blur: no labels found for {image}; give them with --labels")
