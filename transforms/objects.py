"""Blur per object: the objects of an image from its dataset's own labels, each object's
support as a mask, each object's draw, and the compositing of a moving object over what is
behind it. Pure: labels and pixels in, pixels out; the sample step wires it.

An object's support is its mask where the dataset has one (COCO polygons and RLE, YOLO segment
rows, VOC SegmentationObject PNGs), else its box. A moving object's streak runs over what is
behind it: with F the frame (already blurred when the frame has a kind) and M the object's
mask, the object's pixels become
`blur(F*M) + (1 - blur(M)) * F` (the object blurred by its own kernel, laid over the frame in
the proportion the blurred mask covers). Objects are composited in the order of the source's
annotations, each over the result so far, so a later annotation is in front. Only a region of
the object's box plus the kernel's reach is filtered: a pixel farther than the reach from every
object keeps the frame's value exactly.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import cv2
import numpy as np

from blur_augment.transforms.blur import gaussian_taps, kernel_for
from blur_augment.transforms.imaging import single_kernel
from blur_augment.transforms.labels import yolo
from blur_augment.transforms.sampling import OBJECT_COLUMNS, OBJECT_KINDS, BlurParams


@dataclass(frozen=True)
class SceneObject:
    """One labelled object: its index in the source's annotations, its box in pixels
    (x, y, width, height), where its support comes from ("mask": an RLE, "polygon", "box"),
    its category, and its outline or RLE."""

    index: int
    box: tuple[float, float, float, float]
    origin: str
    category: str = ""
    source_annotation_id: int | None = None
    polygons: tuple[tuple[float, ...], ...] = ()
    rle: tuple[int, ...] = ()  # uncompressed runs, column-major, starting with background
    rle_size: tuple[int, int] = (0, 0)  # (height, width) the RLE covers


def from_coco(annotations: Iterable[dict[str, Any]]) -> list[SceneObject]:
    """A COCO image's annotations, in order: polygons, RLE (compressed or not) or the box."""
    found = []
    for index, annotation in enumerate(annotations):
        box = tuple(float(v) for v in annotation.get("bbox") or (0, 0, 0, 0))[:4]
        segmentation = annotation.get("segmentation")
        ident = annotation.get("id") if isinstance(annotation.get("id"), int) else None
        category = str(annotation.get("category_id", ""))
        common = {"index": index, "box": box, "category": category, "source_annotation_id": ident}
        if isinstance(segmentation, dict) and "counts" in segmentation:
            counts = segmentation["counts"]
            runs = rle_runs(counts) if isinstance(counts, str) else [int(c) for c in counts]
            height, width = (int(v) for v in segmentation["size"])
            found.append(SceneObject(origin="mask", rle=tuple(runs), rle_size=(height, width),
                                     **common))  # type: ignore[arg-type]  # fmt: skip
        elif isinstance(segmentation, list) and segmentation:
            polygons = tuple(tuple(float(v) for v in p) for p in segmentation if len(p) >= 6)
            found.append(SceneObject(origin="polygon" if polygons else "box", polygons=polygons,
                                     **common))  # type: ignore[arg-type]  # fmt: skip
        else:
            found.append(SceneObject(origin="box", **common))  # type: ignore[arg-type]
    return found


def from_yolo(data: bytes, width: int, height: int, keypoints: bool = False) -> list[SceneObject]:
    """A YOLO label file's rows, in order: segment rows as polygons, boxes (and pose rows'
    boxes) as boxes, scaled to the image's pixels."""
    found = []
    for index, row in enumerate(yolo.rows(data)):
        cx, cy, w, h = row.box(keypoints)
        box = ((cx - w / 2) * width, (cy - h / 2) * height, w * width, h * height)
        outline = row.polygon(keypoints)
        polygon = tuple(v * (width if i % 2 == 0 else height) for i, v in enumerate(outline))
        found.append(SceneObject(index, box, "polygon" if polygon else "box", str(row.cls),
                                 polygons=(polygon,) if polygon else ()))  # fmt: skip
    return found


