"""The Beam layer: DoFns and the composite transform that wire the pure functions together.

No exception escapes `process`: every failure of one image becomes a dead-letter row naming
the stage and the reason, and the run goes on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import posixpath
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.pvalue import TaggedOutput
from apache_beam.transforms.window import BoundedWindow, GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP, Timestamp
from apache_beam.utils.windowed_value import WindowedValue

from transforms import codec, imaging, jpeg_planes, keys, listing, progress, storage
from transforms.beam_shards import BlurShard
from transforms.labels import coco, voc, yolo
from transforms.labels.errors import LabelError
from transforms.labels.layout import (
    EXCLUDED,
    IMAGE,
    INDEX,
    LABEL,
    MASK,
    OTHER,
    SHARD,
    classify,
    stem_key,
    voc_list_split,
)
from transforms.manifest import DEFAULT_COLUMN, ReadManifest
from transforms.worker import (
    NAMESPACE,
    ORIGINAL_COPY,
    BlurJob,
    StageError,
    error_row,
    log_row,
    made_copy,
    stage,
    tune_worker_process,
)

_log = logging.getLogger(__name__)

ENTRY = "entry"  # a member that is a line of an index file (COCO JSON image, VOC list line)
CLASH = "clash"  # a copy of an image whose output name another input's output takes too


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
    problem: str = ""  # why an index entry cannot describe its image (an id it shares, ...)
    copy_index: int = 0  # a CLASH: the copy whose name is taken


class ListInput(beam.DoFn):
    """--input -> what to match, at run time (never at graph construction): a directory's first
    level (its files, and each sub-directory to be matched in its own element, so that after a
    Reshuffle many workers list a big tree), or a pattern to match whole. The first match plan
    that finds anything wins (a directory, else a single file)."""

    def process(self, input_spec: str) -> Iterator[tuple[str, str, str]]:
        named = listing.brace_paths(input_spec)
        if named is not None:  # each path a brace list names is expected: missing, an error row
            base = keys.match_plans(input_spec)[0].base
            for path in dict.fromkeys(named):
                yield (listing.PATTERN if keys.has_wildcard(path) else listing.FILE), path, base
            return
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
    lists, data.yaml), shards (.tar, .parquet) and other files to the tagged outputs. Keys that
    would escape --output still go on, so that BlurImage reports them as error rows: nothing
    matched is silently dropped.
    """

    INDEX = "index"
    OTHER = "other"
    SHARDS = "shards"
    matched = Metrics.counter(NAMESPACE, "matched")
    images = Metrics.counter(NAMESPACE, "images")
    labels = Metrics.counter(NAMESPACE, "label_files")
    skipped = Metrics.counter(NAMESPACE, "skipped")
    excluded = Metrics.counter(NAMESPACE, "excluded")
    shards = Metrics.counter(NAMESPACE, "shards")
    special = Metrics.counter(NAMESPACE, "special_files")

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
        for found_kind, found in listing.files_under(kind, path):
            if found_kind == listing.SKIPPED:
                self.special.inc()  # a FIFO, a device, a link that loops: never opened
                _log.debug("skipped %s", found)
            else:
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
        elif role.kind == SHARD:
            self.shards.inc()
            yield TaggedOutput(self.SHARDS, Member(SHARD, key, path))
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
                try:
                    entries = list(coco.image_entries(stream, index.key))
                except LabelError as error:  # not JSON, or nested too deep: no dataset
                    raise LabelError(f"{index.path}: {error}") from None
            for entry in entries:
                if isinstance(entry, LabelError):  # an entry that names no image
                    yield TaggedOutput(
                        self.ERRORS,
                        error_row(index.key, index.path, ORIGINAL_COPY, "labels", entry),
                    )
                    continue
                image_key = coco_index.image_dir + entry.file_name
                yield stem_key(image_key), Member(
                    ENTRY, image_key, index=index.key, image_id=entry.image_id or 0,
                    split=coco_index.split, problem=entry.problem,
                )  # fmt: skip
        elif index.key in layout.lists:
            data = storage.read_bytes(index.path, self._job.max_bytes)
            text = data.decode("utf-8", errors="replace")
            split = voc_list_split(index.key)
            for line, image, rest in voc.list_entries(text):
                entry = Member(ENTRY, image, index=index.key, line=line, rest=rest, split=split)
                yield image, entry  # a VOCdevkit sample is the image id


