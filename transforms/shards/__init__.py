"""Sharded datasets: WebDataset tar shards and Parquet files with an image column (the Hugging
Face `datasets` layout). Pure: streams and tables in, streams and tables out; no Beam, no
storage (the shard step, `transforms/beam/shards.py`, opens the streams)."""

from __future__ import annotations

TAR = "webdataset"
PARQUET = "parquet"
MEMBER_SEPARATOR = "#"  # shard.tar#000123.jpg, shard.parquet#17: an image inside a shard


def shard_kind(key: str) -> str | None:
    """TAR for a `.tar` file, PARQUET for a `.parquet` file (any case), None otherwise."""
    lower = key.lower()
    if lower.endswith(".tar"):
        return TAR
    if lower.endswith(".parquet"):
        return PARQUET
    return None


def item_uri(shard_uri: str, item: str | int) -> str:
    """The URI of an image inside a shard: the shard's, '#', the member name or row number."""
    return f"{shard_uri}{MEMBER_SEPARATOR}{item}"


def split_item_uri(uri: str) -> tuple[str, str] | None:
    """(shard URI, member name or row number) of an item URI, None for a plain file's URI."""
    for suffix in (".tar", ".parquet"):
        at = uri.lower().rfind(suffix + MEMBER_SEPARATOR)
        if at >= 0:
            end = at + len(suffix)
            return uri[:end], uri[end + 1 :]
    return None