def from_voc(data: bytes) -> list[SceneObject]:
    """A Pascal VOC annotation's objects, in order, as boxes (VOC's corners are 1-based and
    inclusive: the box spans xmin - 1 to xmax)."""
    found = []
    for index, element in enumerate(ET.fromstring(data).iter("object")):
        box = element.find("bndbox")
        corners = [float(box.findtext(n) or 0) for n in ("xmin", "ymin", "xmax", "ymax")] if (
            box is not None) else [0.0] * 4  # fmt: skip
        x0, y0, x1, y1 = corners[0] - 1, corners[1] - 1, corners[2], corners[3]
        found.append(SceneObject(index, (x0, y0, x1 - x0, y1 - y0), "box",
                                 element.findtext("name") or ""))  # fmt: skip
    return found


def is_instance_mask(key: str) -> bool:
    """A VOC SegmentationObject PNG: object k of the XML is the pixels of index k (1-based)."""
    return "SegmentationObject/" in key and key.endswith(".png")


def with_instance_masks(
    found: list[SceneObject], png: bytes | None, width: int, height: int
) -> list[SceneObject]:
    """VOC objects with their instance masks where the dataset has them (SegmentationObject:
    a palette PNG whose index k is the XML's k-th object, 255 the void border), as RLE runs;
    an object the mask does not show keeps its box."""
    if png is None:
        return found
    import io

    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        if image.mode != "P" or image.size != (width, height):
            return found  # not VOC's indexed mask of this image: the boxes
        indices = np.asarray(image)
    column_major = indices.T.reshape(-1)
    made = []
    for obj in found:
        runs = _runs(column_major == obj.index + 1)
        made.append(replace(obj, origin="mask", rle=runs, rle_size=(height, width))
                    if len(runs) > 1 else obj)  # fmt: skip
    return made


def _runs(flat: np.ndarray) -> tuple[int, ...]:
    """A 0/1 array's runs, starting with the zeros (COCO's uncompressed RLE)."""
    changes = np.flatnonzero(np.diff(flat.astype(np.int8))) + 1
    edges = np.r_[0, changes, flat.size]
    runs = np.diff(edges).tolist()
    return tuple([0, *runs] if flat.size and flat[0] else runs)


def rle_runs(counts: str) -> list[int]:
    """pycocotools' compressed RLE string as its runs (rleFrString): each run a little-endian
    base-32 number of 6-bit characters from '0', sign-extended, and from the third run on a
    difference from the run two before."""
    runs: list[int] = []
    position = 0
    while position < len(counts):
        value, shift, more = 0, 0, True
        while more:
            char = ord(counts[position]) - 48
            value |= (char & 0x1F) << shift
            more = bool(char & 0x20)
            position, shift = position + 1, shift + 5
            if not more and char & 0x10:
                value |= -1 << shift
        if len(runs) > 2:
            value += runs[-2]
        runs.append(value)
    return runs


@dataclass(frozen=True)
class Support:
    """An object's support cropped to its bounds: a uint8 0/1 array whose top-left pixel is
    (top, left) in the image, so that an image's many objects cost their own boxes."""

    top: int
    left: int
    pixels: np.ndarray

    @property
    def empty(self) -> bool:
        return not self.pixels.any()


def support(obj: SceneObject, width: int, height: int) -> Support:
    """The object's support (its RLE, its polygons, else its box), cropped to its bounds."""
    runs = np.asarray(obj.rle, np.int64)
    if obj.origin == "mask" and _fits(runs, obj.rle_size, height, width):
        flat = np.repeat(np.arange(runs.size, dtype=np.uint8) % 2, runs)
        flat = np.pad(flat, (0, max(height * width - flat.size, 0)))[: height * width]
        return _cropped(np.ascontiguousarray(flat.reshape(width, height).T))
    if obj.polygons:
        return _polygon_support(obj.polygons, width, height)
    x, y, w, h = obj.box
    x0, y0 = min(max(int(np.floor(x)), 0), width), min(max(int(np.floor(y)), 0), height)
    x1, y1 = max(min(int(np.ceil(x + w)), width), x0), max(min(int(np.ceil(y + h)), height), y0)
    return Support(y0, x0, np.ones((y1 - y0, x1 - x0), np.uint8))


