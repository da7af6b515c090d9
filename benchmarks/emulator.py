"""The GCS emulator for the benchmarks: gcp-storage-emulator in memory on a free loopback port,
as the tests start it, with two of its costs removed so that the benchmarks measure the
pipeline rather than the emulator."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import _escape_object_names, _free_port  # noqa: E402


def _quick_emulator(server) -> None:
    """Two costs of gcp-storage-emulator that would make it, not the worker, what is measured:
    it rewrites the JSON of every object's metadata after each upload (quadratic in the
    objects), and it parses a multipart upload with the `email` package (20 ms per 500 KB, as
    much as the blur). In memory the first is useless, and the second is a split on the
    boundary; nothing else of the emulator changes."""
    import json as json_module

    from gcp_storage_emulator import server as module

    server._storage._write_config_to_file = lambda: None
    parse = module._read_data

    def read_data(handler, query):
        content_type = handler.headers.get("Content-Type") or ""
        if not content_type.startswith("multipart/related"):
            return parse(handler, query)
        boundary = content_type.split("boundary=", 1)[1].strip('"').encode()
        raw = handler.rfile.read(int(handler.headers["Content-Length"]))
        parts = [p for p in raw.split(b"--" + boundary) if p.strip(b"\r\n-")]
        (_, meta), (media_head, media) = (p.split(b"\r\n\r\n", 1) for p in parts[:2])
        media_type = next((line.split(b":", 1)[1].strip().decode()
                           for line in media_head.splitlines()
                           if line.lower().startswith(b"content-type")),
                          "application/octet-stream")  # fmt: skip
        return {"meta": json_module.loads(meta), "content": media[: -len(b"\r\n")],
                "content-type": media_type}  # fmt: skip

    module._read_data = read_data


def start_emulator():
    from gcp_storage_emulator.server import create_server

    port = _free_port()
    server = create_server("127.0.0.1", port, in_memory=True)
    _escape_object_names(server)
    _quick_emulator(server)
    server.start()
    return server, f"http://127.0.0.1:{port}"
