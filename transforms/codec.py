"""Decoding and encoding: headers read by well-kept libraries, pixels kept as stored. Pure:
bytes in, bytes out.

Headers (format, size, frame count) come from Pillow's lazy `Image.open` (TIFF: tifffile),
which reads no pixels, so a size or frame check costs a few bytes whatever the image. Pixels
come from OpenCV as stored (`IMREAD_UNCHANGED`: channels, alpha and bit depth unchanged, no
EXIF rotation), except TIFF, which tifffile decodes in every layout (planar, odd orders,
any compression) the same way on every call. Native decoder warnings are captured per image:
one that means damaged data refuses the image; the rest are dropped, never printed.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import logging
import os
import re
import struct
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Protocol

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from blur_augment.transforms.errors import explained

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
_PILLOW_FORMATS = {"JPEG": "jpeg", "PNG": "png", "WEBP": "webp", "TIFF": "tiff", "BMP": "bmp"}
SUPPORTED = "8- or 16-bit unsigned gray, RGB or RGBA (and 1-bit or palette, read as 8-bit)"

DEFAULT_MAX_PIXELS = 100_000_000  # 100 MP: a 10000x10000 image, ~300 MB as 8-bit BGR.
_JPEG_SEGMENT_MAX = 65533 - 14  # ICC bytes per APP2 segment (after "ICC_PROFILE\0", seq, n)
PATH_PIXELS = "pixels"  # the log's codec_path for an image decoded to full-resolution pixels


class ImageError(ValueError):
    """A problem with one image's bytes: the image goes to the error table, the run goes on."""


@dataclass(frozen=True)
class Decoded:
    """A decoded image and the metadata chunks to carry over into its output."""

    pixels: np.ndarray
    format: str
    metadata_types: tuple[int, ...] = ()
    metadata: tuple[np.ndarray, ...] = field(default=(), repr=False)
    # a TIFF's orientation and resolution tags, carried into its output: (tag, type, values)
    tiff_tags: tuple[tuple[int, int, tuple[int, ...]], ...] = ()

    codec_path = PATH_PIXELS  # as logged: decoded to full-resolution pixels

    @property
    def channels(self) -> int:
        return 1 if self.pixels.ndim == 2 else int(self.pixels.shape[2])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def dtype(self) -> str:
        return self.pixels.dtype.name


@dataclass(frozen=True)
class Header:
    """What an image's header says, read without decoding a pixel."""

    format: str
    width: int
    height: int
    frames: int = 1
    alpha: bool = False
    # a JPEG's EXIF, XMP and ICC chunks as `cv2.imdecodeWithMetadata` returns them (from the
    # same header read), for a decoder that does not give them
    metadata_types: tuple[int, ...] = ()
    metadata: tuple[np.ndarray, ...] = field(default=(), repr=False)


def format_for_path(path: str) -> str | None:
    """The format a path's extension (any case) names, or None if it is not an image."""
    dot = path.rfind(".")
    if dot < 0 or "/" in path[dot:]:
        return None
    return FORMAT_BY_EXTENSION.get(path[dot:].lower())


