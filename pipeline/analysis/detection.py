"""Ground truth and predictions for `evaluate`, as COCO-format values keyed by the copies the
log names.

Ground truth comes from the dataset the log describes: the rewritten COCO JSON of the output,
each copy's YOLO label file (boxes and polygons denormalised with the logged width and
height), or its VOC XML (`difficult` objects ignored, given to COCOeval as crowd boxes, its
only way to ignore a box); or from a COCO JSON given with --ground_truth. Predictions come in
the formats detectors write: a COCO results JSON, a folder of Ultralytics prediction files
(`cls cx cy w h conf`, normalised), or a CSV or Parquet table (image, category, x_min, y_min,
x_max, y_max, score). Everything that cannot be matched is counted, never dropped silently.
"""

from __future__ import annotations

import io
import json
import posixpath
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from blur_augment.pipeline.analysis.records import Accounting, Copy
from blur_augment.pipeline.usage import UsageError
from blur_augment.transforms import keys
from blur_augment.transforms.io import storage
from blur_augment.transforms.labels import yolo
from blur_augment.transforms.labels.errors import LabelError
from blur_augment.transforms.labels.yolo import load_yaml

PREDICTION_COLUMNS = ("image", "category", "x_min", "y_min", "x_max", "y_max", "score")
# A YOLO or VOC annotation's place among its image's labels: the object table's object_index
# (a COCO annotation is found there by its id).
OBJECT_INDEX = "object_index"


@dataclass
class GroundTruth:
    """The copies' ground truth as a COCO dataset, and which image id each copy has."""

    images: list[dict[str, Any]]
    annotations: list[dict[str, Any]]
    categories: list[dict[str, Any]]
    id_of: dict[str, int]  # copy's path relative to --output -> image id
    source: str  # where it came from, for messages
    _by_image: dict[int, list[dict[str, Any]]] | None = field(default=None, repr=False)

    def subset(self, image_ids: set[int]) -> dict[str, Any]:
        """The COCO dataset of some of the images (one level)."""
        if self._by_image is None:  # grouped once: every level takes its images' boxes
            self._by_image = {}
            for annotation in self.annotations:
                self._by_image.setdefault(annotation["image_id"], []).append(annotation)
        images = [i for i in self.images if i["id"] in image_ids]
        return {
            "images": images,
            "annotations": [a for i in images for a in self._by_image.get(i["id"], ())],
            "categories": self.categories,
        }

    @property
    def category_by_name(self) -> dict[str, int]:
        return {str(c["name"]): int(c["id"]) for c in self.categories}


@dataclass
class Detections:
    """Predictions as arrays (a few bytes each, whatever their number): the image id they
    were matched to, the category id, [x, y, w, h], the score, and (segm) the masks."""

    image_id: np.ndarray
    category_id: np.ndarray
    bbox: np.ndarray
    score: np.ndarray
    segmentation: list[Any] | None = None

    def of(self, image_ids: set[int]) -> list[dict[str, Any]]:
        """The detections of some images as COCO results, with what COCOeval's loadRes adds
        (an id, the box's area, iscrowd 0), so that no loadRes pass is needed."""
        chosen = np.flatnonzero(np.isin(self.image_id, np.fromiter(image_ids, np.int64)))
        boxes = self.bbox[chosen]
        areas = (boxes[:, 2] * boxes[:, 3]).tolist()
        found = [
            {"id": n, "image_id": i, "category_id": c, "bbox": b, "score": s, "area": a,
             "iscrowd": 0}
            for n, (i, c, b, s, a) in enumerate(zip(
                self.image_id[chosen].tolist(), self.category_id[chosen].tolist(),
                boxes.tolist(), self.score[chosen].tolist(), areas, strict=True), start=1)
        ]  # fmt: skip
        if self.segmentation is not None:
            for result, i in zip(found, chosen, strict=True):
                result["segmentation"] = self.segmentation[i]
        return found


# -- ground truth ----------------------------------------------------------------------------


def _read_text(uri: str) -> str:
    return storage.read_bytes(uri).decode("utf-8")


