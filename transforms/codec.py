"""Decoding and encoding: format detection, header checks, metadata kept. Pure: bytes in, out.

Decoding is `IMREAD_UNCHANGED`: channels, alpha and bit depth stay as stored (no silent
conversion to 8-bit BGR, and no EXIF rotation of the pixels: the orientation tag is kept
instead, so viewers show the output the same way up as the input).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np

# Lower-case extension -> format name as logged.
FORMAT_BY_EXTENSION: dict[str, str] = {
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
    ".png": "png",
    ".webp": "webp",
    ".tif": "tiff",
    ".tiff": "tiff",
    ".bmp": "bmp",
}
_ENCODE_EXTENSION = {"jpeg": ".jpg", "png": ".png", "webp": ".webp", "tiff": ".tiff", "bmp": ".bmp"}
# Formats whose encoder in OpenCV carries EXIF / ICC / XMP chunks.
_METADATA_FORMATS = frozenset({"jpeg", "png", "webp"})

DEFAULT_MAX_PIXELS = 100_000_000  # 100 MP: a 10000x10000 image, ~300 MB as 8-bit BGR.


class ImageError(ValueError):
    """A problem with one image's bytes: the image goes to the error table, the run goes on."""


@dataclass(frozen=True)
class Decoded:
    """A decoded image and the metadata chunks to carry over into its output."""

    pixels: np.ndarray
    format: str
    metadata_types: tuple[int, ...] = ()
    metadata: tuple[np.ndarray, ...] = field(default=(), repr=False)

    @property
    def channels(self) -> int:
        return 1 if self.pixels.ndim == 2 else int(self.pixels.shape[2])


def format_for_path(path: str) -> str | None:
    """The format a path's extension (any case) names, or None if it is not an image."""
    dot = path.rfind(".")
    if dot < 0 or "/" in path[dot:]:
        return None
    return FORMAT_BY_EXTENSION.get(path[dot:].lower())