READ_AHEAD = 6  # samples whose reads run while earlier samples are blurred
WRITE_THREADS = 8
WRITE_BEHIND = 16  # copies whose writes may still run while later ones are blurred
WRITE_BEHIND_BYTES = 256 << 20  # ... and at most this much of their bytes


@dataclass
class _Fetched:
    """A sample with what it needs from storage read (by a reader thread): its label files'
    bytes, and each image's bytes or the exception its read raised."""

    images: list[Member]
    files: list[Member]
    entries: list[Member]
    clashes: dict[tuple[str, int], str] = field(default_factory=dict)  # (image, copy) -> why
    contents: dict[str, bytes] = field(default_factory=dict)
    problem: BaseException | None = None
    sources: dict[str, bytes | BaseException] = field(default_factory=dict)


@dataclass
class _Write:
    """A copy being written by a writer thread, and what to yield once it is in place."""

    future: Future[None]
    row: dict[str, Any]
    split: str
    image: Member
    entries: list[Member]
    where: tuple[Any, Any]  # the timestamp and window of the sample it came from
    size: int


class BlurImage(beam.DoFn):
    """One sample at a time: read and decode each image once, then sample, blur, encode and
    write every copy with its label files and masks; yield one log row per copy.

    Storage waits overlap the blur: the reads of the next READ_AHEAD samples run on reader
    threads while this one is blurred, and each copy is written by a writer thread while the
    next is made (OpenCV and the storage client release the GIL). A copy's row is yielded once
    its write is done, so the log never names a file that is not there; at most WRITE_BEHIND
    copies (and WRITE_BEHIND_BYTES) are in flight, so memory stays bounded.

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
        self._readers: ThreadPoolExecutor | None = None
        self._writers: ThreadPoolExecutor | None = None
        self._reads: deque[tuple[Future[_Fetched], tuple[Any, Any]]] = deque()
        self._writes: deque[_Write] = deque()
        self._write_bytes = 0

    def setup(self) -> None:
        tune_worker_process()
        self._done = progress.counter(self._job.progress_dir, progress.DONE)
        self._readers = ThreadPoolExecutor(max(READ_AHEAD, 1), thread_name_prefix="blur-read")
        self._writers = ThreadPoolExecutor(WRITE_THREADS, thread_name_prefix="blur-write")

    def start_bundle(self) -> None:
        # a failed bundle's leftovers are dropped: its retry reads and writes them again
        self._reads, self._writes, self._write_bytes = deque(), deque(), 0

    def process(
        self,
        element: tuple[str, Iterable[Member]],
        timestamp: Any = beam.DoFn.TimestampParam,
        window: Any = beam.DoFn.WindowParam,
    ) -> Iterator[Any]:
        _, members = element
        assert self._readers is not None, "setup() first"
        fetched = self._readers.submit(self._fetch, list(members))
        self._reads.append((fetched, _where(timestamp, window)))
        while len(self._reads) > READ_AHEAD:
            yield from self._blur_next()

    def finish_bundle(self) -> Iterator[Any]:
        while self._reads:
            yield from self._blur_next()
        while self._writes:
            yield from self._settle()
        if self._done:
            self._done.flush()

    def teardown(self) -> None:
        for pool in (self._readers, self._writers):
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)

    def _blur_next(self) -> Iterator[Any]:
        """Blur the oldest fetched sample, then settle writes until few enough are in flight."""
        fetched, where = self._reads.popleft()
        yield from _windowed(self._blur_sample(fetched.result(), where), where)
        while len(self._writes) > WRITE_BEHIND or self._write_bytes > WRITE_BEHIND_BYTES:
            yield from self._settle()

    def _settle(self) -> Iterator[Any]:
        """Wait for the oldest write; yield its row (and listings) or its error row. A failure
        that is not the image's (transient, infrastructure) fails the bundle as before."""
        write = self._writes.popleft()
        self._write_bytes -= write.size
        try:
            write.future.result()
        except StageError as error:
            self.failed.inc()
            row = write.row
            outputs: Iterable[Any] = [TaggedOutput(self.ERRORS, error_row(
                row["key"], row["source_uri"], row["copy_index"], error.stage, error.cause
            ))]  # fmt: skip
        else:
            outputs = self._written(write.row, write.split, write.image, write.entries)
        yield from _windowed(outputs, write.where)

    def _fetch(self, members: list[Member]) -> _Fetched:
        """A reader thread's part: every read the sample needs, nothing else (Beam's counters
        belong to the DoFn's own thread). Transient failures of label reads raise here and
        fail the bundle where the result is taken; an image's read failure is kept for its
        error row."""
        members = sorted(members, key=lambda m: (m.kind, m.key, m.index, m.line))
        fetched = _Fetched(
            images=[m for m in members if m.kind == IMAGE],
            files=[m for m in members if m.kind in (LABEL, MASK)],
            entries=[m for m in members if m.kind == ENTRY],
            clashes={(m.key, m.copy_index): m.problem for m in members if m.kind == CLASH},
        )
        if not fetched.images:
            return fetched
        if fetched.files and len(fetched.images) > 1:
            fetched.problem = LabelError(
                f"{len(fetched.images)} images ({', '.join(i.key for i in fetched.images)}) "
                f"share the label files {', '.join(f.key for f in fetched.files)}"
            )
        else:
            fetched.contents, fetched.problem = self._read_labels(fetched.files)
        for image in fetched.images:
            _, copy_indices = self._copies(image, self._own_entries(image, fetched.entries))
            if copy_indices and _safe_key(image.key):
                try:
                    fetched.sources[image.key] = storage.read_bytes(image.path, self._job.max_bytes)
                except Exception as error:
                    fetched.sources[image.key] = error
        return fetched

    def _blur_sample(self, fetched: _Fetched, where: tuple[Any, Any]) -> Iterator[Any]:
        if not fetched.images:
            # label files and index entries whose image is missing: counted, reported
            keys_listed = {(e.index, e.key) for e in fetched.entries}
            self.orphans.inc(len(fetched.files) + len(keys_listed))
            return
        for image in fetched.images:
            entries = self._own_entries(image, fetched.entries)
            yield from self._image(image, fetched, entries, where)
            if self._done:
                self._done.add()

    def _own_entries(self, image: Member, entries: list[Member]) -> list[Member]:
        """A VOC list line names the sample; a COCO entry its exact file (a.jpg, a.png)."""
        return [e for e in entries if e.index in self._job.layout.lists or e.key == image.key]

    def _read_labels(self, files: list[Member]) -> tuple[dict[str, bytes], LabelError | None]:
        """Each label file's bytes, and the first problem found in them: a file that cannot be
        read or parsed fails the blurred copies, not the run (a transient error still fails
        the bundle, for a retry)."""
        contents: dict[str, bytes] = {}
        problem: LabelError | None = None
        for member in files:
            try:
                contents[member.key] = storage.read_bytes(member.path, self._job.max_bytes)
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

    def _copies(self, image: Member, entries: list[Member]) -> tuple[str, list[int]]:
        """The image's split and the copies it gets: all of them in an augmented split, only
        the original (--include_originals) or none in another."""
        job = self._job
        split = self._split(image, entries)
        if job.layout.augments(split):
            return split, job.copy_indices()
        return split, [ORIGINAL_COPY] if job.include_originals else []

    def _image(
        self, image: Member, fetched: _Fetched, entries: list[Member], where: tuple[Any, Any]
    ) -> Iterator[Any]:
        job = self._job
        files, contents, problem = fetched.files, fetched.contents, fetched.problem
        split, copy_indices = self._copies(image, entries)
        if not copy_indices:
            self.not_augmented.inc()
            return
        (self.augmented if job.layout.augments(split) else self.kept).inc()
        if job.layout.kind == "coco" and not entries:
            self.unlisted.inc()  # written, but no JSON of its split lists it
        broken = [e.problem for e in entries if e.problem]
        if problem is None and broken:
            problem = LabelError("; ".join(broken))
        if problem is None:
            listed = [e.index for e in entries if e.index not in job.layout.lists]
            twice = sorted({i for i in listed if listed.count(i) > 1})
            if twice:
                ids = [e.image_id for e in entries if e.index in twice]
                problem = LabelError(
                    f"{image.key} is listed more than once in {', '.join(twice)} (image ids "
                    f"{', '.join(map(str, ids))}): its annotations are ambiguous"
                )
        try:
            with stage("write"):
                keys.check_key(image.key)
            with stage("read"):
                source = fetched.sources[image.key]
                if isinstance(source, BaseException):
                    raise source
            resumed = self._resumed(image, source, fetched, copy_indices, problem)
            if not resumed:
                with stage("decode"):
                    decoded = self._decode(image.key, source)
        except StageError as error:
            for copy_index in copy_indices:
                self.failed.inc()
                yield TaggedOutput(self.ERRORS, error_row(image.key, image.path, copy_index,
                                                           error.stage, error.cause))  # fmt: skip
            return
        if resumed:
            for row in resumed:
                yield from self._written(row, split, image, entries)
            return
        props = codec.properties(decoded)  # once per image, whatever the copies
        for copy_index in copy_indices:
            try:
                # an original is copied as it is (labels included) wherever its labels are
                whole = all(f.key in contents for f in files)
                if problem is not None and (copy_index != ORIGINAL_COPY or not whole):
                    raise StageError("labels", problem)
                clash = fetched.clashes.get((image.key, copy_index))
                if clash:
                    raise StageError("write", OutputClash(clash))
                if job.resume and self._already_written(image, files, [copy_index]):
                    row = self._logged_again(image, len(source), props, copy_index, fetched)
                    yield from self._written(row, split, image, entries)
                    continue
                self._start_copy(image, source, decoded, props, copy_index, fetched, split,
                                 entries, where)  # fmt: skip
            except StageError as error:
                self.failed.inc()
                yield TaggedOutput(
                    self.ERRORS,
                    error_row(image.key, image.path, copy_index, error.stage, error.cause),
                )

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

    def _start_copy(
        self,
        image: Member,
        source: bytes,
        decoded: imaging.Decoded,
        props: codec.Properties,
        copy_index: int,
        fetched: _Fetched,
        split: str,
        entries: list[Member],
        where: tuple[Any, Any],
    ) -> None:
        """Make one copy here (blur, encode, its label files' bytes) and hand its writes to a
        writer thread; its row waits for them in the write queue."""
        job = self._job
        output_uri, _ = self._targets(image, copy_index, fetched.files)
        out_format = codec.format_for_path(image.key) or decoded.format
        output = made_copy(job, image.key, source, decoded, copy_index, out_format)
        labels = self._copy_labels(image, copy_index, fetched)
        row = self._row(image, len(source), props, copy_index, output, labels)
        assert self._writers is not None, "setup() first"
        future = self._writers.submit(_store, output_uri, output, labels)
        self._writes.append(_Write(future, row, split, image, entries, where, len(output)))
        self._write_bytes += len(output)

    def _decode(self, key: str, source: bytes) -> imaging.Decoded:
        job = self._job
        decoded = imaging.decode(source, codec.format_for_path(key), job.codec_path, job.max_pixels)
        if decoded.codec_path == jpeg_planes.PATH_PLANES:
            self.planar.inc()
        return decoded

    def _copy_labels(
        self, image: Member, copy_index: int, fetched: _Fetched
    ) -> list[tuple[str, bytes]]:
        """Where each label file and mask of a copy goes and its bytes: the source's, a VOC XML
        renamed to the copy."""
        output_uri, label_uris = self._targets(image, copy_index, fetched.files)
        labels = []
        for member, label_uri in zip(fetched.files, label_uris, strict=True):
            data = fetched.contents[member.key]
            if member.kind == LABEL and member.key.endswith(".xml") and copy_index >= 0:
                with stage("labels"):
                    data = voc.rename_annotation(data, posixpath.basename(output_uri), output_uri)
            labels.append((label_uri, data))
        return labels

    def _targets(
        self, image: Member, copy_index: int, files: list[Member]
    ) -> tuple[str, list[str]]:
        """Where a copy and its label files go."""
        job = self._job
        with stage("write"):
            output_uri = keys.join(job.output, job.copy_key(image.key, copy_index))
        return output_uri, [keys.join(job.output, job.copy_key(f.key, copy_index)) for f in files]

    def _row(
        self,
        image: Member,
        source_bytes: int,
        props: codec.Properties,
        copy_index: int,
        output: bytes,
        labels: list[tuple[str, bytes]],
    ) -> dict[str, Any]:
        """The log row of a copy. Everything but the output's own bytes follows from the
        sampler, the source's properties and its label files, so a resumed run rebuilds it
        exactly."""
        job = self._job
        output_uri = keys.join(job.output, job.copy_key(image.key, copy_index))
        return log_row(job, image.key, image.path, output_uri, source_bytes, props, copy_index,
                       output, labels)  # fmt: skip

    def _already_written(self, image: Member, files: list[Member], copies: list[int]) -> bool:
        """--resume: whether every copy of this image and its label files are in place (writes
        are atomic, so a file at its final path is whole)."""
        for copy_index in copies:
            output_uri, label_uris = self._targets(image, copy_index, files)
            if not all(storage.exists(uri) for uri in (output_uri, *label_uris)):
                return False
        return True

    def _resumed(
        self,
        image: Member,
        source: bytes,
        fetched: _Fetched,
        copies: list[int],
        problem: BaseException | None,
    ) -> list[dict[str, Any]]:
        """--resume: the rows of an image whose copies a killed run already wrote, from the
        sampler, the source's properties (its header, for a JPEG) and the outputs' bytes;
        nothing is blurred, encoded or written again. None when it is to be made (afresh)."""
        job = self._job
        if not job.resume or problem is not None:
            return []
        if not self._already_written(image, fetched.files, copies):
            return []
        try:
            props = codec.header_properties(source)
            if props is None:
                with stage("decode"):
                    props = codec.properties(codec.decode(source, job.max_pixels))
            elif imaging.takes_planes(source, codec.format_for_path(image.key), job.codec_path):
                props = dataclasses.replace(props, codec_path=jpeg_planes.PATH_PLANES)
            rows = [self._logged_again(image, len(source), props, c, fetched) for c in copies]
        except StageError:
            return []  # the source changed: make it afresh
        self.resumed.inc()
        return rows

    def _logged_again(
        self,
        image: Member,
        source_bytes: int,
        props: codec.Properties,
        copy_index: int,
        fetched: _Fetched,
    ) -> dict[str, Any]:
        """--resume: the row of a copy a killed run already wrote, from its bytes."""
        output_uri, _ = self._targets(image, copy_index, fetched.files)
        with stage("read"):
            output = storage.read_bytes(output_uri, self._job.max_bytes)
        labels = self._copy_labels(image, copy_index, fetched)
        return self._row(image, source_bytes, props, copy_index, output, labels)


