"""A corpus of hostile and unusual inputs, generated on the fly (nothing large is committed).

`build(root)` writes it and returns what each file must become: ("ok", None) for a correct
output plus a log row, or ("error", (stage, part of the message)) for an error row.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageCms

from tests.helpers import textured

Expectation = tuple[str, tuple[str, str] | None]


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload))
    )


def png_claiming(width: int, height: int) -> bytes:
    """A valid PNG signature and IHDR for a huge image, with a tiny (wrong) IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def encoded(image: np.ndarray, ext: str, params: list[int] | None = None) -> bytes:
    ok, buf = cv2.imencode(ext, image, params or [])
    assert ok
    return buf.tobytes()


def pil_bytes(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def srgb_icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def phone_jpeg() -> bytes:
    """A JPEG stored sideways (landscape pixels) with EXIF orientation 6 and an ICC profile."""
    exif = Image.Exif()
    exif[0x0112] = 6
    pixels = Image.fromarray(textured(48, 64, 3, seed=11)[:, :, ::-1])
    return pil_bytes(pixels, "JPEG", quality=92, exif=exif.tobytes(), icc_profile=srgb_icc())


def build(root: Path) -> dict[str, Expectation]:
    """Write the corpus under root; return {key: expectation}."""
    photo = textured(60, 80, 3, seed=7)
    jpeg = encoded(photo, ".jpg")
    png = encoded(photo, ".png")
    bad_crc = bytearray(png)
    idat = bad_crc.find(b"IDAT")
    (length,) = struct.unpack(">I", bad_crc[idat - 4 : idat])
    bad_crc[idat + 4 + length] ^= 0xFF  # the IDAT chunk's CRC
    gray = photo[:, :, 0]
    rgba = np.dstack([photo, gray])
    frames = [Image.fromarray(gray), Image.fromarray(photo[:, :, 1])]
    files: dict[str, tuple[bytes, Expectation]] = {
        "empty.jpg": (b"", ("error", ("decode", "empty file"))),
        "text_named.jpg": (b"hello, I am a text file\n", ("error", ("decode", "not a supported"))),
        "truncated.jpg": (jpeg[: len(jpeg) // 2], ("error", ("decode", "truncated"))),
        "truncated.png": (png[: len(png) // 2], ("error", ("decode", "corrupt or truncated"))),
        "bad_crc.png": (bytes(bad_crc), ("error", ("decode", "corrupt or truncated"))),
        "huge_header.png": (png_claiming(30000, 30000), ("error", ("decode", "--max_pixels"))),
        "one_pixel.png": (encoded(photo[:1, :1], ".png"), ("ok", None)),
        "thin_1x5000.png": (encoded(textured(1, 5000, 3), ".png"), ("ok", None)),
        "palette.png": (
            pil_bytes(Image.fromarray(photo[:, :, ::-1]).convert("P"), "PNG"),
            ("ok", None),
        ),
        "one_bit.png": (pil_bytes(Image.fromarray(gray).convert("1"), "PNG"), ("ok", None)),
        "deep16.png": (encoded(textured(30, 40, 3, "uint16", seed=3), ".png"), ("ok", None)),
        "gray.jpg": (encoded(gray, ".jpg"), ("ok", None)),
        "rgba.png": (encoded(rgba, ".png"), ("ok", None)),
        "rgba.webp": (encoded(rgba, ".webp", [cv2.IMWRITE_WEBP_QUALITY, 90]), ("ok", None)),
        "cmyk.jpg": (
            pil_bytes(Image.fromarray(photo[:, :, ::-1]).convert("CMYK"), "JPEG"),
            ("ok", None),
        ),
        "pages.tif": (
            pil_bytes(frames[0], "TIFF", save_all=True, append_images=frames[1:]),
            ("error", ("decode", "multi-page TIFF (2 pages)")),
        ),
        "float32.tif": (
            encoded(gray.astype(np.float32) / 255, ".tiff"),
            ("error", ("decode", "unsupported pixel type float32")),
        ),
        "UPPER.JPG": (jpeg, ("ok", None)),
        "Mixed.Png": (png, ("ok", None)),
        "with space/a b.jpg": (jpeg, ("ok", None)),
        "ünïcødé/名前.png": (png, ("ok", None)),
        "odd #1 50%.jpg": (jpeg, ("ok", None)),
        "phone.jpg": (phone_jpeg(), ("ok", None)),
        "icc.png": (
            pil_bytes(Image.fromarray(photo[:, :, ::-1]), "PNG", icc_profile=srgb_icc()),
            ("ok", None),
        ),
        "tiny.bmp": (encoded(photo, ".bmp"), ("ok", None)),
    }
    for key, (data, _) in files.items():
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (root / "notes.txt").write_text("not an image: skipped and counted")
    return {key: expectation for key, (_, expectation) in files.items()}
