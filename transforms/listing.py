"""Listing --input one level at a time, so that a big tree is listed by many workers.

Beam's `FileSystems.match` lists a whole prefix page by page in one thread and holds every name
before returning. For a directory (or a `prefix/**` pattern) the pipeline instead lists its first
level here (the files directly in it, and its sub-directories: a delimiter listing on gs://,
`os.scandir` on local disks), and then each sub-directory is matched in its own element after a
Reshuffle. Other schemes and other patterns are matched whole, as before. Part of the Beam layer.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from apache_beam.io.filesystems import FileSystems

FILE = "file"  # a file found by the first-level listing: classified as it is
PREFIX = "prefix"  # a sub-directory: matched whole (PREFIX**) in its own element
PATTERN = "pattern"  # a pattern this module cannot split: matched whole in one element


def brace_paths(pattern: str) -> list[str] | None:
    """The paths a brace list names (`train-{000000..000127}.tar`, `{a,b}/x.jpg`), as the
    `braceexpand` package expands them for webdataset; None when there is no brace list."""
    if "{" not in pattern:
        return None
    from braceexpand import braceexpand

    paths = list(braceexpand(pattern))
    return None if paths == [pattern] else paths


def first_level(directory: str) -> Iterator[tuple[str, str]] | None:
    """(FILE, path) and (PREFIX, path/) for what lies directly in `directory`, or None when its
    filesystem cannot list one level at a time (match it whole instead). Symbolic links to
    directories are not followed, as Beam's own recursive match does not follow them."""
    scheme = FileSystems.get_scheme(directory)
    if scheme in (None, "file"):
        return _local(directory)
    if scheme == "gs":
        return _gcs(directory)
    return None


def _local(directory: str) -> Iterator[tuple[str, str]]:
    try:
        entries = os.scandir(directory)
    except (FileNotFoundError, NotADirectoryError):
        return
    with entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                yield PREFIX, entry.path + "/"
            elif entry.is_file():
                yield FILE, entry.path


def _gcs(directory: str) -> Iterator[tuple[str, str]]:
    """A delimiter listing through the same google-cloud-storage client Beam's GCS filesystem
    uses (anonymous against an emulator, see storage.py)."""
    from apache_beam.io.gcp import gcsio

    bucket, _, prefix = directory[len("gs://") :].partition("/")
    blobs = gcsio.GcsIO().client.list_blobs(bucket, prefix=prefix, delimiter="/")
    for blob in blobs:  # every page: the sub-prefixes are known once the last one is read
        if not blob.name.endswith("/"):  # a folder placeholder object is no file
            yield FILE, f"gs://{bucket}/{blob.name}"
    for sub_prefix in sorted(blobs.prefixes):
        yield PREFIX, f"gs://{bucket}/{sub_prefix}"