def _reason(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[-1] if text else type(error).__name__


def probe(data: bytes) -> Header:
    """The header of an image through Pillow (TIFF: tifffile); ImageError if it is not one of
    the supported formats or its header cannot be read."""
    if not data:
        raise ImageError("empty file (0 bytes)")
    if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return _probe_tiff(data)
    try:
        with _no_bomb_guard(), Image.open(io.BytesIO(data), formats=list(_PILLOW_FORMATS)) as image:
            fmt = _PILLOW_FORMATS[image.format]
            frames = int(getattr(image, "n_frames", 1) or 1)
            alpha = image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (
                "transparency" in image.info and fmt != "png"
            )
            types, chunks = _jpeg_metadata(image.info) if fmt == "jpeg" else ((), ())
            return Header(fmt, image.width, image.height, frames, alpha, types, chunks)
    except UnidentifiedImageError:
        announced = _announced_format(data)
        if announced:
            raise _header_error(announced, _plugin_reason(announced, data)) from None
        raise ImageError(
            f"not a supported image format (starts with {data[:8]!r}; supported are JPEG, PNG, "
            "WebP, TIFF and BMP)"
        ) from None
    except Exception as error:
        raise _header_error(_announced_format(data) or "image", _reason(error)) from error


def _plugin_reason(fmt: str, data: bytes) -> str:
    """Why Pillow's plugin for `fmt` refuses the data (Image.open only says it found none)."""
    from PIL import BmpImagePlugin, JpegImagePlugin, PngImagePlugin, WebPImagePlugin

    plugin = {
        "jpeg": JpegImagePlugin.JpegImageFile,
        "png": PngImagePlugin.PngImageFile,
        "webp": WebPImagePlugin.WebPImageFile,
        "bmp": BmpImagePlugin.BmpImageFile,
    }[fmt]
    try:
        with _no_bomb_guard(), plugin(io.BytesIO(data)):
            return ""
    except Exception as error:
        return _reason(error)


def _header_error(fmt: str, reason: str) -> ImageError:
    bits = re.search(r"cannot handle (\d+)-bit", reason)
    if bits and fmt == "jpeg":
        return ImageError(f"{bits.group(1)}-bit JPEG is not supported (only 8-bit JPEGs are)")
    detail = f" ({reason})" if reason else ""
    return ImageError(f"the {fmt} header is truncated or unreadable{detail}")


_bomb_guard_lock = threading.Lock()


@contextlib.contextmanager
def _no_bomb_guard() -> Iterator[None]:
    """Pillow's decompression-bomb guard off while it reads a header: only the header is read
    here, and the size limit that counts is --max_pixels, checked next from that header."""
    with _bomb_guard_lock, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. "malformed MPO file": notes, not the user's
        saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _announced_format(data: bytes) -> str | None:
    """The format the leading bytes (magic number) announce, to tell a damaged header from a
    file that is not an image at all."""
    magic = {
        b"\xff\xd8\xff": "jpeg",
        b"\x89PNG\r\n\x1a\n": "png",
        b"BM": "bmp",
    }
    for prefix, fmt in magic.items():
        if data.startswith(prefix):
            return fmt
    return "webp" if data[:4] == b"RIFF" and data[8:12] == b"WEBP" else None


def _probe_tiff(data: bytes) -> Header:
    import tifffile

    try:
        with library_messages(), tifffile.TiffFile(io.BytesIO(data)) as tif:
            pages = len(tif.pages)
            page = tif.pages.first
            return Header("tiff", int(page.imagewidth), int(page.imagelength), pages)
    except Exception as error:
        raise ImageError(
            f"the tiff header is truncated or unreadable ({_reason(error)})"
        ) from error


def check_header(data: bytes, max_pixels: int) -> Header:
    """Refuse what is not an image, has several frames or is too large, from the header,
    before any decoding: decoding a 30000x30000 image takes gigabytes, its header a few bytes."""
    header = probe(data)
    fmt, width, height = header.format, header.width, header.height
    if header.frames > 1:
        what = "multi-page TIFF" if fmt == "tiff" else f"animated {fmt.upper()}"
        unit = "pages" if fmt == "tiff" else "frames"
        raise ImageError(
            f"{what} ({header.frames} {unit}): only single-image files are supported; writing "
            "the first alone would silently drop the rest"
        )
    if width <= 0 or height <= 0:
        raise ImageError(f"{fmt} header gives an empty size {width}x{height}")
    if width * height > max_pixels:
        raise ImageError(
            f"{width}x{height} = {width * height} pixels is over --max_pixels={max_pixels}"
        )
    return header


# --- native decoder output ----------------------------------------------------------------

# Decoder messages that mean the pixels are damaged (as opposed to harmless notes such as
# unknown tags, an odd ICC profile or junk between header segments, which are dropped).
_DAMAGE = re.compile(
    r"premature end|corrupt|bad huffman|bad code|crc error|invalid (?:distance|code|stored)"
    r"|too much image data|not enough image data|truncat|incorrect data check|decompression",
    re.IGNORECASE,
)
# libjpeg reports junk between header segments as "Corrupt JPEG data: N extraneous bytes
# before marker 0xXX"; before a header marker that is harmless, before EOI or a restart
# marker (0xd0-0xd9) it means the scan data itself is damaged.
_HARMLESS_JUNK = re.compile(r"extraneous bytes before marker 0x(?!d[0-9])[0-9a-f]{2}", re.I)
_native_lock = threading.Lock()
_native_sink: IO[bytes] | None = None


@contextlib.contextmanager
def native_messages() -> Iterator[list[str]]:
    """Capture what native code (libjpeg, libpng, OpenCV) writes to stderr meanwhile: the
    messages are the caller's to judge, and never reach the terminal. One capture at a time
    per process (stderr is one file descriptor)."""
    global _native_sink
    messages: list[str] = []
    with _native_lock:
        if _native_sink is None:
            # kept open for the process's life: one file, truncated before each capture, and
            # closed at exit (an open file at shutdown is a ResourceWarning on stderr)
            _native_sink = tempfile.TemporaryFile(prefix="blur-augment-native-")  # noqa: SIM115
            atexit.register(_native_sink.close)
        sink = _native_sink
        sink.seek(0)
        sink.truncate()
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
        try:
            yield messages
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text = sink.read().decode("utf-8", errors="replace")
            messages += [line.strip() for line in text.splitlines() if line.strip()]


_LIBRARY_LOGGERS = ("tifffile", "PIL", "imagecodecs")
_captures = threading.local()


class _LibraryLog(logging.Handler):
    """Takes what the decoding libraries log: into the capture of the thread that logs, if it
    has one open (`library_messages`), else nowhere. Never to the terminal: a run's stderr is
    its summary, and what these messages mean is judged per image."""

    def emit(self, record: logging.LogRecord) -> None:
        sink = getattr(_captures, "sink", None)
        if sink is not None:
            with contextlib.suppress(Exception):
                sink.append((record.levelno, record.getMessage().strip()))


def _own_library_loggers() -> None:
    handler = _LibraryLog()
    for name in _LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.propagate = False


_own_library_loggers()


@contextlib.contextmanager
def library_messages() -> Iterator[list[tuple[int, str]]]:
    """(level, message) of what tifffile, Pillow and imagecodecs log in this thread meanwhile."""
    saved = getattr(_captures, "sink", None)
    _captures.sink = messages = []
    try:
        yield messages
    finally:
        _captures.sink = saved
        if saved is not None:
            saved.extend(messages)


def _described(error: BaseException) -> str:
    """An exception from a library, told as what it says of the data (errors.explained)."""
    return explained(error)


def harmless(message: str) -> bool:
    """Junk between header segments: a decoder note, not damage."""
    return bool(_HARMLESS_JUNK.search(message))


def damage_in(messages: list[str]) -> list[str]:
    """The messages that say the data is damaged."""
    return [m for m in messages if _DAMAGE.search(m) and not _HARMLESS_JUNK.search(m)]


# --- decoding -------------------------------------------------------------------------------


def decode(
    data: bytes,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    jpeg_pixels: Callable[[bytes], np.ndarray | None] | None = None,
) -> Decoded:
    """Header check, then full decode as stored (any channels, 8 or 16 bits), with metadata.
    `jpeg_pixels`, where given, decodes a JPEG first (None: OpenCV decodes it): what OpenCV's
    decoder would give, faster (jpeg_planes.decode_pixels)."""
    header = check_header(data, max_pixels)
    fmt = header.format
    tiff_tags: tuple[tuple[int, int, tuple[int, ...]], ...] = ()
    if fmt == "tiff":
        (pixels, tiff_tags), metadata_types, metadata = decode_tiff_with_tags(data), (), ()
    elif fmt == "bmp":
        pixels, metadata_types, metadata = decode_bmp(data), (), ()
    elif fmt == "jpeg" and jpeg_pixels and (turbo := jpeg_pixels(data)) is not None:
        # the header's chunks, shaped as OpenCV returns them (one row each)
        metadata = tuple(np.asarray(chunk, np.uint8).reshape(1, -1) for chunk in header.metadata)
        pixels, metadata_types = turbo, header.metadata_types
    else:
        with native_messages() as messages:
            try:
                pixels, metadata_types, metadata = cv2.imdecodeWithMetadata(
                    np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED
                )
            except cv2.error as error:
                raise ImageError(
                    f"OpenCV failed to decode the {fmt} data: {_reason(error)}"
                ) from error
        damaged = damage_in(messages)
        if damaged:
            raise ImageError(
                f"corrupt or truncated {fmt} data: the decoder reports {'; '.join(damaged)[:400]}"
            )
        if pixels is None or pixels.size == 0:
            raise ImageError(f"OpenCV could not decode the {fmt} data (corrupt or truncated)")
    _check_pixels(pixels, fmt)
    if pixels.shape[:2] != (header.height, header.width):
        raise ImageError(
            f"decoded size {pixels.shape[1]}x{pixels.shape[0]} differs from the header's "
            f"{header.width}x{header.height}"
        )
    if header.alpha and (pixels.ndim != 3 or pixels.shape[2] not in (2, 4)):
        raise ImageError(
            f"the {fmt} image has an alpha channel that the decoder drops; refused rather "
            "than written without it"
        )
    return Decoded(pixels, fmt, tuple(int(t) for t in metadata_types), tuple(metadata), tiff_tags)


def _check_pixels(pixels: np.ndarray, fmt: str) -> None:
    if pixels.dtype in (np.uint8, np.uint16):
        channels = 1 if pixels.ndim == 2 else pixels.shape[2]
        if channels not in (1, 3, 4):
            raise ImageError(
                f"{channels} channels per pixel are not supported; supported: {SUPPORTED}"
            )
        return
    kind = {"f": "floating-point", "i": "signed integer", "c": "complex"}.get(
        pixels.dtype.kind, pixels.dtype.name
    )
    raise ImageError(
        f"{pixels.dtype.itemsize * 8}-bit {kind} {fmt} pixels are not supported; supported: "
        f"{SUPPORTED}"
    )


# TIFF tags a viewer needs to show the output as it shows the input (OpenCV's writer drops
# them): Orientation, XResolution, YResolution, ResolutionUnit.
CARRIED_TIFF_TAGS = (274, 282, 283, 296)
_TIFF_TYPES = {3: "H", 4: "I", 5: "II"}  # SHORT, LONG, RATIONAL: what those tags are stored as


def decode_tiff_with_tags(
    data: bytes,
) -> tuple[np.ndarray, tuple[tuple[int, int, tuple[int, ...]], ...]]:
    """A single-image TIFF as stored, in OpenCV's channel order (BGR, BGRA), through tifffile:
    any planar configuration and compression, and the same pixels on every call; with its
    orientation and resolution tags. What tifffile logs while it decodes is captured: an error
    it logs about the pixel data means damage (refused), anything else is dropped."""
    import tifffile

    try:
        with library_messages() as logged, tifffile.TiffFile(io.BytesIO(data)) as tif:
            page = tif.pages.first
            _check_tiff_page(page, tifffile)
            pixels = page.asarray()
            if page.planarconfig == tifffile.PLANARCONFIG.SEPARATE and pixels.ndim == 3:
                pixels = np.moveaxis(pixels, 0, -1)  # (samples, rows, columns) as stored
            photometric = page.photometric
            colormap = page.colormap if photometric == tifffile.PHOTOMETRIC.PALETTE else None
            tags = _carried_tags(page)
    except ImageError:
        raise
    except Exception as error:
        reason = _described(error)
        if "requires the 'imagecodecs' package" in reason or "compression" in reason.lower():
            raise ImageError(f"this TIFF's compression is not supported ({reason})") from error
        raise ImageError(f"corrupt or truncated tiff data ({reason})") from error
    damaged = [m for level, m in logged if _tiff_damage(level, m)]
    if damaged:
        raise ImageError(
            f"corrupt or truncated tiff data: the decoder reports {'; '.join(damaged)[:400]}"
        )
    miniswhite = photometric == tifffile.PHOTOMETRIC.MINISWHITE
    return _tiff_as_opencv(pixels, colormap, miniswhite), tags


def _check_tiff_page(page, tifffile) -> None:
    """Refuse what is not an 8- or 16-bit unsigned (or 1-bit) image, from the page's tags."""
    if page.dtype is not None and page.dtype.kind not in "ub":  # float, signed
        _check_pixels(np.empty((1, 1), page.dtype), "tiff")
    if page.bitspersample not in (1, 8, 16):
        raise ImageError(
            f"{page.bitspersample}-bit TIFF samples are not supported; supported: {SUPPORTED}"
        )
    if page.photometric == tifffile.PHOTOMETRIC.SEPARATED:
        raise ImageError("CMYK (separated) TIFF is not supported; supported: " + SUPPORTED)


def _tiff_as_opencv(
    pixels: np.ndarray, colormap: np.ndarray | None, miniswhite: bool
) -> np.ndarray:
    """TIFF samples as OpenCV lays pixels out: 1-bit as 8-bit, palettes expanded, white-is-zero
    inverted, BGR(A) order, no single-channel axis."""
    if pixels.dtype == bool:
        pixels = pixels.astype(np.uint8) * 255
    if colormap is not None:  # palette: 16-bit colour table, as OpenCV expands it
        table = (colormap.T >> 8).astype(np.uint8) if colormap.max() > 255 else colormap.T
        pixels = np.ascontiguousarray(table.astype(np.uint8)[pixels][:, :, ::-1])
    elif miniswhite:
        pixels = np.iinfo(pixels.dtype).max - pixels
    if pixels.ndim == 3 and pixels.shape[2] in (3, 4):
        order = [2, 1, 0, 3][: pixels.shape[2]]
        pixels = np.ascontiguousarray(pixels[:, :, order])
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    _check_pixels(pixels, "tiff")
    return np.ascontiguousarray(pixels)


def _tiff_damage(level: int, message: str) -> bool:
    """Whether something tifffile logged means the pixels cannot be trusted: an error about
    the strips, tiles or their offsets (libtiff and Pillow refuse such files), or a damage
    word. A tag it could not parse (`<TiffTag.fromfile> raised`) is a note: the image's own
    tags are checked by decoding it."""
    if "<TiffTag.fromfile>" in message:
        return False
    return level >= logging.ERROR or bool(_DAMAGE.search(message))


def _carried_tags(page) -> tuple[tuple[int, int, tuple[int, ...]], ...]:
    """The page's CARRIED_TIFF_TAGS as (tag, TIFF type, flat integer values)."""
    carried = []
    for code in CARRIED_TIFF_TAGS:
        tag = page.tags.get(code)
        if tag is None or int(tag.dtype) not in _TIFF_TYPES:
            continue
        value = tag.value
        flat = tuple(int(v) for v in (value if isinstance(value, tuple) else (value,)))
        carried.append((code, int(tag.dtype), flat))
    return tuple(carried)


def with_tiff_tags(data: bytes, tags: tuple[tuple[int, int, tuple[int, ...]], ...]) -> bytes:
    """A classic TIFF (as OpenCV writes it) with `tags` set in its first IFD: a new IFD holding
    the old entries and these is appended and the header pointed at it, so every offset in the
    file stays valid. Other files (BigTIFF) are returned as they are."""
    if not tags or data[:4] not in (b"II*\x00", b"MM\x00*"):
        return data
    order = "<" if data[:2] == b"II" else ">"
    (first,) = struct.unpack_from(order + "I", data, 4)
    (count,) = struct.unpack_from(order + "H", data, first)
    entries = {
        struct.unpack_from(order + "H", data, first + 2 + 12 * i)[0]: data[
            first + 2 + 12 * i : first + 14 + 12 * i
        ]
        for i in range(count)
    }
    following = data[first + 2 + 12 * count : first + 6 + 12 * count]
    out = bytearray(data)
    for code, kind, values in tags:
        payload = struct.pack(order + "I" * len(values) if kind != 3 else order + "H" * len(
            values), *values)  # fmt: skip
        number = len(values) // 2 if kind == 5 else len(values)
        if len(payload) <= 4:
            field_bytes = payload.ljust(4, b"\x00")
        else:
            out += b"\x00" * (len(out) % 2)
            field_bytes = struct.pack(order + "I", len(out))
            out += payload
        entries[code] = struct.pack(order + "HHI", code, kind, number) + field_bytes
    out += b"\x00" * (len(out) % 2)
    struct.pack_into(order + "I", out, 4, len(out))
    out += struct.pack(order + "H", len(entries))
    out += b"".join(entries[code] for code in sorted(entries)) + following
    return bytes(out)


def decode_bmp(data: bytes) -> np.ndarray:
    """A bitmap through Pillow, which reads every BMP variant (Windows and OS/2 headers, RLE4
    and RLE8, bit fields, top-down rows) where OpenCV misreads some: 1-bit, gray and palette
    bitmaps become 8-bit gray or BGR(A), as OpenCV would give them."""
    try:
        with _no_bomb_guard(), Image.open(io.BytesIO(data), formats=["BMP"]) as image:
            if image.mode == "1":
                image = image.convert("L")
            elif image.mode == "P":
                image = image.convert("RGBA" if "transparency" in image.info else "RGB")
            pixels = np.asarray(image)
    except Exception as error:
        raise ImageError(f"corrupt or truncated bmp data ({_reason(error)})") from error
    if pixels.ndim == 3:
        order = [2, 1, 0, 3][: pixels.shape[2]]
        pixels = pixels[:, :, order]
    return np.ascontiguousarray(pixels)


@dataclass(frozen=True)
class Properties:
    """What the log says of a decoded image: its size, channels, depth, orientation tag and
    the codec path that decoded it."""

    width: int
    height: int
    channels: int
    dtype: str
    exif_orientation: int
    codec_path: str = PATH_PIXELS

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.height, self.width) if self.channels == 1 else (
            self.height, self.width, self.channels,
        )  # fmt: skip


