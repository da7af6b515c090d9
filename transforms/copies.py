"""Making the copies of one image, the same way for a loose file, a tar member and a Parquet
cell: decode once, its properties once, then each copy's bytes (blurred with the sampler's
sigmas and encoded in the source's format) or the StageError that stopped it; and a written
copy's log row. Pure: bytes in, bytes and rows out."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from blur_augment.transforms import codec, imaging, jpeg_planes, objects
from blur_augment.transforms.blur import kernel_for, method_factor, method_name
from blur_augment.transforms.errors import StageError, failing_as
from blur_augment.transforms.job import BlurJob
from blur_augment.transforms.sampling import BlurParams


def decode_path(job: BlurJob, draws: Iterable[BlurParams], objects_move: bool = False) -> str:
    """--codec_path, unless a copy of this image gets a blur that cannot work on JPEG planes
    (glass blur, a benchmark corruption) or an object of it moves (objects are composited on
    pixels): then the image is decoded to pixels, once for all its copies."""
    if job.codec_path == "pixels" or objects_move:
        return "pixels"
    for params in draws:
        if not params.identity and not imaging.takes_planes_for(params):
            return "pixels"
    return job.codec_path


def unchanged(params: BlurParams, dtype: str) -> bool:
    """Whether the blur leaves every pixel as it is (not applied, or a 1x1 Gaussian)."""
    if not params.applied:
        return True
    gaussian = params.kind == "gaussian" and not params.corruption
    return gaussian and kernel_for(params.sigma_x, params.sigma_y, dtype).is_identity


def copy_with(
    job: BlurJob,
    source: bytes,
    decoded: imaging.Decoded,
    params: BlurParams,
    out_format: str,
    moving: Sequence[tuple[objects.Support, BlurParams]] = (),
) -> bytes:
    """A copy's bytes from its blur's parameters (the frame's, then each moving object's over
    it), or the source's own bytes when the pixels would not change (no generation loss):
    what ImageCopies makes from the sampler's draws, and what `verify --recompute` makes again
    from the log's."""
    still = unchanged(params, decoded.dtype)
    if still and not moving and out_format == decoded.format:
        return source
    with failing_as("blur"):
        blurred = decoded if still else imaging.blur_with(decoded, params, job.blur_method)
        if moving:
            assert isinstance(blurred, codec.Decoded)  # objects move on pixels (decode_path)
            supports, draws = zip(*moving, strict=True)
            pixels, _ = objects.composite(blurred.pixels, supports, draws)
            blurred = dataclasses.replace(blurred, pixels=pixels)
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
    draws: dict[int, BlurParams]  # each copy's blur, drawn once
    failure: StageError | None = None
    scene: Scene | None = None  # its labelled objects (--object_blur), at the image's size

    def moving(self, copy_index: int) -> list[tuple[objects.Support, BlurParams]]:
        """The objects copy `copy_index` blurs, each with its draw, in the labels' order."""
        return self.scene.moving(copy_index) if self.scene is not None else []

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
        return copy_with(self.job, self.source, self.decoded, self.draws[copy_index],
                         self.out_format, self.moving(copy_index))  # fmt: skip

    def each(self, copy_indices: Iterable[int]) -> Iterator[tuple[int, bytes | StageError]]:
        """Each copy index with the copy's bytes or the StageError that stopped it."""
        for copy_index in copy_indices:
            try:
                yield copy_index, self.make(copy_index)
            except StageError as error:
                yield copy_index, error


def make_copies(
    job: BlurJob,
    key: str,
    source: bytes | None,
    out_format: str | None = None,
    draws: dict[int, BlurParams] | None = None,
    labels: objects.Labels | None = None,
) -> ImageCopies:
    """The copies of the image `key` whose bytes are `source`, written in `out_format` (the
    format its name says; None: the bytes' own), with the blurs its plan drew (`draws`; None:
    drawn here, once, for every copy of the job) and, under --object_blur, its `labels`'
    objects blurred each with its own draw. A failed decode is kept, not raised: every copy
    then fails with it."""
    draws = job.draws(key) if draws is None else draws
    try:
        with failing_as("labels"):
            object_draws = draw_objects(job, key, labels, draws)
        objects_move = any(p.applied for each in object_draws.values() for p in each)
        with failing_as("decode"):
            if source is None:
                raise codec.ImageError("no image in this row (the image cell is null)")
            if len(source) > job.max_bytes:
                raise codec.ImageError(
                    f"the image is {len(source):,} bytes, over --max_bytes={job.max_bytes:,}"
                )
            out_format = out_format or codec.probe(source).format
            path = decode_path(job, draws.values(), objects_move)
            decoded = imaging.decode(source, out_format, path, job.max_pixels)
        props = codec.properties(decoded)
        with failing_as("labels"):
            scene = Scene.of(labels, props, object_draws) if labels and object_draws else None
    except StageError as error:
        return ImageCopies(job, key, source or b"", out_format or "", None, None, draws, error)
    return ImageCopies(job, key, source, out_format, decoded, props, draws, scene=scene)


