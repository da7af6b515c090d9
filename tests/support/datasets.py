"""Tiny datasets in every layout users download and export, generated (never downloaded).

Each builder returns the dataset root. Images are small textured JPEGs; annotations are real
ones: YOLO boxes and polygons, COCO boxes, polygons, RLE and keypoints, VOC boxes and palette
masks written by Pillow as VOC ships them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from tests.support.helpers import textured, write_image

W, H = 64, 48


def _image(path: Path, seed: int) -> None:
    write_image(path, textured(H, W, 3, seed=seed))


YOLO_LABELS = {
    "a": "0 0.5 0.5 0.25 0.5\n1 0.2 0.3 0.1 0.1\n",
    "b": "1 0.1 0.1 0.3 0.3 0.2 0.6\n",  # a polygon row
    "d": "0 0.4 0.4 0.2 0.2\n",
}


def yolo(root: Path, variant: str = "ultralytics") -> Path:
    """train: a, b (labelled), c (background); val: d. data.yaml as each exporter writes it."""

    def folder(kind: str, split: str) -> Path:
        return root / kind / split if variant == "ultralytics" else root / split / kind

    val = "val" if variant == "ultralytics" else "valid"
    for seed, (split, name) in enumerate(
        [("train", "a"), ("train", "b"), ("train", "c"), (val, "d")]
    ):
        _image(folder("images", split) / f"{name}.jpg", seed)
        if name in YOLO_LABELS:
            label = folder("labels", split) / f"{name}.txt"
            label.parent.mkdir(parents=True, exist_ok=True)
            label.write_text(YOLO_LABELS[name])
    if variant == "ultralytics":
        yaml = f"path: {root}\ntrain: images/train\nval: images/val\nnames:\n  0: cat\n  1: dog\n"
    else:
        yaml = "train: ../train/images\nval: ../valid/images\n\nnc: 2\nnames: ['cat', 'dog']\n"
    (root / "data.yaml").write_text(yaml)
    (root / "README.roboflow.txt").write_text("exported for a test\n")
    return root


def _polygon(x: float, y: float) -> list[list[float]]:
    return [[x, y, x + 10.5, y, x + 10.5, y + 8.25, x, y + 8.25]]


def coco_json(names: list[str], first_id: int = 1) -> dict:
    """instances JSON for `names`: a box with a polygon, a crowd RLE and keypoints per image."""
    images, annotations = [], []
    rle = {"size": [H, W], "counts": [100, 20, H * W - 120]}
    for i, name in enumerate(names):
        image_id = first_id + 10 * i
        images.append({"id": image_id, "file_name": name, "width": W, "height": H, "license": 1})
        annotations += [
            {
                "id": 1000 + 2 * image_id,
                "image_id": image_id,
                "category_id": 1,
                "bbox": [5.0 + i, 6.0, 10.5, 8.25],
                "segmentation": _polygon(5.0 + i, 6.0),
                "area": 86.625,
                "iscrowd": 0,
                "keypoints": [7, 8, 2, 9, 10, 1],
                "num_keypoints": 2,
            },
            {
                "id": 1001 + 2 * image_id,
                "image_id": image_id,
                "category_id": 2,
                "bbox": [0.0, 2.0, 1.0, 20.0],
                "segmentation": rle,
                "area": 20.0,
                "iscrowd": 1,
            },
        ]
    return {
        "info": {"description": "test set", "year": 2026},
        "licenses": [{"id": 1, "name": "CC0"}],
        "images": images,
        "annotations": annotations,
        "categories": [
            {"id": 1, "name": "cat", "supercategory": "animal", "keypoints": ["eye", "nose"]},
            {"id": 2, "name": "dog", "supercategory": "animal"},
        ],
    }


def coco(root: Path, variant: str = "2017") -> Path:
    """'2017': train2017/ and annotations/instances_train2017.json (+ captions); 'images':
    images/<split>/ and annotations/instances_<split>.json; 'roboflow': <split>/ with
    _annotations.coco.json beside the images. train holds a, b and c (c: no annotations)."""
    splits = {"2017": ("train2017", "val2017"), "images": ("train", "val")}.get(
        variant, ("train", "valid")
    )
    for split, names in zip(splits, (["a.jpg", "b.jpg", "c.jpg"], ["d.jpg"]), strict=True):
        folder = root / "images" / split if variant == "images" else root / split
        for seed, name in enumerate(names):
            _image(folder / name, seed)
        data = coco_json(names)
        data["annotations"] = [a for a in data["annotations"] if a["image_id"] != 21]  # c.jpg
        if variant == "roboflow":
            (folder / "_annotations.coco.json").write_text(json.dumps(data))
        else:
            (root / "annotations").mkdir(exist_ok=True)
            (root / "annotations" / f"instances_{split}.json").write_text(json.dumps(data))
            if variant == "2017":
                captions = {
                    "info": data["info"],
                    "images": data["images"],
                    "annotations": [
                        {"id": 1 + i, "image_id": im["id"], "caption": f"image {im['id']}"}
                        for i, im in enumerate(data["images"])
                    ],
                }
                (root / "annotations" / f"captions_{split}.json").write_text(json.dumps(captions))
    return root


VOC_OBJECT = """  <object><name>{name}</name><pose>Left</pose><truncated>0</truncated>
    <difficult>{difficult}</difficult>
    <bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin><xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox>
  </object>
