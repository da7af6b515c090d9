"""An HTTP proxy in front of the GCS emulator on 127.0.0.1, for the tests and the benchmarks:
it fails a share of requests with a 503 or a dropped connection, adds a latency to every
request as a real object store has, and records what was asked and how many requests were in
flight at once."""

from __future__ import annotations

import http.client
import random
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


def request_kind(method: str, path: str) -> str:
    """What a JSON API request is, in the words of GCS's pricing: a bucket lookup, an object's
    metadata, its media (a read), an upload (a write), a listing, or something else."""
    route, _, query = path.partition("?")
    if method == "POST" and route.startswith("/upload/"):
        return "upload"
    if method == "PUT" and route.startswith("/upload/"):
        return "upload_chunk"  # the rest of a resumable upload
    if method == "GET" and (route.startswith("/download/") or "alt=media" in query):
        return "media"
    parts = route.strip("/").split("/")  # storage v1 b BUCKET [o [NAME]]
    if method == "GET" and len(parts) == 4 and parts[:2] == ["storage", "v1"]:
        return "bucket"
    if method == "GET" and len(parts) == 5 and parts[4] == "o":
        return "list"
    if method == "GET" and len(parts) >= 6 and parts[4] == "o":
        return "metadata"
    return f"{method.lower()}_other"


class FaultyProxy:
    """`with FaultyProxy(upstream, failure_rate, seed, latency) as proxy:` then use `proxy.url`;
    `proxy.kinds` counts the requests by `request_kind`, `proxy.peak` is the most that were in
    flight at once."""

    def __init__(
        self, upstream: str, failure_rate: float = 0.0, seed: int = 0, latency: float = 0.0
    ) -> None:
        target = urlsplit(upstream)
        self.failure_rate = failure_rate
        self.latency = latency
        self.requests = 0
        self.failed_503 = 0
        self.dropped = 0
        self.kinds: Counter[str] = Counter()
        self.log: list[tuple[str, str]] = []  # (method, path) of every request, in order
        self.peak = 0
        self._in_flight = 0
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # quiet
                return

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                proxy._started(self.command, self.path)
                try:
                    if proxy.latency:
                        time.sleep(proxy.latency)
                    self._answer(body)
                finally:
                    proxy._ended()

            def _answer(self, body: bytes) -> None:
                fault = proxy._draw()
                if fault == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)  # the client sees the connection drop
                    return
                if fault == "503":
                    payload = b'{"error": {"code": 503, "message": "injected fault"}}'
                    self.send_response(503)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                upstream.request(self.command, self.path, body=body, headers=headers)
                response = upstream.getresponse()
                data = response.read()
                self.send_response(response.status)
                for name, value in response.getheaders():
                    if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                upstream.close()

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _forward

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _started(self, method: str, path: str) -> None:
        with self._lock:
            self.kinds[request_kind(method, path)] += 1
            self.log.append((method, path))
            self._in_flight += 1
            self.peak = max(self.peak, self._in_flight)

    def _ended(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _draw(self) -> str | None:
        with self._lock:
            self.requests += 1
            roll = self._random.random()
            if roll >= self.failure_rate:
                return None
            if roll < self.failure_rate / 2:
                self.failed_503 += 1
                return "503"
            self.dropped += 1
            return "drop"

    def __enter__(self) -> FaultyProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
