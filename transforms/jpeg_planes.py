"""JPEGs blurred as stored: one full-resolution luma plane and two subsampled chroma planes.

A JPEG holds Y, Cb and Cr, the chroma usually at a quarter of the samples (4:2:0). Decoding
to BGR upsamples the chroma and converts every pixel, the blur then filters three full planes,
and the encoder converts back and subsamples the chroma again. Here libjpeg-turbo's planar API
(through PyTurboJPEG and the system's libturbojpeg) decodes to the planes as stored, each plane
is blurred with the sigmas divided by its subsampling factors (the same Gaussian, measured in
that plane's samples) and the planes are encoded again with the source's subsampling: half the
samples filtered and no colour conversion at all. Gray JPEGs are one plane. CMYK, YCCK and
RGB-coded JPEGs, and subsamplings libjpeg-turbo cannot name, return None and keep the pixel
path. Pure: bytes and arrays in, bytes and arrays out.
"""

from __future__ import annotations

import contextlib
import functools
import os
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from blur_augment.transforms import codec
from blur_augment.transforms.blur import blur

PATH_PLANES = "yuv_planes"  # the log's codec_path for an image made here
PATH_PIXELS = codec.PATH_PIXELS  # full-resolution pixels (OpenCV, TurboJPEG, tifffile, Pillow)
CODEC_PATHS: tuple[str, ...] = ("auto", PATH_PLANES, PATH_PIXELS)  # --codec_path

SYSTEM_PACKAGE = "libturbojpeg0"  # Debian's libjpeg-turbo TurboJPEG library (.ci/run, Dockerfile)
_PAD = 4  # row alignment of each plane in PyTurboJPEG's YUV buffers (encode_from_yuv's pad)
# TurboJPEG's subsampling codes -> chroma subsampling factors (horizontal, vertical).
_TJSAMP_444, _TJSAMP_422, _TJSAMP_420, _TJSAMP_GRAY, _TJSAMP_440, _TJSAMP_411 = range(6)
FACTORS: dict[int, tuple[int, int]] = {
    _TJSAMP_444: (1, 1),
    _TJSAMP_422: (2, 1),
    _TJSAMP_420: (2, 2),
    _TJSAMP_GRAY: (1, 1),
    _TJSAMP_440: (1, 2),
    _TJSAMP_411: (4, 1),
}
_TJCS_YCBCR, _TJCS_GRAY = 1, 2  # the only colour spaces whose planes are luma and chroma
# TurboJPEG encodes with the fast integer DCT below quality 96 unless told otherwise; OpenCV
# (and libjpeg's default) use the accurate one, which the pixel path's outputs were made with.
_TJFLAG_ACCURATEDCT = 4096
_TJFLAG_STOPONWARNING = 8192  # stop at the first warning (TurboJPEG reports only one)


LIBRARY_ENV = "BLUR_AUGMENT_LIBTURBOJPEG"  # a libturbojpeg to load, or "none": as if missing


@functools.cache
def _library() -> tuple[Any, str]:
    """(TurboJPEG instance or None, why it is missing, in one line); loaded once per process.

    BLUR_AUGMENT_LIBTURBOJPEG names the library to load instead of PyTurboJPEG's search, or
    "none" to run that search with the library hidden: the world of a machine without the
    system package, which the tests force (CI always installs it)."""
    try:
        import turbojpeg
    except ImportError:
        return None, "the Python package PyTurboJPEG is not installed"
    asked = os.environ.get(LIBRARY_ENV, "")
    try:
        if asked.lower() == "none":
            with _hidden_library(turbojpeg):
                return turbojpeg.TurboJPEG(), ""
        return turbojpeg.TurboJPEG(asked or None), ""
    except (OSError, RuntimeError) as error:
        found = " ".join(str(error).split())  # PyTurboJPEG's message spans two lines
        return (
            None,
            f"libturbojpeg was not found ({found}); install the system package "
            f"{SYSTEM_PACKAGE} (Debian, Ubuntu)",
        )


@contextlib.contextmanager
def _hidden_library(module: Any) -> Iterator[None]:
    """PyTurboJPEG's own search (ctypes' find_library, its default paths, LD_LIBRARY_PATH)
    finding nothing, as on a machine without the library."""
    saved = module.find_library, dict(module.DEFAULT_LIB_PATHS), os.environ.pop(
        "LD_LIBRARY_PATH", None
    )  # fmt: skip
    module.find_library = lambda name: None
    module.DEFAULT_LIB_PATHS.update({system: [] for system in module.DEFAULT_LIB_PATHS})
    try:
        yield
    finally:
        module.find_library = saved[0]
        module.DEFAULT_LIB_PATHS.update(saved[1])
        if saved[2] is not None:
            os.environ["LD_LIBRARY_PATH"] = saved[2]


