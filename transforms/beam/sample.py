"""The sample step: one sample (an image with its label files, masks and index entries) at a
time. Fetch what its plan needs (on a reader thread), make every copy (`make_copies`), write
each copy with its label files (on a writer thread) and yield one log row per written copy.

No exception of one image escapes: every failure becomes an error row naming the stage and
the reason, and the run goes on. A copy's row is yielded once its write is done, so the log
never names a file that is not there; what index files must list goes to `listings`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import apache_beam as beam
from apache_beam.pvalue import TaggedOutput

from blur_augment.transforms import codec, imaging, jpeg_planes
from blur_augment.transforms.beam.counters import COUNTERS
from blur_augment.transforms.beam.index import annotation_join_key
from blur_augment.transforms.beam.overlap import Overlap, Where, where_of, windowed
from blur_augment.transforms.copies import (
    ImageCopies,
    Scene,
    decode_path,
    draw_objects,
    log_row,
    make_copies,
)
from blur_augment.transforms.errors import StageError, error_row
from blur_augment.transforms.io import progress, storage
from blur_augment.transforms.io.failures import is_transient, stage
from blur_augment.transforms.job import BlurJob
from blur_augment.transforms.labels.errors import LabelError
from blur_augment.transforms.labels.layout import LABEL
from blur_augment.transforms.objects import Labels, is_instance_mask
from blur_augment.transforms.plan import (
    CopyPlan,
    ImagePlan,
    Member,
    SamplePlan,
    copy_label_files,
    label_problem,
    plan_sample,
    refusal,
)
from blur_augment.transforms.tuning import tune_worker_process

READ_AHEAD = 6  # samples whose reads run while earlier samples are blurred
WRITE_THREADS = 8
WRITE_BEHIND = 16  # copies whose writes may still run while later ones are blurred
WRITE_BEHIND_BYTES = 256 << 20  # ... and at most this much of their bytes


@dataclass
class Fetched:
    """A sample's plan with what it needs from storage: its label files' bytes (and the first
    problem found in them), and each image's bytes or the exception its read raised."""

    plan: SamplePlan
    contents: dict[str, bytes] = field(default_factory=dict)
    labels: LabelError | None = None
    sources: dict[str, bytes | BaseException] = field(default_factory=dict)


@dataclass(frozen=True)
class Written:
    """What to yield once a copy's write is done: its row, what index files list for it, and
    (--object_blur) its objects' rows."""

    row: dict[str, Any]
    copy: CopyPlan
    source_uri: str
    objects: tuple[tuple[str, dict[str, Any]], ...] = ()


