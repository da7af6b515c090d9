"""A sample's plan, as a value: from the job and a sample's members (its images, label files,
masks and index entries), which split each image is in, which copies it gets, where each copy
and its label files go, what would stop a copy (its labels, a name another input takes), and
what the index files must list for each copy once it is written. Pure: no storage, no Beam;
the sample step fetches, asks for the plan, makes the copies and writes them.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from blur_augment.transforms import keys
from blur_augment.transforms.errors import StageError, failing_as
from blur_augment.transforms.job import ORIGINAL_COPY, BlurJob
from blur_augment.transforms.labels import coco, voc, yolo
from blur_augment.transforms.labels.errors import LabelError
from blur_augment.transforms.labels.layout import IMAGE, LABEL, MASK
from blur_augment.transforms.sampling import UNBLURRED, BlurParams

ENTRY = "entry"  # a member that is a line of an index file (COCO JSON image, VOC list line)
CLASH = "clash"  # a copy of an image whose output name another input's output takes too
ANNOTATION = "annotation"  # --object_blur: a COCO annotation of the image (its JSON in `rest`)


@dataclass(frozen=True)
class Member:
    """One thing that belongs to a sample: an image, a label or mask file, an index entry, or
    a clash (a copy whose name another input takes).

    Files carry their key and path; entries carry the index file they come from (`index`) and
    what identifies them there: a COCO image id and file_name, or a VOC list line."""

    kind: str
    key: str
    path: str = ""
    split: str = ""
    index: str = ""
    image_id: int = 0
    line: int = 0  # a VOC list line's number; an annotation's ordinal in its image
    rest: str = ""  # the rest of a VOC list line; an annotation's JSON
    problem: str = ""  # why an entry cannot describe its image, or why a copy clashes
    copy_index: int = 0  # a CLASH: the copy whose name is taken


class OutputClash(ValueError):
    """Two inputs whose outputs would take one name: neither is written (no overwrite)."""


@dataclass(frozen=True)
class CopyPlan:
    """One output of an image: where it and its label files go, why it may not be made (its
    name is another input's), and what index files list for it once it is written."""

    copy_index: int
    output_uri: str
    label_uris: tuple[str, ...]
    clash: str = ""
    listings: tuple[tuple[str, Any], ...] = ()  # (index file key, what to add)
    params: BlurParams = UNBLURRED  # its blur, drawn once here and carried to its log row


@dataclass(frozen=True)
class ImagePlan:
    """One image of a sample that gets outputs."""

    image: Member
    split: str
    augmented: bool  # its split gets blurred copies (else only its original is kept)
    unlisted: bool  # a COCO image that no JSON of its split lists
    problem: LabelError | None  # its index entries cannot describe it (shared id, listed twice)
    unsafe: keys.UnsafeKeyError | None  # its key could write outside --output
    copies: tuple[CopyPlan, ...]
    annotations: tuple[Member, ...] = ()  # --object_blur: its COCO annotations, in order


@dataclass(frozen=True)
class SamplePlan:
    """Every image of a sample with its outputs, the sample's label files and masks, and what
    is reported about it."""

    images: tuple[ImagePlan, ...]
    files: tuple[Member, ...]  # label files and masks, copied under each copy's name
    left_out: int = 0  # images of splits that are not written
    shared_labels: LabelError | None = None  # several images claim the same label files
    orphans: int = 0  # label files and index entries whose image does not exist


def plan_sample(job: BlurJob, members: Iterable[Member]) -> SamplePlan:
    """The plan of one sample (every member that shares its sample id)."""
    ordered = sorted(members, key=lambda m: (m.kind, m.key, m.index, m.line))
    images = [m for m in ordered if m.kind == IMAGE]
    files = tuple(m for m in ordered if m.kind in (LABEL, MASK))
    entries = [m for m in ordered if m.kind == ENTRY]
    annotations = [m for m in ordered if m.kind == ANNOTATION]
    clashes = {(m.key, m.copy_index): m.problem for m in ordered if m.kind == CLASH}
    if not images:
        listed = {(e.index, e.key) for e in entries}
        return SamplePlan((), files, orphans=len(files) + len(listed))
    shared = None
    if files and len(images) > 1:
        shared = LabelError(
            f"{len(images)} images ({', '.join(i.key for i in images)}) share the label files "
            f"{', '.join(f.key for f in files)}"
        )
    planned = [
        _image_plan(job, image, files, entries, clashes,
                    tuple(a for a in annotations if a.key == image.key))
        for image in images
    ]  # fmt: skip
    kept = tuple(p for p in planned if p.copies)
    return SamplePlan(kept, files, len(planned) - len(kept), shared)


def _image_plan(
    job: BlurJob,
    image: Member,
    files: tuple[Member, ...],
    entries: list[Member],
    clashes: dict[tuple[str, int], str],
    annotations: tuple[Member, ...] = (),
) -> ImagePlan:
    own = _own_entries(job, image, entries)
    split = _split(job, image, own)
    augmented = job.layout.augments(split)
    indices = job.copy_indices() if augmented else [ORIGINAL_COPY] if job.include_originals else []
    copies = tuple(
        CopyPlan(
            copy_index,
            keys.join(job.output, job.copy_key(image.key, copy_index)),
            tuple(keys.join(job.output, job.copy_key(f.key, copy_index)) for f in files),
            clashes.get((image.key, copy_index), ""),
            _listings(job, own, copy_index),
            job.draw(image.key, copy_index),
        )
        for copy_index in indices
    )
    try:
        keys.check_key(image.key)
        unsafe = None
    except keys.UnsafeKeyError as error:
        unsafe = error
    unlisted = job.layout.kind == "coco" and not own
    return ImagePlan(image, split, augmented, unlisted, _entry_problem(job, image, own), unsafe,
                     copies, annotations)  # fmt: skip


def _own_entries(job: BlurJob, image: Member, entries: list[Member]) -> list[Member]:
    """A VOC list line names the sample; a COCO entry its exact file (a.jpg, a.png)."""
    return [e for e in entries if e.index in job.layout.lists or e.key == image.key]


def _split(job: BlurJob, image: Member, entries: list[Member]) -> str:
    """The image's split: from its path, or (VOCdevkit) from the lists that name it."""
    if image.split or not entries:
        return image.split
    splits = sorted({e.split for e in entries if e.index in job.layout.lists})
    augmented = [s for s in splits if s in job.layout.augmented]
    return (augmented or splits or [""])[0]


def _entry_problem(job: BlurJob, image: Member, entries: list[Member]) -> LabelError | None:
    """Why the index entries cannot describe the image: an entry's own problem (an id it
    shares, no integer id), or the image listed more than once in one COCO JSON."""
    broken = [e.problem for e in entries if e.problem]
    if broken:
        return LabelError("; ".join(broken))
    listed = [e.index for e in entries if e.index not in job.layout.lists]
    twice = sorted({i for i in listed if listed.count(i) > 1})
    if not twice:
        return None
    ids = [e.image_id for e in entries if e.index in twice]
    return LabelError(
        f"{image.key} is listed more than once in {', '.join(twice)} (image ids "
        f"{', '.join(map(str, ids))}): its annotations are ambiguous"
    )


def _listings(job: BlurJob, entries: list[Member], copy_index: int) -> tuple[tuple[str, Any], ...]:
    """What the index files must add for a written copy: a COCO image entry (its source's
    id and the copy's file_name) or a VOC list line (the copy's id and the source's flag)."""
    if copy_index == ORIGINAL_COPY:
        return ()
    found: list[tuple[str, Any]] = []
    for entry in entries:
        if entry.index in job.layout.lists:
            line = job.copy_key(entry.key, copy_index) + entry.rest
            found.append((entry.index, (entry.line, copy_index, line)))
        else:
            image_dir = next(c.image_dir for c in job.layout.coco if c.key == entry.index)
            name = job.copy_key(entry.key, copy_index)[len(image_dir) :]
            found.append((entry.index, coco.CopyEntry(entry.image_id, copy_index, name)))
    return tuple(found)


def label_problem(member: Member, data: bytes) -> LabelError | None:
    """Why a label file cannot be used (None: it can): a YOLO file whose rows are not rows, a
    VOC XML that is not an annotation. Masks are copied as they are and never parsed."""
    if member.kind != LABEL:
        return None
    try:
        if member.key.endswith(".txt"):
            yolo.check_label(data)
        else:
            voc.rename_annotation(data, "check", None)
    except LabelError as error:
        return LabelError(f"{member.key}: {error}")
    return None


def refusal(
    plan: ImagePlan, copy: CopyPlan, labels: LabelError | None, labels_whole: bool
) -> StageError | None:
    """Why a copy is not made, though its image could be: its labels (an original is still
    copied as it is when all its label files could be read), or its name taken."""
    problem = labels or plan.problem
    if problem is not None and (copy.copy_index != ORIGINAL_COPY or not labels_whole):
        return StageError("labels", problem)
    if copy.clash:
        return StageError("write", OutputClash(copy.clash))
    return None


def copy_label_files(
    files: tuple[Member, ...], copy: CopyPlan, contents: dict[str, bytes]
) -> list[tuple[str, bytes]]:
    """Each label file and mask of a copy, where it goes and its bytes: the source's, a VOC XML
    renamed to the copy."""
    made = []
    for member, label_uri in zip(files, copy.label_uris, strict=True):
        data = contents[member.key]
        if member.kind == LABEL and member.key.endswith(".xml") and copy.copy_index >= 0:
            with failing_as("labels"):
                name = posixpath.basename(copy.output_uri)
                data = voc.rename_annotation(data, name, copy.output_uri)
        made.append((label_uri, data))
    return made
