"""The bytes of images by the URIs a log names them by: plain files, members of tar shards
(`SHARD.tar#NAME`) and image cells of Parquet rows (`SHARD.parquet#ROW`), each shard opened
once for all its items. The storage layer (used by `report --html` and `verify`)."""

from __future__ import annotations

from typing import Any

import pyarrow.parquet as pq

from blur_augment.transforms.io import storage
from blur_augment.transforms.shards import TAR, parquet, shard_kind, split_item_uri, webdataset


def read_items(uris: list[str], image_column: str | None = None) -> dict[str, bytes | Exception]:
    """The bytes of images by the URIs the log names them by: files, members of tar shards
    (`SHARD.tar#NAME`) and image cells of Parquet rows (`SHARD.parquet#ROW`); each shard is
    opened once for all its items. An item that cannot be read maps to the exception why."""
    found: dict[str, bytes | Exception] = {}
    by_shard: dict[str, dict[str, str]] = {}
    for uri in uris:
        parts = split_item_uri(uri)
        if parts is None:
            try:
                found[uri] = storage.read_bytes(uri)
            except Exception as error:
                found[uri] = error
        else:
            by_shard.setdefault(parts[0], {})[parts[1]] = uri
    for shard, items in by_shard.items():
        try:
            with storage.open_read(shard) as stream:
                if shard_kind(shard) == TAR:
                    data: dict[Any, bytes | None] = dict(
                        webdataset.find_members(stream, set(items))
                    )
                    cells = {name: data.get(name) for name in items}
                else:
                    source = pq.ParquetFile(stream)
                    column = parquet.image_column(source.schema_arrow, image_column)
                    data = parquet.image_cells(source, {int(i) for i in items}, column)
                    cells = {item: data.get(int(item)) for item in items}
        except Exception as error:
            cells = {item: error for item in items}  # type: ignore[misc]
        for item, uri in items.items():
            value = cells[item]
            found[uri] = value if value is not None else LookupError(f"{item} is not in {shard}")
    return found