def sniff_format(data: bytes) -> str | None:
    """The format the leading bytes announce, whatever the file is called."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if data.startswith(b"BM"):
        return "bmp"
    return None


def header_size(data: bytes, fmt: str) -> tuple[int, int] | None:
    """(width, height) read from the header alone, or None where the header does not say."""
    try:
        if fmt == "png":
            if data[12:16] != b"IHDR":
                return None
            return struct.unpack(">II", data[16:24])
        if fmt == "jpeg":
            return _jpeg_size(data)
        if fmt == "webp":
            return _webp_size(data)
        if fmt == "bmp":
            width, height = struct.unpack("<ii", data[18:26])
            return abs(width), abs(height)
        if fmt == "tiff":
            return _tiff_size(data)
    except struct.error:
        return None
    return None


def _jpeg_segments(data: bytes) -> Iterator[tuple[int, int, int]]:
    """(marker, position, length) of the JPEG's segments up to its first start-of-scan;
    metadata, EXIF thumbnails included, is skipped whole by its length."""
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        yield marker, pos, length
        if marker == 0xDA:
            return
        pos += 2 + length


def jpeg_is_complete(data: bytes) -> bool:
    """Whether an end-of-image marker follows the main image's scan data: a JPEG cut short
    loses it. Some decoders fill the missing rows with grey and only warn; this refuses it."""
    scans = [pos for marker, pos, _ in _jpeg_segments(data) if marker == 0xDA]
    return bool(scans) and data.rfind(b"\xff\xd9") > scans[0]


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    for marker, pos, _ in _jpeg_segments(data):
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # start of frame
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return width, height
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X":
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    if chunk == b"VP8L":
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 ":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    return None


def _tiff_ifd(data: bytes, offset: int | None = None) -> tuple[dict[int, int], int]:
    """The first (or given) image file directory of a TIFF structure: {tag: first value} for
    the integer tags, and the offset of the next directory (0 when it is the last)."""
    order = "<" if data[:2] == b"II" else ">"
    big = data[2:4] in (b"+\x00", b"\x00+")  # BigTIFF: 64-bit counts and offsets
    if offset is None:
        (offset,) = struct.unpack_from(order + ("Q" if big else "I"), data, 8 if big else 4)
    count_format, entry_size, value_at = ("Q", 20, 12) if big else ("H", 12, 8)
    (count,) = struct.unpack_from(order + count_format, data, offset)
    start = offset + struct.calcsize(count_format)
    values: dict[int, int] = {}
    for i in range(min(count, 4096)):
        tag, kind = struct.unpack_from(order + "HH", data, start + i * entry_size)
        if kind in (3, 4, 16):  # SHORT, LONG, LONG8
            fmt = order + {3: "H", 4: "I", 16: "Q"}[kind]
            (values[tag],) = struct.unpack_from(fmt, data, start + i * entry_size + value_at)
    (next_offset,) = struct.unpack_from(
        order + ("Q" if big else "I"), data, start + count * entry_size
    )
    return values, next_offset


def _tiff_size(data: bytes) -> tuple[int, int] | None:
    values, _ = _tiff_ifd(data)
    if 256 in values and 257 in values:
        return values[256], values[257]
    return None


def tiff_pages(data: bytes, limit: int = 1000) -> int:
    """How many images a TIFF holds (up to `limit`), following the chain of directories."""
    pages, offset = 0, None
    seen: set[int] = set()
    while pages < limit:
        _, offset = _tiff_ifd(data, offset)
        pages += 1
        if not offset or offset in seen or offset >= len(data):
            break
        seen.add(offset)
    return pages


def exif_orientation(decoded: Decoded) -> int:
    """The EXIF orientation tag (1-8) carried by the image, or 0 when it has none."""
    for kind, chunk in zip(decoded.metadata_types, decoded.metadata, strict=True):
        if kind != cv2.IMAGE_METADATA_EXIF:
            continue
        blob = np.asarray(chunk, np.uint8).tobytes()
        if blob.startswith(b"Exif\x00\x00"):
            blob = blob[6:]
        try:
            return int(_tiff_ifd(blob)[0].get(0x0112, 0))
        except struct.error:
            return 0
    return 0


def check_header(data: bytes, max_pixels: int) -> tuple[str, int, int]:
    """Refuse what is not an image or is too large, from the header, before any decoding.

    Returns (format, width, height). Decoding a 30000x30000 image takes gigabytes; its header
    takes a few bytes.
    """
    if not data:
        raise ImageError("empty file (0 bytes)")
    fmt = sniff_format(data)
    if fmt is None:
        raise ImageError(f"not a supported image format (starts with {data[:8]!r})")
    size = header_size(data, fmt)
    if size is None:
        raise ImageError(f"{fmt} header is truncated or unreadable")
    width, height = size
    if fmt == "tiff":
        try:
            pages = tiff_pages(data)
        except struct.error:
            pages = 1  # a damaged chain is for the decoder to refuse
        if pages > 1:
            raise ImageError(
                f"multi-page TIFF ({pages} pages): only single-image files are supported"
            )
    if width <= 0 or height <= 0:
        raise ImageError(f"{fmt} header gives an empty size {width}x{height}")
    if width * height > max_pixels:
        raise ImageError(
            f"{width}x{height} = {width * height} pixels is over --max_pixels={max_pixels}"
        )
    return fmt, width, height


def decode(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> Decoded:
    """Header check, then full decode as stored (any channels, 8 or 16 bits), with metadata."""
    fmt, width, height = check_header(data, max_pixels)
    if fmt == "jpeg" and not jpeg_is_complete(data):
        raise ImageError("jpeg data is truncated (no end-of-image marker after the scan)")
    try:
        pixels, metadata_types, metadata = cv2.imdecodeWithMetadata(
            np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED
        )
    except cv2.error as error:
        raise ImageError(f"OpenCV failed to decode the {fmt} data: {error}") from error
    if pixels is None or pixels.size == 0:
        raise ImageError(f"OpenCV could not decode the {fmt} data (corrupt or truncated)")
    if pixels.dtype not in (np.uint8, np.uint16):
        raise ImageError(f"unsupported pixel type {pixels.dtype.name}; only 8 and 16 bits are")
    if pixels.shape[:2] != (height, width):
        raise ImageError(
            f"decoded size {pixels.shape[1]}x{pixels.shape[0]} differs from the header's "
            f"{width}x{height}"
        )
    return Decoded(pixels, fmt, tuple(int(t) for t in metadata_types), tuple(metadata))


def encode(
    pixels: np.ndarray,
    fmt: str,
    quality: int = 95,
    metadata_types: tuple[int, ...] = (),
    metadata: tuple[np.ndarray, ...] = (),
) -> bytes:
    """Encode in `fmt`; JPEG and WebP at `quality`, EXIF/ICC/XMP carried where the format can."""
    ext = _ENCODE_EXTENSION[fmt]
    params: list[int] = []
    if fmt == "jpeg":
        params = [cv2.IMWRITE_JPEG_QUALITY, quality]
    elif fmt == "webp":
        params = [cv2.IMWRITE_WEBP_QUALITY, quality]
    try:
        if metadata_types and fmt in _METADATA_FORMATS:
            ok, buf = cv2.imencodeWithMetadata(
                ext, pixels, list(metadata_types), list(metadata), params
            )
        else:
            ok, buf = cv2.imencode(ext, pixels, params)
    except cv2.error as error:
        ok, reason = False, f": {str(error).strip().splitlines()[-1]}"
    else:
        reason = ""
    if not ok:
        raise ImageError(
            f"OpenCV could not encode a {pixels.dtype.name} image with "
            f"{1 if pixels.ndim == 2 else pixels.shape[2]} channels as {fmt}{reason}"
        )
    return buf.tobytes()
