"""The Beam layer: DoFns and the composite transform that wire the pure functions together.

No exception escapes `process`: every failure of one image becomes a dead-letter row naming
the stage and the reason, and the run goes on.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import apache_beam as beam
import cv2
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes, FileMetadata
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.pvalue import TaggedOutput

from transforms import codec, keys, storage
from transforms.blur import blur, kernel_for
from transforms.sampling import BlurSpec, sample

NAMESPACE = "blur_augment"
ORIGINAL_COPY = -1  # copy_index of an unchanged original (--include_originals)

_log = logging.getLogger(__name__)

# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def reuse_freed_image_buffers() -> bool:
    """Keep freed image-sized buffers in the process for the next image (glibc only).

    By default glibc hands every freed buffer above its adaptive mmap threshold back to the
    kernel, so the next image's buffers of the same size are page-faulted in afresh: about
    3 ms per 1080p intermediate, 40% of the pyramid blur's time (benchmarks/throughput.py
    measures the effect). Buffers up to 32 MB (a 4K RGB image) now come from the heap, and up
    to 128 MB of freed heap is kept; larger buffers are still mapped and unmapped, so memory
    stays bounded by the largest images in flight. Returns whether the setting took effect.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc: nothing to tune
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return bool(mallopt(_M_MMAP_THRESHOLD, 32 << 20)) and bool(
        mallopt(_M_TRIM_THRESHOLD, 128 << 20)
    )


def tune_worker_process() -> None:
    """Once per worker process, before its first image."""
    # Parallelism comes from Beam's workers (one process per core on Dataflow); OpenCV's own
    # thread pool on top of that would oversubscribe the cores.
    cv2.setNumThreads(1)
    reuse_freed_image_buffers()


@dataclass(frozen=True)
class BlurJob:
    """Everything a worker needs to turn one input into its outputs; plain, picklable values."""

    output: str
    spec: BlurSpec = field(default_factory=BlurSpec)
    seed: int = 0
    copies: int = 1
    include_originals: bool = False
    jpeg_quality: int = 95
    max_pixels: int = codec.DEFAULT_MAX_PIXELS
    blur_method: str = "auto"

    @property
    def numbered(self) -> bool:
        """Blurred copies are named name_blur{k}.ext when there are several or originals."""
        return self.copies > 1 or self.include_originals

    def copy_indices(self) -> list[int]:
        return ([ORIGINAL_COPY] if self.include_originals else []) + list(range(self.copies))


@dataclass(frozen=True)
class ImageTask:
    """One (input, copy) pair: the unit of work that the Reshuffle spreads over workers."""

    key: str
    source_uri: str
    copy_index: int
    readable: Any = None  # fileio.ReadableFile once read is planned (after the Reshuffle)


