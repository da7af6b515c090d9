"""The planar JPEG path: JPEGs blurred as stored (luma and subsampled chroma planes), its
accuracy bound against today's pixel path and a float reference, what it carries over, and
what it leaves to the pixel path."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from blur_augment.transforms import codec, imaging, jpeg_planes
from blur_augment.transforms.blur import blur
from tests.support.helpers import textured
from tests.support.requires import requires

# Under CI the library is installed (.ci/run); elsewhere (no root, no libturbojpeg0) skipped.
needs_planes = requires(jpeg_planes.missing_reason(), "planar JPEG path unavailable")
pytestmark = needs_planes

PILLOW_SUBSAMPLING = {"4:4:4": 0, "4:2:2": 1, "4:2:0": 2}


def photo(height: int = 241, width: int = 323, channels: int = 3, seed: int = 3) -> np.ndarray:
    """Edges and gradients, lightly smoothed as camera images are (BGR)."""
    return cv2.GaussianBlur(textured(height, width, channels, seed=seed), (0, 0), 1.0)


def pillow_jpeg(pixels: np.ndarray, subsampling: str = "4:2:0", **options) -> bytes:
    """A JPEG written by Pillow (not by OpenCV or libjpeg-turbo's TurboJPEG API)."""
    image = Image.fromarray(pixels if pixels.ndim == 2 else pixels[:, :, ::-1])
    buffer = io.BytesIO()
    if pixels.ndim == 3:
        options["subsampling"] = PILLOW_SUBSAMPLING[subsampling]
    image.save(buffer, "JPEG", quality=options.pop("quality", 95), **options)
    return buffer.getvalue()


def turbo_jpeg(pixels: np.ndarray, subsampling: int) -> bytes:
    """A JPEG with a subsampling Pillow cannot write (4:4:0, 4:1:1), by TurboJPEG's encoder."""
    from turbojpeg import TurboJPEG

    return TurboJPEG().encode(pixels, quality=95, jpeg_subsample=subsampling)


def planar_copy(data: bytes, sigma: float, quality: int = 95) -> bytes:
    decoded = jpeg_planes.decode(data)
    assert decoded is not None
    return jpeg_planes.encode(jpeg_planes.blur_planes(decoded, sigma, sigma, "auto"), quality)


def pixel_copy(data: bytes, sigma: float, quality: int = 95) -> bytes:
    decoded = codec.decode(data)
    blurred, _, _ = blur(decoded.pixels, sigma, sigma)
    return codec.encode(blurred, "jpeg", quality, decoded.metadata_types, decoded.metadata)


def float_reference(data: bytes, sigma: float) -> np.ndarray:
    """A float32 Gaussian of the decoded source: what a perfect blur would give before JPEG
    quantises it again."""
    pixels = codec.decode(data).pixels.astype(np.float32)
    return cv2.GaussianBlur(pixels, (0, 0), sigma, borderType=cv2.BORDER_REFLECT_101)


def errors(output: bytes, reference: np.ndarray) -> tuple[float, float]:
    difference = np.abs(codec.decode(output).pixels.astype(np.float32) - reference)
    return float(difference.mean()), float(difference.max())


@pytest.mark.parametrize("subsampling", ["4:4:4", "4:2:2", "4:2:0"])
@pytest.mark.parametrize("sigma", [0.5, 1.0, 2.0, 4.0, 7.0, 13.0])  # exact and both pyramids
def test_accuracy_bound_against_float_reference_and_the_pixel_path(subsampling, sigma):
    """The stated bound: against a float Gaussian of the decoded source, mean absolute error
    <= 1.75 and maximum <= 12 grey levels, and the mean error never more than 0.25 above the
    pixel path's (which re-encodes every source as 4:2:0, so it is often the worse one)."""
    data = pillow_jpeg(photo(), subsampling)
    reference = float_reference(data, sigma)
    planar_mean, planar_max = errors(planar_copy(data, sigma), reference)
    pixel_mean, _ = errors(pixel_copy(data, sigma), reference)
    assert planar_mean <= 1.75 and planar_max <= 12
    assert planar_mean <= pixel_mean + 0.25


@pytest.mark.parametrize("sigma", [0.5, 3.0, 13.0])
def test_gray_jpeg_is_one_plane_and_byte_identical_to_the_pixel_path(sigma):
    data = pillow_jpeg(photo(channels=1))
    decoded = jpeg_planes.decode(data)
    assert decoded is not None and decoded.channels == 1 and len(decoded.planes()) == 1
    assert planar_copy(data, sigma) == pixel_copy(data, sigma)


@pytest.mark.parametrize(
    ("data_of", "subsampling"),
    [
        (lambda p: pillow_jpeg(p, "4:4:4"), 0),
        (lambda p: pillow_jpeg(p, "4:2:2"), 1),
        (lambda p: pillow_jpeg(p, "4:2:0"), 2),
        (lambda p: pillow_jpeg(p, "4:2:0", progressive=True), 2),
        (lambda p: turbo_jpeg(p, 4), 4),  # 4:4:0
        (lambda p: turbo_jpeg(p, 5), 5),  # 4:1:1
    ],
    ids=["444", "422", "420", "420-progressive", "440", "411"],
)
@pytest.mark.parametrize("size", [(241, 323), (16, 16), (1, 1), (9, 33)])
def test_every_subsampling_and_odd_size_keeps_size_subsampling_and_the_blur(
    data_of, subsampling, size
):
    """Odd sizes leave a padded luma column or row; the output keeps the source's size and
    subsampling (baseline, as the pixel path writes), and its pixels are the blur's."""
    data = data_of(photo(*size))
    output = planar_copy(data, 2.5)
    from turbojpeg import TurboJPEG

    width, height, out_subsampling, _ = TurboJPEG().decode_header(output)
    assert (height, width) == size and out_subsampling == subsampling
    with Image.open(io.BytesIO(output)) as image:
        assert not image.info.get("progressive")
    if min(size) >= 16:  # luma: 4:1:1 chroma is box-upsampled, so only luma is comparable
        luma = cv2.cvtColor(codec.decode(output).pixels, cv2.COLOR_BGR2YCrCb)[:, :, 0]
        reference = cv2.cvtColor(float_reference(data, 2.5), cv2.COLOR_BGR2YCrCb)[:, :, 0]
        assert np.abs(luma.astype(np.float32) - reference).mean() <= 1.5


def test_edges_of_an_odd_sized_image_blur_like_the_interior():
    """The padded luma column and row are refilled by edge replication after the blur, so the
    last real column and row are not pulled towards the padding's stale values."""
    pixels = photo(121, 161)
    data = pillow_jpeg(pixels, "4:2:0")
    reference = float_reference(data, 3.0)
    output = codec.decode(planar_copy(data, 3.0)).pixels.astype(np.float32)
    edge = np.abs(output[-2:, :] - reference[-2:, :]).mean()
    edge = max(edge, np.abs(output[:, -2:] - reference[:, -2:]).mean())
    assert edge <= 2.5


def test_quality_is_honoured_with_the_pixel_paths_tables():
    data = pillow_jpeg(photo())
    for quality in (50, 95):
        with (
            Image.open(io.BytesIO(planar_copy(data, 1.0, quality))) as planar,
            Image.open(io.BytesIO(pixel_copy(data, 1.0, quality))) as pixel,
        ):
            assert planar.quantization == pixel.quantization


def _app_segments(jpeg: bytes) -> list[bytes]:
    segments, position = [], 2
    while jpeg[position] == 0xFF and 0xE0 <= jpeg[position + 1] <= 0xEF:
        length = int.from_bytes(jpeg[position + 2 : position + 4], "big")
        segments.append(jpeg[position : position + 2 + length])
        position += 2 + length
    return segments


@pytest.mark.parametrize("icc_bytes", [300, 100_000])  # one APP2 segment, and several
def test_metadata_is_carried_in_the_same_segments_as_the_pixel_path(icc_bytes):
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "a camera maker"
    icc = bytes(range(256)) * (icc_bytes // 256 + 1)
    data = pillow_jpeg(photo(), exif=exif, icc_profile=icc[:icc_bytes], xmp=b"<x:xmpmeta/>")
    planar, pixel = planar_copy(data, 2.0), pixel_copy(data, 2.0)
    assert _app_segments(planar) == _app_segments(pixel)
    with Image.open(io.BytesIO(planar)) as image:
        assert image.info["icc_profile"] == icc[:icc_bytes]
        assert image.getexif()[0x0112] == 6
        assert image.info["xmp"] == b"<x:xmpmeta/>"
    assert codec.properties(jpeg_planes.decode(data)).exif_orientation == 6


def test_same_bytes_on_every_call():
    data = pillow_jpeg(photo(), "4:2:2", progressive=True)
    assert planar_copy(data, 3.3) == planar_copy(data, 3.3)


def test_damaged_scan_data_is_refused_and_junk_before_a_header_marker_is_not():
    data = pillow_jpeg(photo(), "4:2:0")
    with pytest.raises(codec.ImageError, match="corrupt or truncated"):
        jpeg_planes.decode(data[: len(data) // 2])
    scan = data.index(b"\xff\xda")
    damaged = data[: scan + 600] + bytes(range(256)) * 4 + data[scan + 1624 :]
    with pytest.raises(codec.ImageError):
        jpeg_planes.decode(damaged)
    quant = data.index(b"\xff\xdb")
    junk = data[:quant] + b"\x00\x00\x00" + data[quant:]
    assert jpeg_planes.decode(junk) is not None


def test_what_keeps_the_pixel_path():
    """CMYK (and YCCK) JPEGs, other formats, and a process without libturbojpeg: None, so the
    caller decodes to pixels as before."""
    buffer = io.BytesIO()
    Image.new("CMYK", (32, 24), (10, 20, 30, 40)).save(buffer, "JPEG")
    assert jpeg_planes.decode(buffer.getvalue()) is None
    assert codec.decode(buffer.getvalue()).channels == 3
    png = codec.encode(photo(), "png")
    assert jpeg_planes.decode(png) is None and not jpeg_planes.eligible(png)


def test_a_process_without_the_library_falls_back(monkeypatch):
    monkeypatch.setattr(jpeg_planes, "_library", lambda: (None, "no libturbojpeg here"))
    data = pillow_jpeg(photo())
    assert jpeg_planes.decode(data) is None
    assert not jpeg_planes.uses_planes("auto") and not jpeg_planes.uses_planes("pixels")
    assert jpeg_planes.missing_reason() == "no libturbojpeg here"


def test_header_size_is_checked_before_decoding():
    data = pillow_jpeg(photo())
    with pytest.raises(codec.ImageError, match="max_pixels"):
        jpeg_planes.decode(data, max_pixels=100)


def test_plane_sizes_follow_libjpeg_turbo():
    assert jpeg_planes.plane_sizes(1921, 1081, 2) == [(1922, 1082), (961, 541), (961, 541)]
    assert jpeg_planes.plane_sizes(33, 17, 1) == [(34, 17), (17, 17), (17, 17)]
    assert jpeg_planes.plane_sizes(13, 11, 3) == [(13, 11)]


# -- pixels by TurboJPEG: imaging.decode's JPEGs -----------------------------------------------


def pixels_decoded(data: bytes) -> codec.Decoded:
    """The pipeline's decode to pixels (imaging.decode for a PNG output): TurboJPEG's pixels
    for a JPEG where it can."""
    decoded = imaging.decode(data, "png")
    assert isinstance(decoded, codec.Decoded)
    return decoded


def exif_icc_xmp() -> dict:
    exif = Image.Exif()
    exif[0x0112] = 6
    return {"exif": exif, "icc_profile": bytes(range(256)) * 300, "xmp": b"<x:xmpmeta/>"}


def pillow_photo(subsampling: str, progressive: bool = False) -> bytes:
    return pillow_jpeg(photo(121, 203), subsampling, progressive=progressive)


PIXEL_SOURCES = {
    **{name: lambda name=name: pillow_photo(name) for name in PILLOW_SUBSAMPLING},
    **{
        f"{name} progressive": lambda name=name: pillow_photo(name, True)
        for name in PILLOW_SUBSAMPLING
    },
    "4:4:0": lambda: turbo_jpeg(photo(50, 70), 4),
    "4:1:1": lambda: turbo_jpeg(photo(50, 70), 5),
    "gray": lambda: pillow_jpeg(photo(77, 55, 1)),
    "1x1": lambda: pillow_jpeg(photo(1, 1)),
    "odd size": lambda: pillow_jpeg(photo(17, 9)),
    "EXIF, ICC and XMP": lambda: pillow_jpeg(photo(64, 80), **exif_icc_xmp()),
}


@pytest.mark.parametrize("name", sorted(PIXEL_SOURCES))
def test_jpeg_pixels_by_turbojpeg_are_opencvs(name):
    """A YCbCr or gray JPEG decoded to pixels takes TurboJPEG (0.9x OpenCV's time on 1080p):
    the same libjpeg-turbo IDCT and upsampling, so the same pixels, shape and metadata chunks
    (shaped as OpenCV returns them) as OpenCV's decoder gives, for every subsampling."""
    data = PIXEL_SOURCES[name]()
    assert jpeg_planes.decode_pixels(data) is not None
    ours, opencv = pixels_decoded(data), codec.decode(data)
    assert ours.pixels.shape == opencv.pixels.shape and ours.pixels.dtype == np.uint8
    np.testing.assert_array_equal(ours.pixels, opencv.pixels)
    assert ours.metadata_types == opencv.metadata_types
    for chunk, expected in zip(ours.metadata, opencv.metadata, strict=True):
        assert chunk.shape == expected.shape and np.array_equal(chunk, expected)


def test_jpeg_pixels_fall_back_to_opencv(monkeypatch):
    """TurboJPEG's pixels only for a clean YCbCr or gray JPEG in a process with the library:
    CMYK, a damaged scan (OpenCV's verdict, as before) and a process without the library take
    OpenCV's decoder."""
    buffer = io.BytesIO()
    Image.new("CMYK", (32, 24), (10, 20, 30, 40)).save(buffer, "JPEG")
    assert jpeg_planes.decode_pixels(buffer.getvalue()) is None
    data = pillow_jpeg(photo(), "4:2:0")
    truncated = data[: len(data) // 2]
    assert jpeg_planes.decode_pixels(truncated) is None
    with pytest.raises(codec.ImageError, match="corrupt or truncated"):
        pixels_decoded(truncated)
    monkeypatch.setattr(jpeg_planes, "_library", lambda: (None, "no libturbojpeg here"))
    assert jpeg_planes.decode_pixels(data) is None
    np.testing.assert_array_equal(pixels_decoded(data).pixels, codec.decode(data).pixels)
