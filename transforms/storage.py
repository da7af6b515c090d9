"""Reading and writing whole objects through Beam's FileSystems (local, gs://, any other).

Part of the Beam layer: the pure modules never import this.
"""

from __future__ import annotations

import contextlib
import errno
import os
import posixpath
import threading
import uuid
from collections.abc import Iterator
from typing import IO

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.gcp import gcsio
from apache_beam.utils.plugin import BeamPlugin

_RAW = CompressionTypes.UNCOMPRESSED
EMULATOR_ENV = "STORAGE_EMULATOR_HOST"
_beam_create_storage_client = gcsio.create_storage_client


def _create_storage_client(pipeline_options, use_credentials: bool = True):
    """Beam's GCS client factory, anonymous when STORAGE_EMULATOR_HOST names an emulator.

    With no Google credentials on the machine, Beam's own lookup retries google.auth.default()
    for 20-30 s in every process before its first gs:// call. An emulator needs no credentials,
    and google-cloud-storage already sends an anonymous client's requests to the emulator, so
    we ask Beam's factory for that client (its own `use_credentials=False`). Decided per call,
    from the environment: with real credentials and no emulator nothing changes.
    """
    if os.environ.get(EMULATOR_ENV):
        use_credentials = False
    return _beam_create_storage_client(pipeline_options, use_credentials)


gcsio.create_storage_client = _create_storage_client


class GcsEmulatorPlugin(BeamPlugin):
    """Makes Beam import this module first thing in every worker (SDK harness `beam_plugins`;
    Dataflow lists BeamPlugin subclasses by itself, `pipeline.run` adds it for other runners),
    so the client factory above is in place before any gs:// call, wherever the call runs."""


PLUGIN_MODULE = __name__


_clients: dict[int, object] = {}  # process id -> the google-cloud-storage client of that process
_clients_lock = threading.Lock()


def gcs_client():
    """One google-cloud-storage client per process, made by Beam's own factory (so with the
    pipeline's credentials options, or anonymous against an emulator), shared by its threads.

    Beam's GCS filesystem makes a client for every call and, per open or create, looks the
    bucket and the object up before the transfer: two to three extra requests per image."""
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.options.value_provider import RuntimeValueProvider

    pid = os.getpid()
    with _clients_lock:
        if pid not in _clients:
            options = (
                FileSystems._pipeline_options
                or RuntimeValueProvider.runtime_options
                or PipelineOptions()
            )
            if isinstance(options, dict):
                options = PipelineOptions.from_dictionary(options)
            _clients.clear()  # a forked child must not share its parent's connections
            _clients[pid] = gcsio.create_storage_client(options)
        return _clients[pid]


def _blob(path: str):
    bucket, name = gcsio.parse_gcs_path(path)
    return gcs_client().bucket(bucket).blob(name)


def read_bytes(path: str) -> bytes:
    """The whole object, never decompressed (an image called x.jpg.gz stays bytes).

    On gs:// one request (a media GET; Beam's reader adds a metadata GET first); elsewhere
    through Beam's FileSystems."""
    if FileSystems.get_scheme(path) == "gs":
        from google.cloud.storage.retry import DEFAULT_RETRY

        return _blob(path).download_as_bytes(raw_download=True, retry=DEFAULT_RETRY)
    with open_read(path) as f:
        return f.read()


def write_bytes(path: str, data: bytes) -> None:
    """Write so that no partial object is ever visible at `path`, and a retry rewrites it.

    On gs:// one request up to 8 MiB (a multipart upload, which publishes the object whole or
    not at all; Beam's writer looks the bucket up and starts a resumable upload first), retried
    on transient errors: the same bytes at the same name, so a retry is harmless."""
    if FileSystems.get_scheme(path) == "gs":
        from google.cloud.storage.retry import DEFAULT_RETRY

        _blob(path).upload_from_string(data, content_type=_mime_type(path), retry=DEFAULT_RETRY)
        return
    with open_atomic(path) as f:
        f.write(data)


@contextlib.contextmanager
def open_atomic(path: str) -> Iterator[IO[bytes]]:
    """A writable stream whose content appears at `path` whole, or not at all.

    Object stores (gs://) publish an object only when its upload completes, so a direct write
    is atomic. On filesystems with directories a crash could leave half a file, so the bytes
    go to a hidden temporary name beside it (never matched as an image) and are renamed into
    place; rename replaces an existing file, so a retried bundle rewrites identical bytes.
    """
    if FileSystems.get_scheme(path) not in (None, "file"):
        try:
            with FileSystems.create(path, mime_type=_mime_type(path), compression_type=_RAW) as f:
                yield f
        except BaseException:
            # closing the writer publishes what it has: a stream that failed half-way (a
            # COCO JSON being rewritten) must not stay visible
            with contextlib.suppress(Exception):
                if FileSystems.exists(path):
                    FileSystems.delete([path])
            raise
        return
    directory, name = posixpath.split(path)
    temporary = posixpath.join(directory, f".{name}.{uuid.uuid4().hex}.partial")
    try:
        with FileSystems.create(temporary, compression_type=_RAW) as f:
            yield f
        FileSystems.rename([temporary], [path])
    except BaseException:
        if FileSystems.exists(temporary):
            FileSystems.delete([temporary])
        raise


def open_read(path: str) -> IO[bytes]:
    """A readable stream of the whole object, never decompressed."""
    return FileSystems.open(path, mime_type="application/octet-stream", compression_type=_RAW)


def exists(path: str) -> bool:
    return FileSystems.exists(path)


def first_match(pattern: str) -> str | None:
    """One path matching `pattern`, or None: a cheap probe (listing stops at the first match)."""
    found = FileSystems.match([pattern], limits=[1])[0].metadata_list
    return found[0].path if found else None


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


def list_files(pattern: str) -> list[str]:
    """Paths matching a pattern; none (rather than an error) when nothing matches."""
    return sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)


def delete_files(paths: list[str]) -> None:
    if paths:
        FileSystems.delete(paths)


_MIME_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".bmp": "image/bmp",
    ".json": "application/json",
    ".txt": "text/plain",
    ".xml": "application/xml",
}


def _mime_type(path: str) -> str:
    return _MIME_TYPES.get(posixpath.splitext(path)[1].lower(), "application/octet-stream")
