"""Test helpers: synthetic images with real structure, and an independent reference blur."""

from __future__ import annotations

import math
import socket
import threading
from pathlib import Path

import cv2
import numpy as np


def textured(height: int, width: int, channels: int = 3, dtype: str = "uint8", seed: int = 0):
    """A deterministic image with edges and gradients (noise alone hides blur errors)."""
    rng = np.random.default_rng(seed)
    top = 255 if dtype == "uint8" else 65535
    y, x = np.mgrid[0:height, 0:width]
    base = (np.sin(x / 3.0) + np.cos(y / 5.0) + 2) / 4 * top
    planes = []
    for c in range(channels):
        noise = rng.normal(0, top * 0.05, size=(height, width))
        squares = ((x // 8 + y // 8 + c) % 2) * top * 0.3
        planes.append(np.clip(base * 0.6 + squares + noise, 0, top))
    image = np.stack(planes, axis=-1).astype(dtype)
    return image[:, :, 0] if channels == 1 else image


def gaussian_taps(sigma: float, size: int) -> np.ndarray:
    """Normalised Gaussian taps computed from the formula, not from OpenCV."""
    if size == 1:
        return np.ones(1)
    half = size // 2
    taps = np.array([math.exp(-(i * i) / (2 * sigma * sigma)) for i in range(-half, half + 1)])
    return taps / taps.sum()


def reference_blur(image: np.ndarray, sigma_x: float, sigma_y: float, kw: int, kh: int):
    """Separable float64 convolution with reflect-101 borders (numpy's 'reflect'), rounded."""
    work = image.astype(np.float64)
    if work.ndim == 2:
        work = work[:, :, None]
    for axis, sigma, size in ((1, sigma_x, kw), (0, sigma_y, kh)):
        taps = gaussian_taps(sigma, size)
        half = size // 2
        pad = [(0, 0)] * 3
        pad[axis] = (half, half)
        padded = np.pad(work, pad, mode="reflect") if half else work
        out = np.zeros_like(work)
        for i, tap in enumerate(taps):
            sl = [slice(None)] * 3
            sl[axis] = slice(i, i + work.shape[axis])
            out += tap * padded[tuple(sl)]
        work = out
    top = np.iinfo(image.dtype).max
    result = np.clip(np.rint(work), 0, top).astype(image.dtype)
    return result[:, :, 0] if image.ndim == 2 else result


def write_image(path: Path, image: np.ndarray, params: list[int] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(path.suffix if path.suffix else ".png", image, params or [])
    assert ok, path
    path.write_bytes(buf.tobytes())
    return path


def max_abs_diff(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(np.int64) - b.astype(np.int64)).max())


class ConnectionSentinel:
    """A TCP listener on 127.0.0.1 that counts connections and closes them at once.

    Given to a process as its GCE metadata server (`metadata_env`), it shows without any timing
    whether that process, or a worker it starts, looked for Google credentials: that lookup
    probes the metadata server before anything else. Given as its HTTP(S) proxy (`proxy_env`),
    it shows whether the process tried to reach anything outside the machine."""

    def __init__(self) -> None:
        self.connections = 0
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self._server.getsockname()[1]}"

    @property
    def metadata_env(self) -> dict[str, str]:
        return {"GCE_METADATA_HOST": self.address, "GCE_METADATA_IP": self.address}

    @property
    def proxy_env(self) -> dict[str, str]:
        proxy = f"http://{self.address}"
        names = ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy", "ALL_PROXY")
        local = "127.0.0.1,localhost,::1"  # gRPC between Beam's own processes stays local
        return {**dict.fromkeys(names, proxy), "NO_PROXY": local, "no_proxy": local}

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._server.accept()
            except TimeoutError:
                continue
            self.connections += 1
            connection.close()

    def __enter__(self) -> ConnectionSentinel:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self._server.close()