class StageError(Exception):
    """A failure tagged with the stage it happened in (read, decode, blur, encode, write)."""

    def __init__(self, stage: str, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.stage = stage
        self.cause = cause


class MatchInputs(beam.DoFn):
    """Expand --input at run time (never at graph construction) into one task per copy.

    Non-image files are counted as skipped. Keys that would escape --output still become tasks
    so that BlurImage reports them as error rows: nothing matched is silently dropped.
    """

    matched = Metrics.counter(NAMESPACE, "matched")
    skipped = Metrics.counter(NAMESPACE, "skipped")

    def __init__(self, job: BlurJob) -> None:
        self._job = job

    def process(self, input_spec: str) -> Iterator[ImageTask]:
        for plan in keys.match_plans(input_spec):
            found = FileSystems.match([plan.pattern])[0].metadata_list
            if found:
                break
        else:
            _log.warning("--input %s matched no files", input_spec)
            return
        for metadata in found:
            path = metadata.path
            self.matched.inc()
            if codec.format_for_path(path) is None:
                self.skipped.inc()
                continue
            key = keys.relative_key(path, plan.base)
            for copy_index in self._job.copy_indices():
                yield ImageTask(key=key, source_uri=path, copy_index=copy_index)


def plan_read(task: ImageTask) -> ImageTask:
    """Attach a ReadableFile: reading itself happens in BlurImage, where failures are caught."""
    readable = fileio.ReadableFile(FileMetadata(task.source_uri, 0), CompressionTypes.UNCOMPRESSED)
    return ImageTask(task.key, task.source_uri, task.copy_index, readable)


class BlurImage(beam.DoFn):
    """Read, decode, sample, blur, encode and write one copy of one image; yield its log row.

    Failures go to the `errors` output as rows of the error table.
    """

    ERRORS = "errors"
    written = Metrics.counter(NAMESPACE, "written")
    failed = Metrics.counter(NAMESPACE, "failed")

    def __init__(self, job: BlurJob) -> None:
        self._job = job

    def setup(self) -> None:
        tune_worker_process()

    def process(self, task: ImageTask) -> Iterator[dict[str, Any] | TaggedOutput]:
        try:
            yield self._blur(task)
            self.written.inc()
        except StageError as error:
            self.failed.inc()
            yield TaggedOutput(self.ERRORS, error_row(task, error.stage, error.cause))

    def _blur(self, task: ImageTask) -> dict[str, Any]:
        job = self._job
        with _stage("write"):
            keys.check_key(task.key)
            output_uri = keys.join(
                job.output, keys.output_key(task.key, task.copy_index, job.numbered)
            )
        with _stage("read"):
            source = task.readable.read() if task.readable else storage.read_bytes(task.source_uri)
        with _stage("decode"):
            decoded = codec.decode(source, job.max_pixels)
            out_format = codec.format_for_path(task.key) or decoded.format
        pixels = decoded.pixels
        if task.copy_index == ORIGINAL_COPY:
            applied, sigma_x, sigma_y = False, 0.0, 0.0
        else:
            params = sample(job.seed, task.copy_index, task.key, job.spec)
            applied, sigma_x, sigma_y = params.applied, params.sigma_x, params.sigma_y
        kernel = kernel_for(sigma_x, sigma_y, pixels.dtype)
        method = "none"
        if kernel.is_identity and out_format == decoded.format:
            output = source  # unchanged pixels: keep the original bytes, no generation loss
        else:
            with _stage("blur"):
                blurred, kernel, method = blur(pixels, sigma_x, sigma_y, job.blur_method)
                if kernel.is_identity:
                    method = "none"
            with _stage("encode"):
                output = codec.encode(
                    blurred,
                    out_format,
                    job.jpeg_quality,
                    decoded.metadata_types,
                    decoded.metadata,
                )
        with _stage("write"):
            storage.write_bytes(output_uri, output)
        return {
            "key": task.key,
            "source_uri": task.source_uri,
            "output_uri": output_uri,
            "copy_index": task.copy_index,
            "seed": job.seed,
            "applied": applied,
            "sigma_x": sigma_x,
            "sigma_y": sigma_y,
            "kernel_width": kernel.width,
            "kernel_height": kernel.height,
            "width": int(pixels.shape[1]),
            "height": int(pixels.shape[0]),
            "channels": decoded.channels,
            "dtype": pixels.dtype.name,
            "format": out_format,
            "source_bytes": len(source),
            "output_bytes": len(output),
            "output_sha256": hashlib.sha256(output).hexdigest(),
            "exif_orientation": codec.exif_orientation(decoded),
            "blur_method": method,
        }


class _stage:
    """Re-raises an exception as a StageError for `name` (an error row), except a transient
    storage failure, which fails the bundle so that the runner retries it: a 503 must not turn
    into a permanently missing image."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: object) -> bool:
        if (
            isinstance(exc, Exception)
            and not isinstance(exc, StageError)
            and not storage.is_transient(exc)  # left to fail the bundle: the runner retries it
        ):
            raise StageError(self._name, exc) from exc
        return False


def error_row(task: ImageTask, stage: str, cause: BaseException) -> dict[str, Any]:
    """A row of the error table: which input and copy, where it failed, and why."""
    return {
        "key": task.key,
        "source_uri": task.source_uri,
        "copy_index": task.copy_index,
        "stage": stage,
        "error_type": type(cause).__name__,
        "message": str(cause)[:2000] or repr(cause),
    }


class BlurImages(beam.PTransform):
    """--input pattern -> (log rows, error rows): match, spread, read, blur and write."""

    def __init__(self, input_spec: str, job: BlurJob) -> None:
        super().__init__()
        self._input_spec = input_spec
        self._job = job

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.pvalue.DoOutputsTuple:
        return (
            pbegin
            | "InputPattern" >> beam.Create([self._input_spec])
            | "MatchFiles" >> beam.ParDo(MatchInputs(self._job))
            | "Reshuffle" >> beam.Reshuffle()
            | "ReadMatches" >> beam.Map(plan_read)
            | "BlurImage"
            >> beam.ParDo(BlurImage(self._job)).with_outputs(BlurImage.ERRORS, main="rows")
        )