class DecodedImage(Protocol):
    """What `properties` and `exif_orientation` read of a decoded image, whichever codec path
    decoded it (`Decoded` here, `jpeg_planes.JpegPlanes`)."""

    width: int
    height: int
    channels: int
    dtype: str
    codec_path: str
    metadata_types: tuple[int, ...]
    metadata: tuple[np.ndarray, ...]


def properties(decoded: DecodedImage) -> Properties:
    return Properties(
        decoded.width, decoded.height, decoded.channels, decoded.dtype,
        exif_orientation(decoded), decoded.codec_path,
    )  # fmt: skip


# JPEG colour modes as Pillow names them -> channels as decoded here (CMYK becomes BGR).
_JPEG_CHANNELS = {"L": 1, "RGB": 3, "YCbCr": 3, "CMYK": 3}


def header_properties(data: bytes) -> Properties | None:
    """The Properties of a JPEG from its header alone, exactly as decoding would give them
    (8-bit, gray or three channels, the EXIF orientation tag); None for other formats, whose
    decoded layout only decoding tells. Lets a resumed run log an existing output without
    decoding its source again."""
    try:
        with _no_bomb_guard(), Image.open(io.BytesIO(data), formats=["JPEG"]) as image:
            channels = _JPEG_CHANNELS.get(image.mode)
            if channels is None or getattr(image, "n_frames", 1) != 1:
                return None
            orientation = int(image.getexif().get(0x0112, 0) or 0)
            return Properties(image.width, image.height, channels, "uint8", orientation)
    except Exception:
        return None


