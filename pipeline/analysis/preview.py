"""`preview`: a contact sheet of one image at several values of one blur kind's parameter
(or a benchmark corruption's severities), through the pipeline's own blur."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from blur_augment.pipeline.usage import UsageError
from blur_augment.transforms.objects import Labels, SceneObject
from blur_augment.transforms.sampling import BLUR_KINDS, PARAMETERS, BlurParams, corruption_params


def displayable(pixels: np.ndarray) -> np.ndarray:
    """8-bit BGR for a contact sheet: 16-bit scaled, gray expanded, alpha over a checkerboard."""
    import cv2

    if pixels.dtype == np.uint16:
        pixels = (pixels // 257).astype(np.uint8)
    if pixels.ndim == 2:
        return cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR)
    if pixels.shape[2] == 4:
        height, width = pixels.shape[:2]
        y, x = np.mgrid[0:height, 0:width]
        board = np.where(((x // 8 + y // 8) % 2)[..., None] == 0, 200, 255).astype(np.float32)
        alpha = pixels[:, :, 3:4].astype(np.float32) / 255
        return (pixels[:, :, :3] * alpha + board * (1 - alpha)).astype(np.uint8)
    return pixels


CORRUPTION_VALUES = (1, 2, 3, 4, 5)  # a corruption's sheet: its severities


@dataclass(frozen=True)
class Sheet:
    """What a contact sheet shows: one kind (or a benchmark corruption) over `values` of its
    level parameter (its descriptor's), the kind's other parameters fixed (`fixed`, by name;
    else the descriptor's preview value)."""

    kind: str = "gaussian"
    values: tuple[float, ...] = ()
    fixed: tuple[tuple[str, float], ...] = ()
    corruption: str = ""
    seed: int = 0  # a kind's random field (glass displacements)

    def shown(self) -> tuple[float, ...]:
        return self.values or (CORRUPTION_VALUES if self.corruption else
                               BLUR_KINDS[self.kind].preview)  # fmt: skip

    def params(self, value: float) -> tuple[BlurParams, str]:
        """The blur of one tile and its caption."""
        if self.corruption:
            if int(value) != value or not 1 <= value <= 5:
                raise UsageError(f"severities are 1 to 5, got {value:g}")
            params = corruption_params(self.corruption, int(value), 0.5, self.seed)
            own = {p.name for p in BLUR_KINDS[params.kind].parameters}
            given = {n: PARAMETERS[n].type(v) for n, v in self.fixed if n in own}
            return replace(params, **given), f"{self.corruption} {int(value)}"
        kind = BLUR_KINDS[self.kind]
        if value < kind.identity:
            raise UsageError(f"{self.kind} values must be >= {kind.identity:g}, got {value:g}")
        fixed = dict(self.fixed)
        fields = {p.name: p.type(fixed.get(p.name, p.preview)) for p in kind.parameters}
        fields[kind.level] = PARAMETERS[kind.level].type(value) if kind.parameters else value
        if kind.name == "gaussian":
            fields["sigma_y"] = value
        if kind.seeded:
            fields["field_seed"] = self.seed
        params = BlurParams(value > kind.identity, **{"sigma_x": 0.0, "sigma_y": 0.0, **fields},
                            kind=self.kind)  # fmt: skip
        return params, f"{self.kind} {kind.caption} {value:g}"


def preview_sheet(
    data: bytes, sigmas: list[float] | None = None, tile_width: int = 360, columns: int = 3,
    sheet: Sheet | None = None, labels: Labels | None = None,
    frame: tuple[BlurParams, str] | None = None,
) -> bytes:  # fmt: skip
    """A labelled PNG contact sheet of the image blurred at each value of one kind's
    parameter (the Gaussian's sigmas by default), by the pipeline's own blur, shown at a common
    tile size (blur first, then scale, as the model sees it). With `labels` (--object_blur),
    each labelled object is blurred at the value over the frame (sharp, or blurred in every tile
    as `frame` says: its parameters and caption), as a run composites it."""
    import cv2

    from blur_augment.transforms import codec

    sheet = sheet or Sheet(values=tuple(sigmas or ()))
    if sigmas is not None and not sigmas:
        raise UsageError("--sigmas needs at least one value")
    try:
        decoded = codec.decode(data)
    except codec.ImageError as error:
        raise UsageError(f"cannot preview: {error}") from error
    height, width = decoded.pixels.shape[:2]
    scale = min(1.0, tile_width / width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    tiles = []
    found = labels.objects(width, height) if labels is not None else None
    behind = _blurred(decoded, frame[0])[0] if frame is not None else decoded.pixels
    over = f" | frame {frame[1]}" if frame is not None else ""
    for value in sheet.shown():
        params, caption = sheet.params(float(value))
        if found is not None:
            pixels, kernel = _objects_blurred(behind, found, params)
            caption = f"objects {sheet.kind} {value:g}{over}"
        else:
            pixels, kernel = _blurred(decoded, params)
        tile = cv2.resize(displayable(pixels), size, interpolation=cv2.INTER_AREA)
        tiles.append(_captioned(_with_kernel(tile, params), f"{caption}  {kernel}"))
    return codec.encode(_grid(tiles, columns), "png")


def _blurred(decoded, params: BlurParams) -> tuple[np.ndarray, str]:
    """The pixels as a copy with these parameters gets them, and its kernel as logged."""
    from blur_augment.transforms import codec
    from blur_augment.transforms.copies import blur_description, unchanged
    from blur_augment.transforms.imaging import blur_with

    props = codec.properties(decoded)
    kernel_width, kernel_height, method = blur_description(params, props, "auto")
    if unchanged(params, props.dtype):
        return decoded.pixels, "unblurred"
    pixels = blur_with(decoded, params).pixels
    if method in ("layers", "reference"):
        return pixels, method
    return pixels, f"kernel {kernel_width}x{kernel_height}"


def _objects_blurred(
    pixels: np.ndarray, found: list[SceneObject], params: BlurParams
) -> tuple[np.ndarray, str]:
    """Each object blurred as `params` over the sharp frame (a shaking object's path from
    its own seed, as a run draws one per object)."""
    from blur_augment.transforms import objects

    height, width = pixels.shape[:2]
    supports = [objects.support(o, width, height) for o in found]
    draws = [replace(params, field_seed=params.field_seed + o.index) for o in found]
    if not params.applied:
        return pixels, f"0/{len(found)} moved"
    blurred, moved = objects.composite(pixels, supports, draws)
    return blurred, f"{moved}/{len(found)} moved"


def _with_kernel(tile: np.ndarray, params: BlurParams) -> np.ndarray:
    """The tile with its kernel drawn in its top right corner, for the kinds that convolve
    with one (motion, defocus, shake): white on black, brightest where it weighs most, each
    kernel sample a square of pixels."""
    import cv2

    from blur_augment.transforms.imaging import single_kernel

    kernel = single_kernel(params) if params.applied else None
    if kernel is None or kernel.size < 2:
        return tile
    side = max(1, min(64 // max(kernel.shape), 8))
    image = (255 * kernel / kernel.max()).astype(np.uint8)
    image = cv2.resize(image, (kernel.shape[1] * side, kernel.shape[0] * side),
                       interpolation=cv2.INTER_NEAREST)  # fmt: skip
    inset = cv2.copyMakeBorder(image, 2, 2, 2, 2, cv2.BORDER_CONSTANT, value=128)
    inset = cv2.cvtColor(inset, cv2.COLOR_GRAY2BGR)
    height, width = min(inset.shape[0], tile.shape[0]), min(inset.shape[1], tile.shape[1])
    framed = tile.copy()
    framed[:height, tile.shape[1] - width :] = inset[:height, :width]
    return framed


def _captioned(tile: np.ndarray, text: str) -> np.ndarray:
    import cv2

    band = np.full((28, tile.shape[1], 3), 255, np.uint8)
    cv2.putText(band, text, (6, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([band, tile])


def _grid(tiles: list[np.ndarray], columns: int) -> np.ndarray:
    columns = min(columns, len(tiles))
    blank = np.full_like(tiles[0], 255)
    tiles = tiles + [blank] * (-len(tiles) % columns)
    gap = 4
    rows = []
    for r in range(0, len(tiles), columns):
        spaced = [np.pad(t, ((gap, gap), (gap, gap), (0, 0)), constant_values=255)
                  for t in tiles[r : r + columns]]  # fmt: skip
        rows.append(np.hstack(spaced))
    return np.vstack(rows)


def thumbnail(data: bytes, width: int = 180) -> bytes:
    """A small JPEG of an image for a gallery: decoded as the pipeline decodes it, shown as
    `preview` shows it (16-bit scaled, gray expanded, alpha over a checkerboard)."""
    import cv2

    from blur_augment.transforms import codec

    pixels = displayable(codec.decode(data).pixels)
    height, full_width = pixels.shape[:2]
    scale = min(1.0, width / full_width)
    size = (max(1, round(full_width * scale)), max(1, round(height * scale)))
    return codec.encode(cv2.resize(pixels, size, interpolation=cv2.INTER_AREA), "jpeg", 85)