def _relative(uri: str, output: str) -> str:
    prefix = output.rstrip("/") + "/"
    return uri[len(prefix) :] if uri.startswith(prefix) else uri


def ground_truth(copies: list[Copy], metadata: dict[str, Any], given: str | None) -> GroundTruth:
    """The copies' ground truth: from --ground_truth, else from the log's dataset."""
    if given:
        return _from_coco_files([given], copies, given)
    dataset = metadata.get("dataset") or {}
    kind = dataset.get("kind", "images")
    output = str(metadata.get("output", ""))
    if kind == "coco":
        files = [
            keys.join(output, k) for k in dataset.get("index_files", []) if k.endswith(".json")
        ]
        written = [f for f in files if storage.exists(f)]  # (other splits' may not be)
        # the splits the run blurred (a benchmark's val2017) are what is evaluated; the others
        # were copied as they are, and their ids may be another split's
        augmented = set(dataset.get("augmented_splits") or ())
        blurred = [f for f in written if _split_hint(f) in augmented]
        return _from_coco_files(blurred or written, copies, "the output's COCO JSON")
    if kind == "yolo":
        return _from_yolo(copies, output, dataset)
    if kind == "voc":
        return _from_voc(copies)
    raise UsageError(
        "the log's dataset has no annotations (a plain folder of images): give the ground "
        "truth as a COCO JSON with --ground_truth FILE"
    )


def _from_coco_files(files: list[str], copies: list[Copy], source: str) -> GroundTruth:
    """The images of COCO JSONs that are copies of the log (by file_name: its path relative
    to --output, or a tail of it), with their annotations."""
    wanted = {c.relative for c in copies}
    images, annotations, categories, id_of = [], [], {}, {}
    for path in files:
        try:
            data = json.loads(storage.read_bytes(path, 1 << 34))
        except Exception as error:
            raise UsageError(f"cannot read the ground truth {path}: {error}") from error
        if not isinstance(data, dict) or "images" not in data:
            raise UsageError(f"{path} is not a COCO JSON (no images)")
        if not any("bbox" in a for a in data.get("annotations", [])[:1000]):
            continue  # captions, keypoints-only or panoptic JSONs hold no boxes
        found = _match_file_names(data["images"], wanted, _split_hint(path))
        keep = set(found.values())
        if keep & {i["id"] for i in images}:
            raise UsageError(f"{path} reuses image ids of another JSON of the log: give one "
                             "JSON with --ground_truth")  # fmt: skip
        images += [i for i in data["images"] if i["id"] in keep]
        annotations += [a for a in data.get("annotations", []) if a.get("image_id") in keep]
        categories.update({c["id"]: c for c in data.get("categories", [])})
        id_of.update(found)
    if not images:
        raise UsageError(f"no image of {source} is a copy of the log (file_name relative to "
                         "--output)")  # fmt: skip
    return GroundTruth(images, annotations, list(categories.values()), id_of, source)


def _split_hint(path: str) -> str:
    """The split a COCO JSON describes, from its name (instances_val2017.json) or, where the
    name says none (Roboflow's _annotations.coco.json), its folder."""
    name = posixpath.basename(path)
    match = re.fullmatch(r"[a-z_]+?_([^_]+)\.json", name)
    if match and not name.startswith("_"):
        return match.group(1)
    return posixpath.basename(posixpath.dirname(path))


def _match_file_names(entries: list[Any], wanted: set[str], split: str = "") -> dict[str, int]:
    """copy path -> image id, where an entry's file_name is the path or its tail; a tail that
    two splits share (train2017/a.jpg, val2017/a.jpg) goes to the one under the JSON's split."""
    by_tail: dict[str, list[str]] = {}
    for relative in wanted:
        parts = relative.split("/")
        for i in range(len(parts)):
            by_tail.setdefault("/".join(parts[i:]), []).append(relative)
    found = {}
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("file_name"), str):
            continue
        candidates = by_tail.get(entry["file_name"].lstrip("./"), [])
        if len(candidates) > 1 and split:
            candidates = [c for c in candidates if split in c.split("/")[:-1]]
        if len(candidates) == 1:
            found[candidates[0]] = entry["id"]
    return found


