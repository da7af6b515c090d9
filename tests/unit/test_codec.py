"""Format sniffing, header sizes, decode as stored and encode, all on bytes in memory."""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import pytest

from blur_augment.transforms.codec import (
    Header,
    ImageError,
    check_header,
    decode,
    encode,
    format_for_path,
    probe,
)
from tests.support.corpus import png_claiming
from tests.support.helpers import textured


def encoded(image: np.ndarray, ext: str, params: list[int] | None = None) -> bytes:
    ok, buf = cv2.imencode(ext, image, params or [])
    assert ok
    return buf.tobytes()


@pytest.mark.parametrize(
    ("ext", "fmt", "params"),
    [
        (".jpg", "jpeg", []),
        (".png", "png", []),
        (".webp", "webp", [cv2.IMWRITE_WEBP_QUALITY, 80]),
        (".webp", "webp", [cv2.IMWRITE_WEBP_QUALITY, 101]),  # lossless: VP8L
        (".tiff", "tiff", []),
        (".bmp", "bmp", []),
    ],
)
def test_probe_reads_format_and_size(ext, fmt, params):
    data = encoded(textured(23, 57), ext, params)
    assert probe(data) == Header(fmt, 57, 23)


def test_webp_with_alpha_header():
    data = encoded(textured(19, 31, 4), ".webp", [cv2.IMWRITE_WEBP_QUALITY, 90])
    assert probe(data) == Header("webp", 31, 19, alpha=True)


@pytest.mark.parametrize(
    ("path", "fmt"),
    [
        ("a/b.JPG", "jpeg"),
        ("x.jpeg", "jpeg"),
        ("x.Png", "png"),
        ("x.webp", "webp"),
        ("x.TIF", "tiff"),
        ("x.tiff", "tiff"),
        ("x.bmp", "bmp"),
        ("x.gif", None),
        ("x.txt", None),
        ("noext", None),
        ("dir.jpg/noext", None),
    ],
)
def test_format_for_path(path, fmt):
    assert format_for_path(path) == fmt


def png_header_claiming(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return b"\x89PNG\r\n\x1a\n" + chunk


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty file"),
        (b"hello, I am text named .jpg", "not a supported image format"),
        (b"\x89PNG\r\n\x1a\n", "truncated"),
        (png_header_claiming(30000, 30000), "truncated"),  # IHDR alone, no image data
        (png_claiming(30000, 30000), "over --max_pixels"),
    ],
)
def test_check_header_refuses(data, message):
    with pytest.raises(ImageError, match=message):
        check_header(data, max_pixels=100_000_000)


@pytest.mark.parametrize(
    ("channels", "dtype", "ext"),
    [
        (1, "uint8", ".png"),
        (3, "uint8", ".png"),
        (4, "uint8", ".png"),
        (3, "uint16", ".png"),
        (1, "uint16", ".tiff"),
        (1, "uint8", ".jpg"),
        (3, "uint8", ".bmp"),
    ],
)
def test_decode_keeps_depth_and_channels(channels, dtype, ext):
    image = textured(21, 29, channels, dtype)
    decoded = decode(encoded(image, ext))
    assert decoded.pixels.dtype == image.dtype
    assert decoded.channels == channels
    assert decoded.pixels.shape == image.shape
    if ext != ".jpg":
        assert np.array_equal(decoded.pixels, image)  # lossless formats round-trip exactly


def test_decode_refuses_truncated_png():
    data = encoded(textured(64, 64), ".png")
    with pytest.raises(ImageError):
        decode(data[: len(data) // 2])


def test_encode_roundtrip_and_refusal():
    image = textured(16, 16, 3)
    assert np.array_equal(decode(encode(image, "png")).pixels, image)
    with pytest.raises(ImageError, match="could not encode"):
        encode(textured(8, 8, 2), "jpeg")  # two channels have no JPEG form


def test_truncated_jpeg_is_refused_by_the_decoders_own_report():
    data = encoded(textured(64, 64), ".jpg")
    decode(data)
    cut = data[: len(data) - 40]  # scan data cut short: most rows decodable, no EOI
    with pytest.raises(ImageError, match="truncated"):
        decode(cut)


def test_jpeg_with_exif_thumbnail_decodes_and_its_truncation_is_refused():
    from io import BytesIO

    from PIL import Image

    thumb = BytesIO()
    Image.fromarray(textured(8, 8)).save(thumb, "JPEG")
    exif = Image.Exif()
    exif[0x0112] = 1
    main = BytesIO()
    Image.fromarray(textured(64, 64)).save(main, "JPEG", exif=exif.tobytes() + thumb.getvalue())
    data = main.getvalue()
    assert decode(data).pixels.shape == (64, 64, 3)
    with pytest.raises(ImageError, match="truncated"):
        decode(data[: len(data) // 2])


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("compression", ["group4", "tiff_lzw", "raw"])
def test_a_rotated_tiff_logs_and_keeps_its_stored_axes(orientation: int, compression: str):
    """The log's width and height are the stored image's, for every orientation tag, as for a
    JPEG: pixels are never rotated, the tag is kept for viewers. (OpenCV's TIFF decoder
    applies the tag even under IMREAD_UNCHANGED | IMREAD_IGNORE_ORIENTATION, so it shows a
    5-8 file transposed: tifffile reads the axes as stored.)"""
    import io

    import tifffile
    from PIL import Image, TiffImagePlugin

    from blur_augment.transforms.copies import make_copies
    from blur_augment.transforms.job import BlurJob
    from blur_augment.transforms.sampling import BlurSpec

    bits = np.zeros((20, 50), bool)
    bits[4:9, 3:41] = True
    image = Image.fromarray(bits) if compression == "group4" else Image.fromarray(
        textured(20, 50, 3)[:, :, ::-1])  # fmt: skip
    info = TiffImagePlugin.ImageFileDirectory_v2()
    info[274] = orientation
    buffer = io.BytesIO()
    image.save(buffer, "TIFF", compression=compression, tiffinfo=info)
    copies = make_copies(BlurJob(output="/o", spec=BlurSpec(1, 1)), "a.tif", buffer.getvalue())
    assert copies.failure is None
    props = copies.properties
    assert (props.width, props.height, props.exif_orientation) == (50, 20, orientation)
    with tifffile.TiffFile(io.BytesIO(copies.make(0))) as written:
        page = written.pages.first
        assert page.shape[:2] == (20, 50) and page.tags[274].value == orientation
