"""The refactoring guard: a fixed job (loose images, a YOLO and a COCO dataset, a WebDataset
and a Parquet shard) makes exactly the rows, errors and bytes recorded before the code was
reorganised (tests/support/golden.py says how the record is made)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.golden import RECORD, run_job


def test_the_golden_job_reproduces_its_record(tmp_path: Path):
    recorded = json.loads(RECORD.read_text())
    made = json.loads(json.dumps(run_job(tmp_path)))  # the record's own types (lists, not tuples)
    for name, expected in recorded.items():
        got = made[name]
        assert got["files"] == expected["files"], name  # every output byte for byte
        assert got["rows"] == expected["rows"], name
        assert got["errors"] == expected["errors"], name
        assert got["dataset_files"] == expected["dataset_files"], name