def missing_reason() -> str:
    """Why JPEGs cannot take the planar path in this process ("" when they can)."""
    return _library()[1]


def uses_planes(codec_path: str) -> bool:
    """Whether --codec_path lets eligible JPEGs take the planar path in this process."""
    return codec_path == PATH_PLANES or (codec_path == "auto" and not missing_reason())


@dataclass(frozen=True)
class JpegPlanes:
    """A JPEG decoded to its planes, in libjpeg-turbo's YUV buffer layout (Y, then Cb and Cr
    for colour; each plane's rows padded to 4 bytes; the luma plane padded to whole chroma
    samples), with the metadata chunks to carry over as `codec.Decoded` holds them."""

    buffer: np.ndarray = field(repr=False)
    width: int
    height: int
    subsampling: int
    metadata_types: tuple[int, ...] = ()
    metadata: tuple[np.ndarray, ...] = field(default=(), repr=False)

    format = "jpeg"
    dtype = "uint8"
    codec_path = PATH_PLANES

    @property
    def channels(self) -> int:
        return 1 if self.subsampling == _TJSAMP_GRAY else 3

    def planes(self) -> list[np.ndarray]:
        """Writable views of each whole plane (padding columns and rows included)."""
        views, offset = [], 0
        for width, height in plane_sizes(self.width, self.height, self.subsampling):
            stride = -(-width // _PAD) * _PAD
            rows = self.buffer[offset : offset + stride * height].reshape(height, stride)
            views.append(rows[:, :width])
            offset += stride * height
        return views


def plane_sizes(width: int, height: int, subsampling: int) -> list[tuple[int, int]]:
    """Each plane's (width, height) as libjpeg-turbo lays it out (tjPlaneWidth/Height): the
    luma plane padded to whole chroma samples, the chroma planes ceil(size / factor)."""
    fx, fy = FACTORS[subsampling]
    chroma = (-(-width // fx), -(-height // fy))
    luma = (chroma[0] * fx, chroma[1] * fy)
    return [luma] if subsampling == _TJSAMP_GRAY else [luma, chroma, chroma]


def _layout(data: bytes) -> tuple[int, int, int] | None:
    """(width, height, subsampling) of a JPEG that can take the planar path, else None."""
    library = _library()[0]
    if library is None or not data.startswith(b"\xff\xd8"):
        return None
    try:
        (width, height, subsampling, colorspace), _ = _quiet(library.decode_header, data)
    except OSError:  # a subsampling TurboJPEG cannot name, or a header it refuses
        return None
    if colorspace not in (_TJCS_YCBCR, _TJCS_GRAY) or subsampling not in FACTORS:
        return None
    return width, height, subsampling


def eligible(data: bytes) -> bool:
    """Whether `decode` would give this JPEG's planes (from its header alone)."""
    return _layout(data) is not None


def decode(data: bytes, max_pixels: int = codec.DEFAULT_MAX_PIXELS) -> JpegPlanes | None:
    """A JPEG's planes as stored, or None when this JPEG (or this process) cannot take the
    planar path and must be decoded to pixels. ImageError as `codec.decode` raises it."""
    header = codec.check_header(data, max_pixels)
    layout = _layout(data) if header.format == "jpeg" else None
    if layout is None:
        return None
    width, height, subsampling = layout
    buffer, warning = _decode_yuv(data, _TJFLAG_STOPONWARNING)
    if warning and codec.harmless(warning):  # junk between header segments: decode past it
        buffer, warning = _decode_yuv(data, 0)
    if warning and codec.damage_in([warning]):
        raise codec.ImageError(f"corrupt or truncated jpeg data: the decoder reports {warning}")
    if warning and not codec.harmless(warning):
        return None  # a warning of another kind: the pixel path weighs all of its messages
    if (width, height) != (header.width, header.height):
        raise codec.ImageError(
            f"decoded size {width}x{height} differs from the header's "
            f"{header.width}x{header.height}"
        )
    return JpegPlanes(buffer, width, height, subsampling, header.metadata_types, header.metadata)


_TJPF_BGR, _TJPF_GRAY = 1, 6  # TurboJPEG's pixel formats: OpenCV's BGR order, one channel


def decode_pixels(data: bytes) -> np.ndarray | None:
    """A YCbCr or gray JPEG's pixels as OpenCV's decoder gives them with IMREAD_UNCHANGED (BGR,
    or 2-D gray; no EXIF rotation) by TurboJPEG: both are libjpeg-turbo with its accurate
    integer IDCT and fancy upsampling, so the pixels are the same (tested), in 0.9x OpenCV's
    time on a 1080p photograph (codec.decode's `jpeg_pixels`). None where this process has no
    library, the JPEG is coded otherwise, or the decoder warns or fails: OpenCV then decodes
    it and weighs its messages, as it always has (a damaged JPEG keeps OpenCV's verdict)."""
    layout = _layout(data)
    if layout is None:
        return None
    gray = layout[2] == _TJSAMP_GRAY
    decoder = _library()[0].decode
    try:
        pixels, warning = _quiet(decoder, data, pixel_format=_TJPF_GRAY if gray else _TJPF_BGR,
                                 flags=_TJFLAG_STOPONWARNING)  # fmt: skip
    except OSError:
        return None
    if warning:
        return None
    return pixels[:, :, 0] if gray else pixels


def _quiet(call: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, str]:
    """A PyTurboJPEG call's result and the warning it raised ("" if none): TurboJPEG keeps one
    message per call, which PyTurboJPEG hands to `warnings`; here it is the caller's."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = call(*args, **kwargs)
    return result, str(caught[-1].message) if caught else ""


def _decode_yuv(data: bytes, flags: int) -> tuple[np.ndarray, str]:
    """The YUV buffer and the decoder's warning (the first, when told to stop on warnings);
    a fatal error is an ImageError."""
    try:
        (buffer, _), warning = _quiet(_library()[0].decode_to_yuv, data, pad=_PAD, flags=flags)
    except OSError as error:
        raise codec.ImageError(f"corrupt or truncated jpeg data ({error})") from error
    return buffer, warning


def blur_planes(image: JpegPlanes, sigma_x: float, sigma_y: float, method: str) -> JpegPlanes:
    """Each plane blurred with the sigmas in its own samples: luma with (sigma_x, sigma_y),
    each chroma plane with the sigmas divided by its subsampling factors."""

    def gaussian(source: np.ndarray, target: np.ndarray, scale: tuple[int, int], luma: bool):
        blur(source, sigma_x / scale[0], sigma_y / scale[1], method, out=target)

    return filter_planes(image, gaussian)


def filter_planes(
    image: JpegPlanes,
    plane_filter: Callable[[np.ndarray, np.ndarray, tuple[int, int], bool], None],
) -> JpegPlanes:
    """Each plane through `plane_filter(source, target, scale, luma)`, `scale` being how many
    pixels one of its samples spans on each axis: luma on the image's true extent, then its
    padding filled by edge replication as libjpeg's encoder pads; each chroma plane whole."""
    fx, fy = FACTORS[image.subsampling]
    out = JpegPlanes(
        np.empty_like(image.buffer), image.width, image.height, image.subsampling,
        image.metadata_types, image.metadata,
    )  # fmt: skip
    for index, (source, target) in enumerate(zip(image.planes(), out.planes(), strict=True)):
        if index == 0:
            width, height = image.width, image.height
            plane_filter(source[:height, :width], target[:height, :width], (1, 1), True)
            target[:height, width:] = target[:height, width - 1 : width]
            target[height:] = target[height - 1]
        else:
            plane_filter(source, target, (fx, fy), False)
    return out


def encode(image: JpegPlanes, quality: int) -> bytes:
    """The planes encoded at `quality` with their own subsampling, metadata carried as the
    pixel path carries it (EXIF, XMP, ICC: the same APP segments, in the same order)."""
    library = _library()[0]
    if library is None:
        raise codec.ImageError("libturbojpeg is missing: cannot encode JPEG planes")
    try:
        jpeg = library.encode_from_yuv(
            image.buffer, image.height, image.width, quality, image.subsampling,
            flags=_TJFLAG_ACCURATEDCT,
        )  # fmt: skip
    except OSError as error:
        raise codec.ImageError(f"libjpeg-turbo could not encode the planes: {error}") from error
    return codec.with_jpeg_metadata(jpeg, image.metadata_types, image.metadata)
