"""The Beam layer: DoFns and the composite transform that wire the pure functions together.

No exception escapes `process`: every failure of one image becomes a dead-letter row naming
the stage and the reason, and the run goes on.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import hashlib
import logging
import posixpath
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import apache_beam as beam
import cv2
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.pvalue import TaggedOutput

from transforms import codec, imaging, jpeg_planes, keys, listing, progress, storage
from transforms.blur import kernel_for, method_factor, method_name
from transforms.labels import coco, voc, yolo
from transforms.labels.errors import LabelError
from transforms.labels.layout import (
    EXCLUDED,
    IMAGE,
    INDEX,
    LABEL,
    MASK,
    OTHER,
    Layout,
    classify,
    stem_key,
    voc_list_split,
)
from transforms.manifest import DEFAULT_COLUMN, ReadManifest
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
    codec_path: str = "auto"  # --codec_path: JPEGs as planes where libturbojpeg is installed
    layout: Layout = field(default_factory=Layout)
    resume: bool = False  # --resume: copies already at their final path are not made again
    progress_dir: str = ""  # a local run on a terminal: where DoFns leave their counts

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


ENTRY = "entry"  # a member that is a line of an index file (COCO JSON image, VOC list line)


@dataclass(frozen=True)
class Member:
    """One thing that belongs to a sample: an image, a label or mask file, or an index entry.

    Files carry their key and path; entries carry the index file they come from (`index`) and
    what identifies them there: a COCO image id and file_name, or a VOC list line."""

    kind: str
    key: str
    path: str = ""
    split: str = ""
    index: str = ""
    image_id: int = 0
    line: int = 0
    rest: str = ""


class StageError(Exception):
    """A failure tagged with the stage it happened in (read, decode, blur, encode, write,
    labels)."""

    def __init__(self, stage: str, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.stage = stage
        self.cause = cause


class ListInput(beam.DoFn):
    """--input -> what to match, at run time (never at graph construction): a directory's first
    level (its files, and each sub-directory to be matched in its own element, so that after a
    Reshuffle many workers list a big tree), or a pattern to match whole. The first match plan
    that finds anything wins (a directory, else a single file)."""

    def process(self, input_spec: str) -> Iterator[tuple[str, str, str]]:
        for plan in keys.match_plans(input_spec):
            level = listing.first_level(plan.base) if plan.pattern == plan.base + "**" else None
            if level is not None:
                found = False
                for kind, path in level:
                    found = True
                    yield kind, path, plan.base
                if found:
                    return
            elif FileSystems.match([plan.pattern], limits=[1])[0].metadata_list:
                yield listing.PATTERN, plan.pattern, plan.base
                return
        _log.warning("--input %s matched no files", input_spec)


class MatchInputs(beam.DoFn):
    """Match what ListInput found and tell each file's role.

    Images, label files and masks go out keyed by their sample; index files (COCO JSON, VOC
    lists, data.yaml) and other files to the tagged outputs. Keys that would escape --output
    still go on, so that BlurImage reports them as error rows: nothing matched is silently
    dropped.
    """

    INDEX = "index"
    OTHER = "other"
    matched = Metrics.counter(NAMESPACE, "matched")
    images = Metrics.counter(NAMESPACE, "images")
    labels = Metrics.counter(NAMESPACE, "label_files")
    skipped = Metrics.counter(NAMESPACE, "skipped")
    excluded = Metrics.counter(NAMESPACE, "excluded")

    def __init__(self, job: BlurJob) -> None:
        self._job = job
        self._matched: progress.Counter | None = None

    def setup(self) -> None:
        self._matched = progress.counter(self._job.progress_dir, progress.MATCHED)

    def finish_bundle(self) -> None:
        if self._matched:
            self._matched.flush()

    def process(self, element: tuple[str, str, str]) -> Iterator[tuple[str, Member] | TaggedOutput]:
        """One element of ListInput's: a file, or a sub-directory or pattern to match whole."""
        kind, path, base = element
        if kind == listing.FILE:
            paths: Iterable[str] = [path]
        else:
            pattern = path + "**" if kind == listing.PREFIX else path
            paths = (m.path for m in FileSystems.match([pattern])[0].metadata_list)
        for found in paths:
            yield from self._classified(found, base, self._matched)

    def _classified(
        self, path: str, base: str, matched_images: progress.Counter | None
    ) -> Iterator[tuple[str, Member] | TaggedOutput]:
        """One matched file, by its role: an image, label file or mask keyed by its sample, an
        index file, another file, or nothing (excluded, skipped, our own temporary)."""
        layout = self._job.layout
        key = keys.relative_key(path, base)
        if posixpath.basename(key).startswith(".") and key.endswith(".partial"):
            return  # a temporary of an interrupted write of ours
        self.matched.inc()
        role = classify(key, layout)
        if role.kind == EXCLUDED:
            self.excluded.inc()
        elif role.kind == INDEX:
            yield TaggedOutput(self.INDEX, Member(INDEX, key, path))
        elif role.kind == OTHER:
            if layout.kind == "images" or not self._job.include_originals:
                self.skipped.inc()
            else:
                yield TaggedOutput(self.OTHER, Member(OTHER, key, path))
        else:
            (self.images if role.kind == IMAGE else self.labels).inc()
            if matched_images and role.kind == IMAGE:
                matched_images.add()
            yield role.sample, Member(role.kind, key, path, role.split)


