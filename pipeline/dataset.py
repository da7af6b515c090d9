"""Which dataset layout --input is: decided once, at launch, from a few cheap probes.

Every probe lists at most a small folder (annotations/, ImageSets/) or stops at its first
match, so detection costs a handful of requests whatever the dataset's size. The result is a
plain `Layout` that every worker carries; workers never guess a layout themselves.
"""

from __future__ import annotations

import dataclasses
import posixpath

from blur_augment.pipeline.options import RunConfig
from blur_augment.pipeline.usage import UsageError
from blur_augment.transforms import keys
from blur_augment.transforms.io import storage
from blur_augment.transforms.labels import yolo
from blur_augment.transforms.labels.errors import LabelError
from blur_augment.transforms.labels.layout import CocoIndex, Layout, classify, voc_list_split

# Split folder names as exported by Roboflow and used by Ultralytics' own datasets.
COMMON_SPLITS = ("train", "valid", "val", "test")


def _probe(root: str, pattern: str) -> str | None:
    return storage.first_match(root + pattern)


def guess_kind(root: str) -> str:
    """auto: COCO JSONs, else VOC XMLs, else YOLO labels, else plain images."""
    if _probe(root, "annotations/*.json") or any(
        storage.exists(f"{root}{s}/_annotations.coco.json") for s in COMMON_SPLITS
    ):
        return "coco"
    if _probe(root, "Annotations/*.xml") or any(_probe(root, f"{s}/*.xml") for s in COMMON_SPLITS):
        return "voc"
    if (
        storage.exists(root + "data.yaml")
        or _probe(root, "labels/**")
        or any(_probe(root, f"{s}/labels/**") for s in COMMON_SPLITS)
    ):
        return "yolo"
    return "images"


def _coco(root: str) -> Layout:
    indexes = []
    for path in storage.list_files(root + "annotations/*.json"):
        key = keys.relative_key(path, root)
        stem = posixpath.splitext(posixpath.basename(key))[0]
        split = stem.rsplit("_", 1)[-1]
        image_dir = f"images/{split}/" if _probe(root, f"images/{split}/**") else f"{split}/"
        panoptic = f"annotations/panoptic_{split}/" if stem.startswith("panoptic_") else ""
        indexes.append(CocoIndex(key, split, image_dir, panoptic))
    for split in COMMON_SPLITS:
        key = f"{split}/_annotations.coco.json"
        if storage.exists(root + key):
            indexes.append(CocoIndex(key, split, f"{split}/"))
    if not indexes:
        raise UsageError(
            f"--dataset coco: no annotations/*.json nor */_annotations.coco.json in {root}"
        )
    variant = "roboflow" if indexes[0].key.endswith("_annotations.coco.json") else ""
    splits = tuple(sorted({i.split for i in indexes}))
    return Layout("coco", variant, splits, coco=tuple(indexes))


def _voc(root: str) -> Layout:
    if _probe(root, "Annotations/*.xml") or _probe(root, "JPEGImages/**"):
        lists = tuple(keys.relative_key(p, root) for p in storage.list_files(root + "ImageSets/**"))
        lists = tuple(k for k in lists if k.endswith(".txt"))
        splits = tuple(sorted({voc_list_split(k) for k in lists}))
        return Layout("voc", "devkit", splits, lists=lists)
    splits = tuple(s for s in COMMON_SPLITS if _probe(root, f"{s}/*.xml"))
    if not splits:
        raise UsageError(f"--dataset voc: no Annotations/*.xml nor <split>/*.xml in {root}")
    return Layout("voc", "roboflow", splits)


def _yolo(root: str) -> Layout:
    variant = "ultralytics" if _probe(root, "images/**") else "roboflow"
    layout = Layout("yolo", variant)
    yaml_key = "data.yaml" if storage.exists(root + "data.yaml") else ""
    splits: set[str] = set()
    if yaml_key:
        try:
            text = storage.read_bytes(root + yaml_key).decode("utf-8")
            dirs = yolo.yaml_split_dirs(text)
            keypoints = "kpt_shape" in yolo.load_yaml(text)
        except (LabelError, UnicodeDecodeError) as error:
            raise UsageError(f"{root}{yaml_key}: {error}") from error
        layout = dataclasses.replace(layout, keypoints=keypoints)
        for paths in dirs.values():
            for path in paths:
                split = classify(path.rstrip("/") + "/x.jpg", layout).split
                if split:
                    splits.add(split)
    for split in COMMON_SPLITS:
        folder = f"images/{split}/**" if variant == "ultralytics" else f"{split}/images/**"
        if _probe(root, folder):
            splits.add(split)
    return dataclasses.replace(layout, splits=tuple(sorted(splits)), yaml=yaml_key)


def default_training_splits(splits: tuple[str, ...]) -> tuple[str, ...]:
    """`train`, else the split whose name starts with train (COCO's train2017)."""
    if "train" in splits:
        return ("train",)
    return tuple(s for s in splits if s.startswith("train"))[:1]


def detect(config: RunConfig, probe: bool = True) -> Layout:
    """The layout of --input for this run (--dataset, --splits, --masks, --exclude applied).

    With probe=False (a dry run, which touches no storage) only what the options say is used.
    """
    asked = config.dataset
    base = config.job.layout
    if keys.has_wildcard(config.input) or not probe:
        if asked not in ("auto", "images") and probe:
            raise UsageError(f"--dataset {asked} needs --input to be the dataset's root folder")
        layout = dataclasses.replace(base, kind="images" if asked == "auto" else asked)
    else:
        root = config.input.rstrip("/") + "/"
        kind = guess_kind(root) if asked == "auto" else asked
        found = {"coco": _coco, "voc": _voc, "yolo": _yolo}.get(kind)
        layout = found(root) if found else Layout("images")
        layout = dataclasses.replace(layout, masks=base.masks, exclude=base.exclude)
    if layout.masks and layout.kind != "images":
        raise UsageError(
            f"--masks is for a plain folder of images; a {layout.kind} dataset's masks are "
            "found by its layout"
        )
    if config.splits:
        if not layout.splits:
            raise UsageError(f"--splits: the {layout.kind} dataset at {config.input} has no splits")
        unknown = [s for s in config.splits if s not in layout.splits]
        if unknown:
            raise UsageError(
                f"--splits: no split {', '.join(unknown)} in {config.input} (splits: "
                f"{', '.join(layout.splits)})"
            )
        augmented = config.splits
    else:
        augmented = default_training_splits(layout.splits)
        if layout.splits and not augmented:
            raise UsageError(
                f"the dataset's splits are {', '.join(layout.splits)}; none is a training "
                "split: name the ones to augment with --splits"
            )
    if config.job.objects and layout.kind not in LABELLED:
        where = "a plain folder of images" if layout.kind == "images" else f"a {layout.kind}"
        raise UsageError(
            f"--object_blur blurs the objects a dataset labels, and --input {config.input} is "
            f"{where} (no labels); give a COCO, YOLO or Pascal VOC dataset's root (--dataset)"
        )
    return dataclasses.replace(layout, augmented=augmented)


LABELLED = ("coco", "yolo", "voc")  # the layouts whose labels give objects (--object_blur)
