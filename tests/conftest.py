from __future__ import annotations

import os
import socket
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.helpers import textured, write_image


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    """A small nested dataset: 8-bit BGR JPEG and PNG, gray, 16-bit, BGRA, a broken file and a
    non-image."""
    root = tmp_path / "data"
    write_image(root / "cats" / "a.jpg", textured(40, 48, 3, seed=1))
    write_image(root / "cats" / "deep" / "b.png", textured(33, 41, 3, seed=2))
    write_image(root / "gray.png", textured(30, 30, 1, seed=3))
    write_image(root / "wide16.png", textured(20, 50, 3, "uint16", seed=4))
    write_image(root / "alpha" / "c.PNG", textured(25, 35, 4, seed=5))
    (root / "broken.jpg").write_bytes(b"this is not a jpeg at all")
    (root / "notes.txt").write_text("not an image, skipped")
    return root


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _escape_object_names(server) -> None:
    """The emulator keeps object contents in a file-like store that refuses '..' segments and
    drops the connection; real GCS accepts any name. Store contents under a quoted name so the
    emulator holds every name GCS can (its listings and metadata keep the real names)."""
    storage = server._storage
    original = storage._object_path

    def escaped(bucket_name: str, file_name: str) -> str:
        return original(bucket_name, urllib.parse.quote(file_name, safe=""))

    storage._object_path = escaped


@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[str]:
    """A real GCS-compatible server (gcp-storage-emulator, in memory) on a free loopback port.

    Sets STORAGE_EMULATOR_HOST for this process and the processes it starts (the CLI and its
    workers), and stops the server afterwards.
    """
    from gcp_storage_emulator.server import create_server

    port = _free_port()
    server = create_server("127.0.0.1", port, in_memory=True)
    _escape_object_names(server)
    server.start()
    url = f"http://127.0.0.1:{port}"
    previous = os.environ.get("STORAGE_EMULATOR_HOST")
    os.environ["STORAGE_EMULATOR_HOST"] = url
    try:
        yield url
    finally:
        server.stop()
        if previous is None:
            os.environ.pop("STORAGE_EMULATOR_HOST", None)
        else:
            os.environ["STORAGE_EMULATOR_HOST"] = previous


@pytest.fixture
def gcs_client(gcs_emulator: str):
    """A google-cloud-storage client talking to the emulator."""
    from google.cloud import storage

    return storage.Client.create_anonymous_client()


@pytest.fixture
def bucket_name(gcs_client, request) -> str:
    """A fresh bucket per test, so tests do not see each other's objects."""
    name = "b-" + uuid.uuid4().hex[:12]
    gcs_client.create_bucket(name)
    return name
