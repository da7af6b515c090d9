"""The `run` options: a PipelineOptions subclass (so they work as Dataflow template parameters)
and their validation, in one place, with messages that name the option.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, replace

from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, _BeamArgumentParser

from blur_augment.pipeline.blur_options import blur_spec, check_blur_method, object_blur, one_of
from blur_augment.pipeline.schema import DEFAULT_ERRORS_DIR, DEFAULT_LOG_DIR, DEFAULT_OBJECTS_DIR
from blur_augment.pipeline.usage import UsageError, str_to_bool
from blur_augment.transforms import jpeg_planes, keys
from blur_augment.transforms.codec import DEFAULT_MAX_PIXELS
from blur_augment.transforms.job import DEFAULT_MAX_BYTES, BlurJob
from blur_augment.transforms.jpeg_planes import CODEC_PATHS, PATH_PLANES
from blur_augment.transforms.labels.layout import DATASET_KINDS, Layout
from blur_augment.transforms.manifests import DEFAULT_COLUMN
from blur_augment.transforms.sampling import (
    BLUR_KINDS,
    CORRUPTIONS,
    OBJECT_KINDS,
    PARAMETERS,
    BlurSpec,
    spec_parameters,
)

__all__ = ["BlurAugmentOptions", "RunConfig", "UsageError", "resolve", "str_to_bool"]


class BlurAugmentOptions(PipelineOptions):
    """blur-augment's own options; every other option goes to Beam (--runner, --project, ...).

    No option is `required=True`: subclasses register globally, and a required option would
    break every other PipelineOptions parse in the process. `resolve` checks them instead.
    """

    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        group = parser.add_argument_group("blur-augment")
        group.add_argument(
            "--input",
            default=None,
            help="Images to blur: a file pattern on any Beam filesystem (/data/imgs/**, "
            "gs://b/train/*.jpg, a brace list gs://b/shards/train-{000000..000127}.tar) or a "
            "directory (all of it, recursively). .tar files are WebDataset shards and .parquet "
            "files Parquet shards, blurred inside. With --input_manifest, the base directory "
            "the manifest's URIs are keyed against.",
        )
        group.add_argument(
            "--input_manifest",
            default=None,
            help="Blur the files a manifest names instead of listing --input: a text file (one "
            "URI per line), a CSV or Parquet file (column --manifest_column), or a GCS "
            "inventory report (CSV or Parquet shards with bucket and name columns); a glob "
            "takes several shards. Read by Beam's splittable sources: nothing lists the bucket.",
        )
        group.add_argument(
            "--manifest_column",
            default=DEFAULT_COLUMN,
            help=f"The URI column of a CSV or Parquet manifest (default {DEFAULT_COLUMN}).",
        )
        group.add_argument(
            "--image_column",
            default=None,
            help="The image column of Parquet shards in --input: a binary column, or a struct "
            "of bytes and path. Default: the Hugging Face Image feature of their metadata, else "
            "the first struct of bytes and path.",
        )
        group.add_argument(
            "--output",
            default=None,
            help="Prefix the blurred images are written under, at the same relative paths.",
        )
        group.add_argument("--seed", type=int, default=0, help="Seed of the sampler.")
        # The draw's options default to None so that a --sigmas ladder can tell they were given.
        group.add_argument(
            "--min_sigma", type=float, default=None, help="Smallest sigma (px; default 0)."
        )
        group.add_argument(
            "--max_sigma", type=float, default=None, help="Largest sigma (px; default 3)."
        )
        group.add_argument(
            "--probability",
            type=float,
            default=None,
            help="Chance that a copy is blurred at all (else it is copied unchanged; default 1).",
        )
        group.add_argument(
            "--copies",
            type=int,
            default=None,
            help="Blurred versions per input (default 1; with --sigmas, the ladder's length).",
        )
        group.add_argument(
            "--sigma_y",
            default=None,
            help="'same' (isotropic, the default) or 'independent' (sampled separately).",
        )
        group.add_argument(
            "--blur",
            default=None,
            help="The blur's kind, or kinds with weights, each copy drawing one: "
            + "; ".join(f"{kind.name} ({kind.help})" for kind in BLUR_KINDS.values())
            + ". Default gaussian; e.g. gaussian=2,motion=1.",
        )
        for p in PARAMETERS.values():
            if p.uniform:
                shown = ",".join(f"{v:g}" for v in p.default)  # type: ignore[union-attr]
                group.add_argument(
                    f"--{p.name}", default=None, help=f"MIN,MAX of {p.help} (default {shown})."
                )
            else:
                group.add_argument(f"--{p.name}", type=p.type, default=None,
                                   help=f"The {p.help} (default {p.default}).")  # fmt: skip
        group.add_argument(
            "--object_blur",
            default=None,
            help="Blur each labelled object on its own, over a frame blurred as --blur says "
            "(--blur none: a sharp frame): its kind, or kinds with weights, drawn per object "
            f"from {', '.join(OBJECT_KINDS)}, with the kind's own ranges (its options, "
            "as for --blur). Needs a COCO, YOLO or Pascal VOC dataset; see docs/scenes.md.",
        )
        group.add_argument(
            "--object_probability",
            type=float,
            default=None,
            help="With --object_blur: the share of objects that move (default 1).",
        )
        group.add_argument(
            "--objects_log",
            default=None,
            help="With --object_blur: directory of the Parquet object table, a row per copy "
            "and object (OUTPUT/_blur_objects).",
        )
        group.add_argument(
            "--corruption",
            default=None,
            help="A benchmark corruption of ImageNet-C / COCO-C instead of a draw: "
            + ", ".join(CORRUPTIONS)
            + "; with --severities, copy k at the k-th severity.",
        )
        group.add_argument("--severities", default=None, help="With --corruption: e.g. 1,2,3,4,5.")
        group.add_argument(
            "--sigmas",
            default=None,
            help="A fixed ladder instead of a draw, e.g. 0,1,2,3,4,6: copy k of every image "
            "gets exactly the k-th sigma on both axes (0: an unblurred copy, the source's "
            "bytes). Makes a benchmark set; --copies is the ladder's length.",
        )
        group.add_argument(
            "--include_originals",
            type=str_to_bool,
            nargs="?",
            const=True,
            default=False,
            help="Also copy each input unchanged to OUTPUT/KEY; blurred copies are then "
            "named NAME_blur{k}.EXT.",
        )
        group.add_argument(
            "--log", default=None, help="Directory of the Parquet blur log (OUTPUT/_blur_log)."
        )
        group.add_argument(
            "--errors",
            default=None,
            help="Directory of the Parquet error table (OUTPUT/_blur_errors).",
        )
        group.add_argument(
            "--jpeg_quality", type=int, default=95, help="JPEG and WebP quality (1-100)."
        )
        group.add_argument(
            "--max_pixels",
            type=int,
            default=DEFAULT_MAX_PIXELS,
            help="Refuse images with more pixels than this, from their header, before "
            f"decoding (default {DEFAULT_MAX_PIXELS:,}).",
        )
        group.add_argument(
            "--max_bytes",
            type=int,
            default=DEFAULT_MAX_BYTES,
            help="Refuse (an error row) any image, label file, mask, list or shard member "
            "larger than this many bytes, before reading it (default "
            f"{DEFAULT_MAX_BYTES:,}, 1 GiB).",
        )
        group.add_argument(
            "--blur_method",
            default="auto",
            help="'auto' (the default: exact below sigma 2.5, the pyramid fast path above, "
            "within 2 grey levels; defocus disks from radius 8 at half resolution) or 'exact' "
            "(always the exact kernels).",
        )
        group.add_argument(
            "--codec_path",
            default="auto",
            help="How JPEGs are blurred: 'auto' (the default: as stored, luma and subsampled "
            "chroma planes through libjpeg-turbo, when libturbojpeg is installed; else "
            "'pixels'), 'yuv_planes' (required: fails at launch without libturbojpeg) or "
            "'pixels' (decoded to BGR by OpenCV, as versions before 0.3 did). The log's "
            "codec_path column says which path made each image.",
        )
        group.add_argument(
            "--dataset",
            default="auto",
            help="Layout of --input: 'auto' (the default: recognises YOLO, COCO and Pascal VOC "
            "roots, else plain images), 'images', 'yolo', 'coco' or 'voc'. Labels, masks and "
            "index files travel with every copy.",
        )
        group.add_argument(
            "--splits",
            default=None,
            help="Comma-separated splits that get blurred copies (default: train, or the "
            "split whose name starts with train).",
        )
        group.add_argument(
            "--masks",
            action="append",
            default=None,
            help="Pattern (relative to --input, repeatable) of mask files in a plain folder: "
            "copied byte for byte under each copy's name, never blurred. A mask pairs with "
            "the image of the same file stem.",
        )
        group.add_argument(
            "--exclude",
            action="append",
            default=None,
            help="Pattern (relative to --input, repeatable; '*' crosses '/') of files to "
            "leave out entirely.",
        )
        group.add_argument(
            "--max_error_rate",
            type=float,
            default=None,
            help="Fail the run (exit 3, after writing the complete log) when more than this "
            "share (0-1) of the outputs end in the error table. Default: off.",
        )
        group.add_argument(
            "--resume",
            type=str_to_bool,
            nargs="?",
            const=True,
            default=False,
            help="Finish a killed or failed run: same options, same output. Copies already at "
            "their final path are logged again without being blurred again.",
        )
        group.add_argument(
            "--overwrite",
            type=str_to_bool,
            nargs="?",
            const=True,
            default=False,
            help="Replace the Parquet shards of an earlier run in --log and --errors.",
        )
        group.add_argument(
            "--no_wait",
            type=str_to_bool,
            nargs="?",
            const=True,
            default=False,
            help="Submit the job and return without waiting for it (portable, Flink and Spark "
            "runners wait by default and print the summary; Dataflow never waits).",
        )


@dataclass(frozen=True)
class RunConfig:
    """The validated run: where to read and write, and the job every worker carries."""

    input: str
    log: str
    errors: str
    overwrite: bool
    job: BlurJob
    resume: bool = False
    max_error_rate: float | None = None
    dataset: str = "images"  # as asked (--dataset); job.layout is what detection found
    splits: tuple[str, ...] = ()  # --splits
    manifest: str | None = None  # --input_manifest: the files to blur, instead of a listing
    no_wait: bool = False  # --no_wait: submit and return
    manifest_column: str = DEFAULT_COLUMN
    objects_log: str = ""  # --object_blur: where the object table goes ("": no table)

    def parameters(self) -> dict[str, object]:
        """The run's parameters as stored in the Parquet metadata of its log."""
        job = self.job
        return {
            "input": self.input,
            "input_manifest": self.manifest,
            "manifest_column": self.manifest_column,
            "output": job.output,
            "log": self.log,
            "errors": self.errors,
            "seed": job.seed,
            **spec_parameters(job.spec),
            "copies": job.copies,
            "include_originals": job.include_originals,
            "jpeg_quality": job.jpeg_quality,
            "max_pixels": job.max_pixels,
            "max_bytes": job.max_bytes,
            "blur_method": job.blur_method,
            "codec_path": job.codec_path,
            "image_column": job.image_column,
            "max_error_rate": self.max_error_rate,
            "dataset": job.layout.describe(),
            **self._object_parameters(),
        }

    def _object_parameters(self) -> dict[str, object]:
        """--object_blur's parameters (none when objects are not blurred, so that a log of a
        run without objects records what it always recorded)."""
        if not self.job.objects:
            return {}
        return {
            "object_blur": [[kind, weight] for kind, weight in self.job.objects],
            "object_probability": self.job.object_probability,
            "objects_log": self.objects_log,
        }


