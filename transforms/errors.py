"""What a failed input becomes: a StageError (the stage and the cause) and, from it, a row of
the error table whose message says what is wrong. Pure."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

STAGES = ("read", "decode", "blur", "encode", "write", "labels")
_STAGE_FAILURES = {
    "read": "the input cannot be read",
    "decode": "the image cannot be decoded",
    "blur": "the blur failed",
    "encode": "the image cannot be encoded",
    "write": "the output cannot be written",
    "labels": "the labels cannot be read",
}


class StageError(Exception):
    """A failure tagged with the stage it happened in (one of STAGES)."""

    def __init__(self, stage: str, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.stage = stage
        self.cause = cause


@contextlib.contextmanager
def failing_as(stage: str) -> Iterator[None]:
    """Any exception inside becomes a StageError of `stage` (pure work: blur, encode, labels).
    Storage work uses `transforms.io.failures.stage`, which also tells storage failures apart."""
    try:
        yield
    except StageError:
        raise
    except Exception as error:
        raise StageError(stage, error) from error


def described(stage: str, cause: BaseException) -> str:
    """The message of an error row. Our own errors say what is wrong in full; an exception of
    a library or of Python itself is told with what failed and its type, never as its bare
    text ("division by zero", "'NoneType' object is not subscriptable")."""
    text = str(cause).strip()
    if type(cause).__module__.split(".")[0] == "blur_augment" and text:
        return text
    what = _STAGE_FAILURES.get(stage, f"the {stage} stage failed")
    return f"{what} ({type(cause).__name__}: {text or repr(cause)})"


def error_row(
    key: str, source_uri: str, copy_index: int, stage: str, cause: BaseException
) -> dict[str, Any]:
    """A row of the error table: which input and copy, where it failed, and why."""
    return {
        "key": key,
        "source_uri": source_uri,
        "copy_index": copy_index,
        "stage": stage,
        "error_type": type(cause).__name__,
        "message": described(stage, cause)[:2000],
    }