def _numbered(copies: list[Copy]) -> dict[str, int]:
    return {c.relative: i + 1 for i, c in enumerate(sorted(copies, key=lambda c: c.relative))}


def _image(copy: Copy, image_id: int) -> dict[str, Any]:
    return {"id": image_id, "file_name": copy.relative, "width": copy.width,
            "height": copy.height}  # fmt: skip


def _data_yaml(output: str, dataset: dict[str, Any]) -> dict[str, Any]:
    """The copies' data.yaml ({} when there is none or it cannot be read)."""
    yaml_key = next((k for k in dataset.get("index_files", []) if k.endswith(".yaml")), None)
    if yaml_key is None:
        return {}
    try:
        return load_yaml(_read_text(keys.join(output, yaml_key)))
    except Exception:
        return {}


def _yolo_names(data: dict[str, Any]) -> dict[int, str]:
    names = data.get("names", {})
    return dict(enumerate(names)) if isinstance(names, list) else {int(k): str(v) for k, v in
                                                                   names.items()}  # fmt: skip


def _from_yolo(copies: list[Copy], output: str, dataset: dict[str, Any]) -> GroundTruth:
    ids = _numbered(copies)
    data = _data_yaml(output, dataset)
    names, keypoints = _yolo_names(data), "kpt_shape" in data
    images, annotations, seen = [], [], set()
    for copy in copies:
        images.append(_image(copy, ids[copy.relative]))
        label = next((u for u in copy.label_uris if u.endswith(".txt")), None)
        if label is None:
            continue  # a background image: no objects
        try:
            found = yolo.rows(storage.read_bytes(label))
        except LabelError as error:
            raise UsageError(f"the label file {label} cannot be read: {error}") from None
        for index, row in enumerate(found):
            seen.add(row.cls)
            annotation = _yolo_object(row, keypoints, copy, ids[copy.relative])
            annotations.append({**annotation, OBJECT_INDEX: index})
    for i, annotation in enumerate(annotations, start=1):
        annotation["id"] = i
    categories = [{"id": c, "name": names.get(c, str(c))} for c in sorted(set(names) | seen)]
    return GroundTruth(images, annotations, categories, ids, "the copies' YOLO label files")


def _yolo_object(row: yolo.Row, keypoints: bool, copy: Copy, image_id: int) -> dict:
    """A YOLO row (a box, a pose row's box, or a polygon) in pixels."""
    w, h = copy.width, copy.height
    cx, cy, bw, bh = row.box(keypoints)
    box = [(cx - bw / 2) * w, (cy - bh / 2) * h, bw * w, bh * h]
    outline = row.polygon(keypoints)
    if not outline:
        return {"image_id": image_id, "category_id": row.cls, "bbox": box,
                "area": box[2] * box[3], "iscrowd": 0}  # fmt: skip
    xs, ys = [v * w for v in outline[0::2]], [v * h for v in outline[1::2]]
    polygon = [v for pair in zip(xs, ys, strict=False) for v in pair]
    box = [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]
    area = 0.5 * abs(sum(xs[i] * ys[i - 1] - xs[i - 1] * ys[i] for i in range(len(xs))))
    return {"image_id": image_id, "category_id": row.cls, "bbox": box, "area": area,
            "segmentation": [polygon], "iscrowd": 0}  # fmt: skip


