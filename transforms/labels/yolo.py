"""YOLO labels (Ultralytics and Roboflow exports): one .txt per image, and a data.yaml.

A copy's label file is its source's, byte for byte: rows are normalised to the image size, and
blur keeps the size. The file is still parsed, so that a broken one fails loudly instead of
turning every copy into a background image.
"""

from __future__ import annotations

import math
import posixpath
from collections.abc import Callable
from dataclasses import dataclass

import yaml

from blur_augment.transforms.labels.errors import LabelError

SPLIT_KEYS = ("train", "val", "test", "minival")


@dataclass(frozen=True)
class Row:
    """One object of a YOLO label file: its class and its numbers, normalised to the image."""

    line: int  # from 1
    cls: int
    values: tuple[float, ...]

    def polygon(self, keypoints: bool) -> tuple[float, ...]:
        """Its outline (x1, y1, x2, y2, ...), or () when it is a box: a row of four numbers,
        or a pose row (box then keypoints) in a dataset whose data.yaml gives `kpt_shape`.
        Otherwise more than four numbers are a polygon, as Ultralytics reads them."""
        return () if keypoints or len(self.values) == 4 else self.values

    def box(self, keypoints: bool) -> tuple[float, float, float, float]:
        """(x_center, y_center, width, height): a box or pose row's own, a polygon's bounds."""
        outline = self.polygon(keypoints)
        if not outline:
            cx, cy, w, h = self.values[:4]
            return cx, cy, w, h
        xs, ys = outline[0::2], outline[1::2]
        return ((min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2, max(xs) - min(xs),
                max(ys) - min(ys))  # fmt: skip


def rows(data: bytes) -> list[Row]:
    """A YOLO label file's objects, validated: each row is `class x y w h`, a polygon
    `class x1 y1 x2 y2 ...` or a pose row, with an integer class >= 0 and finite numbers
    (Ultralytics' own rows); blank lines are allowed. The one parser of YOLO rows: the run
    checks a label file with it, `evaluate` reads ground truth with it."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise LabelError(f"YOLO label file is not UTF-8 text ({error.reason})") from error
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) < 5:
            raise LabelError(
                f"YOLO label line {number} has {len(fields)} fields; a row is "
                "'class x_center y_center width height' (or a polygon or pose row)"
            )
        try:
            cls = int(fields[0])
            values = tuple(float(v) for v in fields[1:])
        except ValueError as error:
            raise LabelError(
                f"YOLO label line {number} is not numeric: {line.strip()!r}"
            ) from error
        if cls < 0 or not all(math.isfinite(v) for v in values):
            raise LabelError(f"YOLO label line {number} has a negative class or a non-finite value")
        found.append(Row(number, cls, values))
    return found


def check_label(data: bytes) -> int:
    """Validate a YOLO label file (`rows`); returns its number of objects."""
    return len(rows(data))


def _relative(value: str) -> str:
    """A split path of data.yaml relative to the dataset root, as Ultralytics resolves it (a
    leading '../', as in Roboflow's exports, falls back to the root itself)."""
    while value.startswith("../"):
        value = value[3:]
    return value.lstrip("./") if value.startswith("./") else value


def yaml_split_dirs(text: str) -> dict[str, list[str]]:
    """The split paths of a data.yaml (`train: ...` etc.), relative to the dataset root."""
    data = load_yaml(text)
    found: dict[str, list[str]] = {}
    for name in SPLIT_KEYS:
        value = data.get(name)
        if isinstance(value, str):
            found[name] = [_relative(value)]
        elif isinstance(value, list):
            found[name] = [_relative(str(v)) for v in value]
    return found


MAX_YAML_NODES = 100_000  # a data.yaml of 80 classes has a few hundred


def _expanded_nodes(data: object, budget: int) -> int:
    """How many nodes `data` has with every alias expanded (as a dump would write it), or
    budget + 1 as soon as there are more: a few bytes of nested aliases expand to billions."""
    count, pending = 0, [data]
    while pending:
        value = pending.pop()
        count += 1
        if count > budget:
            return count
        if isinstance(value, dict):
            pending += list(value.keys()) + list(value.values())
        elif isinstance(value, list):
            pending += value
    return count


def load_yaml(text: str) -> dict:
    """A data.yaml as a mapping, refused when it is not one or when its aliases expand to
    more than MAX_YAML_NODES nodes (a "billion laughs" file)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise LabelError(f"data.yaml is not valid YAML: {_yaml_problem(error)}") from error
    except RecursionError:
        raise LabelError("data.yaml is nested too deeply to read") from None
    if not isinstance(data, dict):
        raise LabelError("data.yaml is not a mapping of keys (train, val, names, ...)")
    if _expanded_nodes(data, MAX_YAML_NODES) > MAX_YAML_NODES:
        raise LabelError(
            f"data.yaml expands to more than {MAX_YAML_NODES:,} values through its aliases "
            "(&anchor / *alias); refused rather than expanded"
        )
    return data


def _yaml_problem(error: yaml.YAMLError) -> str:
    """YAML's complaint in one line: its problem and where (not its excerpt of the file)."""
    if isinstance(error, yaml.MarkedYAMLError):
        where = error.problem_mark or error.context_mark
        place = f" (line {where.line + 1}, column {where.column + 1})" if where else ""
        problem = error.problem or error.context or "not valid"
        return " ".join(f"{problem}{place}".split())
    return " ".join(str(error).split())


def rewrite_data_yaml(
    text: str, output_root: str, source_root: str, in_output: Callable[[str], bool]
) -> str:
    """data.yaml for the output: `path` is the output root, and every split path points inside
    it when that split was written (`in_output(relative_path)`), else at the source's folder
    (absolute), so a run without --include_originals still validates on the originals."""
    data = load_yaml(text)
    declared = str(data.get("path") or "")
    if posixpath.isabs(declared) or "://" in declared:
        source_root = declared
    data["path"] = output_root

    def place(value: str) -> str:
        relative = _relative(value)
        if in_output(relative):
            return relative
        if posixpath.isabs(value) or "://" in value:
            return value
        return source_root.rstrip("/") + "/" + relative

    for name in SPLIT_KEYS:
        value = data.get(name)
        if isinstance(value, str):
            data[name] = place(value)
        elif isinstance(value, list):
            data[name] = [place(str(v)) for v in value]
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
