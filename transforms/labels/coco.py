"""COCO JSON (instances, keypoints, captions, panoptic): read and rewritten as streams.

A train2017-size file (118k images, 860k annotations, ~450 MB) does not fit comfortably in a
worker as Python objects (json.load needs several GB), so both directions stream through ijson:
one pass gathers everything but the annotations (and their largest id), a second pass copies
the annotations one by one, each followed by its copies. Memory is bounded by the images list.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from typing import IO, Any

import ijson

from blur_augment.transforms.labels.errors import LabelError


@dataclass(frozen=True)
class CopyEntry:
    """One written copy to list: its source's image id, its copy index and its file_name."""

    source_id: int
    copy_index: int
    file_name: str


MAX_JSON_DEPTH = 64  # COCO nests 5 deep (annotations.item.segmentation.item.item); 64 is ample


def events(stream: IO[bytes]) -> Iterator[tuple[str, str, Any]]:
    """ijson's (prefix, event, value) events, from its C tokenizer's basic events, refusing a
    document nested deeper than MAX_JSON_DEPTH: ijson's own prefixes cost memory quadratic in
    the depth (a 200 KB file nested 100,000 deep takes gigabytes), these stay bounded."""
    containers: list[tuple[str, bool]] = []  # (the container's own prefix, is an array)
    prefix = ""  # the prefix of the next value
    try:
        for event, value in ijson.basic_parse(stream, use_float=True):
            if event == "map_key":
                parent = containers[-1][0]
                yield parent, event, value
                prefix = f"{parent}.{value}" if parent else value
            elif event == "start_map" or event == "start_array":
                yield prefix, event, value
                if len(containers) >= MAX_JSON_DEPTH:
                    raise LabelError(
                        f"the JSON is nested more than {MAX_JSON_DEPTH} levels deep (at "
                        f"{prefix or 'the top'}); refused rather than read"
                    )
                array = event == "start_array"
                containers.append((prefix, array))
                if array:
                    prefix = f"{prefix}.item" if prefix else "item"
            elif event == "end_map" or event == "end_array":
                own, _ = containers.pop()
                yield own, event, value
                if containers and containers[-1][1]:
                    prefix = f"{containers[-1][0]}.item" if containers[-1][0] else "item"
            else:
                yield prefix, event, value
    except ijson.JSONError as error:
        raise LabelError(f"COCO JSON is not valid JSON: {error}") from error


def iter_images(stream: IO[bytes]) -> Iterator[Any]:
    """The `images` entries of a COCO JSON, streamed, as they are (an entry may be anything);
    stops reading once the array ends."""
    builder: ijson.ObjectBuilder | None = None
    for prefix, event, value in events(stream):
        if prefix == "images" and event == "end_array":
            return
        if prefix == "images.item" and builder is None:
            if event in ("start_map", "start_array"):
                builder = ijson.ObjectBuilder()
            else:  # a scalar entry
                yield value
                continue
        if builder is not None:
            builder.event(event, value)
            if prefix == "images.item" and event in ("end_map", "end_array"):
                yield builder.value
                builder = None


@dataclass(frozen=True)
class ImageEntry:
    """An image entry of a COCO JSON that names a file, with what is wrong with it ("" when
    nothing is): an id that is no integer, or one it shares with another entry."""

    position: int  # its index in the images array
    image_id: int | None
    file_name: str
    problem: str = ""


def usable_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def image_entries(stream: IO[bytes], json_key: str) -> Iterator[ImageEntry | LabelError]:
    """Every entry of `images`, one by one: an ImageEntry for each that names a file (with its
    problem, if any), a LabelError (naming the file and the entry) for each that names none.
    Ids are checked over the whole array, so two images sharing an id are both refused."""
    found: list[ImageEntry | LabelError] = []
    first_with_id: dict[int, int] = {}
    shared: set[int] = set()
    for position, entry in enumerate(iter_images(stream)):
        where = f"{json_key}: images[{position}]"
        if not isinstance(entry, dict):
            found.append(LabelError(f"{where} is {type(entry).__name__}, not an object"))
            continue
        try:
            name = checked_file_name(entry)
        except LabelError as error:
            found.append(LabelError(f"{where}: {error}"))
            continue
        image_id = entry.get("id")
        if not usable_id(image_id):
            problem = f"{where} (file_name {name!r}) has no integer id (id: {image_id!r})"
            found.append(ImageEntry(position, None, name, problem))
            continue
        if image_id in first_with_id:
            shared.add(image_id)
        first_with_id.setdefault(image_id, position)
        found.append(ImageEntry(position, image_id, name))
    sharing: dict[int, list[ImageEntry]] = {}
    for item in found:
        if isinstance(item, ImageEntry) and item.image_id in shared:
            sharing.setdefault(item.image_id, []).append(item)
    for item in found:
        if isinstance(item, ImageEntry) and item.image_id in sharing:
            yield _sharing_an_id(item, sharing[item.image_id], json_key)
        else:
            yield item


