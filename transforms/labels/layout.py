"""Dataset layouts as plain values, and the role of each file in one: pure string work.

The launcher decides the layout once (`pipeline.dataset.detect`); workers only call `classify`,
which tells from a key (a path relative to --input) what the file is and which sample (image and
its per-image label files) it belongs to. Files of one sample share a `sample` id, so that a
GroupByKey brings an image together with its labels, masks and index entries.
"""

from __future__ import annotations

import fnmatch
import posixpath
from dataclasses import dataclass

from blur_augment.transforms.codec import format_for_path
from blur_augment.transforms.shards import shard_kind

DATASET_KINDS = ("auto", "images", "yolo", "coco", "voc")

# Roles of a matched file.
IMAGE = "image"  # an image of the dataset: blurred (augmented split) or copied
LABEL = "label"  # a per-image annotation file (YOLO .txt, VOC .xml): copied under each copy's name
MASK = "mask"  # a per-image mask (VOC segmentation, COCO panoptic, --masks): copied byte for byte
INDEX = "index"  # a file that lists images (COCO JSON, VOC ImageSets list, data.yaml): rewritten
OTHER = "other"  # anything else (README, classes.txt): copied with --include_originals
EXCLUDED = "excluded"  # matched by --exclude: never read, never written
SHARD = "shard"  # a WebDataset .tar or a Parquet file of images (plain layout): blurred inside

VOC_MASK_DIRS = ("SegmentationClass", "SegmentationObject")


@dataclass(frozen=True)
class CocoIndex:
    """One COCO JSON: its key, the split it describes and the folder its file_names are in."""

    key: str
    split: str
    image_dir: str  # key prefix of its images, ending in "/" ("" for the root)
    panoptic_dir: str = ""  # for a panoptic JSON: key prefix of its PNGs, ending in "/"


@dataclass(frozen=True)
class Layout:
    """What --input is, decided once at launch: the kind, its splits and its index files."""

    kind: str = "images"
    variant: str = ""  # ultralytics | roboflow (yolo, coco, voc), devkit (voc), "" otherwise
    splits: tuple[str, ...] = ()
    augmented: tuple[str, ...] = ()  # the splits that get blurred copies
    masks: tuple[str, ...] = ()  # --masks patterns (plain layout)
    exclude: tuple[str, ...] = ()  # --exclude patterns
    coco: tuple[CocoIndex, ...] = ()
    lists: tuple[str, ...] = ()  # VOC ImageSets list keys
    yaml: str = ""  # YOLO data.yaml key
    keypoints: bool = False  # YOLO: data.yaml has kpt_shape (a row is a box, then keypoints)

    def augments(self, split: str) -> bool:
        """Whether images of `split` get blurred copies ("" is a dataset without splits)."""
        return split in self.augmented if self.splits else True

    def index_keys(self) -> tuple[str, ...]:
        return tuple(c.key for c in self.coco) + self.lists + ((self.yaml,) if self.yaml else ())

    def describe(self) -> dict[str, object]:
        """For the log's metadata and the run summary."""
        return {
            "kind": self.kind,
            "variant": self.variant,
            "splits": list(self.splits),
            "augmented_splits": list(self.augmented) if self.splits else [],
            "index_files": list(self.index_keys()),
            **({"keypoints": True} if self.keypoints else {}),  # YOLO pose (kpt_shape)
        }


@dataclass(frozen=True)
class Role:
    """What one file is: its role, the sample it belongs to and its split ("" if none)."""

    kind: str
    sample: str = ""
    split: str = ""


def matches_any(key: str, patterns: tuple[str, ...]) -> bool:
    """Shell-style patterns on the key; '*' also crosses '/' (so '**/x' and '*x' both work)."""
    return any(
        fnmatch.fnmatchcase(key, p) or fnmatch.fnmatchcase(key, p.lstrip("/")) for p in patterns
    )


def stem_key(key: str) -> str:
    """The key without its extension: what an image and its label files have in common."""
    return posixpath.splitext(key)[0]


