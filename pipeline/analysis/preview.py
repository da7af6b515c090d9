"""`preview`: a contact sheet of one image at several sigmas, through the pipeline's own blur."""

from __future__ import annotations

import numpy as np

from pipeline.usage import UsageError


def _displayable(pixels: np.ndarray) -> np.ndarray:
    """8-bit BGR for a contact sheet: 16-bit scaled, gray expanded, alpha over a checkerboard."""
    import cv2

    if pixels.dtype == np.uint16:
        pixels = (pixels // 257).astype(np.uint8)
    if pixels.ndim == 2:
        return cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR)
    if pixels.shape[2] == 4:
        height, width = pixels.shape[:2]
        y, x = np.mgrid[0:height, 0:width]
        board = np.where(((x // 8 + y // 8) % 2)[..., None] == 0, 200, 255).astype(np.float32)
        alpha = pixels[:, :, 3:4].astype(np.float32) / 255
        return (pixels[:, :, :3] * alpha + board * (1 - alpha)).astype(np.uint8)
    return pixels


def preview_sheet(
    data: bytes, sigmas: list[float], tile_width: int = 360, columns: int = 3
) -> bytes:
    """A labelled PNG contact sheet of the image blurred at each sigma, by the pipeline's own
    blur function, shown at a common tile size (blur first, then scale, as the model sees it)."""
    import cv2

    from transforms import codec
    from transforms.blur import blur

    if not sigmas:
        raise UsageError("--sigmas needs at least one value")
    if any(s < 0 for s in sigmas):
        raise UsageError(f"--sigmas must be >= 0, got {sigmas}")
    try:
        decoded = codec.decode(data)
    except codec.ImageError as error:
        raise UsageError(f"cannot preview: {error}") from error
    pixels = decoded.pixels
    height, width = pixels.shape[:2]
    scale = min(1.0, tile_width / width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    label_height = 28
    tiles = []
    for sigma in sigmas:
        blurred, kernel, _ = blur(pixels, sigma, sigma)
        tile = cv2.resize(_displayable(blurred), size, interpolation=cv2.INTER_AREA)
        band = np.full((label_height, size[0], 3), 255, np.uint8)
        text = f"sigma {sigma:g}  kernel {kernel.width}x{kernel.height}"
        cv2.putText(band, text, (6, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        tiles.append(np.vstack([band, tile]))
    columns = min(columns, len(tiles))
    blank = np.full_like(tiles[0], 255)
    tiles += [blank] * (-len(tiles) % columns)
    gap = 4
    rows = []
    for r in range(0, len(tiles), columns):
        row = tiles[r : r + columns]
        spaced = [np.pad(t, ((gap, gap), (gap, gap), (0, 0)), constant_values=255) for t in row]
        rows.append(np.hstack(spaced))
    return codec.encode(np.vstack(rows), "png")


def thumbnail(data: bytes, width: int = 180) -> bytes:
    """A small JPEG of an image for a gallery: decoded as the pipeline decodes it, shown as
    `preview` shows it (16-bit scaled, gray expanded, alpha over a checkerboard)."""
    import cv2

    from transforms import codec

    pixels = _displayable(codec.decode(data).pixels)
    height, full_width = pixels.shape[:2]
    scale = min(1.0, width / full_width)
    size = (max(1, round(full_width * scale)), max(1, round(height * scale)))
    return codec.encode(cv2.resize(pixels, size, interpolation=cv2.INTER_AREA), "jpeg", 85)
