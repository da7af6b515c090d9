"""COCO JSON (instances, keypoints, captions, panoptic): read and rewritten as streams.

A train2017-size file (118k images, 860k annotations, ~450 MB) does not fit comfortably in a
worker as Python objects (json.load needs several GB), so both directions stream through ijson:
one pass gathers everything but the annotations (and their largest id), a second pass copies
the annotations one by one, each followed by its copies. Memory is bounded by the images list.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import ijson

from transforms.labels.errors import LabelError


@dataclass(frozen=True)
class CopyEntry:
    """One written copy to list: its source's image id, its copy index and its file_name."""

    source_id: int
    copy_index: int
    file_name: str


def iter_images(stream: IO[bytes]) -> Iterator[dict[str, Any]]:
    """The `images` entries of a COCO JSON, streamed; stops reading once the array ends."""
    builder: ijson.ObjectBuilder | None = None
    try:
        for prefix, event, value in ijson.parse(stream, use_float=True):
            if prefix == "images" and event == "end_array":
                return
            if prefix == "images.item" and event == "start_map":
                builder = ijson.ObjectBuilder()
            if builder is not None:
                builder.event(event, value)
                if prefix == "images.item" and event == "end_map":
                    yield builder.value
                    builder = None
    except ijson.JSONError as error:
        raise LabelError(f"COCO JSON is not valid JSON: {error}") from error


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
        for prefix, event, value in ijson.parse(stream, use_float=True):
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
            elif prefix == "annotations.item.id" and isinstance(value, int):
                max_annotation_id = max(max_annotation_id, value)
    except ijson.JSONError as error:
        raise LabelError(f"COCO JSON is not valid JSON: {error}") from error
    return top, max_annotation_id, has_annotations


def rewrite(
    open_source: Callable[[], IO[bytes]],
    out: IO[bytes],
    copies: list[CopyEntry],
    include_originals: bool,
    rename_mask: Callable[[str, int], str] | None = None,
) -> dict[str, int]:
    """Write the COCO JSON for the output: every original entry (with --include_originals),
        and for each copy an image entry (a new id above the file's largest, its file_name, the
        source's size and fields) and a copy of each of its source's annotations (new ids, the new
        image_id; everything else unchanged). A panoptic annotation's `file_name` (its PNG) becomes
    `rename_mask(file_name, copy_index)`, the mask copied beside it. Two streaming passes."""
    with open_source() as stream:
        top, max_annotation_id, has_annotations = _head(stream)
    images = top.pop("images", [])
    by_id = {image["id"]: image for image in images}
    next_image_id = max((i["id"] for i in images if isinstance(i.get("id"), int)), default=0)
    new_ids: dict[int, list[tuple[int, int]]] = {}
    new_images = []
    for entry in sorted(copies, key=lambda c: (c.source_id, c.copy_index)):
        source = by_id.get(entry.source_id)
        if source is None:
            raise LabelError(f"COCO image id {entry.source_id} is not in the JSON")
        next_image_id += 1
        new_images.append({**source, "id": next_image_id, "file_name": entry.file_name})
        new_ids.setdefault(entry.source_id, []).append((next_image_id, entry.copy_index))

    def dump(value: Any) -> bytes:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()

    counts = {"images": 0, "annotations": 0, "copied_annotations": 0}
    out.write(b"{")
    for key, value in top.items():
        out.write(dump(key) + b":" + dump(value) + b",")
    out.write(b'"images":[')
    listed = (images if include_originals else []) + new_images
    for i, image in enumerate(listed):
        out.write((b"," if i else b"") + dump(image))
    counts["images"] = len(listed)
    out.write(b"]")
    if has_annotations:
        out.write(b',"annotations":[')
        first = True
        next_annotation_id = max_annotation_id
        with open_source() as stream:
            try:
                for annotation in ijson.items(stream, "annotations.item", use_float=True):
                    if include_originals:
                        out.write((b"" if first else b",") + dump(annotation))
                        first = False
                        counts["annotations"] += 1
                    for image_id, copy_index in new_ids.get(annotation.get("image_id"), ()):
                        copy = {**annotation, "image_id": image_id}
                        if "id" in annotation:
                            next_annotation_id += 1
                            copy["id"] = next_annotation_id
                        if rename_mask is not None and isinstance(annotation.get("file_name"), str):
                            copy["file_name"] = rename_mask(annotation["file_name"], copy_index)
                        out.write((b"" if first else b",") + dump(copy))
                        first = False
                        counts["copied_annotations"] += 1
            except ijson.JSONError as error:
                raise LabelError(f"COCO JSON is not valid JSON: {error}") from error
        out.write(b"]")
    out.write(b"}")
    return counts
