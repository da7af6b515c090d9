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


# Python's own exceptions out of a decoder or a parser name the operation that failed, not what
# is wrong with the file: each is told as what it means for the data.
_WHAT_IT_MEANS: tuple[tuple[type[BaseException], str], ...] = (
    (ZeroDivisionError, "a field that must not be zero is zero"),
    (OverflowError, "a field holds a value out of range"),
    (IndexError, "a field points outside the data (truncated or inconsistent)"),
    (KeyError, "a field refers to an entry the file does not have"),
    (EOFError, "the data ends early (truncated)"),
    (RecursionError, "its structure nests too deeply"),
    (MemoryError, "it asks for more memory than it could hold"),
    ((TypeError, AttributeError), "a field has the wrong type or is missing"),  # type: ignore[arg-type]
)


def explained(error: BaseException) -> str:
    """What an exception says about the data: a library's own text (its first line), or what
    Python's own exception means for the file, never "division by zero"."""
    for kinds, meaning in _WHAT_IT_MEANS:
        if isinstance(error, kinds):
            return meaning
    text = str(error).strip()
    return text.splitlines()[-1] if text else "the decoder could not read it"


def described(stage: str, cause: BaseException) -> str:
    """The message of an error row. Our own errors say what is wrong in full; an exception of
    a library or of Python itself is told with what failed and what it means for the data,
    never as its bare text ("division by zero", "'NoneType' object is not subscriptable")."""
    text = str(cause).strip()
    if type(cause).__module__.split(".")[0] == "blur_augment" and text:
        return text
    what = _STAGE_FAILURES.get(stage, f"the {stage} stage failed")
    return f"{what} ({explained(cause)})"


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
