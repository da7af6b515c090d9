"""A detector that really degrades with blur, built here with nothing downloaded: bright squares
and disks on a low-contrast noisy background, found again by OpenCV (edges, contours, the fill
of the bounding box telling a square from a disk, a score from the edges' sharpness). Blur
softens the edges, so boxes loosen, small shapes vanish and scores fall: AP drops with sigma.

Datasets of these shapes are written in the COCO, YOLO and VOC layouts (with masks), and the
detector's predictions in every format `evaluate` reads."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

CLASSES = ("square", "disk")
W, H = 160, 120


@dataclass(frozen=True)
class Shape:
    cls: int  # 0 square, 1 disk
    x: int
    y: int
    size: int

    @property
    def box(self) -> list[float]:
        return [float(self.x), float(self.y), float(self.size), float(self.size)]


def scene(seed: int) -> tuple[np.ndarray, list[Shape], np.ndarray]:
    """An image, its shapes, and its class mask (0 background, 1 square, 2 disk)."""
    rng = np.random.default_rng(seed)
    background = rng.normal(0, 12, (H // 4, W // 4))
    image = cv2.resize(background, (W, H), interpolation=cv2.INTER_CUBIC) + 90
    image = np.repeat(image[:, :, None], 3, axis=2)
    mask = np.zeros((H, W), np.uint8)
    shapes: list[Shape] = []
    for _ in range(40):
        if len(shapes) == 4:
            break
        size = int(rng.integers(8, 34))
        x, y = int(rng.integers(2, W - size - 2)), int(rng.integers(2, H - size - 2))
        if any(x < s.x + s.size + 6 and s.x < x + size + 6 and y < s.y + s.size + 6
               and s.y < y + size + 6 for s in shapes):  # fmt: skip
            continue
        cls = int(rng.integers(0, 2))
        colour = (40 + 150 * rng.random(3)).tolist()
        colour[int(rng.integers(0, 3))] = 235
        layer = np.zeros((H, W), np.uint8)
        if cls == 0:
            cv2.rectangle(layer, (x, y), (x + size - 1, y + size - 1), 1, -1)
        else:
            cv2.circle(layer, (x + size // 2, y + size // 2), size // 2, 1, -1)
        image[layer > 0] = colour
        mask[layer > 0] = cls + 1
        shapes.append(Shape(cls, x, y, size))
    return np.clip(image, 0, 255).astype(np.uint8), shapes, mask


def detect(image: np.ndarray) -> list[tuple[int, list[float], float]]:
    """(class, [x, y, w, h], score) of each shape found: the connected regions where some
    channel is nearly as bright as a shape's (blur lowers it at the edges, so a region shrinks,
    a small one vanishes, a square's corners round off into a disk's fill), scored by how
    bright they stay."""
    brightest = image.max(axis=2) if image.ndim == 3 else image
    regions, _, stats, _ = cv2.connectedComponentsWithStats((brightest > 205).astype(np.uint8))
    found = []
    for label in range(1, regions):
        x, y, w, h, area = (int(v) for v in stats[label])
        if area < 12 or max(w, h) > 2.5 * min(w, h):
            continue
        cls = 0 if area / (w * h) > 0.9 else 1
        inside = brightest[y : y + h, x : x + w][
            (cv2.connectedComponents((brightest[y : y + h, x : x + w] > 205).astype(np.uint8))[1]
             > 0)
        ]  # fmt: skip
        score = float(np.clip((inside.mean() - 205) / 30 + 0.2 * min(1.0, area / 400), 0.01, 1))
        found.append((cls, [float(x), float(y), float(w), float(h)], score))
    return found


def segment(image: np.ndarray) -> np.ndarray:
    """A class mask predicted from the detections (a box per square, a disk per disk)."""
    mask = np.zeros(image.shape[:2], np.uint8)
    for cls, (x, y, w, h), _ in detect(image):
        if cls == 0:
            cv2.rectangle(mask, (int(x), int(y)), (int(x + w - 1), int(y + h - 1)), 1, -1)
        else:
            cv2.ellipse(mask, (int(x + w / 2), int(y + h / 2)), (int(w / 2), int(h / 2)), 0, 0,
                        360, 2, -1)  # fmt: skip
    return mask


def _write(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(path.suffix, image)
    assert ok
    path.write_bytes(buf.tobytes())


def coco_shapes(root: Path, images: int, seed: int = 0) -> Path:
    """train2017 (2 images) and val2017 (`images`), PNG, with instances JSONs."""
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    for split, count in (("train2017", 2), ("val2017", images)):
        entries, annotations = [], []
        for i in range(count):
            image, shapes, _ = scene(seed * 1000 + (0 if split == "val2017" else 500) + i)
            name = f"s{i:03d}.png"
            _write(root / split / name, image)
            entries.append({"id": 100 + i, "file_name": name, "width": W, "height": H})
            for shape in shapes:
                annotations.append({"id": len(annotations) + 1, "image_id": 100 + i,
                                    "category_id": shape.cls + 1, "bbox": shape.box,
                                    "area": float(shape.size**2), "iscrowd": 0})  # fmt: skip
        categories = [{"id": i + 1, "name": n} for i, n in enumerate(CLASSES)]
        data = {"images": entries, "annotations": annotations, "categories": categories}
        (root / "annotations" / f"instances_{split}.json").write_text(json.dumps(data))
    return root


def yolo_shapes(root: Path, images: int, seed: int = 0, polygons: bool = False) -> Path:
    """Ultralytics layout, train (2) and val (`images`); boxes, or disks as polygons."""
    for split, count in (("train", 2), ("val", images)):
        for i in range(count):
            image, shapes, _ = scene(seed * 1000 + (0 if split == "val" else 500) + i)
            _write(root / "images" / split / f"s{i:03d}.png", image)
            rows = [_yolo_row(s, polygons) for s in shapes]
            label = root / "labels" / split / f"s{i:03d}.txt"
            label.parent.mkdir(parents=True, exist_ok=True)
            label.write_text("".join(rows))
    (root / "data.yaml").write_text(f"path: {root}\ntrain: images/train\nval: images/val\n"
                                    "names:\n  0: square\n  1: disk\n")  # fmt: skip
    return root


def _yolo_row(shape: Shape, polygons: bool) -> str:
    if polygons:
        cx, cy, r = shape.x + shape.size / 2, shape.y + shape.size / 2, shape.size / 2
        if shape.cls == 0:
            points = [(shape.x, shape.y), (shape.x + shape.size, shape.y),
                      (shape.x + shape.size, shape.y + shape.size),
                      (shape.x, shape.y + shape.size)]  # fmt: skip
        else:
            angles = np.linspace(0, 2 * np.pi, 24, endpoint=False)
            points = [(cx + r * np.cos(a), cy + r * np.sin(a)) for a in angles]
        coords = " ".join(f"{x / W:.6f} {y / H:.6f}" for x, y in points)
        return f"{shape.cls} {coords}\n"
    cx, cy = (shape.x + shape.size / 2) / W, (shape.y + shape.size / 2) / H
    return f"{shape.cls} {cx:.6f} {cy:.6f} {shape.size / W:.6f} {shape.size / H:.6f}\n"


def voc_shapes(root: Path, images: int, seed: int = 0, difficult_every: int = 0) -> Path:
    """VOCdevkit layout: JPEGImages (PNG here), Annotations, SegmentationClass, ImageSets."""
    from PIL import Image

    names = []
    for i in range(images + 2):
        name = f"s{i:03d}"
        image, shapes, mask = scene(seed * 1000 + (i if i < images else 500 + i))
        _write(root / "JPEGImages" / f"{name}.png", image)
        objects = "".join(
            f"<object><name>{CLASSES[s.cls]}</name><difficult>"
            f"{int(bool(difficult_every) and j % difficult_every == difficult_every - 1)}"
            f"</difficult><bndbox><xmin>{s.x + 1}</xmin><ymin>{s.y + 1}</ymin><xmax>"
            f"{s.x + s.size}</xmax><ymax>{s.y + s.size}</ymax></bndbox></object>"
            for j, s in enumerate(shapes)
        )
        xml = (f"<annotation><filename>{name}.png</filename><size><width>{W}</width><height>"
               f"{H}</height><depth>3</depth></size>{objects}</annotation>")  # fmt: skip
        (root / "Annotations").mkdir(parents=True, exist_ok=True)
        (root / "Annotations" / f"{name}.xml").write_text(xml)
        palette = Image.fromarray(mask, mode="P")
        palette.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0] + [0] * (253 * 3))
        (root / "SegmentationClass").mkdir(parents=True, exist_ok=True)
        palette.save(root / "SegmentationClass" / f"{name}.png")
        names.append(name)
    (root / "ImageSets" / "Main").mkdir(parents=True, exist_ok=True)
    (root / "ImageSets" / "Main" / "val.txt").write_text("".join(f"{n}\n" for n in names[:images]))
    (root / "ImageSets" / "Main" / "train.txt").write_text(
        "".join(f"{n}\n" for n in names[images:])
    )
    return root


def image_of(path: Path) -> np.ndarray:
    return cv2.imread(str(path), cv2.IMREAD_COLOR)
