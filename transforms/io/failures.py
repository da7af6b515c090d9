"""Telling storage failures apart: transient (retry the bundle), infrastructure (stop the run
in one line) or the input's own (an error row), and `stage`, which turns a failure into the
right one of those. The storage layer."""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Iterator

from blur_augment.transforms.errors import StageError


class InfrastructureError(RuntimeError):
    """A storage failure that is not about one image (a full disk, a read-only or forbidden
    output, a missing bucket): the run stops with this message instead of filling the error
    table with rows that all say the same thing."""


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The error and every exception it wraps (causes, contexts, Beam's exception_details)."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending += [current.__cause__, current.__context__]
        pending += list(getattr(current, "exception_details", {}).values())


_INFRASTRUCTURE_ERRNOS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EFBIG: "the file is larger than the file system or a limit allows",
}


def infrastructure_reason(error: BaseException) -> str | None:
    """Why a failed write is the storage's fault rather than the image's, in words; None when
    it may be the image's (or transient, see is_transient)."""
    from google.api_core import exceptions as api

    for current in _chain(error):
        if isinstance(current, OSError) and current.errno in _INFRASTRUCTURE_ERRNOS:
            return _INFRASTRUCTURE_ERRNOS[current.errno]
        if isinstance(current, api.GoogleAPICallError):
            code = current.code or 0
            if code in (401, 403):
                return f"permission denied (HTTP {code}: {current.message})"
            if code == 404:
                return f"the bucket does not exist (HTTP 404: {current.message})"
            if code == 507:
                return "the storage is full (HTTP 507)"
            return None
    return None


def is_transient(error: BaseException) -> bool:
    """Whether a storage failure may pass on a retry (503, 429, 5xx, dropped connection,
    timeout), looking through the exceptions it wraps. Such a failure must fail the bundle so
    that the runner retries it, rather than become a permanent error row for the image.

    An HTTP status, where there is one, decides: a 404 wrapped around a transport error is
    still a 404."""
    import http.client

    import requests
    import urllib3
    from google.api_core import exceptions as api

    transport = (
        ConnectionError,
        TimeoutError,
        http.client.HTTPException,
        requests.ConnectionError,
        requests.Timeout,
        requests.exceptions.ChunkedEncodingError,
        urllib3.exceptions.ProtocolError,
        urllib3.exceptions.TimeoutError,
    )
    found_transport = False
    for current in _chain(error):
        if isinstance(current, api.GoogleAPICallError):
            code = current.code or 0
            return code == 429 or code >= 500
        found_transport = found_transport or isinstance(current, transport)
    return found_transport


@contextlib.contextmanager
def stage(name: str) -> Iterator[None]:
    """Any exception inside becomes a StageError for `name` (an error row), except:
    - a transient storage failure, which fails the bundle so that the runner retries it: a 503
      must not turn into a permanently missing image;
    - a write that failed for a reason that is not the image's (a full disk, a read-only or
      forbidden output, a missing bucket), which stops the run as an InfrastructureError."""
    try:
        yield
    except (StageError, InfrastructureError):
        raise
    except Exception as error:
        if is_transient(error):
            raise  # left to fail the bundle: the runner retries it
        reason = infrastructure_reason(error) if name == "write" else None
        if reason:
            text = str(error).strip()
            detail = text.splitlines()[-1] if text else repr(error)
            raise InfrastructureError(
                f"the output cannot be written: {reason} ({type(error).__name__}: {detail[:300]})"
            ) from error
        raise StageError(name, error) from error
