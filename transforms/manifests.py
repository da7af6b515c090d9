"""--input_manifest, the pure part: which kind of manifest a path is, and the URI a CSV or
Parquet record names (its column, or an inventory report's bucket and name). The Beam layer
(`transforms.beam.manifest`) reads the manifests."""

from __future__ import annotations

from typing import Any

DEFAULT_COLUMN = "uri"


class ManifestError(ValueError):
    """A manifest that cannot be read as one: no URI column, say. The run fails with it."""


def kind_of(path: str) -> str:
    """'parquet', 'csv' or 'text', from the manifest's extension."""
    lower = path.lower()
    if lower.endswith((".parquet", ".pq")):
        return "parquet"
    return "csv" if lower.endswith(".csv") else "text"


def uri_of(record: dict[str, Any], column: str) -> str:
    """The URI a CSV or Parquet record names: its `column`, else an inventory report's
    gs://bucket/name."""
    if column in record:
        return str(record[column] or "").strip()
    if "bucket" in record and "name" in record:
        return f"gs://{record['bucket']}/{record['name']}"
    raise ManifestError(
        f"the manifest has no column {column!r} (--manifest_column) and no bucket and name "
        f"columns (an inventory report); its columns: {', '.join(record)}"
    )
