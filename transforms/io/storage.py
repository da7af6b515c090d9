"""Reading and writing whole objects through Beam's FileSystems (local, gs://, any other):
reads capped in size and refused for what is not a regular file, atomic writes, one request
per read and per write on gs://. The storage layer: the pure modules never import this.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import posixpath
import shutil
import stat
import threading
import uuid
from collections.abc import Iterator
from typing import IO

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.gcp import gcsio
from apache_beam.utils.plugin import BeamPlugin

from blur_augment.transforms.job import DEFAULT_MAX_BYTES

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


class InputRefused(ValueError):
    """An input that is not read at all: not a regular file (a FIFO, a device, a socket), or
    larger than the limit. Its error row says which and why; the run goes on."""


class _Capped(io.RawIOBase):
    """A sink that refuses to hold more than `limit` bytes: a download stops as soon as the
    object proves too large, whatever size its metadata claimed."""

    def __init__(self, path: str, limit: int) -> None:
        self._path, self._limit, self._chunks, self._size = path, limit, [], 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # type: ignore[override]
        self._size += len(data)
        if self._size > self._limit:
            raise too_large(self._path, self._size, self._limit, at_least=True)
        self._chunks.append(bytes(data))
        return len(data)

    def value(self) -> bytes:
        return b"".join(self._chunks)


def too_large(what: str, size: int, limit: int, at_least: bool = False) -> InputRefused:
    """The refusal of something over --max_bytes, naming the limit."""
    told = f"at least {size:,}" if at_least else f"{size:,}"
    return InputRefused(
        f"{what} is {told} bytes, over --max_bytes={limit:,}: not read (raise --max_bytes to "
        "take it)"
    )


_KINDS = {
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a directory",
}


def file_kind(mode: int) -> str:
    """What a non-regular file is, in words."""
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def _open_local(path: str) -> int:
    """A descriptor of a regular local file, opened without blocking (a FIFO would wait for a
    writer forever) and checked after opening (so a swap in between cannot fool the check)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise InputRefused(f"{path} is {file_kind(mode)}: only regular files are read")
    os.set_blocking(fd, True)
    return fd


def read_bytes(path: str, limit: int = DEFAULT_MAX_BYTES) -> bytes:
    """The whole object, never decompressed (an image called x.jpg.gz stays bytes), refused
    (InputRefused) when it is not a regular file or holds more than `limit` bytes: nothing
    larger is ever allocated.

    On gs:// one request (a media GET, streamed into a capped buffer; Beam's reader adds a
    metadata GET first); locally the size is checked before reading; elsewhere through Beam's
    FileSystems, reading at most limit + 1 bytes."""
    scheme = FileSystems.get_scheme(path)
    if scheme == "gs":
        from google.cloud.storage.retry import DEFAULT_RETRY

        sink = _Capped(path, limit)
        _blob(path).download_to_file(sink, raw_download=True, retry=DEFAULT_RETRY)
        return sink.value()
    if scheme in (None, "file"):
        local = path[len("file://") :] if path.startswith("file://") else path
        with open(_open_local(local), "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > limit:
                raise too_large(path, size, limit)
            data = f.read(size + 1)  # (read(n) allocates n bytes: never the limit itself)
    else:
        with open_read(path) as f:
            data = _read_at_most(f, limit + 1)
    if len(data) > limit:
        raise too_large(path, len(data), limit, at_least=True)
    return data


def _read_at_most(stream: IO[bytes], most: int) -> bytes:
    """Up to `most` bytes of a stream, in chunks (a single read(most) would allocate them)."""
    chunks, size = [], 0
    while size < most:
        chunk = stream.read(min(1 << 24, most - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


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
    """A readable stream of the whole object, never decompressed; a local path must be a
    regular file (InputRefused otherwise: a FIFO would block the reader forever)."""
    scheme = FileSystems.get_scheme(path)
    if scheme in (None, "file"):
        local = path[len("file://") :] if path.startswith("file://") else path
        return open(_open_local(local), "rb")
    return FileSystems.open(path, mime_type="application/octet-stream", compression_type=_RAW)


class Hashed(io.RawIOBase):
    """A writable stream that passes every byte on and counts and hashes it (sha256), so a
    file written as a stream is recorded without being read back."""

    def __init__(self, out: IO[bytes]) -> None:
        self._out, self._hash, self.size = out, hashlib.sha256(), 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # type: ignore[override]
        self._hash.update(data)
        self.size += len(data)
        self._out.write(data)
        return len(data)

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()


def copy(source: str, target: str) -> tuple[int, str]:
    """A file copied byte for byte as a stream (any size, bounded memory), atomically; its
    size and sha256."""
    with open_read(source) as stream, open_atomic(target) as out:
        hashed = Hashed(out)
        shutil.copyfileobj(stream, hashed, 1 << 20)
    return hashed.size, hashed.sha256


def scheme(path: str) -> str | None:
    """The filesystem scheme of a path (gs, file, ...; None for a plain local path)."""
    return FileSystems.get_scheme(path)


def exists(path: str) -> bool:
    return FileSystems.exists(path)


def first_match(pattern: str) -> str | None:
    """One path matching `pattern`, or None: a cheap probe (listing stops at the first match)."""
    found = FileSystems.match([pattern], limits=[1])[0].metadata_list
    return found[0].path if found else None


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
