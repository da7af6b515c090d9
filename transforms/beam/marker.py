"""The completion marker: LOG/_SUCCESS (JSON: the shards, the row counts and the dataset
files with their hashes), written last, once every shard and dataset file is in place. A run
that fails or is interrupted leaves none."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import apache_beam as beam

from blur_augment.transforms.io import storage


class WriteMarker(beam.DoFn):
    """(a trigger) -> the marker's path, once the side inputs (every shard, every dataset file,
    the row counts) are complete."""

    def __init__(self, path: str) -> None:
        self._path = path

    def process(
        self, _: None, log_shards: list[str], error_shards: list[str], dataset_files: list[Any],
        log_rows: int, error_rows: int, object_shards: list[str] | None = None,
    ) -> Iterator[str]:  # fmt: skip
        marker = {
            "log_rows": log_rows,
            "error_rows": error_rows,
            "log_shards": sorted(log_shards),
            "error_shards": sorted(error_shards),
            "dataset_files": len(dataset_files),
            # added in 0.4: what `verify` checks the index and other files against
            "dataset_file_hashes": {
                f.uri: {"bytes": f.size, "sha256": f.sha256}
                for f in sorted(dataset_files, key=lambda f: f.uri)
            },
        }
        if object_shards:  # added in 0.6: --object_blur's table
            marker["object_shards"] = sorted(object_shards)
        storage.write_bytes(self._path, json.dumps(marker, indent=1).encode())
        yield self._path