def exif_orientation(decoded: DecodedImage) -> int:
    """The EXIF (or TIFF) orientation tag (1-8) carried by the image, or 0 when it has none."""
    for code, _, values in getattr(decoded, "tiff_tags", ()):
        if code == 274 and values:
            return int(values[0]) if 1 <= values[0] <= 8 else 0
    for kind, chunk in zip(decoded.metadata_types, decoded.metadata, strict=True):
        if kind != cv2.IMAGE_METADATA_EXIF:
            continue
        exif = Image.Exif()
        try:
            exif.load(np.asarray(chunk, np.uint8).tobytes())
        except Exception:  # a damaged EXIF block: no orientation to keep
            return 0
        return int(exif.get(0x0112, 0) or 0)
    return 0


_EXIF_HEADER = b"Exif\x00\x00"  # what precedes the TIFF data in a JPEG's APP1 EXIF segment
_XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"  # OpenCV keeps it in its XMP chunk


def _jpeg_metadata(info: dict) -> tuple[tuple[int, ...], tuple[np.ndarray, ...]]:
    """A JPEG's EXIF, XMP and ICC chunks as `cv2.imdecodeWithMetadata` returns them, from
    what Pillow read of its header (a multi-segment ICC profile comes back whole): for a path
    that does not decode through OpenCV and must carry the same metadata."""
    found = [
        (cv2.IMAGE_METADATA_EXIF, info.get("exif", b"").removeprefix(_EXIF_HEADER)),
        (cv2.IMAGE_METADATA_XMP, _XMP_HEADER + info["xmp"] if info.get("xmp") else b""),
        (cv2.IMAGE_METADATA_ICCP, info.get("icc_profile") or b""),
    ]
    kept = [(int(kind), np.frombuffer(chunk, np.uint8)) for kind, chunk in found if chunk]
    return tuple(k for k, _ in kept), tuple(c for _, c in kept)