def _fits(runs: np.ndarray, size: tuple[int, int], height: int, width: int) -> bool:
    """Whether an RLE describes this image: its size, and runs that neither go backwards nor
    add up to more than its pixels (such a bomb is its box, not an allocation of the sum)."""
    return size == (height, width) and bool(runs.size) and runs.min() >= 0 and (
        runs.sum() <= height * width)  # fmt: skip


def mask(obj: SceneObject, width: int, height: int) -> np.ndarray:
    """The object's support as a uint8 0/1 array of the image's size."""
    full = np.zeros((height, width), np.uint8)
    found = support(obj, width, height)
    rows, cols = found.pixels.shape
    full[found.top : found.top + rows, found.left : found.left + cols] = found.pixels
    return full


def _cropped(full: np.ndarray) -> Support:
    rows, cols = np.nonzero(full)
    if not rows.size:
        return Support(0, 0, np.zeros((0, 0), np.uint8))
    y0, y1, x0, x1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    return Support(int(y0), int(x0), np.ascontiguousarray(full[y0:y1, x0:x1]))


_SUPERSAMPLE = 4  # a polygon is rasterised at 4x4 points a pixel: a pixel is in at half cover


def _polygon_support(polygons: Sequence[Sequence[float]], width: int, height: int) -> Support:
    """Pixels at least half covered by the polygons (COCO's pixel (i, j) spans [j, j + 1) x
    [i, i + 1)), rasterised over the polygons' bounds only."""
    # outlines far outside the image are clipped to just beyond it (no overflow when scaled)
    points = [np.clip(np.asarray(p, dtype=np.float64).reshape(-1, 2), -1, (width + 1, height + 1))
              for p in polygons]  # fmt: skip
    every = np.vstack(points)
    x0, y0 = max(int(np.floor(every[:, 0].min())), 0), max(int(np.floor(every[:, 1].min())), 0)
    x1 = min(int(np.ceil(every[:, 0].max())), width)
    y1 = min(int(np.ceil(every[:, 1].max())), height)
    if x1 <= x0 or y1 <= y0:
        return Support(0, 0, np.zeros((0, 0), np.uint8))
    s = _SUPERSAMPLE
    canvas = np.zeros(((y1 - y0) * s, (x1 - x0) * s), np.uint8)
    # a fine sample's centre is an integer in OpenCV's grid: shift by half a fine sample
    outlines = [np.round(((p - (x0, y0)) * s - 0.5) * 16).astype(np.int32) for p in points]
    cv2.fillPoly(canvas, outlines, 255, lineType=cv2.LINE_4, shift=4)
    cover = cv2.resize(canvas, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
    return Support(y0, x0, (cover >= 128).astype(np.uint8))


def object_kernel(params: BlurParams, dtype: str) -> np.ndarray:
    """The 2-D kernel an object is blurred with (float32, sums to 1)."""
    if params.kind == "gaussian":
        size = kernel_for(params.sigma_x, params.sigma_y, dtype)
        return np.outer(gaussian_taps(size.height, params.sigma_y),
                        gaussian_taps(size.width, params.sigma_x)).astype(np.float32)  # fmt: skip
    kernel = single_kernel(params)
    if kernel is None:
        raise ValueError(f"{params.kind} blur cannot blur one object (kinds: {OBJECT_KINDS})")
    return np.asarray(kernel, np.float32)


def composite(
    pixels: np.ndarray, supports: Sequence[Support], draws: Sequence[BlurParams]
) -> tuple[np.ndarray, int]:
    """The frame with each drawn object blurred over what is behind it, in order; and how
    many were blurred. The input is not changed."""
    out: np.ndarray | None = None
    blurred = 0
    for found, params in zip(supports, draws, strict=True):
        if not moves(found, params):
            continue
        if out is None:
            out = pixels.copy()
        _composite_one(out, found, object_kernel(params, pixels.dtype.name))
        blurred += 1
    return (pixels, 0) if out is None else (out, blurred)


def moves(found: Support, params: BlurParams) -> bool:
    """Whether an object is blurred: its draw is applied and it covers a pixel."""
    return params.applied and not found.empty


def _composite_one(out: np.ndarray, found: Support, kernel: np.ndarray) -> None:
    """blur(F*M) + (1 - blur(M)) * F over the object's box plus the kernel's reach (and one
    pixel more, so that the crop's reflected border holds no mask), in float32, rounded back
    into `out`. F*M and M are filtered together, as the channels of one array."""
    rows, cols = found.pixels.shape
    reach_y, reach_x = kernel.shape[0] // 2 + 1, kernel.shape[1] // 2 + 1
    y0, y1 = max(found.top - reach_y, 0), min(found.top + rows + reach_y, out.shape[0])
    x0, x1 = max(found.left - reach_x, 0), min(found.left + cols + reach_x, out.shape[1])
    frame = out[y0:y1, x0:x1].astype(np.float32)
    frame = frame if frame.ndim == 3 else frame[:, :, None]
    channels = frame.shape[2]
    layers = np.zeros((y1 - y0, x1 - x0, channels + 1), np.float32)
    top, left = found.top - y0, found.left - x0
    layers[top : top + rows, left : left + cols, channels] = found.pixels
    np.multiply(frame, layers[:, :, channels:], out=layers[:, :, :channels])
    blurred = cv2.filter2D(layers, -1, kernel, borderType=cv2.BORDER_REFLECT_101)
    blurred = blurred.reshape(layers.shape)
    result = blurred[:, :, :channels] + (1 - blurred[:, :, channels:]) * frame
    top_value = np.iinfo(out.dtype).max
    region = np.clip(np.rint(result), 0, top_value).astype(out.dtype)
    out[y0:y1, x0:x1] = region if out.ndim == 3 else region[:, :, 0]


@dataclass(frozen=True)
class Labels:
    """An image's own labels, as its sample holds them: its label files (a YOLO .txt, a VOC
    .xml; mask files are copied, not read: a semantic mask has no objects) and its COCO
    annotations, in the JSON's order."""

    files: tuple[tuple[str, bytes], ...] = ()
    annotations: tuple[dict[str, Any], ...] = ()
    keypoints: bool = False  # YOLO: data.yaml has kpt_shape

    def objects(self, width: int, height: int) -> list[SceneObject]:
        """The objects, in the order of the source's annotations, at the image's size."""
        if self.annotations:
            return from_coco(self.annotations)
        for key, data in self.files:
            if key.endswith(".txt"):
                return from_yolo(data, width, height, self.keypoints)
            if key.endswith(".xml"):
                instances = next((d for k, d in self.files if is_instance_mask(k)), None)
                return with_instance_masks(from_voc(data), instances, width, height)
        return []

    @property
    def count(self) -> int:
        """How many objects, before the image's size is known (for their draws): a COCO image
        has one per annotation, so its masks are decoded once, when the size is known."""
        return len(self.annotations) if self.annotations else len(self.objects(1, 1))


def object_rows(
    found: Sequence[SceneObject], supports: Sequence[Support], draws: Sequence[BlurParams]
) -> list[dict[str, Any]]:
    """The object table's columns an object's labels and draw give (the Beam layer adds the
    copy's key, index and output, and the output annotation's id)."""
    rows = []
    for obj, where, params in zip(found, supports, draws, strict=True):
        applied = moves(where, params)
        x, y, w, h = obj.box
        rows.append({
            "object_index": obj.index,
            "source_annotation_id": obj.source_annotation_id,
            "category": obj.category,
            "box_x": x, "box_y": y, "box_width": w, "box_height": h,
            "mask": obj.origin,
            "applied": applied,
            "blur_kind": params.kind if applied else "none",
            **{name: getattr(params, name) for name in OBJECT_COLUMNS},
        })  # fmt: skip
    return rows