def _from_voc(copies: list[Copy]) -> GroundTruth:
    """VOC XMLs: 1-based inclusive pixel boxes as COCO [x, y, w, h] (xmin - 1, ymin - 1,
    width and height in whole pixels); categories numbered from 0 in name order, as
    Ultralytics' VOC.yaml numbers the twenty classes."""
    ids = _numbered(copies)
    objects: list[tuple[Copy, str, list[float], bool, int]] = []
    for copy in copies:
        label = next((u for u in copy.label_uris if u.endswith(".xml")), None)
        if label is None:
            continue
        root = ET.fromstring(storage.read_bytes(label))
        for index, obj in enumerate(root.iter("object")):
            box = obj.find("bndbox")
            if box is None:
                continue
            x0, y0, x1, y1 = (float(box.findtext(t) or 0) for t in ("xmin", "ymin", "xmax", "ymax"))
            difficult = (obj.findtext("difficult") or "0").strip() == "1"
            box = [x0 - 1, y0 - 1, x1 - x0 + 1, y1 - y0 + 1]
            objects.append((copy, obj.findtext("name") or "", box, difficult, index))
    names = sorted({name for _, name, _, _, _ in objects})
    number = {name: i for i, name in enumerate(names)}
    annotations = [
        {"id": i, "image_id": ids[copy.relative], "category_id": number[name], "bbox": box,
         "area": box[2] * box[3], "iscrowd": int(difficult), OBJECT_INDEX: index}
        for i, (copy, name, box, difficult, index) in enumerate(objects, start=1)
    ]  # fmt: skip
    images = [_image(c, ids[c.relative]) for c in copies]
    categories = [{"id": i, "name": name} for name, i in number.items()]
    return GroundTruth(images, annotations, categories, ids, "the copies' VOC XMLs")


# -- predictions -----------------------------------------------------------------------------


class _Builder:
    """Predictions matched one by one to images and categories, collected as arrays."""

    def __init__(self, truth: GroundTruth, copies: list[Copy], output: str) -> None:
        self.truth, self.output, self.accounting = truth, output, Accounting()
        self.ids = {i["id"] for i in truth.images}
        self.sizes = {i["id"]: (int(i.get("width", 0)), int(i.get("height", 0)))
                      for i in truth.images}  # fmt: skip
        self.by_stem: dict[str, list[str]] = {}
        self.by_path: dict[str, list[str]] = {}  # path without its extension
        for copy in copies:
            without = posixpath.splitext(copy.relative)[0]
            self.by_path.setdefault(without, []).append(copy.relative)
            self.by_stem.setdefault(posixpath.basename(without), []).append(copy.relative)
        self.category_ids = {int(c["id"]) for c in truth.categories}
        self.columns: list[tuple[np.ndarray, ...]] = []
        self.segmentation: list[Any] = []

    def image_id(self, image: Any) -> int | None:
        """The image a prediction names: an image id, a path relative to --output (or an
        output URI), or (when unambiguous) a path without extension or a file stem."""
        if isinstance(image, int | np.integer) and not isinstance(image, bool):
            return int(image) if int(image) in self.ids else None
        text = str(image).strip()
        if text.isdigit() and int(text) in self.ids:
            return int(text)
        relative = _relative(text, self.output).lstrip("/")
        if relative in self.truth.id_of:
            return self.truth.id_of[relative]
        for table, name in (
            (self.by_path, posixpath.splitext(relative)[0]),
            (self.by_stem, posixpath.splitext(posixpath.basename(relative))[0]),
        ):
            candidates = [c for c in table.get(name, []) if c in self.truth.id_of]
            if len(candidates) == 1:
                return self.truth.id_of[candidates[0]]
        return None  # fmt: skip

    def category(self, value: Any) -> int | None:
        """By id, or by name where the formats differ."""
        if isinstance(value, str) and not value.strip().lstrip("-").isdigit():
            return self.truth.category_by_name.get(value.strip())
        try:
            number = int(value)
        except (TypeError, ValueError):
            return None
        return number if number in self.category_ids else None

    def add(self, image: Any, category: Any, box: list[float], score: float,
            segmentation: Any = None) -> None:  # fmt: skip
        """One prediction (the folder format, file by file)."""
        self.add_many([image], [category], np.array([box], float), np.array([score], float),
                      None if segmentation is None else [segmentation])  # fmt: skip

    def add_many(
        self,
        images: list[Any],
        categories: list[Any],
        boxes: np.ndarray,
        scores: np.ndarray,
        segmentations: list[Any] | None = None,
    ) -> None:
        """Predictions as columns, resolved once per distinct image and category (millions of
        predictions name a few thousand of each)."""
        if not images:
            return
        image_ids = {value: self.image_id(value) for value in set(images)}
        category_ids = {value: self.category(value) for value in set(categories)}
        image = np.array([image_ids[v] if image_ids[v] is not None else -1 for v in images])
        category = np.array([c if (c := category_ids[v]) is not None else -1 for v in categories])
        named = image >= 0
        known = named & (category >= 0)
        self._count(images, categories, image_ids, category_ids, named, known)
        kept = np.flatnonzero(known)
        sizes = np.array([self.sizes[i] for i in image[kept]], float).reshape(-1, 2)
        box = boxes[kept]
        self.accounting.outside_image += int(
            np.count_nonzero(
                (box[:, 0] < -0.5)
                | (box[:, 1] < -0.5)
                | (box[:, 0] + box[:, 2] > sizes[:, 0] + 0.5)
                | (box[:, 1] + box[:, 3] > sizes[:, 1] + 0.5)
            )
        )  # fmt: skip  (kept: COCOeval evaluates them as they are)
        self.columns.append((image[kept], category[kept], box, scores[kept]))
        if segmentations is not None:
            self.segmentation += [segmentations[i] for i in kept]

    def _count(self, images: list[Any], categories: list[Any], image_ids: dict, category_ids: dict,
               named: np.ndarray, known: np.ndarray) -> None:  # fmt: skip
        unnamed = np.flatnonzero(~named)
        if unnamed.size:
            self.accounting.no_image += int(unnamed.size)
            self.accounting.note("no_image", str(images[unnamed[0]]))
        unknown = np.flatnonzero(named & ~known)
        if unknown.size:
            self.accounting.unknown_category += int(unknown.size)
            self.accounting.note("unknown_category", str(categories[unknown[0]]))

    def detections(self, iou_type: str) -> Detections:
        parts = self.columns or [(np.zeros(0, int), np.zeros(0, int), np.zeros((0, 4)),
                                  np.zeros(0))]  # fmt: skip
        found = Detections(np.concatenate([p[0] for p in parts]).astype(np.int64),
                           np.concatenate([p[1] for p in parts]).astype(np.int64),
                           np.concatenate([p[2] for p in parts]).reshape(-1, 4),
                           np.concatenate([p[3] for p in parts]).astype(float))  # fmt: skip
        if iou_type == "segm":
            if len(self.segmentation) != found.image_id.size:
                raise UsageError("--iou_type segm needs a segmentation for every prediction")
            found.segmentation = self.segmentation
        return found