def _icc_segments(icc: bytes) -> bytes:
    """`icc` split over APP2 "ICC_PROFILE" segments (the ICC spec's own way of carrying a
    profile over 64 KB)."""
    chunks = [icc[i : i + _JPEG_SEGMENT_MAX] for i in range(0, len(icc), _JPEG_SEGMENT_MAX)]
    if len(chunks) > 255:
        raise ImageError(f"ICC profile of {len(icc)} bytes is too large for a JPEG (255 segments)")
    return b"".join(
        b"\xff\xe2"
        + (len(chunk) + 16).to_bytes(2, "big")
        + b"ICC_PROFILE\x00"
        + bytes([number, len(chunks)])
        + chunk
        for number, chunk in enumerate(chunks, start=1)
    )


def _app1(payload: bytes) -> bytes:
    if len(payload) + 2 > 0xFFFF:
        raise ImageError(f"a metadata block of {len(payload)} bytes is too large for a JPEG")
    return b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload


def _insert_segments(jpeg: bytes, segments: bytes) -> bytes:
    """`segments` placed after SOI and the APP0/APP1 segments already there."""
    position = 2
    while jpeg[position : position + 1] == b"\xff" and jpeg[position + 1] in (0xE0, 0xE1):
        position += 2 + int.from_bytes(jpeg[position + 2 : position + 4], "big")
    return jpeg[:position] + segments + jpeg[position:]