def _store(output_uri: str, output: bytes, labels: list[tuple[str, bytes]]) -> None:
    """A writer thread's part: a copy's label files first, then the copy, so that no copy is
    ever visible without its labels; when the copy cannot be written its labels go again."""
    for label_uri, data in labels:
        with stage("write"):
            storage.write_bytes(label_uri, data)
    try:
        with stage("write"):
            storage.write_bytes(output_uri, output)
    except StageError:
        with contextlib.suppress(Exception):
            storage.delete_files([u for u, _ in labels if storage.exists(u)])
        raise


def _safe_key(key: str) -> bool:
    try:
        keys.check_key(key)
    except keys.UnsafeKeyError:
        return False
    return True


def _where(timestamp: Any, window: Any) -> tuple[Any, Any]:
    """An element's timestamp and window, for outputs yielded after later elements arrived
    (the global window when the DoFn is called directly, as tests do)."""
    if not isinstance(timestamp, Timestamp):
        timestamp = MIN_TIMESTAMP
    if not isinstance(window, BoundedWindow):
        window = GlobalWindow()
    return timestamp, window


def _windowed(outputs: Iterable[Any], where: tuple[Any, Any]) -> Iterator[Any]:
    """Outputs stamped with the element they belong to: finish_bundle may only yield
    WindowedValues, and a later element's process must not lend them its own."""
    timestamp, window = where
    for output in outputs:
        if isinstance(output, TaggedOutput):
            yield TaggedOutput(output.tag, WindowedValue(output.value, timestamp, (window,)))
        else:
            yield WindowedValue(output, timestamp, (window,))


