"""A fault-injecting HTTP proxy for the tests: forwards to the GCS emulator on 127.0.0.1 and
fails a share of requests with a 503 or a dropped connection."""

from __future__ import annotations

import http.client
import random
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


class FaultyProxy:
    """`with FaultyProxy(upstream, failure_rate, seed) as proxy:` then use `proxy.url`."""

    def __init__(self, upstream: str, failure_rate: float, seed: int = 0) -> None:
        target = urlsplit(upstream)
        self.failure_rate = failure_rate
        self.requests = 0
        self.failed_503 = 0
        self.dropped = 0
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