def predictions(
    path: str, truth: GroundTruth, copies: list[Copy], output: str, iou_type: str
) -> tuple[Detections, Accounting]:
    """The predictions at `path` (a file or a folder, local or gs://), in whichever format it
    is, matched to the ground truth's images and categories."""
    builder = _Builder(truth, copies, output)
    lower = path.lower().rstrip("/")
    if lower.endswith(".json"):
        _coco_results(path, builder)
    elif lower.endswith((".csv", ".parquet", ".pq")):
        _table(path, builder)
    elif storage.list_files(keys.join(path, "**.txt")):
        _ultralytics(path, builder, copies)
    else:
        raise UsageError(f"--predictions {path}: not a COCO results JSON, a CSV or Parquet "
                         "table, nor a folder of Ultralytics .txt prediction files")  # fmt: skip
    found = builder.detections(iou_type)
    if found.image_id.size == 0 and builder.accounting.no_image:
        example = builder.accounting.examples.get("no_image")
        raise UsageError(f"--predictions {path}: no prediction names an image of the log (e.g. "
                         f"{example!r}): predictions of another dataset?")  # fmt: skip
    builder.accounting.without_predictions = len(builder.ids - set(found.image_id.tolist()))
    return found, builder.accounting


def _coco_results(path: str, builder: _Builder) -> None:
    try:
        data = json.loads(storage.read_bytes(path, 1 << 36))
    except Exception as error:
        raise UsageError(f"--predictions {path} cannot be read as JSON: {error}") from error
    if isinstance(data, dict) and "annotations" in data:
        data = data["annotations"]
    if not isinstance(data, list) or (data and not isinstance(data[0], dict)):
        raise UsageError(f"--predictions {path}: not a COCO results JSON (a list of detections "
                         "with image_id, category_id, bbox, score)")  # fmt: skip
    for item in data:
        if not isinstance(item, dict) or ("bbox" not in item and "segmentation" not in item):
            raise UsageError(f"--predictions {path}: a detection without bbox: {item!r:.200}")
    boxes = np.array([item["bbox"] if item.get("bbox") else _box_of(item["segmentation"])
                      for item in data], float).reshape(-1, 4)  # fmt: skip
    segmentations = [item.get("segmentation") for item in data]
    masks = segmentations if any(s is not None for s in segmentations) else None
    builder.add_many([item.get("image_id") for item in data],
                     [item.get("category_id") for item in data], boxes,
                     np.array([item.get("score", 1.0) for item in data], float), masks)  # fmt: skip


