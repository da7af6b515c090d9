"""The Parquet schemas of the blur log and the error table: a public contract.

Later versions may add columns, never rename or retype these.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from blur_augment.transforms.sampling import BLUR_KINDS, OBJECT_COLUMNS, PARAMETERS

METADATA_KEY = b"blur_augment"
SHARD_GLOB = "*.parquet"  # the shards of a log or error directory
MARKER = "_SUCCESS"  # written into the log directory when a run has finished
DEFAULT_LOG_DIR = "_blur_log"  # under --output, unless --log says otherwise
DEFAULT_ERRORS_DIR = "_blur_errors"  # under --output, unless --errors says otherwise
DEFAULT_OBJECTS_DIR = "_blur_objects"  # --object_blur: under --output, unless --objects_log

_ARROW = {float: pa.float64(), int: pa.int32()}  # a kind parameter's column type


def _kind_columns(added: str) -> list[tuple[str, pa.DataType]]:
    """The parameter columns of the kinds a version added, in the descriptors' order."""
    return [(p.name, _ARROW[p.type]) for kind in BLUR_KINDS.values() if kind.added == added
            for p in kind.parameters]  # fmt: skip


LOG_SCHEMA = pa.schema(
    [
        ("key", pa.string()),
        ("source_uri", pa.string()),
        ("output_uri", pa.string()),
        ("copy_index", pa.int32()),
        ("seed", pa.int64()),
        ("applied", pa.bool_()),
        ("sigma_x", pa.float64()),
        ("sigma_y", pa.float64()),
        ("kernel_width", pa.int32()),
        ("kernel_height", pa.int32()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("channels", pa.int32()),
        ("dtype", pa.string()),
        ("format", pa.string()),
        ("source_bytes", pa.int64()),
        ("output_bytes", pa.int64()),
        ("output_sha256", pa.string()),
        # Added after the first release: the EXIF orientation tag (1-8) kept in the output, 0
        # when the image has none. Pixels are never rotated; viewers apply the tag.
        ("exif_orientation", pa.int32()),
        # How the pixels were blurred: "exact", "pyramid2" or "pyramid4" (the large-sigma fast
        # path), "none" when they were not (the kernel columns keep the exact rule's size).
        ("blur_method", pa.string()),
        # Added with dataset layouts: the image's split ("" when the dataset has none) and the
        # annotation files written for this copy (YOLO .txt, VOC .xml, masks). The COCO JSONs
        # and VOC lists that name it are in the metadata (dataset.index_files).
        ("split", pa.string()),
        ("label_uris", pa.list_(pa.string())),
        # Added with the planar JPEG path: how the image was decoded and encoded. "yuv_planes"
        # (a JPEG blurred as stored, luma and subsampled chroma planes), "pixels" (decoded to
        # full-resolution pixels), "none" when the pixels were not blurred (as blur_method).
        ("codec_path", pa.string()),
        # Added in 0.4: the sha256 of each file in label_uris, in the same order, so that
        # `blur-augment verify` checks label files and masks as it checks the images.
        ("label_sha256", pa.list_(pa.string())),
        # Added in 0.5 with the blur kinds: the copy's kind (gaussian, motion, defocus, zoom,
        # glass; "none" when not blurred) and each kind's drawn parameters, as its descriptor
        # names them (sampling.BLUR_KINDS; 0 where a kind has none); for a benchmark
        # corruption, its name and severity.
        ("blur_kind", pa.string()),
        *_kind_columns(added="0.5"),
        ("corruption", pa.string()),
        ("severity", pa.int32()),
        # Added in 0.6: camera shake's path length, and how many of the copy's labelled
        # objects --object_blur blurred, each its own way (their rows: the object table).
        *_kind_columns(added="0.6"),
        ("objects_blurred", pa.int32()),
    ]
)

# --object_blur's table (OUTPUT/_blur_objects): a row per copy and labelled object, in the
# order of the source's annotations. `annotation_id` is the copy's annotation in the output
# COCO JSON (null for YOLO and VOC, which have no ids); the box is in pixels (x, y, width,
# height); `mask` says where its support came from (mask, polygon, box); the blur columns are
# the log's, for the object's own draw ("none" and zeros when it was left sharp).
OBJECT_SCHEMA = pa.schema(
    [
        ("key", pa.string()),
        ("copy_index", pa.int32()),
        ("output_uri", pa.string()),
        ("object_index", pa.int32()),
        ("annotation_id", pa.int64()),
        ("source_annotation_id", pa.int64()),
        ("category", pa.string()),
        ("box_x", pa.float64()),
        ("box_y", pa.float64()),
        ("box_width", pa.float64()),
        ("box_height", pa.float64()),
        ("mask", pa.string()),
        ("applied", pa.bool_()),
        ("blur_kind", pa.string()),
        *[
            (name, _ARROW[PARAMETERS[name].type] if name in PARAMETERS else pa.float64())
            for name in OBJECT_COLUMNS
        ],
    ]
)

ERROR_SCHEMA = pa.schema(
    [
        ("key", pa.string()),
        ("source_uri", pa.string()),
        ("copy_index", pa.int32()),
        ("stage", pa.string()),
        ("error_type", pa.string()),
        ("message", pa.string()),
    ]
)


def with_run_metadata(schema: pa.Schema, run: Mapping[str, Any]) -> pa.Schema:
    """The schema carrying the run's parameters, so that a log says by itself how it was made."""
    return schema.with_metadata({METADATA_KEY: json.dumps(dict(run), sort_keys=True).encode()})


def run_metadata(schema: pa.Schema) -> dict[str, Any]:
    """The run parameters stored by `with_run_metadata`, or {} for a foreign file."""
    raw = (schema.metadata or {}).get(METADATA_KEY)
    return json.loads(raw) if raw else {}
