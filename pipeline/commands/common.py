"""What several commands declare alike, and how they write a result."""

from __future__ import annotations

import argparse
import sys

from blur_augment.transforms.sampling import BLUR_KINDS

# `report --by` and `evaluate --by`: the default is each kind's descriptor's level column.
BY_HELP = (
    "a numeric log column to bin on (default: each kind's parameter: "
    + ", ".join(kind.level for kind in BLUR_KINDS.values())
    + "; a ladder's steps)"
)
TABLE_FORMATS = ("table", "csv", "json")


def log_dir_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("log_dir", help="the --log directory of a run (local or gs://)")


def write(path: str, data: bytes, what: str) -> None:
    """`data` written to `path` (local or gs://), said on stderr."""
    from blur_augment.transforms.io import storage

    storage.write_bytes(path, data)
    print(f"{what} written to {path}", file=sys.stderr)