class ManifestInputs(MatchInputs):
    """The files a manifest names, each once, classified as a listing's are. Input: (uri,
    its occurrences), grouped by URI so that a line given twice is counted, not blurred twice.
    A URI outside --input gets an error row per copy (its key would be absolute); one that does
    not exist gets its error row from the read, like any unreadable image."""

    ERRORS = "errors"
    lines = Metrics.counter(NAMESPACE, "manifest_lines")
    duplicates = Metrics.counter(NAMESPACE, "manifest_duplicates")
    augmented = Metrics.counter(NAMESPACE, "augmented_images")  # BlurImage's counters: the
    failed = Metrics.counter(NAMESPACE, "failed")  # run summary accounts for every output

    def process(  # type: ignore[override]
        self, element: tuple[str, Iterable[None]], base: str
    ) -> Iterator[tuple[str, Member] | TaggedOutput]:
        uri, occurrences = element
        count = sum(1 for _ in occurrences)
        self.lines.inc(count)
        self.duplicates.inc(count - 1)
        if not uri.startswith(base):  # an image that cannot be made: an error row per copy
            self.matched.inc()
            self.images.inc()
            self.augmented.inc()
            cause = ValueError(f"{uri} is not under --input {base}: it has no key")
            for copy_index in self._job.copy_indices():
                self.failed.inc()
                yield TaggedOutput(self.ERRORS, error_row(uri, uri, copy_index, "read", cause))
            return
        yield from self._classified(uri, base, self._matched)


class ReadIndex(beam.DoFn):
    """Turns each index file into entries keyed by the sample they name: COCO JSON images
    (streamed, so a train2017-size file fits) and VOC ImageSets lines. A COCO file_name that
    could point outside its folder is an error row of its own."""

    ERRORS = "errors"

    def __init__(self, job: BlurJob) -> None:
        self._job = job

    def process(self, index: Member) -> Iterator[tuple[str, Member] | TaggedOutput]:
        layout = self._job.layout
        coco_index = next((c for c in layout.coco if c.key == index.key), None)
        if coco_index is not None:
            with storage.open_read(index.path) as stream:
                for entry in coco.iter_images(stream):
                    try:
                        name = coco.checked_file_name(entry)
                    except LabelError as error:
                        yield TaggedOutput(
                            self.ERRORS,
                            error_row(index.key, index.path, ORIGINAL_COPY, "labels", error),
                        )
                        continue
                    image_key = coco_index.image_dir + name
                    yield stem_key(image_key), Member(
                        ENTRY, image_key, index=index.key, image_id=entry.get("id"),
                        split=coco_index.split,
                    )  # fmt: skip
        elif index.key in layout.lists:
            text = storage.read_bytes(index.path).decode("utf-8", errors="replace")
            split = voc_list_split(index.key)
            for line, image, rest in voc.list_entries(text):
                entry = Member(ENTRY, image, index=index.key, line=line, rest=rest, split=split)
                yield image, entry  # a VOCdevkit sample is the image id


