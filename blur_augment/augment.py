"""`Augmenter`: the pipeline's blur applied to an image in memory, for a training loop.

The same draw (the sampler, from seed, key and copy alone), the same kinds and the same pixel
arithmetic as `blur-augment run` on its pixel path: for a lossless output the pipeline writes
exactly `Augmenter(...)(image, key=K, copy=C).image` (decoded as OpenCV decodes it). The copy
is the epoch in a training loop: each epoch draws afresh, and every draw can be made again.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np

from blur_augment.pipeline.blur_options import BLUR_OPTIONS, blur_spec, check_blur_method
from blur_augment.transforms import codec, imaging
from blur_augment.transforms.copies import blur_description, unchanged
from blur_augment.transforms.sampling import (
    BlurParams,
    BlurSpec,
    sample,
    spec_from,
    spec_parameters,
)

# `run` options an Augmenter takes beside the draw's: the seed and how the Gaussian is computed.
OPTIONS = ("seed", "blur_method", *(name for name in BLUR_OPTIONS if name != "copies"))
# Every kind and corruption filters each channel on its own, alike: RGB(A) pixels blur exactly
# as their BGR(A) order would, so they are never reordered (a copy of every image, the largest
# cost of a call on small images). A kind that mixed channels would set this False.
CHANNELWISE = True
_PIL_MODES = ("L", "I;16", "RGB", "RGBA")


@dataclass(frozen=True)
class Augmented:
    """One augmented image: `image` in the input's own type, shape and dtype; `row` the log's
    columns that describe its draw (what `LogWriter.add` writes); `params` the draw itself."""

    image: Any
    row: dict[str, Any]
    params: BlurParams
    boxes: Any = None  # passed through untouched
    masks: Any = None  # passed through untouched


def _as_option(value: object) -> object:
    """A keyword as the command line gives it: (3, 25) or [3, 25] as "3,25"; a blur mix as a
    dict {"gaussian": 2, "motion": 1} as "gaussian=2,motion=1"."""
    if isinstance(value, dict):
        return ",".join(f"{k}={v:g}" if isinstance(v, int | float) else f"{k}={v}"
                        for k, v in value.items())  # fmt: skip
    if isinstance(value, list | tuple):
        return ",".join(f"{v:g}" if isinstance(v, int | float) else str(v) for v in value)
    return value


class Augmenter:
    """The blur of `blur-augment run`, by keyword (`seed`, `blur`, `min_sigma`, `max_sigma`,
    `probability`, `sigma_y`, `sigmas`, `corruption`, `severities`, `blur_method` and each
    kind's ranges as (MIN, MAX) pairs, named as `run` names them), validated as the command
    validates them: a ValueError with the command's message. Calling it blurs one image:
    `aug(image, key="train/x.jpg", copy=epoch)`."""

    def __init__(self, **options: Any) -> None:
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            close = difflib.get_close_matches(unknown[0], OPTIONS, n=1, cutoff=0.7)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise ValueError(f"unknown option {unknown[0]} (Augmenter takes {', '.join(OPTIONS)})"
                             f"{hint}")  # fmt: skip
        given = {name: None for name in BLUR_OPTIONS}
        given.update({k: _as_option(v) for k, v in options.items() if k in BLUR_OPTIONS})
        for name in ("min_sigma", "max_sigma", "probability"):  # the command's types
            if given[name] is not None:
                given[name] = float(given[name])  # type: ignore[arg-type]
        self.spec, _ = blur_spec(SimpleNamespace(**given))
        self.blur_method = options.get("blur_method", "auto")
        check_blur_method(self.blur_method)
        self.seed = int(options.get("seed", 0))

    @classmethod
    def from_spec(cls, spec: BlurSpec, seed: int = 0, blur_method: str = "auto") -> Augmenter:
        """An Augmenter drawing from a spec as it is (no option parsing)."""
        augmenter = cls.__new__(cls)
        augmenter.spec, augmenter.seed, augmenter.blur_method = spec, int(seed), blur_method
        check_blur_method(blur_method)
        return augmenter

    @classmethod
    def from_log(cls, log_dir: str) -> Augmenter:
        """The draw of a logged run, from its log's metadata (the seed, the spec, the method):
        `Augmenter.from_log(LOG)(image, key=K, copy=C).image` is that run's copy (K, C) on its
        pixel path."""
        from blur_augment.pipeline.analysis.reading import log_metadata

        metadata = log_metadata(log_dir)
        if not metadata:
            raise ValueError(f"no blur-augment metadata in the log at {log_dir}")
        return cls.from_spec(spec_from(metadata), int(metadata.get("seed", 0)),
                             str(metadata.get("blur_method", "auto")))  # fmt: skip

    def __repr__(self) -> str:
        return f"Augmenter(seed={self.seed}, blur_method={self.blur_method!r}, spec={self.spec})"

    def parameters(self) -> dict[str, object]:
        """The run parameters a log records for this draw (LogWriter's metadata)."""
        return {"seed": self.seed, **spec_parameters(self.spec), "blur_method": self.blur_method}

    def draw(self, key: str, copy: int = 0) -> BlurParams:
        """The blur of copy `copy` of `key`: the sampler's, as the pipeline draws it."""
        levels = len(self.spec.sigmas) or len(self.spec.severities)
        if levels and not 0 <= copy < levels:
            raise ValueError(f"copy {copy} is outside the ladder's {levels} levels")
        if copy < 0:
            raise ValueError(f"copy must be >= 0, got {copy}")
        return sample(self.seed, copy, key, self.spec)

    def __call__(
        self, image: Any, key: str, copy: int = 0, *, rgb: bool = False, boxes: Any = None,
        masks: Any = None,
    ) -> Augmented:  # fmt: skip
        """Copy `copy` of the image `key`, blurred as the pipeline blurs it. `image`: an array
        as OpenCV decodes it (BGR, BGRA or gray, 8 or 16 bits), an RGB(A) array with
        `rgb=True`, or a PIL image; the result has the same type, shape and dtype. `boxes` and
        `masks` come back untouched."""
        params = self.draw(key, copy)
        pixels, back = to_opencv(image, rgb)
        blurred = self.blur_pixels(pixels, params)
        row = self.row(params, pixels)
        return Augmented(back(blurred), row, params, boxes, masks)

    def blur_pixels(self, pixels: np.ndarray, params: BlurParams) -> np.ndarray:
        """OpenCV-layout pixels blurred as `params` say (the input itself when nothing
        changes, as the pipeline keeps a source's bytes)."""
        _check(pixels)
        if unchanged(params, pixels.dtype.name):
            return pixels
        decoded = codec.Decoded(np.ascontiguousarray(pixels), "png")
        return imaging.blur_with(decoded, params, self.blur_method).pixels

    def row(self, params: BlurParams, pixels: np.ndarray) -> dict[str, Any]:
        """The log's columns that describe this draw on these pixels."""
        channels = 1 if pixels.ndim == 2 else int(pixels.shape[2])
        props = codec.Properties(pixels.shape[1], pixels.shape[0], channels, pixels.dtype.name, 0)
        width, height, method = blur_description(params, props, self.blur_method)
        return {
            "seed": self.seed, "applied": params.applied, "sigma_x": params.sigma_x,
            "sigma_y": params.sigma_y, "kernel_width": width, "kernel_height": height,
            "width": props.width, "height": props.height, "channels": channels,
            "dtype": props.dtype, "blur_method": method,
            "codec_path": "none" if method == "none" else codec.PATH_PIXELS,
            **params.kind_columns(),
        }  # fmt: skip


def _check(pixels: np.ndarray) -> None:
    if not isinstance(pixels, np.ndarray) or pixels.dtype not in (np.uint8, np.uint16):
        raise ValueError("an image is a uint8 or uint16 array (or a PIL image)")
    if pixels.ndim not in (2, 3) or (pixels.ndim == 3 and pixels.shape[2] not in (1, 3, 4)):
        raise ValueError(f"an image is HxW or HxWxC with 1, 3 or 4 channels, got {pixels.shape}")


def to_opencv(image: Any, rgb: bool):
    """(pixels in OpenCV's layout, a function giving a result back in the input's own form)."""
    if isinstance(image, np.ndarray):
        swap = rgb and not CHANNELWISE and image.ndim == 3 and image.shape[2] in (3, 4)
        if image.ndim == 3 and image.shape[2] == 1:
            return image[:, :, 0], lambda out: out[:, :, None]
        if not swap:
            return image, lambda out: out
        order = [2, 1, 0, 3][: image.shape[2]]
        return image[:, :, order], lambda out: np.ascontiguousarray(out[:, :, order])
    mode = getattr(image, "mode", None)
    if mode not in _PIL_MODES:
        raise ValueError(f"a PIL image's mode must be one of {', '.join(_PIL_MODES)}, got {mode}")
    from PIL import Image

    array = np.asarray(image)
    if mode == "I;16":
        array = array.astype(np.uint16)
    pixels, back = to_opencv(array, rgb=True)
    return pixels, lambda out: Image.fromarray(back(out))