class OutputClash(ValueError):
    """Two inputs whose outputs would take one name: neither is written (no overwrite)."""


def claimed_outputs(
    element: tuple[str, Member], job: BlurJob
) -> Iterator[tuple[str, tuple[str, str, int]]]:
    """(output key, (sample, image key, copy index)) for every output an image may take: all
    its copies where its split is augmented (or, in a VOCdevkit, whose lists tell the split
    only later, anywhere), its original with --include_originals."""
    sample, member = element
    if member.kind != IMAGE:
        return
    layout = job.layout
    may_augment = layout.augments(member.split) or (layout.kind == "voc" and not member.split)
    copies = job.copy_indices() if may_augment else [ORIGINAL_COPY] if job.include_originals else []
    for copy_index in copies:
        yield job.copy_key(member.key, copy_index), (sample, member.key, copy_index)


def clashing_claims(element: tuple[str, Iterable[tuple[str, str, int]]]) -> Iterator[Any]:
    """For an output key claimed more than once, a CLASH member for each claimant's sample."""
    output_key, claims = element
    claimants = sorted(set(claims))
    if len(claimants) < 2:
        return
    for sample, image_key, copy_index in claimants:
        others = ", ".join(
            f"{key} ({'its original' if c == ORIGINAL_COPY else f'copy {c}'})"
            for _, key, c in claimants if (key, c) != (image_key, copy_index)
        )  # fmt: skip
        why = (f"its output {output_key} would also be the output of {others}: neither is "
               "written, so that none overwrites another")  # fmt: skip
        yield sample, Member(CLASH, image_key, problem=why, copy_index=copy_index)


