"""Parquet shards with an image column: the Hugging Face `datasets` layout (an `Image` feature
stored as a struct of `bytes` and `path`) or a plain binary column. Every other column is
carried unchanged and the output keeps the input's schema and its metadata (the `huggingface`
features), so `datasets.load_dataset("parquet", ...)` reads the copies as it read the source.
Pure: Arrow schemas and tables in and out.
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

from blur_augment.transforms.keys import output_key

HF_METADATA = b"huggingface"


class ShardError(ValueError):
    """A Parquet file that holds no image column this tool can read."""


def _is_binary(data_type: pa.DataType) -> bool:
    return pa.types.is_binary(data_type) or pa.types.is_large_binary(data_type)


def is_image_struct(data_type: pa.DataType) -> bool:
    """A struct with a binary `bytes` field (and usually a string `path`), as `datasets`
    stores an Image feature."""
    if not pa.types.is_struct(data_type):
        return False
    index = data_type.get_field_index("bytes")
    return index >= 0 and _is_binary(data_type.field(index).type)


def _hf_image_features(schema: pa.Schema) -> list[str]:
    """The columns the `huggingface` metadata declares as Image features, in order."""
    raw = (schema.metadata or {}).get(HF_METADATA)
    if not raw:
        return []
    try:
        features = json.loads(raw).get("info", {}).get("features", {})
    except (ValueError, AttributeError):
        return []
    return [
        name
        for name, feature in features.items()
        if isinstance(feature, dict) and feature.get("_type") == "Image"
    ]


def image_column(schema: pa.Schema, requested: str | None = None) -> str:
    """The column that holds the images: `requested` (--image_column) when given, else the
    first Image feature of the `huggingface` metadata, else the first struct of bytes and
    path. ShardError, naming the columns, when there is none (or when two columns share a
    name: no writer can write that schema, and no reader can tell the two apart)."""
    twice = sorted({name for name in schema.names if schema.names.count(name) > 1})
    if twice:
        raise ShardError(f"the schema has several columns named {', '.join(map(repr, twice))}")
    if requested:
        if requested not in schema.names:
            raise ShardError(
                f"no column {requested!r} (--image_column); its columns: {', '.join(schema.names)}"
            )
        data_type = schema.field(requested).type
        if not (_is_binary(data_type) or is_image_struct(data_type)):
            raise ShardError(
                f"column {requested!r} is {data_type}, neither binary nor a struct of bytes "
                "and path"
            )
        return requested
    for name in _hf_image_features(schema):
        if name in schema.names and is_image_struct(schema.field(name).type):
            return name
    for field in schema:
        if is_image_struct(field.type):
            return field.name
    raise ShardError(
        "no image column: no Hugging Face Image feature and no struct of bytes and path; name "
        f"a binary column with --image_column (its columns: {', '.join(schema.names)})"
    )


def image_of(value: Any) -> tuple[bytes | None, str | None]:
    """(image bytes, path) of a cell of the image column (a struct or plain bytes)."""
    if value is None:
        return None, None
    if isinstance(value, dict):
        return value.get("bytes"), value.get("path")
    return bytes(value), None


def copied_value(value: Any, data: bytes, copy_index: int, numbered: bool) -> Any:
    """The cell of a copy: its bytes, and the path renamed as a loose file's copy would be."""
    if not isinstance(value, dict):
        return data
    path = value.get("path")
    return {
        **value,
        "bytes": data,
        "path": output_key(path, copy_index, numbered) if path else path,
    }


def copied_rows(table: pa.Table, column: str, rows: list[int], cells: list[Any]) -> pa.Table:
    """Rows `rows` of `table` (a row repeated once per copy made of it), with the image column
    replaced by `cells`; every other column taken as it is."""
    taken = table.take(pa.array(rows, pa.int64()))
    index = table.schema.get_field_index(column)
    field = table.schema.field(index)
    return taken.set_column(index, field, pa.array(cells, type=field.type))


def image_cells(source: Any, rows: set[int], column: str) -> dict[int, bytes | None]:
    """The image bytes of the given rows of a `pyarrow.parquet.ParquetFile`, reading only the
    row groups that hold them."""
    found: dict[int, bytes | None] = {}
    start = 0
    for group in range(source.metadata.num_row_groups):
        count = source.metadata.row_group(group).num_rows
        wanted = sorted(r for r in rows if start <= r < start + count)
        if wanted:
            cells = source.read_row_group(group, columns=[column]).column(column)
            for row in wanted:
                found[row] = image_of(cells[row - start].as_py())[0]
        start += count
    return found
