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

from tests.support.helpers import textured

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


def tiff_bytes(array: np.ndarray, **kwargs) -> bytes:
    import tifffile

    buffer = io.BytesIO()
    tifffile.imwrite(buffer, array, **kwargs)
    return buffer.getvalue()


def os2_bmp(image: np.ndarray) -> bytes:
    """A 24-bit OS/2 bitmap (BITMAPCOREHEADER, 12 bytes), as old tools still write it."""
    height, width = image.shape[:2]
    stride = (width * 3 + 3) & ~3
    rows = b"".join(
        image[y].tobytes() + b"\x00" * (stride - width * 3) for y in range(height - 1, -1, -1)
    )
    header = struct.pack("<IHHHH", 12, width, height, 1, 24)
    return b"BM" + struct.pack("<IHHI", 26 + len(rows), 0, 0, 26) + header + rows


def rle8_bmp(indices: np.ndarray, palette: np.ndarray) -> bytes:
    """An 8-bit run-length-encoded bitmap (BI_RLE8), encoded here run by run."""
    height, width = indices.shape
    data = bytearray()
    for y in range(height - 1, -1, -1):
        row = indices[y]
        x = 0
        while x < width:
            run = 1
            while x + run < width and run < 255 and row[x + run] == row[x]:
                run += 1
            data += bytes([run, int(row[x])])
            x += run
        data += b"\x00\x00"  # end of line
    data += b"\x00\x01"  # end of bitmap
    colours = b"".join(bytes([b, g, r, 0]) for b, g, r in palette)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 8, 1, len(data), 2835, 2835, 256, 0)
    offset = 14 + 40 + len(colours)
    return b"BM" + struct.pack("<IHHI", offset + len(data), 0, 0, offset) + info + colours + data


def with_segment_before_frame(jpeg: bytes, segment: bytes) -> bytes:
    """`segment` spliced in just before the start-of-frame marker (SOF0)."""
    at = jpeg.find(b"\xff\xc0")
    return jpeg[:at] + segment + jpeg[at:]


def corrupt_scan(jpeg: bytes) -> bytes:
    data = bytearray(jpeg)
    start = data.find(b"\xff\xda") + 20
    for i in range(start, min(start + 120, len(data) - 4), 3):
        data[i] ^= 0x55
    return bytes(data)


def twelve_bit(jpeg: bytes) -> bytes:
    """A JPEG whose frame header says 12-bit samples (libjpeg's 12-bit mode)."""
    data = bytearray(jpeg)
    data[data.find(b"\xff\xc0") + 4] = 12
    return bytes(data)


def animated(frames: list[Image.Image], fmt: str) -> bytes:
    return pil_bytes(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)


def files_made_elsewhere(photo: np.ndarray) -> dict[str, tuple[bytes, Expectation]]:
    """Files as other programs write them: Pillow, tifffile and numpy, never OpenCV."""
    rgb16 = textured(24, 36, 3, "uint16", seed=21)[:, :, ::-1]  # RGB order, as tifffile stores
    rgba16 = textured(24, 36, 4, "uint16", seed=22)
    jpeg = pil_bytes(Image.fromarray(photo[:, :, ::-1]), "JPEG", quality=90)
    rgba = Image.fromarray(np.dstack([photo[:, :, ::-1], photo[:, :, 0]]), "RGBA")
    big_icc = b"\x00\x01\x00\x00" + bytes(range(256)) * 400  # ~100 KB: over one APP2 segment
    palette = np.array([[i, 255 - i, (3 * i) % 256] for i in range(256)], np.uint8)
    indices = (textured(30, 50, 1, seed=23) // 64 * 60).astype(np.uint8)
    return {
        "made/planar16_rgb.tif": (
            tiff_bytes(np.moveaxis(rgb16, -1, 0), photometric="rgb", planarconfig="separate"),
            ("ok", None),
        ),
        "made/planar16_rgba.tif": (
            tiff_bytes(
                np.moveaxis(rgba16, -1, 0),
                photometric="rgb",
                planarconfig="separate",
                extrasamples=["unassalpha"],
            ),
            ("ok", None),
        ),
        "made/lzma.tif": (
            tiff_bytes(photo[:, :, ::-1], photometric="rgb", compression="lzma"),
            ("ok", None),
        ),
        "made/opencv_lzw16.tif": (encoded(rgb16, ".tiff"), ("ok", None)),
        "made/oriented.tif": (
            tiff_bytes(textured(88, 590, 1, seed=24), extratags=[(274, "H", 1, 6, True)]),
            ("ok", None),
        ),
        "made/four_bit.tif": (
            tiff_bytes((textured(16, 16, 1) // 16).astype(np.uint8), bitspersample=4),
            ("error", ("decode", "4-bit TIFF samples are not supported")),
        ),
        "made/int8.tif": (
            tiff_bytes(textured(16, 16, 1).astype(np.int8)),
            ("error", ("decode", "8-bit signed integer tiff pixels are not supported")),
        ),
        "made/animated.png": (
            animated([Image.fromarray(photo[:, :, ::-1]), Image.fromarray(photo)], "PNG"),
            ("error", ("decode", "animated PNG (2 frames)")),
        ),
        "made/animated_alpha.webp": (
            animated([rgba, rgba.transpose(Image.Transpose.FLIP_LEFT_RIGHT)], "WEBP"),
            ("error", ("decode", "animated WEBP (2 frames)")),
        ),
        "made/junk_before_frame.jpg": (
            with_segment_before_frame(jpeg, b"\x00\x00\x00\x00"),
            ("ok", None),
        ),
        "made/odd_segments.jpg": (
            with_segment_before_frame(
                jpeg,
                b"\xff\xef\x00\x06ODD\x00"  # APP15
                + b"\xff\xfe\x00\x0ba comment"  # COM
                + b"\xff\xe2\x00\x08MPF\x00\x00\x00",  # APP2, not an ICC profile
            ),
            ("ok", None),
        ),
        "made/big_icc.jpg": (
            pil_bytes(Image.fromarray(photo[:, :, ::-1]), "JPEG", icc_profile=big_icc),
            ("ok", None),
        ),
        "made/corrupt_scan.jpg": (corrupt_scan(jpeg), ("error", ("decode", "corrupt"))),
        "made/twelve_bit.jpg": (
            twelve_bit(jpeg),
            ("error", ("decode", "12-bit JPEG is not supported")),
        ),
        "made/os2.bmp": (os2_bmp(photo), ("ok", None)),
        "made/rle8.bmp": (rle8_bmp(indices, palette), ("ok", None)),
    }


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
            ("error", ("decode", "32-bit floating-point tiff pixels are not supported")),
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
        **files_made_elsewhere(photo),
    }
    for key, (data, _) in files.items():
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (root / "notes.txt").write_text("not an image: skipped and counted")
    return {key: expectation for key, (_, expectation) in files.items()}