class BlurSample(beam.DoFn):
    """(sample id, its members) -> a log row per written copy; error rows (`errors`) and what
    the index files must list (`listings`, as (index key, entry))."""

    ERRORS = "errors"
    LISTINGS = "listings"
    OBJECTS = "objects"  # --object_blur: (join key to a COCO annotation id or "", object row)

    def __init__(self, job: BlurJob) -> None:
        self._job = job
        self._done: progress.Counter | None = None
        self._overlap = Overlap(READ_AHEAD, WRITE_THREADS, WRITE_BEHIND, WRITE_BEHIND_BYTES)

    def setup(self) -> None:
        tune_worker_process()
        self._done = progress.counter(self._job.progress_dir, progress.DONE)
        self._overlap.start()

    def start_bundle(self) -> None:
        self._overlap.reset()

    def process(
        self,
        element: tuple[str, Iterable[Member]],
        timestamp: Any = beam.DoFn.TimestampParam,
        window: Any = beam.DoFn.WindowParam,
    ) -> Iterator[Any]:
        _, members = element
        self._overlap.read(self._fetch, list(members), where=where_of(timestamp, window))
        yield from self._drain(everything=False)

    def finish_bundle(self) -> Iterator[Any]:
        yield from self._drain(everything=True)
        if self._done:
            self._done.flush()

    def teardown(self) -> None:
        self._overlap.stop()

    def _drain(self, everything: bool) -> Iterator[Any]:
        for fetched, where in self._overlap.fetched(everything):
            yield from windowed(self._sample(fetched, where), where)
            yield from self._settled(everything=False)
        if everything:
            yield from self._settled(everything=True)

    def _settled(self, everything: bool) -> Iterator[Any]:
        """Rows (and listings) of finished writes, or their error rows. A failure that is not
        the image's (transient, infrastructure) fails the bundle, for a retry."""
        for written, failure, where in self._overlap.settled(everything):
            if failure is not None and not isinstance(failure, StageError):
                raise failure
            if failure is not None:
                COUNTERS.failed.inc()
                row = written.row
                outputs: list[Any] = [TaggedOutput(self.ERRORS, error_row(
                    row["key"], written.source_uri, row["copy_index"], failure.stage,
                    failure.cause,
                ))]  # fmt: skip
            else:
                outputs = list(self._written(written.row, written.copy, written.objects))
            yield from windowed(outputs, where)

    # -- a reader thread's part --------------------------------------------------------------

    def _fetch(self, members: list[Member]) -> Fetched:
        """Every read the sample's plan needs, nothing else (Beam's counters belong to the
        DoFn's own thread). A transient failure of a label read raises here and fails the
        bundle where the result is taken; an image's read failure is kept for its error row."""
        plan = plan_sample(self._job, members)
        fetched = Fetched(plan)
        if not plan.images:
            return fetched
        if plan.shared_labels is not None:
            fetched.labels = plan.shared_labels
        else:
            fetched.contents, fetched.labels = self._read_labels(plan.files)
        for image in plan.images:
            if image.unsafe is None:
                try:
                    fetched.sources[image.image.key] = storage.read_bytes(
                        image.image.path, self._job.max_bytes
                    )
                except Exception as error:
                    fetched.sources[image.image.key] = error
        return fetched

    def _read_labels(self, files: tuple[Member, ...]) -> tuple[dict[str, bytes], LabelError | None]:
        """Each label file's bytes, and the first problem found in them: a file that cannot be
        read or parsed fails the copies, not the run."""
        contents: dict[str, bytes] = {}
        problem: LabelError | None = None
        for member in files:
            try:
                contents[member.key] = storage.read_bytes(member.path, self._job.max_bytes)
            except Exception as error:
                if is_transient(error):
                    raise
                problem = problem or LabelError(f"{member.key} cannot be read: {error}")
                continue
            problem = problem or label_problem(member, contents[member.key])
        return contents, problem

    # -- the DoFn's thread -------------------------------------------------------------------

    def _sample(self, fetched: Fetched, where: Where) -> Iterator[Any]:
        plan = fetched.plan
        COUNTERS.orphan_labels.inc(plan.orphans)
        COUNTERS.not_augmented.inc(plan.left_out)
        if self._done:
            self._done.add(plan.left_out)
        for image in plan.images:
            yield from self._image(image, fetched, where)
            if self._done:
                self._done.add()

    def _image(self, plan: ImagePlan, fetched: Fetched, where: Where) -> Iterator[Any]:
        (COUNTERS.augmented_images if plan.augmented else COUNTERS.kept_images).inc()
        if plan.unlisted:
            COUNTERS.unlisted_images.inc()  # written, but no JSON of its split lists it
        image = plan.image
        try:
            source = self._source(plan, fetched)
            resumed = self._resumed(plan, source, fetched)
            draws = {copy.copy_index: copy.params for copy in plan.copies}
            copies = None if resumed else make_copies(
                self._job, image.key, source, codec.format_for_path(image.key), draws,
                self._labels(plan, fetched),
            )  # fmt: skip
            if copies is not None and copies.failure is not None:
                raise copies.failure
        except StageError as error:
            for copy in plan.copies:
                yield self._failed(image, copy.copy_index, error)
            return
        if resumed:
            COUNTERS.resumed_images.inc()
            for (row, objects), copy in zip(resumed, plan.copies, strict=True):
                yield from self._written(row, copy, objects)
            return
        assert copies is not None
        if copies.planar:
            COUNTERS.planar_jpegs.inc()
        yield from self._copies(plan, copies, fetched, where)

    def _source(self, plan: ImagePlan, fetched: Fetched) -> bytes:
        """The image's bytes, or the StageError its key or its read gives."""
        if plan.unsafe is not None:
            raise StageError("write", plan.unsafe)
        with stage("read"):
            source = fetched.sources[plan.image.key]
            if isinstance(source, BaseException):
                raise source
        return source

    def _copies(
        self, plan: ImagePlan, copies: ImageCopies, fetched: Fetched, where: Where
    ) -> Iterator[Any]:
        """Each copy made and handed to a writer thread, or its error row."""
        whole = all(f.key in fetched.contents for f in fetched.plan.files)
        for copy in plan.copies:
            try:
                refused = refusal(plan, copy, fetched.labels, whole)
                if refused is not None:
                    raise refused
                if self._job.resume and self._already_written(copy):
                    row, objects = self._logged_again(
                        plan, copy, copies.source, copies.properties, fetched, copies.scene
                    )
                    yield from self._written(row, copy, objects)  # fmt: skip
                    continue
                self._start_write(plan, copy, copies, fetched, where)
            except StageError as error:
                yield self._failed(plan.image, copy.copy_index, error)

    def _start_write(
        self, plan: ImagePlan, copy: CopyPlan, copies: ImageCopies, fetched: Fetched,
        where: Where,
    ) -> None:  # fmt: skip
        """Make one copy here (blur, encode, its label files' bytes) and hand its writes to a
        writer thread; its row waits for them."""
        output = copies.make(copy.copy_index)
        labels = copy_label_files(fetched.plan.files, copy, fetched.contents)
        assert copies.properties is not None
        row, objects = self._row(plan, copy, len(copies.source), copies.properties, output,
                                 labels, copies.scene)  # fmt: skip
        self._overlap.write(store_copy, copy.output_uri, output, labels,
                            payload=Written(row, copy, plan.image.path, objects), where=where,
                            size=len(output))  # fmt: skip

    def _failed(self, image: Member, copy_index: int, error: StageError) -> TaggedOutput:
        COUNTERS.failed.inc()
        return TaggedOutput(
            self.ERRORS, error_row(image.key, image.path, copy_index, error.stage, error.cause)
        )

    def _written(
        self, row: dict[str, Any], copy: CopyPlan, objects: Iterable[tuple[str, dict]] = ()
    ) -> Iterator[Any]:
        """A written copy's log row, what the index files must list for it, and its objects'
        rows."""
        COUNTERS.written.inc()
        yield row
        for index_key, listing in copy.listings:
            yield TaggedOutput(self.LISTINGS, (index_key, listing))
        for item in objects:
            yield TaggedOutput(self.OBJECTS, item)

    def _row(
        self,
        plan: ImagePlan,
        copy: CopyPlan,
        source_bytes: int,
        props: codec.Properties,
        output: bytes,
        labels: list[tuple[str, bytes]],
        scene: Scene | None,
    ) -> tuple[dict[str, Any], tuple[tuple[str, dict[str, Any]], ...]]:
        """The log row of a copy and its objects' rows. Everything but the output's own bytes
        follows from the sampler, the source's properties and its labels, so a resumed run
        rebuilds them exactly."""
        image = plan.image
        blurred = len(scene.moving(copy.copy_index)) if scene is not None else 0
        row = log_row(self._job, image.key, image.path, copy.output_uri, source_bytes, props,
                      copy.copy_index, copy.params, output, labels,
                      objects_blurred=blurred)  # fmt: skip
        row["split"] = plan.split
        if scene is None:
            return row, ()
        joins = [annotation_join_key(a.index, a.image_id, copy.copy_index, a.line)
                 for a in plan.annotations] or [""] * len(scene.found)  # fmt: skip
        made = {"key": image.key, "copy_index": copy.copy_index, "output_uri": copy.output_uri,
                "annotation_id": None}  # fmt: skip
        rows = scene.rows(copy.copy_index)
        return row, tuple((join, {**made, **r}) for join, r in zip(joins, rows, strict=True))

    def _labels(self, plan: ImagePlan, fetched: Fetched) -> Labels | None:
        """--object_blur: the image's own labels (its label files and COCO annotations)."""
        if not self._job.objects:
            return None
        files = tuple((f.key, fetched.contents[f.key]) for f in fetched.plan.files
                      if (f.kind == LABEL or is_instance_mask(f.key))
                      and f.key in fetched.contents)  # fmt: skip
        annotations = tuple(json.loads(a.rest) for a in plan.annotations)
        return Labels(files, annotations, self._job.layout.keypoints)

    def _scene(self, plan: ImagePlan, fetched: Fetched, props: codec.Properties) -> Scene | None:
        """The image's objects and their draws, without its pixels (--resume)."""
        labels = self._labels(plan, fetched)
        draws = draw_objects(self._job, plan.image.key, labels, [c.copy_index for c in plan.copies])
        return Scene.of(labels, props, draws) if labels is not None and draws else None

    # -- --resume ----------------------------------------------------------------------------

    def _already_written(self, copy: CopyPlan) -> bool:
        """Whether a copy and its label files are in place (writes are atomic, so a file at its
        final path is whole)."""
        return all(storage.exists(uri) for uri in (copy.output_uri, *copy.label_uris))

    def _resumed(
        self, plan: ImagePlan, source: bytes, fetched: Fetched
    ) -> list[tuple[dict[str, Any], tuple]]:
        """The rows of an image whose copies a killed run already wrote, from the sampler, the
        source's properties (its header, for a JPEG) and the outputs' bytes; nothing is
        blurred, encoded or written again. [] when it is to be made (afresh)."""
        job = self._job
        problem = fetched.labels or plan.problem
        if not job.resume or problem is not None:
            return []
        if not all(self._already_written(copy) for copy in plan.copies):
            return []
        try:
            header = codec.header_properties(source)
            props = header
            if props is None:
                with stage("decode"):
                    props = codec.properties(codec.decode(source, job.max_pixels))
            with stage("labels"):
                scene = self._scene(plan, fetched, props)
            moving = scene is not None and any(scene.moving(c.copy_index) for c in plan.copies)
            if header is not None and imaging.takes_planes(
                source,
                codec.format_for_path(plan.image.key),
                decode_path(job, [c.params for c in plan.copies], moving),
            ):
                props = dataclasses.replace(props, codec_path=jpeg_planes.PATH_PLANES)
            return [self._logged_again(plan, c, source, props, fetched, scene)
                    for c in plan.copies]  # fmt: skip
        except StageError:
            return []  # the source changed: make it afresh

    def _logged_again(
        self,
        plan: ImagePlan,
        copy: CopyPlan,
        source: bytes,
        props: codec.Properties | None,
        fetched: Fetched,
        scene: Scene | None,
    ) -> tuple[dict[str, Any], tuple]:
        """--resume: the row of a copy a killed run already wrote, from its bytes."""
        assert props is not None
        with stage("read"):
            output = storage.read_bytes(copy.output_uri, self._job.max_bytes)
        labels = copy_label_files(fetched.plan.files, copy, fetched.contents)
        return self._row(plan, copy, len(source), props, output, labels, scene)


def store_copy(output_uri: str, output: bytes, labels: list[tuple[str, bytes]]) -> None:
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
