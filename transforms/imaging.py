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
from blur_augment.transforms.blur import kernel_for
from blur_augment.transforms.sampling import BLUR_KINDS, BlurParams

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
    JPEG, `codec_path` and this process allowing), else as pixels (a YCbCr or gray JPEG's by
    TurboJPEG where this process has it: OpenCV's pixels, 0.9x its time)."""
    planes = None
    if out_format == "jpeg" and jpeg_planes.uses_planes(codec_path):
        planes = jpeg_planes.decode(data, max_pixels)
    if planes is not None:
        return planes
    return codec.decode(data, max_pixels, jpeg_planes.decode_pixels)


def blur(image: Decoded, sigma_x: float, sigma_y: float, method: str = "auto") -> Decoded:
    """The image blurred with these sigmas, in the representation it was decoded to."""
    if isinstance(image, jpeg_planes.JpegPlanes):
        return jpeg_planes.blur_planes(image, sigma_x, sigma_y, method)
    pixels, _, _ = blur_pixels(image.pixels, sigma_x, sigma_y, method)
    return codec.Decoded(
        pixels, image.format, image.metadata_types, image.metadata, image.tiff_tags
    )


def takes_planes_for(params: BlurParams) -> bool:
    """Whether a kind can blur JPEG planes as stored (its descriptor says: the Gaussian,
    motion, defocus and zoom blur, their kernels measured in each plane's samples), or a
    benchmark corruption can (every one but glass blur); glass blur's displacements are per
    pixel, so it takes the pixel path."""
    if params.corruption:
        return corruptions.takes_planes(params.corruption)
    return BLUR_KINDS[params.kind].planes


# A filter of one array: (params, source, target, scale, size, method). `scale` is how many
# pixels one of the array's samples spans, `size` the image's (width, height) in pixels, whose
# centre zoom blur keeps in every plane; `method` "exact" keeps wide disks at full resolution.
PlaneFilter = Callable[[BlurParams, np.ndarray, np.ndarray, tuple, tuple, str], None]


def _convolved(p: BlurParams, source, target, scale, size, method) -> None:
    """Motion and shake: one kernel, in the array's samples."""
    kinds.filtered(source, single_kernel(p, scale), out=target)


def _defocus(p: BlurParams, source, target, scale, size, method) -> None:
    kinds.defocus(source, p.defocus_radius, scale, method, out=target)


def _zoom(p: BlurParams, source, target, scale, size, method) -> None:
    # a plane's sample i spans pixels [scale * i, scale * (i + 1)): the image's centre
    centre = (size[0] / (2 * scale[0]) - 0.5, size[1] / (2 * scale[1]) - 0.5)
    np.copyto(target, kinds.zoom(source, p.zoom_factor, centre, size))


def _glass(p: BlurParams, source, target, scale, size, method) -> None:
    blurred = kinds.glass(source, p.glass_sigma, p.glass_delta, p.glass_iterations, p.field_seed,
                          _exact_gaussian)  # fmt: skip
    np.copyto(target, blurred)


FILTERS: dict[str, PlaneFilter] = {
    "motion": _convolved, "defocus": _defocus, "zoom": _zoom, "glass": _glass,
    "shake": _convolved,
}  # fmt: skip  # each kind's filter but the Gaussian's (`blur`)


def single_kernel(params: BlurParams, scale: tuple = (1, 1)) -> np.ndarray | None:
    """The one kernel a kind convolves with (motion, defocus's exact disk, shake), in an
    array's samples; None for a kind with no single kernel (zoom, glass) or the Gaussian (two
    separable passes)."""
    if params.kind == "motion":
        return kinds.motion_kernel(params.motion_length, params.motion_angle, scale)
    if params.kind == "defocus":
        return kinds.defocus_kernel(params.defocus_radius, scale)
    if params.kind == "shake":
        return kinds.shake_kernel(params.shake_length, params.field_seed, scale)
    return None


def kernel_description(params: BlurParams, shape: tuple, dtype: str, method: str):
    """A kind's kernel size on each axis and how it blurred, as the log says it: a motion or
    defocus kernel's size and "kernel" (or the defocus pyramid's factor), "layers" (zoom),
    "glass" (the size of its Gaussian)."""
    kernel = single_kernel(params)
    if kernel is not None:
        rows, cols = kernel.shape
        factor = 1
        if params.kind == "defocus":
            factor = kinds.defocus_factor(params.defocus_radius, (1, 1), shape, method)
        return cols, rows, "kernel" if factor == 1 else f"pyramid{factor}"
    if params.kind == "zoom":
        return 1, 1, "layers"
    size = kernel_for(params.glass_sigma, params.glass_sigma, dtype).width
    return size, size, "glass"


def blur_with(image: Decoded, params: BlurParams, method: str = "auto") -> Decoded:
    """The image blurred as `params` says: any kind, or a benchmark corruption (glass blur's
    on pixels, as `decode_path` decodes an image one of whose copies takes it)."""
    if params.corruption:
        return _corrupted(image, params)
    if params.kind == "gaussian":
        return blur(image, params.sigma_x, params.sigma_y, method)
    kind_filter = FILTERS[params.kind]
    if isinstance(image, jpeg_planes.JpegPlanes):
        size = (image.width, image.height)

        def each_plane(source: np.ndarray, target: np.ndarray, scale: tuple, luma: bool):
            kind_filter(params, source, target, scale, size, method)

        return jpeg_planes.filter_planes(image, each_plane)
    pixels = image.pixels
    blurred = np.empty_like(pixels)
    kind_filter(params, pixels, blurred, (1, 1), (pixels.shape[1], pixels.shape[0]), method)
    return _with_pixels(image, blurred)


def _corrupted(image: Decoded, params: BlurParams) -> Decoded:
    """A benchmark corruption, on pixels or on each JPEG plane in its own samples."""
    if isinstance(image, codec.Decoded):
        return _with_pixels(image, corruptions.corrupted(image.pixels, params))
    assert takes_planes_for(params), "glass blur shuffles pixels, not planes"
    size = (image.width, image.height)

    def each_plane(source: np.ndarray, target: np.ndarray, scale: tuple, luma: bool) -> None:
        plane = "luma" if luma else "chroma"
        corruptions.corrupt_into(params, source, target, scale, plane, size)

    return jpeg_planes.filter_planes(image, each_plane)


def _with_pixels(image: codec.Decoded, pixels: np.ndarray) -> codec.Decoded:
    return codec.Decoded(
        pixels, image.format, image.metadata_types, image.metadata, image.tiff_tags
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