def _box_of(segmentation: Any) -> list[float]:
    from faster_coco_eval.core import mask as mask_utils

    return [float(v) for v in mask_utils.toBbox(segmentation)]


def _table(path: str, builder: _Builder) -> None:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    data = storage.read_bytes(path, 1 << 36)
    try:
        table = (pq.read_table(io.BytesIO(data)) if path.lower().endswith(("parquet", "pq"))
                 else pacsv.read_csv(io.BytesIO(data)))  # fmt: skip
    except Exception as error:
        raise UsageError(f"--predictions {path} cannot be read as a table: {error}") from error
    missing = [c for c in PREDICTION_COLUMNS if c not in table.column_names]
    if missing:
        raise UsageError(f"--predictions {path} lacks the columns {', '.join(missing)} (a "
                         f"table has {', '.join(PREDICTION_COLUMNS)})")  # fmt: skip
    corners = np.column_stack([np.asarray(table.column(c).to_numpy(), float)
                               for c in ("x_min", "y_min", "x_max", "y_max")])  # fmt: skip
    boxes = np.column_stack([corners[:, :2], corners[:, 2:] - corners[:, :2]])
    builder.add_many(table.column("image").to_pylist(), table.column("category").to_pylist(),
                     boxes, np.asarray(table.column("score").to_numpy(), float))  # fmt: skip


def _ultralytics(path: str, builder: _Builder, copies: list[Copy]) -> None:
    """Ultralytics' `predict(save_txt=True, save_conf=True)` files: `cls cx cy w h conf`
    normalised, one file per image that has detections, named by the image's stem (or its
    relative path)."""
    base = path.rstrip("/") + "/"
    covered: set[int] = set()
    # Ultralytics numbers a model's classes from 0; a COCO JSON's ids start at 1 and have gaps
    # (80 classes among ids 1-90): class i is then the i-th category in id order, as
    # Ultralytics' own COCO conversion (coco80 to coco91) has it
    ids = sorted(int(c["id"]) for c in builder.truth.categories)
    index = dict(enumerate(ids)) if ids != list(range(len(ids))) else {i: i for i in ids}
    for file in storage.list_files(keys.join(path, "**.txt")):
        name = file[len(base) :] if file.startswith(base) else posixpath.basename(file)
        image_id = builder.image_id(name)
        lines = [line.split() for line in _read_text(file).splitlines() if line.split()]
        if image_id is None:
            builder.accounting.no_image += len(lines)
            builder.accounting.note("no_image", name)
            continue
        covered.add(image_id)
        width, height = builder.sizes[image_id]
        for values in lines:
            if len(values) < 6:
                continue
            cls, (cx, cy, w, h, conf) = values[0], (float(v) for v in values[1:6])
            box = [(cx - w / 2) * width, (cy - h / 2) * height, w * width, h * height]
            builder.add(image_id, index.get(int(cls), -1), box, conf)
    builder.accounting.without_file = len(builder.ids - covered)