class BlurImage(beam.DoFn):
    """One sample at a time: read and decode each image once, then sample, blur, encode and
    write every copy with its label files and masks; yield one log row per copy.

    Failures go to the `errors` output as rows of the error table; what index files must list
    goes to `listings` as (index key, entry)."""

    ERRORS = "errors"
    LISTINGS = "listings"
    written = Metrics.counter(NAMESPACE, "written")
    failed = Metrics.counter(NAMESPACE, "failed")
    augmented = Metrics.counter(NAMESPACE, "augmented_images")
    kept = Metrics.counter(NAMESPACE, "kept_images")
    not_augmented = Metrics.counter(NAMESPACE, "not_augmented")
    orphans = Metrics.counter(NAMESPACE, "orphan_labels")
    unlisted = Metrics.counter(NAMESPACE, "unlisted_images")
    resumed = Metrics.counter(NAMESPACE, "resumed_images")
    planar = Metrics.counter(NAMESPACE, "planar_jpegs")

    def __init__(self, job: BlurJob) -> None:
        self._job = job
        self._done: progress.Counter | None = None

    def setup(self) -> None:
        tune_worker_process()
        self._done = progress.counter(self._job.progress_dir, progress.DONE)

    def finish_bundle(self) -> None:
        if self._done:
            self._done.flush()

    def process(self, element: tuple[str, Iterable[Member]]) -> Iterator[Any]:
        _, members = element
        members = sorted(members, key=lambda m: (m.kind, m.key, m.index, m.line))
        images = [m for m in members if m.kind == IMAGE]
        files = [m for m in members if m.kind in (LABEL, MASK)]
        entries = [m for m in members if m.kind == ENTRY]
        if not images:
            # label files and index entries whose image is missing: counted, reported
            self.orphans.inc(len(files) + len({(e.index, e.key) for e in entries}))
            return
        problem: BaseException | None = None
        contents: dict[str, bytes] = {}
        if files and len(images) > 1:
            problem = LabelError(
                f"{len(images)} images ({', '.join(i.key for i in images)}) share the label "
                f"files {', '.join(f.key for f in files)}"
            )
        else:
            contents, problem = self._read_labels(files)
        for image in images:
            # a VOC list line names the sample; a COCO entry its exact file (a.jpg, a.png)
            own = [e for e in entries if e.index in self._job.layout.lists or e.key == image.key]
            yield from self._image(image, files, contents, own, problem)
            if self._done:
                self._done.add()

    def _read_labels(self, files: list[Member]) -> tuple[dict[str, bytes], LabelError | None]:
        """Each label file's bytes, and the first problem found in them: a file that cannot be
        read or parsed fails the blurred copies, not the run (a transient error still fails
        the bundle, for a retry)."""
        contents: dict[str, bytes] = {}
        problem: LabelError | None = None
        for member in files:
            try:
                contents[member.key] = storage.read_bytes(member.path)
            except Exception as error:
                if storage.is_transient(error):
                    raise
                problem = problem or LabelError(f"{member.key} cannot be read: {error}")
                continue
            if member.kind != LABEL or problem is not None:
                continue
            try:
                if member.key.endswith(".txt"):
                    yolo.check_label(contents[member.key])
                else:
                    voc.rename_annotation(contents[member.key], "check", None)
            except LabelError as error:
                problem = LabelError(f"{member.key}: {error}")
        return contents, problem

    def _split(self, image: Member, entries: list[Member]) -> str:
        """The image's split: from its path, or (VOCdevkit) from the lists that name it."""
        if image.split or not entries:
            return image.split
        splits = sorted({e.split for e in entries if e.index in self._job.layout.lists})
        augmented = [s for s in splits if s in self._job.layout.augmented]
        return (augmented or splits or [""])[0]

    def _image(
        self,
        image: Member,
        files: list[Member],
        contents: dict[str, bytes],
        entries: list[Member],
        problem: BaseException | None,
    ) -> Iterator[Any]:
        job = self._job
        split = self._split(image, entries)
        augment = job.layout.augments(split)
        if augment:
            copy_indices = job.copy_indices()
            self.augmented.inc()
        elif job.include_originals:
            copy_indices = [ORIGINAL_COPY]
            self.kept.inc()
        else:
            self.not_augmented.inc()
            return
        if job.layout.kind == "coco" and not entries:
            self.unlisted.inc()  # written, but no JSON of its split lists it
        if problem is None:
            listed = [e.index for e in entries if e.index not in job.layout.lists]
            twice = sorted({i for i in listed if listed.count(i) > 1})
            if twice:
                ids = [e.image_id for e in entries if e.index in twice]
                problem = LabelError(
                    f"{image.key} is listed more than once in {', '.join(twice)} (image ids "
                    f"{', '.join(map(str, ids))}): its annotations are ambiguous"
                )
        if job.resume and problem is None and self._already_written(image, files, copy_indices):
            try:
                rows = self._resumed(image, files, copy_indices)
            except StageError:
                rows = []  # the source changed or went: make it afresh below
            for row in rows:
                yield from self._written(row, split, image, entries)
            if rows:
                return
        try:
            with _stage("write"):
                keys.check_key(image.key)
            with _stage("read"):
                source = storage.read_bytes(image.path)
            with _stage("decode"):
                decoded = self._decode(image.key, source)
        except StageError as error:
            for copy_index in copy_indices:
                self.failed.inc()
                yield TaggedOutput(self.ERRORS, error_row(image.key, image.path, copy_index,
                                                           error.stage, error.cause))  # fmt: skip
            return
        props = codec.properties(decoded)  # once per image, whatever the copies
        for copy_index in copy_indices:
            try:
                # an original is copied as it is (labels included) wherever its labels are
                whole = all(f.key in contents for f in files)
                if problem is not None and (copy_index != ORIGINAL_COPY or not whole):
                    raise StageError("labels", problem)
                if job.resume and self._already_written(image, files, [copy_index]):
                    row = self._logged_again(image, len(source), props, copy_index, files)
                else:
                    row = self._copy(image, source, decoded, props, copy_index, files, contents)
            except StageError as error:
                self.failed.inc()
                yield TaggedOutput(
                    self.ERRORS,
                    error_row(image.key, image.path, copy_index, error.stage, error.cause),
                )
                continue
            yield from self._written(row, split, image, entries)

    def _written(
        self, row: dict[str, Any], split: str, image: Member, entries: list[Member]
    ) -> Iterator[Any]:
        """A written copy's log row, and what the index files must list for it."""
        row["split"] = split
        self.written.inc()
        yield row
        if row["copy_index"] != ORIGINAL_COPY:
            yield from self._listings(image, entries, row["copy_index"])

    def _listings(self, image: Member, entries: list[Member], copy_index: int) -> Iterator[Any]:
        """What the index files must add for a written copy: a COCO image entry (its source's
        id and the copy's file_name) or a VOC list line (the copy's id and the source's flag)."""
        job = self._job
        for entry in entries:
            if entry.index in job.layout.lists:
                line = job.copy_key(entry.key, copy_index) + entry.rest
                yield TaggedOutput(self.LISTINGS, (entry.index, (entry.line, copy_index, line)))
            else:
                image_dir = next(c.image_dir for c in job.layout.coco if c.key == entry.index)
                name = job.copy_key(entry.key, copy_index)[len(image_dir) :]
                listing = coco.CopyEntry(entry.image_id, copy_index, name)
                yield TaggedOutput(self.LISTINGS, (entry.index, listing))

    def _copy(
        self,
        image: Member,
        source: bytes,
        decoded: imaging.Decoded,
        props: codec.Properties,
        copy_index: int,
        files: list[Member],
        contents: dict[str, bytes],
    ) -> dict[str, Any]:
        """Make and write one copy (its label files first, so no copy is ever visible without
        them); returns its log row."""
        job = self._job
        output_uri, label_uris = self._targets(image, copy_index, files)
        out_format = codec.format_for_path(image.key) or decoded.format
        _, sigma_x, sigma_y = self._sigmas(image.key, copy_index)
        if kernel_for(sigma_x, sigma_y, decoded.dtype).is_identity and (
            out_format == decoded.format
        ):
            output = source  # unchanged pixels: keep the original bytes, no generation loss
        else:
            with _stage("blur"):
                blurred = imaging.blur(decoded, sigma_x, sigma_y, job.blur_method)
            with _stage("encode"):
                output = imaging.encode(blurred, out_format, job.jpeg_quality)
        for member, label_uri in zip(files, label_uris, strict=True):
            data = contents[member.key]
            if member.kind == LABEL and member.key.endswith(".xml") and copy_index >= 0:
                with _stage("labels"):
                    data = voc.rename_annotation(data, posixpath.basename(output_uri), output_uri)
            with _stage("write"):
                storage.write_bytes(label_uri, data)
        try:
            with _stage("write"):
                storage.write_bytes(output_uri, output)
        except StageError:
            with contextlib.suppress(Exception):
                storage.delete_files([u for u in label_uris if storage.exists(u)])
            raise
        return self._row(image, len(source), props, copy_index, output, label_uris)

    def _decode(self, key: str, source: bytes) -> imaging.Decoded:
        job = self._job
        decoded = imaging.decode(source, codec.format_for_path(key), job.codec_path, job.max_pixels)
        if decoded.codec_path == jpeg_planes.PATH_PLANES:
            self.planar.inc()
        return decoded

    def _targets(
        self, image: Member, copy_index: int, files: list[Member]
    ) -> tuple[str, list[str]]:
        """Where a copy and its label files go."""
        job = self._job
        with _stage("write"):
            output_uri = keys.join(job.output, job.copy_key(image.key, copy_index))
        return output_uri, [keys.join(job.output, job.copy_key(f.key, copy_index)) for f in files]

    def _sigmas(self, key: str, copy_index: int) -> tuple[bool, float, float]:
        """(applied, sigma_x, sigma_y) of a copy; an original is never blurred."""
        if copy_index == ORIGINAL_COPY:
            return False, 0.0, 0.0
        params = sample(self._job.seed, copy_index, key, self._job.spec)
        return params.applied, params.sigma_x, params.sigma_y

    def _row(
        self,
        image: Member,
        source_bytes: int,
        props: codec.Properties,
        copy_index: int,
        output: bytes,
        label_uris: list[str],
    ) -> dict[str, Any]:
        """The log row of a written copy. Everything but the output's own bytes follows from
        the sampler and the source's properties, so a resumed run rebuilds it exactly."""
        job = self._job
        applied, sigma_x, sigma_y = self._sigmas(image.key, copy_index)
        kernel = kernel_for(sigma_x, sigma_y, props.dtype)
        factor = method_factor(sigma_x, sigma_y, props.shape, job.blur_method)
        return {
            "key": image.key,
            "source_uri": image.path,
            "output_uri": keys.join(job.output, job.copy_key(image.key, copy_index)),
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
            "format": codec.format_for_path(image.key) or codec.probe(output).format,
            "source_bytes": source_bytes,
            "output_bytes": len(output),
            "output_sha256": hashlib.sha256(output).hexdigest(),
            "exif_orientation": props.exif_orientation,
            "blur_method": "none" if kernel.is_identity else method_name(factor),
            "label_uris": label_uris,
            "codec_path": "none" if kernel.is_identity else props.codec_path,
        }

    def _already_written(self, image: Member, files: list[Member], copies: list[int]) -> bool:
        """--resume: whether every copy of this image and its label files are in place (writes
        are atomic, so a file at its final path is whole)."""
        for copy_index in copies:
            output_uri, label_uris = self._targets(image, copy_index, files)
            if not all(storage.exists(uri) for uri in (output_uri, *label_uris)):
                return False
        return True

    def _resumed(
        self, image: Member, files: list[Member], copies: list[int]
    ) -> list[dict[str, Any]]:
        """The rows of an image whose copies a killed run already wrote: from the sampler, the
        source's properties (its header, for a JPEG) and the outputs' bytes; nothing is blurred,
        encoded or written again."""
        job = self._job
        with _stage("read"):
            source = storage.read_bytes(image.path)
        props = codec.header_properties(source)
        if props is None:
            with _stage("decode"):
                props = codec.properties(codec.decode(source, job.max_pixels))
        elif imaging.takes_planes(source, codec.format_for_path(image.key), job.codec_path):
            props = dataclasses.replace(props, codec_path=jpeg_planes.PATH_PLANES)
        rows = [self._logged_again(image, len(source), props, c, files) for c in copies]
        self.resumed.inc()
        return rows

    def _logged_again(
        self,
        image: Member,
        source_bytes: int,
        props: codec.Properties,
        copy_index: int,
        files: list[Member],
    ) -> dict[str, Any]:
        """--resume: the row of a copy a killed run already wrote, from its bytes."""
        output_uri, label_uris = self._targets(image, copy_index, files)
        with _stage("read"):
            output = storage.read_bytes(output_uri)
        return self._row(image, source_bytes, props, copy_index, output, label_uris)