class RewriteIndex(beam.DoFn):
    """Writes each index file of the output once every copy is written: a COCO JSON with an
    entry for every written copy, a VOC list naming them, a data.yaml pointing into the output.
    Input: (index key, [None (the file itself), listings of written copies...])."""

    def __init__(self, job: BlurJob) -> None:
        self._job = job

    def process(self, element: tuple[str, Iterable[Any]], base: str) -> Iterator[DatasetFile]:
        key, payloads = element
        listings = [p for p in payloads if p is not None]
        if listings or self._job.include_originals or key == self._job.layout.yaml:
            with stage("write"):  # any failure here stops the run; a full disk says so
                yield self._rewrite(key, keys.join(base, key), listings)
        # else: it lists no copy, and the originals are not wanted

    def _rewrite(self, key: str, source: str, listings: list[Any]) -> DatasetFile:
        job = self._job
        layout = job.layout
        target = keys.join(job.output, key)
        if key == layout.yaml:
            text = storage.read_bytes(source, job.max_bytes).decode("utf-8")

            def in_output(relative: str) -> bool:
                role = classify(relative.rstrip("/") + "/x.jpg", layout)
                return job.include_originals or layout.augments(role.split)

            data = yolo.rewrite_data_yaml(text, job.output, source[: -len(key)], in_output)
            return _written_file(target, data.encode())
        if not listings:
            return DatasetFile(target, *storage.copy(source, target))  # another split's
        if key in layout.lists:
            text = storage.read_bytes(source, job.max_bytes).decode("utf-8", errors="replace")
            added: dict[int, list[str]] = {}
            for line, _, text_line in sorted(listings):
                added.setdefault(line, []).append(text_line)
            return _written_file(target, voc.rewrite_list(text, added, job.include_originals))
        index = next(c for c in layout.coco if c.key == key)
        rename = (lambda name, c: job.copy_key(name, c)) if index.panoptic_dir else None
        with storage.open_atomic(target) as out:
            hashed = storage.Hashed(out)
            coco.rewrite(
                lambda: storage.open_read(source), hashed, listings, job.include_originals, rename
            )
        return DatasetFile(target, hashed.size, hashed.sha256)