def yolo_label_key(image_key: str) -> str | None:
    """Ultralytics' rule: the last '/images/' segment becomes '/labels/', the extension '.txt'."""
    padded = "/" + image_key
    at = padded.rfind("/images/")
    if at < 0:
        return None
    return (padded[:at] + "/labels/" + padded[at + len("/images/") :])[1:].rsplit(".", 1)[
        0
    ] + ".txt"


def _split_near(parts: list[str], folder: str, variant: str) -> str | None:
    """The split of a YOLO path: after 'images/' (Ultralytics) or before it (Roboflow)."""
    if folder not in parts[:-1]:
        return None
    at = len(parts) - 2 - parts[:-1][::-1].index(folder)
    if variant == "roboflow":
        return parts[at - 1] if at > 0 else ""
    return parts[at + 1] if at + 2 < len(parts) else ""


def voc_list_split(list_key: str) -> str:
    """The split a VOC ImageSets list describes: Main/train.txt and Main/cat_train.txt: train."""
    name = posixpath.splitext(posixpath.basename(list_key))[0]
    return name.rsplit("_", 1)[-1]


def classify(key: str, layout: Layout) -> Role:
    """The role of the file at `key` (relative to --input) in `layout`."""
    if matches_any(key, layout.exclude):
        return Role(EXCLUDED)
    if key in layout.index_keys():
        return Role(INDEX)
    return _BY_KIND.get(layout.kind, _plain)(key, layout)


def _yolo(key: str, layout: Layout) -> Role:
    """Images under images/ (their label: Ultralytics' rule), label files under labels/."""
    parts = key.split("/")
    if format_for_path(key) is not None:
        label = yolo_label_key(key)
        split = _split_near(parts, "images", layout.variant)
        if label is not None and split is not None:
            return Role(IMAGE, label, split)
    elif key.endswith(".txt"):
        split = _split_near(parts, "labels", layout.variant)
        if split is not None:
            return Role(LABEL, key, split)
    return Role(OTHER)


def _coco(key: str, layout: Layout) -> Role:
    """Panoptic PNGs (masks of the image of their stem), images in a JSON's image folder."""
    for index in layout.coco:
        if index.panoptic_dir and key.startswith(index.panoptic_dir) and key.endswith(".png"):
            relative = key[len(index.panoptic_dir) :]
            return Role(MASK, index.image_dir + stem_key(relative), index.split)
    if format_for_path(key) is not None:
        for index in layout.coco:
            if key.startswith(index.image_dir) and not index.panoptic_dir:
                return Role(IMAGE, stem_key(key), index.split)
    return Role(OTHER)


def _voc(key: str, layout: Layout) -> Role:
    """Roboflow's <split>/ folders, or VOCdevkit's JPEGImages, Annotations and masks."""
    parts = key.split("/")
    is_image = format_for_path(key) is not None
    if layout.variant == "roboflow":
        if len(parts) >= 2 and (is_image or key.endswith(".xml")):
            return Role(IMAGE if is_image else LABEL, stem_key(key), parts[0])
        return Role(OTHER)
    top, rest = parts[0], "/".join(parts[1:])
    if top == "JPEGImages" and is_image and rest:
        return Role(IMAGE, stem_key(rest))
    if top == "Annotations" and key.endswith(".xml") and rest:
        return Role(LABEL, stem_key(rest))
    if top in VOC_MASK_DIRS and rest:
        return Role(MASK, stem_key(rest))
    return Role(OTHER)


def _plain(key: str, layout: Layout) -> Role:
    """A folder of images: shards, --masks (paired by file stem), images, the rest."""
    if shard_kind(key):
        return Role(SHARD)
    if layout.masks and matches_any(key, layout.masks):
        return Role(MASK, posixpath.basename(stem_key(key)))
    if format_for_path(key) is not None:
        return Role(IMAGE, posixpath.basename(stem_key(key)) if layout.masks else key)
    return Role(OTHER)


_BY_KIND = {"yolo": _yolo, "coco": _coco, "voc": _voc}
