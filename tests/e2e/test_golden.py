"""The refactoring guard: a fixed job (loose images, a YOLO and a COCO dataset, a WebDataset
and a Parquet shard) makes exactly the rows, errors and bytes recorded before the code was
reorganised (tests/support/golden.py says how the record is made)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.golden import RECORD, run_job

# Columns that hash or count encoded bytes: the encoder's, compared under its recorded version.
ENCODED = ("output_bytes", "output_sha256")


def _decoded_only(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in ENCODED} for row in rows]


def test_the_golden_job_reproduces_its_record(tmp_path: Path):
    recorded = json.loads(RECORD.read_text())
    made = json.loads(json.dumps(run_job(tmp_path)))  # the record's own types (lists, not tuples)
    same_encoder = made.pop("opencv") == recorded.pop("opencv")
    for name, expected in recorded.items():
        got = made[name]
        assert got["pixels"] == expected["pixels"], name  # lossless outputs pixel for pixel
        if same_encoder:  # and every output byte for byte
            assert got["files"] == expected["files"], name
            assert got["rows"] == expected["rows"], name
        else:
            assert got["files"].keys() == expected["files"].keys(), name
            assert _decoded_only(got["rows"]) == _decoded_only(expected["rows"]), name
        assert got["errors"] == expected["errors"], name
        assert got["dataset_files"] == expected["dataset_files"], name
