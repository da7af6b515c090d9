"""One image's pure path, whichever codec path it takes: decode, blur, encode.

A JPEG written back as a JPEG takes the planar path (`jpeg_planes`) where this process has
libturbojpeg and `codec_path` allows it; everything else is decoded to full-resolution pixels
(`codec`). The Beam layer and the benchmarks call these three, so both measure and run the same
code. Pure: bytes and arrays in, bytes and arrays out.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from blur_augment.transforms import codec, corruptions, jpeg_planes, kinds
from blur_augment.transforms.blur import blur as blur_pixels
from blur_augment.transforms.sampling import BlurParams

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


def takes_planes_for(params: BlurParams) -> bool:
    """Whether a kind can blur JPEG planes as stored: the Gaussian, motion, defocus and zoom
    blur (their kernels measured in each plane's samples); glass blur (its displacements are
    per pixel) and the benchmark corruptions (computed as their reference computes them, on
    pixels) take the pixel path."""
    return not params.corruption and params.kind in ("gaussian", "motion", "defocus", "zoom")


def plane_filter(
    params: BlurParams, size: tuple[int, int], method: str = "auto"
) -> Callable[[np.ndarray, np.ndarray, tuple], None]:
    """The kind's filter of one array, given how many pixels one of its samples spans; `size`
    is the image's (width, height) in pixels, whose centre zoom blur keeps in every plane;
    `method` "exact" keeps wide disks at full resolution."""

    def apply(source: np.ndarray, target: np.ndarray, scale: tuple[float, float]) -> None:
        if params.kind == "motion":
            kinds.filtered(source, kinds.motion_kernel(params.motion_length, params.motion_angle,
                                                        scale), out=target)  # fmt: skip
        elif params.kind == "defocus":
            kinds.defocus(source, params.defocus_radius, scale, method, out=target)
        elif params.kind == "zoom":
            # a plane's sample i spans pixels [scale * i, scale * (i + 1)): the image's centre
            centre = (size[0] / (2 * scale[0]) - 0.5, size[1] / (2 * scale[1]) - 0.5)
            np.copyto(target, kinds.zoom(source, params.zoom_factor, centre))
        else:
            raise ValueError(f"no plane filter for {params.kind}")

    return apply


def blur_with(image: Decoded, params: BlurParams, method: str = "auto") -> Decoded:
    """The image blurred as `params` says (any kind, or a benchmark corruption)."""
    if params.kind == "gaussian" and not params.corruption:
        return blur(image, params.sigma_x, params.sigma_y, method)
    if isinstance(image, jpeg_planes.JpegPlanes):
        size = (image.width, image.height)
        return jpeg_planes.filter_planes(image, plane_filter(params, size, method))
    pixels = image.pixels
    if params.corruption:
        blurred = corruptions.corrupted(pixels, params)
    elif params.kind == "glass":
        p = params
        blurred = kinds.glass(pixels, p.glass_sigma, p.glass_delta, p.glass_iterations,
                              p.glass_seed, _exact_gaussian)  # fmt: skip
    else:
        blurred = np.empty_like(pixels)
        plane_filter(params, (pixels.shape[1], pixels.shape[0]), method)(pixels, blurred, (1, 1))
    return codec.Decoded(
        blurred, image.format, image.metadata_types, image.metadata, image.tiff_tags
    )


def _exact_gaussian(pixels: np.ndarray, sigma: float) -> np.ndarray:
    return blur_pixels(pixels, sigma, sigma, "exact")[0]


def encode(image: Decoded, out_format: str, quality: int = 95) -> bytes:
    """The image's bytes in `out_format`, its metadata carried over."""
    if isinstance(image, jpeg_planes.JpegPlanes):
        return jpeg_planes.encode(image, quality)
    return codec.encode(
        image.pixels, out_format, quality, image.metadata_types, image.metadata, image.tiff_tags
    )