def with_jpeg_metadata(
    jpeg: bytes, metadata_types: tuple[int, ...], metadata: tuple[np.ndarray, ...]
) -> bytes:
    """A bare JPEG with metadata chunks (as `jpeg_metadata` gives them) written the way OpenCV's
    encoder writes them: EXIF and XMP as APP1, then ICC as APP2, after the JFIF APP0."""
    by_kind = {kind: np.asarray(chunk, np.uint8).tobytes() for kind, chunk in
               zip(metadata_types, metadata, strict=True)}  # fmt: skip
    segments = b""
    if cv2.IMAGE_METADATA_EXIF in by_kind:
        segments += _app1(_EXIF_HEADER + by_kind[cv2.IMAGE_METADATA_EXIF])
    if cv2.IMAGE_METADATA_XMP in by_kind:
        segments += _app1(by_kind[cv2.IMAGE_METADATA_XMP])
    if cv2.IMAGE_METADATA_ICCP in by_kind:
        segments += _icc_segments(by_kind[cv2.IMAGE_METADATA_ICCP])
    return _insert_segments(jpeg, segments) if segments else jpeg


def encode(
    pixels: np.ndarray,
    fmt: str,
    quality: int = 95,
    metadata_types: tuple[int, ...] = (),
    metadata: tuple[np.ndarray, ...] = (),
    tiff_tags: tuple[tuple[int, int, tuple[int, ...]], ...] = (),
) -> bytes:
    """Encode in `fmt`; JPEG and WebP at `quality`, EXIF/ICC/XMP carried where the format can,
    a TIFF's orientation and resolution tags set in its output.

    OpenCV writes a JPEG's ICC profile as one APP2 segment, which holds at most 64 KB; a larger
    profile (wide-gamut and printer profiles) is split over several segments here instead."""
    params = {"jpeg": [cv2.IMWRITE_JPEG_QUALITY, quality],
              "webp": [cv2.IMWRITE_WEBP_QUALITY, quality]}.get(fmt, [])  # fmt: skip
    large_icc = b""
    if fmt == "jpeg":
        metadata_types, metadata, large_icc = _without_large_icc(metadata_types, metadata)
    data = _opencv_encode(pixels, fmt, params, metadata_types, metadata)
    if large_icc:
        return _insert_segments(data, _icc_segments(large_icc))
    if fmt == "tiff" and tiff_tags:
        return with_tiff_tags(data, tiff_tags)
    return data