def _sharing_an_id(item: ImageEntry, sharers: list[ImageEntry], json_key: str) -> ImageEntry:
    """An entry whose id another entry has too, with that problem."""
    others = ", ".join(
        f"images[{e.position}] ({e.file_name!r})" for e in sharers if e.position != item.position
    )
    problem = (
        f"{json_key}: images[{item.position}] (file_name {item.file_name!r}) shares id "
        f"{item.image_id} with {others}: its size and annotations are ambiguous"
    )
    return ImageEntry(item.position, item.image_id, item.file_name, problem)


def checked_file_name(entry: dict[str, Any]) -> str:
    """An image entry's file_name, refused if it could point outside its image folder."""
    name = entry.get("file_name")
    if not isinstance(name, str) or not name:
        raise LabelError(f"COCO image id {entry.get('id')!r} has no file_name")
    normal = posixpath.normpath(name)
    if name.startswith("/") or normal.startswith("..") or "\x00" in name:
        raise LabelError(
            f"COCO image id {entry.get('id')!r} has file_name {name!r}, which points outside "
            "its image folder"
        )
    return name


def _head(stream: IO[bytes]) -> tuple[dict[str, Any], int, bool]:
    """Every top-level member except `annotations` (built), the largest annotation id, and
    whether the file has an annotations array at all."""
    top: dict[str, Any] = {}
    builder: ijson.ObjectBuilder | None = None
    key: str | None = None
    max_annotation_id = 0
    has_annotations = False
    try:
        for prefix, event, value in events(stream):
            if prefix == "" and event == "map_key":
                key = value
                has_annotations = has_annotations or value == "annotations"
                builder = None if value == "annotations" else ijson.ObjectBuilder()
                continue
            if builder is not None:
                builder.event(event, value)
                if prefix == key and event in (
                    "end_map",
                    "end_array",
                    "string",
                    "number",
                    "boolean",
                    "null",
                ):
                    top[key] = builder.value
                    builder = None
            elif prefix == "annotations.item.id" and usable_id(value):
                max_annotation_id = max(max_annotation_id, value)
    except ijson.JSONError as error:
        raise LabelError(f"COCO JSON is not valid JSON: {error}") from error
    return top, max_annotation_id, has_annotations


def _image_id_of(annotation: Any) -> int | None:
    """An annotation's image_id when it can name an image (an object as image_id, or an
    annotation that is no object, names none: it is carried, never copied)."""
    if not isinstance(annotation, dict):
        return None
    value = annotation.get("image_id")
    return value if usable_id(value) else None


def image_annotations(
    stream: IO[bytes], wanted: Collection[int]
) -> Iterator[tuple[int, int, dict[str, Any]]]:
    """The annotations of the images `wanted` (by id), streamed: (image id, its ordinal among
    that image's annotations in the file's order, the annotation). The ordinal is what
    `rewrite` reports for the annotation's copies (`on_copy`), so the two can be joined."""
    seen: dict[int, int] = {}
    try:
        for annotation in ijson.items(stream, "annotations.item", use_float=True):
            image_id = _image_id_of(annotation)
            if image_id is None:
                continue
            ordinal = seen.get(image_id, 0)
            seen[image_id] = ordinal + 1
            if image_id in wanted:
                yield image_id, ordinal, annotation
    except ijson.JSONError as error:
        raise LabelError(f"COCO JSON is not valid JSON: {error}") from error


def is_object(annotation: dict[str, Any]) -> bool:
    """Whether an annotation outlines an object (a box or a segmentation), unlike a caption."""
    return bool(annotation.get("bbox")) or bool(annotation.get("segmentation"))


def _unique(ids: list[int]) -> set[int]:
    seen: set[int] = set()
    twice: set[int] = set()
    for value in ids:
        (twice if value in seen else seen).add(value)
    return seen - twice