def refuse_unknown_options(argv: list[str]) -> None:
    """UsageError naming the first option that neither blur-augment nor Beam knows (with the
    closest known one), where Beam alone would drop it with a warning: `--max_sigms 9` must not
    run with the default --max_sigma. Parsed as Beam parses: every PipelineOptions subclass."""
    parser = _BeamArgumentParser(allow_abbrev=False)
    seen: dict[str, type] = {}
    for cls in PipelineOptions.__subclasses__():
        seen.setdefault(str(cls), cls)
    for cls in seen.values():
        cls._add_argparse_args(parser)
    _, unknown = parser.parse_known_args(argv)
    known = [option for action in parser._actions for option in action.option_strings]
    for arg in unknown:
        if arg == "--":
            break
        name = arg.split("=", 1)[0]
        if not name.startswith("-"):
            raise UsageError(f"unexpected argument {arg!r} (options are --name value)")
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.7)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise UsageError(f"unknown option {name} (neither blur-augment's nor Beam's){hint}")


def _absolute(path: str) -> str:
    """Local paths made absolute (workers may run elsewhere); other schemes untouched."""
    if FileSystems.get_scheme(path) is None:
        return os.path.abspath(path) + ("/" if path.endswith("/") else "")
    return path


def _resolved(path: str) -> str:
    """A path as storage will see it: local paths with every symbolic link resolved (so an
    --output reached through a link into the input is caught), URIs with a lower-case scheme
    and bucket and no doubled slashes."""
    scheme = FileSystems.get_scheme(path)
    if scheme in (None, "file"):
        local = path[len("file://") :] if path.startswith("file://") else path
        return os.path.realpath(local).rstrip("/") + "/"
    head, _, rest = path.partition("://")
    bucket, _, name = rest.partition("/")
    parts = [p for p in name.split("/") if p]
    return "/".join([f"{head.lower()}://{bucket.lower()}", *parts]) + "/"