@dataclass(frozen=True)
class DatasetFile:
    """A file of the output dataset that is not a copy (an index file, another file), as the
    completion marker records it for `verify`."""

    uri: str
    size: int
    sha256: str


def _written_file(target: str, data: bytes | str) -> DatasetFile:
    raw = data.encode() if isinstance(data, str) else data
    storage.write_bytes(target, raw)
    return DatasetFile(target, len(raw), hashlib.sha256(raw).hexdigest())


class CopyFile(beam.DoFn):
    """Copies a file of the dataset that is neither image nor label (README, classes.txt) with
    --include_originals, so the output is a complete dataset."""

    copied = Metrics.counter(NAMESPACE, "copied_files")

    def __init__(self, job: BlurJob) -> None:
        self._job = job

    def process(self, member: Member) -> Iterator[DatasetFile]:
        target = keys.join(self._job.output, member.key)
        keys.check_key(member.key)
        with stage("write"):
            copied = DatasetFile(target, *storage.copy(member.path, target))
        self.copied.inc()
        yield copied


class BlurImages(beam.PTransform):
    """--input -> (log rows, error rows, written dataset files): match and classify, bring each
    image together with its labels (the GroupByKey also spreads images over workers), blur and
    write every copy, then rewrite the index files from what was written. Shards (.tar,
    .parquet) go to BlurShard, one per worker, after a Reshuffle of their own."""

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
                    MatchInputs.INDEX,
                    MatchInputs.OTHER,
                    MatchInputs.SHARDS,
                    ManifestInputs.ERRORS,
                    main="members",
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
                    MatchInputs.INDEX, MatchInputs.OTHER, MatchInputs.SHARDS, main="members"
                )
            )
            listing_errors = []
        shards = (
            matched[MatchInputs.SHARDS]
            | "SpreadShards" >> beam.Reshuffle()  # a worker per shard
            | "BlurShard" >> beam.ParDo(BlurShard(job)).with_outputs(BlurShard.ERRORS, main="rows")
        )
        index_files = matched[MatchInputs.INDEX] | "SpreadIndexFiles" >> beam.Reshuffle()
        entries = index_files | "ReadIndex" >> beam.ParDo(ReadIndex(job)).with_outputs(
            ReadIndex.ERRORS, main="entries"
        )
        sample_inputs = [matched.members, entries.entries]
        if job.numbered:  # only numbered copies (name_blur{k}.ext) can take another's name
            sample_inputs.append(
                matched.members
                | "ClaimOutputs" >> beam.FlatMap(claimed_outputs, job)
                | "GroupClaims" >> beam.GroupByKey()
                | "Clashes" >> beam.FlatMap(clashing_claims)
            )
        blurred = (
            tuple(sample_inputs)
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
            blurred[BlurImage.ERRORS], shards[BlurShard.ERRORS], entries[ReadIndex.ERRORS],
            *listing_errors,
        ) | "AllErrors" >> beam.Flatten()  # fmt: skip
        rows = (blurred.rows, shards.rows) | "AllRows" >> beam.Flatten()
        files = (rewritten, copied) | "DatasetFiles" >> beam.Flatten()
        return {"rows": rows, "errors": errors, "files": files}
