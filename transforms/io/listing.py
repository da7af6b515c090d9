"""Listing --input one level at a time, so that a big tree is listed by many workers.

Beam's `FileSystems.match` lists a whole prefix page by page in one thread and holds every name
before returning. For a directory (or a `prefix/**` pattern) the pipeline instead lists its first
level here (the files directly in it, and its sub-directories: a delimiter listing on gs://,
`os.scandir` on local disks), and then each sub-directory is matched in its own element after a
Reshuffle. Other schemes and other patterns are matched whole. The storage layer.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Iterator

from apache_beam.io.filesystems import FileSystems

from blur_augment.transforms.io.storage import file_kind

FILE = "file"  # a file found by the first-level listing: classified as it is
PREFIX = "prefix"  # a sub-directory: matched whole (PREFIX**) in its own element
PATTERN = "pattern"  # a pattern this module cannot split: matched whole in one element
DIRECTORY = "directory"  # a symbolic link to a directory: not followed
SKIPPED = "skipped"  # not a regular file (FIFO, device, socket, a link that loops or dangles)


def brace_paths(pattern: str) -> list[str] | None:
    """The paths a brace list names (`train-{000000..000127}.tar`, `{a,b}/x.jpg`), as the
    `braceexpand` package expands them for webdataset; None when there is no brace list."""
    if "{" not in pattern:
        return None
    from braceexpand import braceexpand

    paths = list(braceexpand(pattern))
    return None if paths == [pattern] else paths


def first_level(directory: str) -> Iterator[tuple[str, str]] | None:
    """(FILE, path) and (PREFIX, path/) for what lies directly in `directory` (and (SKIPPED,
    path, why) for local entries that are not regular files), or None when its filesystem
    cannot list one level at a time (match it whole instead). Symbolic links to directories
    are not followed, as Beam's own recursive match does not follow them."""
    scheme = FileSystems.get_scheme(directory)
    if scheme in (None, "file"):
        return _local(directory, recursive=False)
    if scheme == "gs":
        return _gcs(directory)
    return None


def files_under(kind: str, path: str) -> Iterator[tuple[str, str]]:
    """What one element of the listing holds, as (FILE, path) or (SKIPPED, why): a file
    itself, every file below a sub-directory (listed, never matched as a pattern, so a folder
    called `photos [2019]` or `q?` is taken as named), or a pattern's matches."""
    if kind in (FILE, SKIPPED):
        yield kind, path
        return
    if kind == PREFIX:
        scheme = FileSystems.get_scheme(path)
        if scheme in (None, "file"):
            yield from _local(path, recursive=True)
            return
        if scheme == "gs":
            yield from _gcs_all(path)
            return
        path = escape(path) + "**"  # another filesystem: its own match, the name escaped
    for metadata in FileSystems.match([path])[0].metadata_list:
        if FileSystems.get_scheme(metadata.path) not in (None, "file"):
            yield FILE, metadata.path
            continue
        found, what = _local_entry(metadata.path)
        if found != DIRECTORY:
            yield found, what


def escape(path: str) -> str:
    """`path` as a Beam match pattern that matches exactly itself: each glob character in
    brackets (Beam's patterns have no escape character, but `[[]` is a literal '[')."""
    return _GLOB.sub(lambda m: f"[{m.group(0)}]", path)


_GLOB = re.compile(r"[*?\[]")


def _local_entry(path: str) -> tuple[str, str]:
    """(FILE, path) for a regular file or a symbolic link to one, (DIRECTORY, path) for a link
    to a directory, else (SKIPPED, why)."""
    try:
        mode = os.stat(path).st_mode
    except OSError as error:  # a link that loops or dangles, a file that vanished
        what = "loops" if error.errno == errno.ELOOP else "dangles or vanished"
        return SKIPPED, f"{path}: a symbolic link that {what} ({error.strerror})"
    if stat.S_ISREG(mode):
        return FILE, path
    if stat.S_ISDIR(mode):
        return DIRECTORY, path
    return SKIPPED, f"{path}: {file_kind(mode)}, not a regular file"


def _local(directory: str, recursive: bool) -> Iterator[tuple[str, str]]:
    """A local directory's regular files (symbolic links followed to regular files only),
    its sub-directories (as PREFIX, or walked when `recursive`) and, as SKIPPED, every other
    entry with the reason. Links to directories are not followed, as Beam's match does not
    follow them. Nothing is opened, so a FIFO or a device costs one stat and never blocks."""
    pending = [directory]
    while pending:
        current = pending.pop()
        try:
            entries = os.scandir(current)
        except (FileNotFoundError, NotADirectoryError):
            continue
        with entries:
            found = sorted(entries, key=lambda e: e.name)
        for entry in found:
            if entry.is_dir(follow_symlinks=False):
                if recursive:
                    pending.append(entry.path + "/")
                else:
                    yield PREFIX, entry.path + "/"
                continue
            kind, what = _local_entry(entry.path)
            if kind != DIRECTORY:
                yield kind, what


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


def _gcs_all(prefix_uri: str) -> Iterator[tuple[str, str]]:
    """Every object under a prefix, by prefix (a name is never read as a pattern)."""
    from apache_beam.io.gcp import gcsio

    bucket, _, prefix = prefix_uri[len("gs://") :].partition("/")
    for blob in gcsio.GcsIO().client.list_blobs(bucket, prefix=prefix):
        if not blob.name.endswith("/"):
            yield FILE, f"gs://{bucket}/{blob.name}"
