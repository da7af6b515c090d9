"""Making the copies of one image, the same way for a loose file, a tar member and a Parquet
cell: decode once, its properties once, then each copy's bytes (blurred with the sampler's
sigmas and encoded in the source's format) or the StageError that stopped it; and a written
copy's log row. Pure: bytes in, bytes and rows out."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from transforms import codec, imaging, jpeg_planes
from transforms.blur import kernel_for, method_factor, method_name
from transforms.errors import StageError, failing_as
from transforms.job import ORIGINAL_COPY, BlurJob
from transforms.sampling import sample


def copy_sigmas(job: BlurJob, key: str, copy_index: int) -> tuple[bool, float, float]:
    """(applied, sigma_x, sigma_y) of a copy; an original is never blurred."""
    if copy_index == ORIGINAL_COPY:
        return False, 0.0, 0.0
    params = sample(job.seed, copy_index, key, job.spec)
    return params.applied, params.sigma_x, params.sigma_y


def copy_with(
    job: BlurJob,
    source: bytes,
    decoded: imaging.Decoded,
    sigma_x: float,
    sigma_y: float,
    out_format: str,
) -> bytes:
    """A copy's bytes from given sigmas, or the source's own bytes when the pixels would not
    change (no generation loss): what ImageCopies makes from the sampler's sigmas, and what
    `verify --recompute` makes again from the log's."""
    if kernel_for(sigma_x, sigma_y, decoded.dtype).is_identity and out_format == decoded.format:
        return source
    with failing_as("blur"):
        blurred = imaging.blur(decoded, sigma_x, sigma_y, job.blur_method)
    with failing_as("encode"):
        return imaging.encode(blurred, out_format, job.jpeg_quality)


@dataclass(frozen=True)
class ImageCopies:
    """One image decoded once for all its copies: its properties (None when it could not be
    decoded, and then `failure` says why) and each copy on demand."""

    job: BlurJob
    key: str
    source: bytes
    out_format: str
    decoded: imaging.Decoded | None
    properties: codec.Properties | None
    failure: StageError | None = None

    @property
    def planar(self) -> bool:
        """Whether the image took the planar JPEG path."""
        return self.properties is not None and (
            self.properties.codec_path == jpeg_planes.PATH_PLANES
        )

    def make(self, copy_index: int) -> bytes:
        """Copy `copy_index`'s bytes; StageError when it cannot be made."""
        if self.failure is not None or self.decoded is None:
            raise self.failure or StageError("decode", codec.ImageError("not decoded"))
        _, sigma_x, sigma_y = copy_sigmas(self.job, self.key, copy_index)
        return copy_with(self.job, self.source, self.decoded, sigma_x, sigma_y, self.out_format)

    def each(self, copy_indices: Iterable[int]) -> Iterator[tuple[int, bytes | StageError]]:
        """Each copy index with the copy's bytes or the StageError that stopped it."""
        for copy_index in copy_indices:
            try:
                yield copy_index, self.make(copy_index)
            except StageError as error:
                yield copy_index, error


def make_copies(
    job: BlurJob, key: str, source: bytes | None, out_format: str | None = None
) -> ImageCopies:
    """The copies of the image `key` whose bytes are `source`, written in `out_format` (the
    format its name says; None: the bytes' own). A failed decode is kept, not raised: every
    copy then fails with it."""
    try:
        with failing_as("decode"):
            if source is None:
                raise codec.ImageError("no image in this row (the image cell is null)")
            if len(source) > job.max_bytes:
                raise codec.ImageError(
                    f"the image is {len(source):,} bytes, over --max_bytes={job.max_bytes:,}"
                )
            out_format = out_format or codec.probe(source).format
            decoded = imaging.decode(source, out_format, job.codec_path, job.max_pixels)
    except StageError as error:
        return ImageCopies(job, key, source or b"", out_format or "", None, None, error)
    return ImageCopies(job, key, source, out_format, decoded, codec.properties(decoded))


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