def _without_large_icc(
    metadata_types: tuple[int, ...], metadata: tuple[np.ndarray, ...]
) -> tuple[tuple[int, ...], tuple[np.ndarray, ...], bytes]:
    """The metadata without an ICC profile too large for one APP2 segment, and that profile."""
    kept_types, kept, large_icc = [], [], b""
    for kind, chunk in zip(metadata_types, metadata, strict=True):
        if kind == cv2.IMAGE_METADATA_ICCP and np.asarray(chunk).size > _JPEG_SEGMENT_MAX:
            large_icc = np.asarray(chunk, np.uint8).tobytes()
        else:
            kept_types.append(kind)
            kept.append(chunk)
    return tuple(kept_types), tuple(kept), large_icc


def _opencv_encode(
    pixels: np.ndarray,
    fmt: str,
    params: list[int],
    metadata_types: tuple[int, ...],
    metadata: tuple[np.ndarray, ...],
) -> bytes:
    ext = _ENCODE_EXTENSION[fmt]
    try:
        with native_messages():  # encoder notes are not the user's business
            if metadata_types and fmt in _METADATA_FORMATS:
                ok, buf = cv2.imencodeWithMetadata(
                    ext, pixels, list(metadata_types), list(metadata), params
                )
            else:
                ok, buf = cv2.imencode(ext, pixels, params)
    except cv2.error as error:
        ok, reason = False, f": {_reason(error)}"
    else:
        reason = ""
    if not ok:
        raise ImageError(
            f"OpenCV could not encode a {pixels.dtype.name} image with "
            f"{1 if pixels.ndim == 2 else pixels.shape[2]} channels as {fmt}{reason}"
        )
    return buf.tobytes()