class _stage:
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
        "message": str(cause)[:2000] or repr(cause),
    }


class RewriteIndex(beam.DoFn):
    """Writes each index file of the output once every copy is written: a COCO JSON with an
    entry for every written copy, a VOC list naming them, a data.yaml pointing into the output.
    Input: (index key, [None (the file itself), listings of written copies...])."""

    def __init__(self, job: BlurJob) -> None:
        self._job = job

    def process(self, element: tuple[str, Iterable[Any]], base: str) -> Iterator[str]:
        key, payloads = element
        listings = [p for p in payloads if p is not None]
        if listings or self._job.include_originals or key == self._job.layout.yaml:
            with _stage("write"):  # any failure here stops the run; a full disk says so
                target = self._rewrite(key, keys.join(base, key), listings)
            yield target
        # else: it lists no copy, and the originals are not wanted

    def _rewrite(self, key: str, source: str, listings: list[Any]) -> str:
        job = self._job
        layout = job.layout
        target = keys.join(job.output, key)
        if key == layout.yaml:
            text = storage.read_bytes(source).decode("utf-8")

            def in_output(relative: str) -> bool:
                role = classify(relative.rstrip("/") + "/x.jpg", layout)
                return job.include_originals or layout.augments(role.split)

            data = yolo.rewrite_data_yaml(text, job.output, source[: -len(key)], in_output)
            storage.write_bytes(target, data.encode())
        elif not listings:
            storage.write_bytes(target, storage.read_bytes(source))  # another split's: as it is
        elif key in layout.lists:
            text = storage.read_bytes(source).decode("utf-8", errors="replace")
            added: dict[int, list[str]] = {}
            for line, _, text_line in sorted(listings):
                added.setdefault(line, []).append(text_line)
            storage.write_bytes(
                target, voc.rewrite_list(text, added, job.include_originals).encode()
            )
        else:
            index = next(c for c in layout.coco if c.key == key)
            rename = (lambda name, c: job.copy_key(name, c)) if index.panoptic_dir else None
            with storage.open_atomic(target) as out:
                coco.rewrite(
                    lambda: storage.open_read(source), out, listings, job.include_originals, rename
                )
        return target