"""


def voc_xml(filename: str, objects: list[tuple[str, int, int, int, int]], folder: str) -> str:
    body = "".join(
        VOC_OBJECT.format(name=n, difficult=0, x0=a, y0=b, x1=c, y1=d) for n, a, b, c, d in objects
    )
    return (
        f"<annotation>\n  <folder>{folder}</folder>\n  <filename>{filename}</filename>\n"
        f"  <path>/original/{folder}/{filename}</path>\n"
        f"  <size><width>{W}</width><height>{H}</height><depth>3</depth></size>\n"
        f"  <segmented>1</segmented>\n{body}</annotation>\n"
    )


VOC_OBJECTS = {
    "2008_000001": [("cat", 3, 4, 30, 40), ("dog", 20, 10, 60, 44)],
    "2008_000002": [("dog", 1, 1, 20, 20)],
    "2008_000004": [("cat", 10, 10, 50, 30)],
}


def _palette_mask(path: Path, seed: int) -> None:
    """A palette PNG as VOC's SegmentationClass ships it (Pillow, mode P, 255 = border)."""
    rng = np.random.default_rng(seed)
    mask = np.zeros((H, W), np.uint8)
    mask[5:30, 3:30] = 1 + seed % 3
    mask[rng.integers(0, H, 20), rng.integers(0, W, 20)] = 255
    image = Image.fromarray(mask, mode="P")
    image.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0] + [224, 224, 192] * 252)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def voc(root: Path, variant: str = "devkit") -> Path:
    """devkit: JPEGImages, Annotations, ImageSets/{Main,Segmentation}, SegmentationClass and
    SegmentationObject; train = 000001, 000002, 000003 (no XML), val = 000004. roboflow:
    <split>/name.jpg beside name.xml."""
    names = {"train": ["2008_000001", "2008_000002", "2008_000003"], "val": ["2008_000004"]}
    if variant == "roboflow":
        for split, stems in (("train", names["train"]), ("valid", names["val"])):
            for seed, stem in enumerate(stems):
                _image(root / split / f"{stem}.jpg", seed)
                if stem in VOC_OBJECTS:
                    xml = voc_xml(f"{stem}.jpg", VOC_OBJECTS[stem], split)
                    (root / split / f"{stem}.xml").write_text(xml)
        return root
    main = root / "ImageSets" / "Main"
    segmentation = root / "ImageSets" / "Segmentation"
    main.mkdir(parents=True)
    segmentation.mkdir(parents=True)
    for split, stems in names.items():
        for seed, stem in enumerate(stems):
            _image(root / "JPEGImages" / f"{stem}.jpg", seed)
            if stem in VOC_OBJECTS:
                (root / "Annotations").mkdir(exist_ok=True)
                xml = voc_xml(f"{stem}.jpg", VOC_OBJECTS[stem], "VOC2012")
                (root / "Annotations" / f"{stem}.xml").write_text(xml)
            if stem != "2008_000003":
                _palette_mask(root / "SegmentationClass" / f"{stem}.png", seed)
                _palette_mask(root / "SegmentationObject" / f"{stem}.png", seed + 7)
        (main / f"{split}.txt").write_text("".join(f"{s}\n" for s in stems))
        (main / f"cat_{split}.txt").write_text(
            "".join(f"{s} {' 1' if s in ('2008_000001', '2008_000004') else '-1'}\n" for s in stems)
        )
        seg = [s for s in stems if s != "2008_000003"]
        (segmentation / f"{split}.txt").write_text("".join(f"{s}\n" for s in seg))
    (main / "trainval.txt").write_text("".join(f"{s}\n" for s in names["train"] + names["val"]))
    return root