def resolve(options: PipelineOptions) -> RunConfig:
    """Validate the options and turn them into a RunConfig; UsageError names the option."""
    opts = options.view_as(BlurAugmentOptions)
    _check_required(opts)
    spec, copies = blur_spec(opts)
    _check_encoding(opts)
    _check_limits(opts)
    input_spec, output, log, errors = _locations(opts)
    objects, object_probability = object_blur(opts)
    if opts.objects_log and not objects:
        raise UsageError("--objects_log is for --object_blur, which is not given")
    job = _job(opts, output, spec, copies)
    job = replace(job, objects=objects, object_probability=object_probability)
    return RunConfig(
        input=input_spec,
        log=log,
        errors=errors,
        overwrite=opts.overwrite,
        job=job,
        resume=opts.resume,
        max_error_rate=opts.max_error_rate,
        dataset=opts.dataset,
        splits=tuple(s.strip() for s in (opts.splits or "").split(",") if s.strip()),
        manifest=_absolute(opts.input_manifest) if opts.input_manifest else None,
        manifest_column=opts.manifest_column,
        no_wait=opts.no_wait,
        objects_log=_objects_log(opts, input_spec, output) if objects else "",
    )


def _objects_log(opts: BlurAugmentOptions, input_spec: str, output: str) -> str:
    """--objects_log (OUTPUT/_blur_objects), outside the input like the log."""
    directory = (
        _absolute(opts.objects_log).rstrip("/") if opts.objects_log
        else keys.join(output, DEFAULT_OBJECTS_DIR)
    )  # fmt: skip
    if keys.is_inside(_resolved(directory), _resolved(keys.input_base(input_spec))):
        raise UsageError(f"--objects_log {directory} lies inside the input tree")
    return directory