def rewrite(
    open_source: Callable[[], IO[bytes]],
    out: IO[bytes],
    copies: list[CopyEntry],
    include_originals: bool,
    rename_mask: Callable[[str, int], str] | None = None,
    on_copy: Callable[[int, int, int, int], None] | None = None,
) -> dict[str, int]:
    """Write the COCO JSON for the output: every original entry (with --include_originals),
    and for each copy an image entry (a new id above the file's largest, its file_name, the
    source's size and fields) and a copy of each of its source's annotations (new ids, the new
    image_id; everything else unchanged). A panoptic annotation's `file_name` (its PNG) becomes
    `rename_mask(file_name, copy_index)`, the mask copied beside it. `on_copy(source image
    id, the annotation's ordinal in its image, copy index, new id)` hears of each copied
    annotation that has an id. Two streaming passes."""
    with open_source() as stream:
        top, max_annotation_id, has_annotations = _head(stream)
    images = top.pop("images", [])
    images = images if isinstance(images, list) else []
    new_images, new_ids = _copied_images(images, copies)
    counts = {"images": 0, "annotations": 0, "copied_annotations": 0}
    out.write(b"{")
    for key, value in top.items():
        out.write(_dump(key) + b":" + _dump(value) + b",")
    out.write(b'"images":[')
    listed = (images if include_originals else []) + new_images
    for i, image in enumerate(listed):
        out.write((b"," if i else b"") + _dump(image))
    counts["images"] = len(listed)
    out.write(b"]")
    if has_annotations:
        out.write(b',"annotations":[')
        with open_source() as stream:
            annotations = _annotations(stream, new_ids, include_originals, max_annotation_id,
                                       rename_mask, counts, on_copy)  # fmt: skip
            for i, annotation in enumerate(annotations):
                out.write((b"," if i else b"") + annotation)
        out.write(b"]")
    out.write(b"}")
    return counts


def _dump(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _copied_images(
    images: list[Any], copies: list[CopyEntry]
) -> tuple[list[dict[str, Any]], dict[int, list[tuple[int, int]]]]:
    """The image entries of the copies (new ids above the largest), and for each source id
    its copies' (new id, copy index). Only an entry with an id of its own is copied: the
    others are error rows of their images."""
    ids = [i.get("id") for i in images if isinstance(i, dict) and usable_id(i.get("id"))]
    unique = _unique(ids)
    by_id = {i["id"]: i for i in images if isinstance(i, dict) and i.get("id") in unique}
    next_image_id = max(ids, default=0)
    new_ids: dict[int, list[tuple[int, int]]] = {}
    new_images = []
    for entry in sorted(copies, key=lambda c: (c.source_id, c.copy_index)):
        source = by_id.get(entry.source_id)
        if source is None:
            raise LabelError(f"COCO image id {entry.source_id} is not in the JSON")
        next_image_id += 1
        new_images.append({**source, "id": next_image_id, "file_name": entry.file_name})
        new_ids.setdefault(entry.source_id, []).append((next_image_id, entry.copy_index))
    return new_images, new_ids


def _annotations(
    stream: IO[bytes],
    new_ids: dict[int, list[tuple[int, int]]],
    include_originals: bool,
    max_annotation_id: int,
    rename_mask: Callable[[str, int], str] | None,
    counts: dict[str, int],
    on_copy: Callable[[int, int, int, int], None] | None = None,
) -> Iterator[bytes]:
    """Each annotation (with --include_originals) followed by its copies, as JSON bytes."""
    next_annotation_id = max_annotation_id
    ordinals: dict[int, int] = {}
    try:
        for annotation in ijson.items(stream, "annotations.item", use_float=True):
            if include_originals:
                counts["annotations"] += 1
                yield _dump(annotation)
            source_id = _image_id_of(annotation)
            if source_id is None:
                continue
            ordinal = ordinals.get(source_id, 0)
            ordinals[source_id] = ordinal + 1
            for image_id, copy_index in new_ids.get(source_id, ()):
                copy = {**annotation, "image_id": image_id}
                if "id" in annotation:
                    next_annotation_id += 1
                    copy["id"] = next_annotation_id
                    if on_copy is not None:
                        on_copy(source_id, ordinal, copy_index, next_annotation_id)
                if rename_mask is not None and isinstance(annotation.get("file_name"), str):
                    copy["file_name"] = rename_mask(annotation["file_name"], copy_index)
                counts["copied_annotations"] += 1
                yield _dump(copy)
    except ijson.JSONError as error:
        raise LabelError(f"COCO JSON is not valid JSON: {error}") from error
