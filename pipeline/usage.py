"""What the command line shares with every command: the mistakes a user can make (one line
on stderr, exit code 2), flags that take a value, and the package's version."""

from __future__ import annotations

import importlib.metadata

PROG = "blur-augment"
OUTPUT_FORMATS = ("table", "csv", "json", "parquet")  # what `query --format` writes


def package_version() -> str:
    """The installed version (pyproject.toml's), as the log's metadata and --version say it."""
    try:
        return importlib.metadata.version("blur-augment")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


class UsageError(ValueError):
    """A mistake in the command line: reported in one line, exit code 2, before any work."""


def str_to_bool(value: str | bool) -> bool:
    """Flags that also take a value, as Dataflow template parameters pass them (`--x=true`)."""
    if isinstance(value, bool):
        return value
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "y", "on"):
        return True
    if lowered in ("0", "false", "no", "n", "off", ""):
        return False
    raise ValueError(f"not a boolean: {value!r}")