def _check_required(opts: BlurAugmentOptions) -> None:
    if not opts.input:
        raise UsageError("--input is required (a file pattern or a directory)")
    if not opts.output:
        raise UsageError("--output is required (where the blurred images go)")


def _check_encoding(opts: BlurAugmentOptions) -> None:
    """How the pixels are blurred and written."""
    if not 1 <= opts.jpeg_quality <= 100:
        raise UsageError(f"--jpeg_quality must lie in [1, 100], got {opts.jpeg_quality}")
    check_blur_method(opts.blur_method)
    one_of("--codec_path", opts.codec_path, CODEC_PATHS)
    glass = opts.corruption == "glass_blur" or "glass" in (opts.blur or "")
    if opts.codec_path == PATH_PLANES and glass:
        raise UsageError(f"--codec_path {PATH_PLANES}: glass blur shuffles pixels, not JPEG "
                         "planes")  # fmt: skip
    if opts.codec_path == PATH_PLANES and jpeg_planes.missing_reason():
        raise UsageError(f"--codec_path {PATH_PLANES} needs libturbojpeg: "
                         f"{jpeg_planes.missing_reason()}")  # fmt: skip


def _check_limits(opts: BlurAugmentOptions) -> None:
    """The dataset, the limits and the error rate."""
    one_of("--dataset", opts.dataset, DATASET_KINDS)
    if opts.max_error_rate is not None and not 0.0 <= opts.max_error_rate <= 1.0:
        raise UsageError(f"--max_error_rate must lie in [0, 1], got {opts.max_error_rate}")
    if opts.max_pixels < 1:
        raise UsageError(f"--max_pixels must be >= 1, got {opts.max_pixels}")
    if opts.max_bytes < 1:
        raise UsageError(f"--max_bytes must be >= 1, got {opts.max_bytes}")


def _locations(opts: BlurAugmentOptions) -> tuple[str, str, str, str]:
    """(input, output, log, errors), absolute, with the output and the log outside the input."""
    input_spec = _absolute(opts.input)
    output = _absolute(opts.output).rstrip("/")
    log = _absolute(opts.log).rstrip("/") if opts.log else keys.join(output, DEFAULT_LOG_DIR)
    errors = (
        _absolute(opts.errors).rstrip("/") if opts.errors else keys.join(output, DEFAULT_ERRORS_DIR)
    )
    base = _resolved(keys.input_base(input_spec))
    for option, path in (("--output", output), ("--log", log), ("--errors", errors)):
        if keys.is_inside(_resolved(path), base):
            raise UsageError(
                f"{option} {path} lies inside the input tree {base}: the next run would blur "
                "the blurred images (and read the log's shards as images)"
            )
    if log == errors:
        raise UsageError(f"--log and --errors must differ, both are {log}")
    return input_spec, output, log, errors


def _job(opts: BlurAugmentOptions, output: str, spec: BlurSpec, copies: int) -> BlurJob:
    """The job every worker carries (the layout is refined at launch, from probes)."""
    return BlurJob(
        output=output,
        spec=spec,
        seed=opts.seed,
        copies=copies,
        include_originals=opts.include_originals,
        jpeg_quality=opts.jpeg_quality,
        max_pixels=opts.max_pixels,
        max_bytes=opts.max_bytes,
        blur_method=opts.blur_method,
        codec_path=opts.codec_path,
        resume=opts.resume,
        image_column=opts.image_column or "",
        layout=Layout(
            kind="images" if opts.dataset == "auto" else opts.dataset,
            masks=tuple(opts.masks or ()),
            exclude=tuple(opts.exclude or ()),
        ),
    )