def draw_objects(
    job: BlurJob, key: str, labels: objects.Labels | None, copy_indices: Iterable[int]
) -> dict[int, list[BlurParams]]:
    """Each copy's draw for each of the image's labelled objects ({}: objects are not
    blurred, or the image has none)."""
    count = labels.count if labels is not None and job.objects else 0
    return {c: job.object_draws(key, c, count) for c in copy_indices} if count else {}


@dataclass(frozen=True)
class Scene:
    """An image's labelled objects at its size: each one's support, and each copy's draws."""

    found: tuple[objects.SceneObject, ...]
    supports: tuple[objects.Support, ...]
    draws: dict[int, list[BlurParams]]  # copy index -> each object's draw

    @classmethod
    def of(cls, labels: objects.Labels, props: codec.Properties,
           draws: dict[int, list[BlurParams]]) -> Scene:  # fmt: skip
        width, height = props.width, props.height
        found = tuple(labels.objects(width, height))
        return cls(found, tuple(objects.support(o, width, height) for o in found), draws)

    def moving(self, copy_index: int) -> list[tuple[objects.Support, BlurParams]]:
        """The objects copy `copy_index` blurs, with their draws, in the labels' order."""
        pairs = zip(self.supports, self.draws[copy_index], strict=True)
        return [(s, p) for s, p in pairs if objects.moves(s, p)]

    def rows(self, copy_index: int) -> list[dict[str, Any]]:
        """The object table's rows of a copy (without its key and output)."""
        return objects.object_rows(self.found, self.supports, self.draws[copy_index])


def log_row(
    job: BlurJob,
    key: str,
    source_uri: str,
    output_uri: str,
    source_bytes: int,
    props: codec.Properties,
    copy_index: int,
    params: BlurParams,
    output: bytes,
    labels: list[tuple[str, bytes]],
    image_format: str | None = None,
    objects_blurred: int = 0,
) -> dict[str, Any]:
    """The log row of a written copy (blurred as `params`, its plan's draw, and its
    `objects_blurred` objects each as its own draw), of a loose image or of an image inside a
    shard (whose `image_format` its key may not tell), with where its label files went and
    their hashes."""
    width, height, method = blur_description(params, props, job.blur_method)
    path = "none" if method == "none" and not objects_blurred else props.codec_path
    return {
        "key": key,
        "source_uri": source_uri,
        "output_uri": output_uri,
        "copy_index": copy_index,
        "seed": job.seed,
        "applied": params.applied,
        "sigma_x": params.sigma_x,
        "sigma_y": params.sigma_y,
        "kernel_width": width,
        "kernel_height": height,
        "width": props.width,
        "height": props.height,
        "channels": props.channels,
        "dtype": props.dtype,
        "format": image_format or codec.format_for_path(key) or codec.probe(output).format,
        "source_bytes": source_bytes,
        "output_bytes": len(output),
        "output_sha256": hashlib.sha256(output).hexdigest(),
        "exif_orientation": props.exif_orientation,
        "blur_method": method,
        "label_uris": [uri for uri, _ in labels],
        "codec_path": path,
        "label_sha256": [hashlib.sha256(data).hexdigest() for _, data in labels],
        **params.kind_columns(),
        "objects_blurred": objects_blurred,
    }


def blur_description(
    params: BlurParams, props: codec.Properties, blur_method: str
) -> tuple[int, int, str]:
    """The kernel's size on each axis and how the pixels were blurred, as logged: a
    Gaussian's OpenCV size and exact/pyramid; a motion or defocus kernel's size and "kernel";
    "layers" (zoom), "glass", or "reference" (a benchmark corruption, computed as its reference
    computes it); "none" when nothing changed."""
    if unchanged(params, props.dtype):
        gaussian = kernel_for(params.sigma_x, params.sigma_y, props.dtype)
        return gaussian.width, gaussian.height, "none"
    if params.corruption:
        return 1, 1, "reference"
    if params.kind == "gaussian":
        kernel = kernel_for(params.sigma_x, params.sigma_y, props.dtype)
        factor = method_factor(params.sigma_x, params.sigma_y, props.shape, blur_method)
        return kernel.width, kernel.height, method_name(factor)
    return imaging.kernel_description(params, props.shape, props.dtype, blur_method)
