"""Which storage failures are transient (fail the bundle, so the runner retries) and which are
permanent (an error row for the image)."""

from __future__ import annotations

import pytest
from google.api_core import exceptions as api

from blur_augment.transforms.io.failures import is_transient


def chained(outer: BaseException, inner: BaseException) -> BaseException:
    """`outer` raised from `inner`, as library code wraps errors."""
    try:
        try:
            raise inner
        except BaseException as cause:
            raise outer from cause
    except BaseException as error:
        return error


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (api.ServiceUnavailable("503"), True),
        (api.TooManyRequests("429"), True),
        (api.InternalServerError("500"), True),
        (api.NotFound("404"), False),
        (api.Forbidden("403"), False),
        (ConnectionResetError("reset"), True),
        (chained(RuntimeError("wrapped"), TimeoutError("slow")), True),
        (chained(RuntimeError("wrapped"), api.ServiceUnavailable("503")), True),
        (chained(api.NotFound("404"), ConnectionResetError("reset")), False),  # status decides
        (FileNotFoundError("gone"), False),
        (PermissionError("denied"), False),
        (ValueError("bad"), False),
    ],
)
def test_transient_storage_errors(error, transient):
    assert is_transient(error) is transient
