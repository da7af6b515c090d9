"""Pascal VOC: one XML per image (VOCdevkit or Roboflow's export) and ImageSets lists."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from blur_augment.transforms.labels.errors import LabelError


def rename_annotation(data: bytes, filename: str, path: str | None) -> bytes:
    """The XML for a copy: `<filename>` names the copy (and `<path>`, where present, its full
    path); every object, box, pose and flag is kept as it is."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as error:
        raise LabelError(f"VOC annotation is not well-formed XML: {error}") from error
    if root.tag != "annotation":
        raise LabelError(f"VOC annotation's root element is <{root.tag}>, not <annotation>")
    for obj in root.iter("object"):
        box = obj.find("bndbox")
        if box is None:
            continue
        try:
            [float(box.findtext(t) or "") for t in ("xmin", "ymin", "xmax", "ymax")]
        except ValueError as error:
            name = obj.findtext("name")
            raise LabelError(f"VOC object {name!r} has a non-numeric bndbox") from error
    name = root.find("filename")
    if name is None:
        name = ET.SubElement(root, "filename")
    name.text = filename
    full = root.find("path")
    if full is not None and path is not None:
        full.text = path
    return ET.tostring(root, encoding="utf-8", xml_declaration=False) + b"\n"


def list_entries(text: str) -> list[tuple[int, str, str]]:
    """(line number, image id, rest of the line) for each entry of an ImageSets list; the rest
    is the per-class flag (' 1', '-1', ' 0') or object index, kept as written."""
    entries = []
    for number, line in enumerate(text.splitlines()):
        stripped = line.rstrip()
        if not stripped:
            continue
        parts = stripped.split(None, 1)
        rest = stripped[len(parts[0]) :]
        entries.append((number, parts[0].strip(), rest))
    return entries


def rewrite_list(text: str, added: dict[int, list[str]], include_originals: bool) -> str:
    """The list with each copy's line right after its source's (`added`: line number -> the
    copies' lines); without --include_originals only the copies' lines."""
    out: list[str] = []
    for number, line in enumerate(text.splitlines()):
        if include_originals and line.strip():
            out.append(line.rstrip())
        out.extend(added.get(number, ()))
    return "\n".join(out) + ("\n" if out else "")