class CopyFile(beam.DoFn):
    """Copies a file of the dataset that is neither image nor label (README, classes.txt) with
    --include_originals, so the output is a complete dataset."""

    copied = Metrics.counter(NAMESPACE, "copied_files")

    def __init__(self, job: BlurJob) -> None:
        self._job = job

    def process(self, member: Member) -> Iterator[str]:
        target = keys.join(self._job.output, member.key)
        keys.check_key(member.key)
        with _stage("write"):
            storage.write_bytes(target, storage.read_bytes(member.path))
        self.copied.inc()
        yield target


class BlurImages(beam.PTransform):
    """--input -> (log rows, error rows, written dataset files): match and classify, bring each
    image together with its labels (the GroupByKey also spreads images over workers), blur and
    write every copy, then rewrite the index files from what was written."""

    def __init__(
        self, input_spec: str, job: BlurJob, manifest: str | None = None,
        manifest_column: str = DEFAULT_COLUMN,
    ) -> None:  # fmt: skip
        super().__init__()
        self._input_spec = input_spec
        self._job = job
        self._manifest = manifest
        self._manifest_column = manifest_column

    def expand(self, pbegin: beam.pvalue.PBegin) -> dict[str, beam.PCollection]:
        job = self._job
        base = keys.match_plans(self._input_spec)[0].base
        if self._manifest:  # the files a manifest names, each once; --input is their base
            matched = (
                pbegin
                | "ReadManifest" >> ReadManifest(self._manifest, self._manifest_column)
                | "ByUri" >> beam.Map(lambda uri: (uri, None))
                | "EachUriOnce" >> beam.GroupByKey()
                | "ManifestFiles"
                >> beam.ParDo(ManifestInputs(job), base=base).with_outputs(
                    MatchInputs.INDEX, MatchInputs.OTHER, ManifestInputs.ERRORS, main="members"
                )
            )
            listing_errors = [matched[ManifestInputs.ERRORS]]
        else:
            matched = (
                pbegin
                | "InputPattern" >> beam.Create([self._input_spec])
                | "ListInput" >> beam.ParDo(ListInput())
                | "SpreadListing" >> beam.Reshuffle()
                | "MatchFiles"
                >> beam.ParDo(MatchInputs(job)).with_outputs(
                    MatchInputs.INDEX, MatchInputs.OTHER, main="members"
                )
            )
            listing_errors = []
        index_files = matched[MatchInputs.INDEX] | "SpreadIndexFiles" >> beam.Reshuffle()
        entries = index_files | "ReadIndex" >> beam.ParDo(ReadIndex(job)).with_outputs(
            ReadIndex.ERRORS, main="entries"
        )
        blurred = (
            (matched.members, entries.entries)
            | "MembersAndEntries" >> beam.Flatten()
            | "GroupSamples" >> beam.GroupByKey()
            | "BlurImage"
            >> beam.ParDo(BlurImage(job)).with_outputs(
                BlurImage.ERRORS, BlurImage.LISTINGS, main="rows"
            )
        )
        seeds = index_files | "IndexSeeds" >> beam.Map(lambda m: (m.key, None))
        rewritten = (
            (seeds, blurred[BlurImage.LISTINGS])
            | "ListingsByIndex" >> beam.Flatten()
            | "GroupListings" >> beam.GroupByKey()
            | "RewriteIndex" >> beam.ParDo(RewriteIndex(job), base=base)
        )
        copied = (
            matched[MatchInputs.OTHER]
            | "SpreadOtherFiles" >> beam.Reshuffle()
            | "CopyOtherFiles" >> beam.ParDo(CopyFile(job))
        )
        errors = (
            blurred[BlurImage.ERRORS], entries[ReadIndex.ERRORS], *listing_errors
        ) | "AllErrors" >> beam.Flatten()  # fmt: skip
        files = (rewritten, copied) | "DatasetFiles" >> beam.Flatten()
        return {"rows": blurred.rows, "errors": errors, "files": files}
