"""WebDataset tar shards: samples as the `webdataset` package groups them, and copies of them.

A sample is a run of consecutive members sharing a key: the member name up to the first dot of
its base name (`dir/000123.jpg`, `dir/000123.seg.png` and `dir/000123.cls` are the sample
`dir/000123` with the suffixes `jpg`, `seg.png` and `cls`), exactly webdataset's
`base_plus_ext` rule. Its image members are those whose whole suffix is an image extension
(`jpg`, `png`, ...); `seg.png` (a mask) and every other member are carried byte for byte.
A copy of a sample is a new sample `KEY_blur{k}` with the same members; a member without a key
(no dot) is carried once, where it stood. Pure: tar streams in and out.
"""

from __future__ import annotations

import copy
import io
import re
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

from blur_augment.transforms.codec import format_for_path

_KEY_AND_SUFFIX = re.compile(r"^((?:.*/|)[^.]+)[.]([^/]*)$")  # webdataset's base_plus_ext


def split_name(name: str) -> tuple[str, str] | None:
    """(sample key, suffix) of a member name, or None when it has no key (no dot)."""
    found = _KEY_AND_SUFFIX.match(name)
    return (found.group(1), found.group(2)) if found else None


def is_image_member(name: str) -> bool:
    """Whether the member is an image of its sample (its whole suffix an image extension)."""
    parts = split_name(name)
    return parts is not None and "." not in parts[1] and format_for_path(name) is not None


@dataclass
class TarMember:
    """One member of a tar shard, with its header (mode, owner, time) kept. A member that is
    not read (a link, a special file, a sparse or oversized file, a name given twice in its
    sample) has no data and says why in `refused`."""

    info: tarfile.TarInfo
    data: bytes
    refused: str = ""

    @property
    def name(self) -> str:
        return self.info.name


@dataclass
class Sample:
    """Consecutive members with one key (key None: a member without one, carried as is)."""

    key: str | None
    members: list[TarMember] = field(default_factory=list)

    def images(self) -> list[TarMember]:
        return [m for m in self.members if is_image_member(m.name)] if self.key else []

    def refused(self) -> list[TarMember]:
        return [m for m in self.members if m.refused]


class ShardDamage(Exception):
    """The shard cannot be read past some point. `after` is the last member read whole (None
    at the start); `partial` the sample being read when the damage came (with the members read
    of it), which is not known to be whole and is not written; every sample before it was
    followed by another sample's member, so it was whole, and was yielded."""

    def __init__(self, cause: BaseException, after: str | None, partial: Sample | None) -> None:
        where = f"past its member {after}" if after else "from its start"
        super().__init__(f"the shard cannot be read {where}: {cause}")
        self.cause, self.after, self.partial = cause, after, partial


_LINKS = {tarfile.SYMTYPE: "a symbolic link", tarfile.LNKTYPE: "a hard link"}
_SPECIAL = {tarfile.FIFOTYPE: "a FIFO", tarfile.CHRTYPE: "a character device",
            tarfile.BLKTYPE: "a block device"}  # fmt: skip


def _refusal(info: tarfile.TarInfo, max_bytes: int) -> str:
    """Why a member is not read ("" when it is): only regular files, whole, within the limit."""
    if info.type in _LINKS:
        return f"is {_LINKS[info.type]} to {info.linkname!r}; links are not followed"
    if not info.isfile():
        return f"is {_SPECIAL.get(info.type, 'not a regular file')}, not a regular file"
    if info.issparse():
        return f"is a GNU sparse member claiming {info.size:,} bytes; sparse members are refused"
    if info.size > max_bytes:
        return f"is {info.size:,} bytes, over --max_bytes={max_bytes:,}"
    return ""


class _Cut(Exception):
    """Damage met while reading the members: the member being read, if it was its data."""

    def __init__(self, cause: BaseException, member: TarMember | None) -> None:
        super().__init__(str(cause))
        self.cause, self.member = cause, member


_DAMAGE = (tarfile.TarError, EOFError, OSError)


def _members(tar: tarfile.TarFile, max_bytes: int) -> Iterator[TarMember]:
    """Every member but directories, with its data, or (no data) why it is refused."""
    while True:
        try:
            info = tar.next()
        except _DAMAGE as error:
            raise _Cut(error, None) from error
        if info is None:
            return
        if info.isdir():
            continue
        refused = _refusal(info, max_bytes)
        try:
            extracted = None if refused else tar.extractfile(info)
            data = extracted.read() if extracted else b""
        except _DAMAGE as error:
            raise _Cut(error, TarMember(info, b"", "is cut short by the damage")) from error
        yield TarMember(info, data, refused)


def _key(name: str) -> str | None:
    parts = split_name(name)
    return parts[0] if parts else None


def read_samples(stream: IO[bytes], max_bytes: int = 1 << 30) -> Iterator[Sample]:
    """The samples of a tar stream, one at a time (memory: one sample, each member at most
    `max_bytes`: its size is checked from its header before its data is read). Directories
    carry nothing and are left out, as webdataset leaves them out; links, special files,
    sparse and oversized members are kept as refused members (no data), so their samples
    fail visibly. Damage raises ShardDamage once every sample known whole is yielded."""
    current: Sample | None = None
    last: str | None = None
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        try:
            for member in _members(tar, max_bytes):
                key = _key(member.name)
                if current is not None and key != current.key:
                    yield current
                    current = None
                last = member.name
                if key is None:
                    yield Sample(None, [member])
                    continue
                current = current or Sample(key)
                if any(m.name == member.name for m in current.members):
                    member = TarMember(member.info, b"", "appears twice in its sample")
                current.members.append(member)
        except _Cut as cut:
            if cut.member is not None and (current is None or current.key != _key(cut.member.name)):
                if current is not None:
                    yield current  # another sample's member followed it: it was whole
                current = Sample(_key(cut.member.name))
            if cut.member is not None:
                current.members.append(cut.member)
            # the sample being read may have had more members: it is not known whole
            raise ShardDamage(cut.cause, last, current) from cut.cause
    if current is not None:
        yield current


def copy_name(name: str, copy_index: int, numbered: bool) -> str:
    """A member's name in copy `copy_index` of its sample: `KEY_blur{k}.SUFFIX` for numbered
    copies (the whole sample renamed, so webdataset groups it again), else the name itself."""
    parts = split_name(name)
    if copy_index < 0 or not numbered or parts is None:
        return name
    key, suffix = parts
    return f"{key}_blur{copy_index}.{suffix}"


def add_member(tar: tarfile.TarFile, member: TarMember, name: str, data: bytes) -> None:
    """Append a member under `name` with `data`, keeping the source member's header."""
    info = copy.copy(member.info)
    info.name = name
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def open_writer(stream: IO[bytes]) -> tarfile.TarFile:
    """An uncompressed tar stream writer, as webdataset's own TarWriter opens one (POSIX pax
    format: any name length, UTF-8 names)."""
    return tarfile.open(fileobj=stream, mode="w|", format=tarfile.PAX_FORMAT)


def find_members(stream: IO[bytes], names: set[str], max_bytes: int = 1 << 30) -> dict[str, bytes]:
    """The bytes of the named members of a tar stream, read until the last of them is found
    (members that read_samples refuses are not read here either)."""
    found: dict[str, bytes] = {}
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        for info in tar:
            if info.name in names and not _refusal(info, max_bytes):
                extracted = tar.extractfile(info)
                found[info.name] = extracted.read() if extracted else b""
                if len(found) == len(names):
                    break
    return found
