"""What every worker shares, whatever its input (loose images in `beam`, WebDataset and
Parquet shards in `beam_shards`): the job, the tuning of a worker process, the stages an image
fails in, one copy's bytes and its log row. Part of the Beam layer (it classifies storage
failures through `storage`); the pure layer never imports it.
"""

from __future__ import annotations

import ctypes
import hashlib
from dataclasses import dataclass, field
from typing import Any

import cv2

from transforms import codec, imaging, keys, storage
from transforms.blur import kernel_for, method_factor, method_name
from transforms.labels.layout import Layout
from transforms.sampling import BlurSpec, sample

NAMESPACE = "blur_augment"
ORIGINAL_COPY = -1  # copy_index of an unchanged original (--include_originals)

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
    codec_path: str = "auto"  # --codec_path: JPEGs as planes where libturbojpeg is installed
    layout: Layout = field(default_factory=Layout)
    resume: bool = False  # --resume: copies already at their final path are not made again
    progress_dir: str = ""  # a local run on a terminal: where DoFns leave their counts
    image_column: str = ""  # --image_column of Parquet shards ("": found from their schema)
    max_bytes: int = storage.DEFAULT_MAX_BYTES  # --max_bytes: the largest file read whole

    @property
    def numbered(self) -> bool:
        """Blurred copies are named name_blur{k}.ext when there are several or originals."""
        return self.copies > 1 or self.include_originals

    def copy_indices(self) -> list[int]:
        return ([ORIGINAL_COPY] if self.include_originals else []) + list(range(self.copies))

    def copy_key(self, key: str, copy_index: int) -> str:
        """Where copy `copy_index` of the file at `key` (an image or one of its label files)
        goes, relative to --output."""
        return keys.output_key(key, copy_index, self.numbered)


class StageError(Exception):
    """A failure tagged with the stage it happened in (read, decode, blur, encode, write,
    labels)."""

    def __init__(self, stage: str, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.stage = stage
        self.cause = cause


def made_copy(
    job: BlurJob,
    key: str,
    source: bytes,
    decoded: imaging.Decoded,
    copy_index: int,
    out_format: str,
) -> bytes:
    """The bytes of one copy: blurred with its sampled sigmas and encoded in `out_format`, or
    the source's own bytes when the pixels would not change (no generation loss)."""
    _, sigma_x, sigma_y = copy_sigmas(job, key, copy_index)
    return copy_with(job, source, decoded, sigma_x, sigma_y, out_format)


def copy_with(
    job: BlurJob,
    source: bytes,
    decoded: imaging.Decoded,
    sigma_x: float,
    sigma_y: float,
    out_format: str,
) -> bytes:
    """A copy's bytes from given sigmas: what `made_copy` makes from the sampler's, and what
    `verify --recompute` makes again from the log's."""
    if kernel_for(sigma_x, sigma_y, decoded.dtype).is_identity and out_format == decoded.format:
        return source
    with stage("blur"):
        blurred = imaging.blur(decoded, sigma_x, sigma_y, job.blur_method)
    with stage("encode"):
        return imaging.encode(blurred, out_format, job.jpeg_quality)


def copy_sigmas(job: BlurJob, key: str, copy_index: int) -> tuple[bool, float, float]:
    """(applied, sigma_x, sigma_y) of a copy; an original is never blurred."""
    if copy_index == ORIGINAL_COPY:
        return False, 0.0, 0.0
    params = sample(job.seed, copy_index, key, job.spec)
    return params.applied, params.sigma_x, params.sigma_y


def log_row(
    job: BlurJob,
    key: str,
    source_uri: str,
    output_uri: str,
    source_bytes: int,
    props: codec.Properties,
    copy_index: int,
    output: bytes,
    labels: list[tuple[str, bytes]],
    image_format: str | None = None,
) -> dict[str, Any]:
    """The log row of a written copy, of a loose image or of an image inside a shard (whose
    `image_format` its key may not tell), with where its label files went and their hashes."""
    applied, sigma_x, sigma_y = copy_sigmas(job, key, copy_index)
    kernel = kernel_for(sigma_x, sigma_y, props.dtype)
    factor = method_factor(sigma_x, sigma_y, props.shape, job.blur_method)
    return {
        "key": key,
        "source_uri": source_uri,
        "output_uri": output_uri,
        "copy_index": copy_index,
        "seed": job.seed,
        "applied": applied,
        "sigma_x": sigma_x,
        "sigma_y": sigma_y,
        "kernel_width": kernel.width,
        "kernel_height": kernel.height,
        "width": props.width,
        "height": props.height,
        "channels": props.channels,
        "dtype": props.dtype,
        "format": image_format or codec.format_for_path(key) or codec.probe(output).format,
        "source_bytes": source_bytes,
        "output_bytes": len(output),
        "output_sha256": hashlib.sha256(output).hexdigest(),
        "exif_orientation": props.exif_orientation,
        "blur_method": "none" if kernel.is_identity else method_name(factor),
        "label_uris": [uri for uri, _ in labels],
        "codec_path": "none" if kernel.is_identity else props.codec_path,
        "label_sha256": [hashlib.sha256(data).hexdigest() for _, data in labels],
    }


class stage:
    """Re-raises an exception as a StageError for `name` (an error row), except:
    - a transient storage failure, which fails the bundle so that the runner retries it: a 503
      must not turn into a permanently missing image;
    - a write that failed for a reason that is not the image's (a full disk, a read-only or
      forbidden output, a missing bucket), which stops the run as an InfrastructureError."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: object) -> bool:
        if (
            not isinstance(exc, Exception)
            or isinstance(exc, StageError | storage.InfrastructureError)
            or storage.is_transient(exc)  # left to fail the bundle: the runner retries it
        ):
            return False
        reason = storage.infrastructure_reason(exc) if self._name == "write" else None
        if reason:
            detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else repr(exc)
            raise storage.InfrastructureError(
                f"the output cannot be written: {reason} ({type(exc).__name__}: {detail[:300]})"
            ) from exc
        raise StageError(self._name, exc) from exc


def error_row(
    key: str, source_uri: str, copy_index: int, stage: str, cause: BaseException
) -> dict[str, Any]:
    """A row of the error table: which input and copy, where it failed, and why."""
    return {
        "key": key,
        "source_uri": source_uri,
        "copy_index": copy_index,
        "stage": stage,
        "error_type": type(cause).__name__,
        "message": described(stage, cause)[:2000],
    }


_STAGE_FAILURES = {
    "read": "the input cannot be read",
    "decode": "the image cannot be decoded",
    "blur": "the blur failed",
    "encode": "the image cannot be encoded",
    "write": "the output cannot be written",
    "labels": "the labels cannot be read",
}


def described(stage: str, cause: BaseException) -> str:
    """The message of an error row. Our own errors say what is wrong in full; an exception of
    a library or of Python itself is told with what failed and its type, never as its bare
    text ("division by zero", "'NoneType' object is not subscriptable")."""
    text = str(cause).strip()
    if type(cause).__module__.split(".")[0] in ("transforms", "pipeline") and text:
        return text
    what = _STAGE_FAILURES.get(stage, f"the {stage} stage failed")
    return f"{what} ({type(cause).__name__}: {text or repr(cause)})"
