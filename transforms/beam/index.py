"""Index files: read into entries keyed by the sample they name (COCO JSON images, streamed,
checked one by one; VOC ImageSets lines), and written again once every copy is written (a COCO
JSON with an entry for every copy, a VOC list naming them, a data.yaml pointing into the
output). A COCO file_name that could point outside its folder, or an entry that names no image,
is an error row of its own."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
from apache_beam.pvalue import TaggedOutput

from blur_augment.transforms import keys
from blur_augment.transforms.errors import error_row
from blur_augment.transforms.io import storage
from blur_augment.transforms.io.failures import stage
from blur_augment.transforms.job import ORIGINAL_COPY, BlurJob
from blur_augment.transforms.labels import coco, voc, yolo
from blur_augment.transforms.labels.errors import LabelError
from blur_augment.transforms.labels.layout import classify, stem_key, voc_list_split
from blur_augment.transforms.plan import ANNOTATION, ENTRY, Member


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
            named: dict[int, str] = {}  # image id -> image key
            for entry in entries:
                if isinstance(entry, LabelError):  # an entry that names no image
                    yield TaggedOutput(
                        self.ERRORS,
                        error_row(index.key, index.path, ORIGINAL_COPY, "labels", entry),
                    )
                    continue
                image_key = coco_index.image_dir + entry.file_name
                if entry.image_id is not None and not entry.problem:
                    named[entry.image_id] = image_key
                yield stem_key(image_key), Member(
                    ENTRY, image_key, index=index.key, image_id=entry.image_id or 0,
                    split=coco_index.split, problem=entry.problem,
                )  # fmt: skip
            if self._job.objects:
                yield from _annotation_members(index, named)
        elif index.key in layout.lists:
            data = storage.read_bytes(index.path, self._job.max_bytes)
            text = data.decode("utf-8", errors="replace")
            split = voc_list_split(index.key)
            for line, image, rest in voc.list_entries(text):
                entry = Member(ENTRY, image, index=index.key, line=line, rest=rest, split=split)
                yield image, entry  # a VOCdevkit sample is the image id


def annotation_join_key(index_key: str, image_id: int, copy_index: int, ordinal: int) -> str:
    """What joins an object's row to its copy's annotation id in an output COCO JSON."""
    return f"{index_key}\0{image_id}\0{copy_index}\0{ordinal}"


def _annotation_members(index: Member, named: dict[int, str]) -> Iterator[tuple[str, Member]]:
    """--object_blur: each annotation of a listed image, keyed by the image's sample, with its
    ordinal in the image (a second streaming pass over the JSON)."""
    with storage.open_read(index.path) as stream:
        for image_id, ordinal, annotation in coco.image_annotations(stream, named):
            if not coco.is_object(annotation):
                continue  # a caption, a panoptic image's segments_info: no object to blur
            image_key = named[image_id]
            yield stem_key(image_key), Member(
                ANNOTATION, image_key, index=index.key, image_id=image_id, line=ordinal,
                rest=json.dumps(annotation),
            )  # fmt: skip


class RewriteIndex(beam.DoFn):
    """Writes each index file of the output once every copy is written: a COCO JSON with an
    entry for every written copy, a VOC list naming them, a data.yaml pointing into the output.
    Input: (index key, [None (the file itself), listings of written copies...])."""

    ANNOTATION_IDS = "annotation_ids"

    def __init__(self, job: BlurJob) -> None:
        self._job = job

    def process(
        self, element: tuple[str, Iterable[Any]], base: str
    ) -> Iterator[DatasetFile | TaggedOutput]:
        key, payloads = element
        listings = [p for p in payloads if p is not None]
        if listings or self._job.include_originals or key == self._job.layout.yaml:
            copied: list[tuple[int, int, int, int]] = []
            with stage("write"):  # any failure here stops the run; a full disk says so
                yield self._rewrite(key, keys.join(base, key), listings, copied)
            for source_id, ordinal, copy_index, new_id in copied:
                yield TaggedOutput(self.ANNOTATION_IDS,
                                   (annotation_join_key(key, source_id, copy_index, ordinal),
                                    new_id))  # fmt: skip
        # else: it lists no copy, and the originals are not wanted

    def _rewrite(
        self, key: str, source: str, listings: list[Any], copied: list[tuple[int, int, int, int]]
    ) -> DatasetFile:
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
            heard = (lambda *ids: copied.append(ids)) if job.objects else None
            coco.rewrite(lambda: storage.open_read(source), hashed, listings,
                         job.include_originals, rename, heard)  # fmt: skip
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
