"""One image's pure path, whichever codec path it takes: decode, blur, encode.

A JPEG written back as a JPEG takes the planar path (`jpeg_planes`) where this process has
libturbojpeg and `codec_path` allows it; everything else is decoded to full-resolution pixels
(`codec`). The Beam layer and the benchmarks call these three, so both measure and run the same
code. Pure: bytes and arrays in, bytes and arrays out.
"""

from __future__ import annotations

from transforms import codec, jpeg_planes
from transforms.blur import blur as blur_pixels

Decoded = codec.Decoded | jpeg_planes.JpegPlanes


def takes_planes(data: bytes, out_format: str | None, codec_path: str = "auto") -> bool:
    """Whether `decode` gives this image as JPEG planes (from its header alone)."""
    return (
        out_format == "jpeg" and jpeg_planes.uses_planes(codec_path) and jpeg_planes.eligible(data)
    )


def decode(
    data: bytes,
    out_format: str | None,
    codec_path: str = "auto",
    max_pixels: int = codec.DEFAULT_MAX_PIXELS,
) -> Decoded:
    """The image as JPEG planes where it can take the planar path (a JPEG written back as a
    JPEG, `codec_path` and this process allowing), else as pixels."""
    planes = None
    if out_format == "jpeg" and jpeg_planes.uses_planes(codec_path):
        planes = jpeg_planes.decode(data, max_pixels)
    return planes if planes is not None else codec.decode(data, max_pixels)


def blur(image: Decoded, sigma_x: float, sigma_y: float, method: str = "auto") -> Decoded:
    """The image blurred with these sigmas, in the representation it was decoded to."""
    if isinstance(image, jpeg_planes.JpegPlanes):
        return jpeg_planes.blur_planes(image, sigma_x, sigma_y, method)
    pixels, _, _ = blur_pixels(image.pixels, sigma_x, sigma_y, method)
    return codec.Decoded(
        pixels, image.format, image.metadata_types, image.metadata, image.tiff_tags
    )


def encode(image: Decoded, out_format: str, quality: int = 95) -> bytes:
    """The image's bytes in `out_format`, its metadata carried over."""
    if isinstance(image, jpeg_planes.JpegPlanes):
        return jpeg_planes.encode(image, quality)
    return codec.encode(
        image.pixels, out_format, quality, image.metadata_types, image.metadata, image.tiff_tags
    )
