"""Keys and paths: where an input's key comes from and where its outputs go. Pure string work.

The key of an input is its path relative to the pattern's base (the directory part before the
first wildcard, or the directory given), with '/' separators. Object names are not file names,
so a key that could write outside --output is refused here, never joined onto a path.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

_WILDCARD = re.compile(r"[*?\[{]")  # glob characters, and '{' of a brace list (shards)


class UnsafeKeyError(ValueError):
    """A key that would escape the output prefix, or that no filesystem can hold."""


@dataclass(frozen=True)
class MatchPlan:
    """A pattern to match and the base that keys of its matches are relative to."""

    pattern: str
    base: str


def has_wildcard(path: str) -> bool:
    return bool(_WILDCARD.search(path))


def join(prefix: str, relative: str) -> str:
    """`prefix/relative` with exactly one '/' between, for any Beam filesystem's paths."""
    return prefix.rstrip("/") + "/" + relative.lstrip("/")


def match_plans(input_spec: str) -> list[MatchPlan]:
    """What to match for --input, in order of preference; the first plan that matches wins.

    A pattern with a wildcard is matched as given. A path without one is a directory (all of it,
    recursively) or, failing that, a single file whose key is its own name. Deciding between the
    two needs storage, so it happens at run time, not here.
    """
    first = _WILDCARD.search(input_spec)
    if first:
        base = input_spec[: input_spec.rfind("/", 0, first.start()) + 1]
        return [MatchPlan(input_spec, base)]
    directory = input_spec.rstrip("/") + "/"
    if input_spec.endswith("/"):
        return [MatchPlan(directory + "**", directory)]
    single_file_base = input_spec[: input_spec.rstrip("/").rfind("/") + 1]
    return [MatchPlan(directory + "**", directory), MatchPlan(input_spec, single_file_base)]


def input_base(input_spec: str) -> str:
    """The base directory of --input as a directory (what --output must not lie inside)."""
    return match_plans(input_spec)[0].base


def relative_key(path: str, base: str) -> str:
    """The key of a matched path, unchecked: relative to base, exactly as named (a backslash
    is a character of the name, as on Linux and in object names; a path outside base keeps
    its full name, which `check_key` then refuses as absolute or schemed)."""
    return path[len(base) :] if path.startswith(base) else path


def key_for(path: str, base: str) -> str:
    """The key of a matched path: relative to base, exactly as named, checked safe."""
    if not path.startswith(base):
        raise UnsafeKeyError(f"matched path {path!r} is not under the input base {base!r}")
    key = relative_key(path, base)
    check_key(key)
    return key


def check_key(key: str) -> None:
    """Refuse keys that would write outside the output prefix or that filesystems mangle."""
    if not key:
        raise UnsafeKeyError("empty key")
    if key.startswith("/"):
        raise UnsafeKeyError(f"key {key!r} is an absolute path")
    if "\x00" in key:
        raise UnsafeKeyError(f"key {key!r} contains a NUL character")
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            raise UnsafeKeyError(
                f"key {key!r} has a {segment or 'empty'!r} path segment and could write "
                "outside --output"
            )


def output_key(key: str, copy_index: int, numbered: bool) -> str:
    """The output's key: the input key itself, or `dir/name_blur{k}.ext` for numbered copies.

    copy_index -1 is the unchanged original (--include_originals), always at the input key.
    """
    if copy_index < 0 or not numbered:
        return key
    directory, name = posixpath.split(key)
    stem, ext = posixpath.splitext(name)
    return posixpath.join(directory, f"{stem}_blur{copy_index}{ext}")


def is_inside(path: str, directory: str) -> bool:
    """Whether `path` is `directory` or lies below it (string test: no storage touched)."""
    directory = directory.rstrip("/") + "/"
    return (path.rstrip("/") + "/").startswith(directory)
