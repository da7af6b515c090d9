"""One rule for what a test needs from the machine: where it is missing, the test skips and
says why, except under CI (`CI` set), where .ci/run installs everything and a missing piece
is a failure, never a silent skip."""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest

UNDER_CI = bool(os.environ.get("CI"))


def requires(missing: str, what: str = "") -> pytest.MarkDecorator:
    """A mark: skip with `missing` as the reason when it is non-empty, outside CI. Under CI
    the test runs (and fails where the missing piece matters)."""
    reason = f"{what}: {missing}" if what else missing
    return pytest.mark.skipif(bool(missing) and not UNDER_CI, reason=reason)


def missing(reason: str) -> None:
    """Inside a test or fixture: what it needs is not here; skip, or fail under CI."""
    if UNDER_CI:
        pytest.fail(f"required under CI: {reason}")
    pytest.skip(reason, allow_module_level=True)


def module(name: str) -> ModuleType:
    """importorskip, failing under CI (the test extra installs every module a test needs)."""
    try:
        return importlib.import_module(name)
    except ImportError as error:
        missing(f"{name} cannot be imported ({error})")
        raise  # not reached
