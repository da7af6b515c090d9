"""The seeded sampler: blur parameters from (seed, copy, key) alone.

The formula is a public contract (README, "The sampler"): users recompute it outside the
pipeline, so nothing else (worker, order, time, retries) may feed the draw. Four uniforms come
from sha256("seed:copy:key"): u0 decides whether the copy is blurred, u3 its kind (when there
are several), u1 and u2 its parameters; glass blur's displacements come from a generator seeded
by sha256("seed:copy:key:glass"). A Gaussian-only spec draws exactly what it always drew.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Literal

SigmaYMode = Literal["same", "independent"]
SIGMA_Y_MODES: tuple[str, ...] = ("same", "independent")


@dataclass(frozen=True)
class Parameter:
    """One parameter of a blur kind, described once. Its name is its log column, its field of
    BlurParams and KindRanges and its option (--NAME MIN,MAX). Drawn from uniform `uniform`
    (1 or 2) uniformly over the option's range (an integer range gives each integer an equal
    share); `uniform` 0: not drawn, the option's one value (glass_iterations)."""

    name: str
    type: type  # float or int: the log column's type and the option's numbers
    default: tuple[float, float] | int  # the range drawn from, or the fixed value
    uniform: int
    help: str  # the option's help: what the parameter is, with its unit
    label: str  # a chart axis
    minimum: float = 0  # the smallest value the option accepts
    preview: float = 0  # the value a preview sheet holds it at when it is not the level

    def draw(self, bounds: tuple | int, u: tuple[float, ...]) -> float | int:
        if not self.uniform:
            return bounds  # type: ignore[return-value]
        low, high = bounds  # type: ignore[misc]
        if self.type is int:
            return low + min(int(u[self.uniform] * (high - low + 1)), high - low)
        return low + u[self.uniform] * (high - low)


@dataclass(frozen=True)
class BlurKind:
    """A blur kind, described once: everything but its filter (`imaging.FILTERS`), read by the
    sampler, the options and their validation, the log's schema and rows, summary, grouping,
    preview and plots. Adding a kind is a descriptor here, a filter and their tests."""

    name: str
    parameters: tuple[Parameter, ...]  # in the log's column order (the Gaussian's: sigma_x/y)
    level: str  # the column `report` and `evaluate` bin on
    preview: tuple[float, ...]  # a preview sheet's default values of `level`
    caption: str  # the level's name on a preview tile
    planes: bool  # whether it blurs JPEG planes as stored (else pixels)
    help: str  # its line in --blur's help
    identity: float = 0  # the level's value that leaves the pixels as they are
    seeded: bool = False  # draws its own random field (BlurParams.field_seed)
    added: str = "0.5"  # the version that added it: its log columns follow the older ones


_GAUSSIAN = BlurKind(
    "gaussian", (), "sigma_x", (0, 1, 2, 3, 5, 10), "sigma", True,
    "the Gaussian (--min_sigma, --max_sigma, --sigma_y)",
)  # fmt: skip
BLUR_KINDS: dict[str, BlurKind] = {
    kind.name: kind
    for kind in (
        _GAUSSIAN,
        BlurKind("motion", (
            Parameter("motion_length", float, (3.0, 25.0), 1,
                      "motion blur's line length, pixels", "motion length (pixels)"),
            Parameter("motion_angle", float, (0.0, 180.0), 2,
                      "motion blur's angle, degrees counterclockwise", "motion angle (degrees)"),
        ), "motion_length", (0, 5, 10, 20, 40, 60), "length", True, "a straight line"),
        BlurKind("defocus", (
            Parameter("defocus_radius", float, (1.0, 8.0), 1,
                      "defocus blur's disk radius, pixels", "defocus radius (pixels)"),
        ), "defocus_radius", (0, 2, 4, 6, 10, 15), "radius", True, "a disk"),
        BlurKind("zoom", (
            Parameter("zoom_factor", float, (1.01, 1.25), 1, "zoom blur's largest zoom",
                      "zoom factor", minimum=1),
        ), "zoom_factor", (1, 1.05, 1.1, 1.15, 1.2, 1.3), "zoom", True,
            "the mean of zooms about the centre", identity=1),
        BlurKind("glass", (
            Parameter("glass_delta", int, (1, 4), 1, "glass blur's largest displacement, pixels",
                      "glass displacement (pixels)", minimum=1),
            Parameter("glass_sigma", float, (0.7, 1.5), 2, "glass blur's Gaussian sigma",
                      "glass sigma (pixels)", preview=1.0),
            Parameter("glass_iterations", int, 2, 0, "glass blur's passes", "glass passes",
                      minimum=1, preview=2),
        ), "glass_delta", (0, 1, 2, 3, 4, 6), "delta", False,
            "local pixel shuffles between Gaussians", seeded=True),
        BlurKind("shake", (
            Parameter("shake_length", float, (5.0, 30.0), 1,
                      "camera shake's path length, pixels", "shake length (pixels)"),
        ), "shake_length", (0, 5, 10, 20, 30, 45), "length", True,
            "a shaking camera's path, after Boracchi & Foi", seeded=True, added="0.6"),
    )
}  # fmt: skip
KINDS: tuple[str, ...] = tuple(BLUR_KINDS)
# The kinds an object can take (--object_blur): those that are one convolution, so that the
# object's streak blur(F*M) is defined (transforms/objects.py).
OBJECT_KINDS: tuple[str, ...] = ("motion", "gaussian", "defocus", "shake")
# An object's blur in the object table: the log's columns of those kinds.
OBJECT_COLUMNS: tuple[str, ...] = ("sigma_x", "sigma_y", *(
    p.name for kind in OBJECT_KINDS for p in BLUR_KINDS[kind].parameters))  # fmt: skip
PARAMETERS: dict[str, Parameter] = {
    p.name: p for kind in BLUR_KINDS.values() for p in kind.parameters
}  # every kind's parameters, in the log's column order
KIND_OF: dict[str, str] = {p.name: k.name for k in BLUR_KINDS.values() for p in k.parameters}

# ImageNet-C / COCO-C blur corruptions (imagecorruptions' corruptions.py), severity 1..5:
# gaussian_blur sigma; defocus_blur (radius, alias blur); motion_blur (radius, sigma);
# zoom_blur np.arange(start, stop, step); glass_blur (sigma, max delta, iterations)
CORRUPTIONS: dict[str, tuple] = {
    "gaussian_blur": (1, 2, 3, 4, 6),
    "defocus_blur": ((3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5)),
    "motion_blur": ((10, 3), (15, 5), (15, 8), (15, 12), (20, 15)),
    "zoom_blur": (
        (1.0, 1.11, 0.01),
        (1.0, 1.16, 0.01),
        (1.0, 1.21, 0.02),
        (1.0, 1.26, 0.02),
        (1.0, 1.31, 0.03),
    ),
    "glass_blur": ((0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)),
}
CORRUPTION_KINDS = {
    "gaussian_blur": "gaussian", "defocus_blur": "defocus", "motion_blur": "motion",
    "zoom_blur": "zoom", "glass_blur": "glass",
}  # fmt: skip


def _default(name: str):
    return PARAMETERS[name].default


@dataclass(frozen=True)
class KindRanges:
    """The ranges each kind's parameters are drawn from (uniformly), and the kinds' weights; a
    field per Parameter, its default the descriptor's."""

    weights: tuple[tuple[str, float], ...] = (("gaussian", 1.0),)  # (): --blur none
    motion_length: tuple[float, float] = _default("motion_length")
    motion_angle: tuple[float, float] = _default("motion_angle")
    defocus_radius: tuple[float, float] = _default("defocus_radius")
    zoom_factor: tuple[float, float] = _default("zoom_factor")
    glass_delta: tuple[int, int] = _default("glass_delta")
    glass_sigma: tuple[float, float] = _default("glass_sigma")
    glass_iterations: int = _default("glass_iterations")
    shake_length: tuple[float, float] = _default("shake_length")

    @property
    def gaussian_only(self) -> bool:
        return [k for k, w in self.weights if w > 0] == ["gaussian"]


@dataclass(frozen=True)
class BlurSpec:
    """The run-wide distribution that every image's parameters are drawn from."""

    min_sigma: float = 0.0
    max_sigma: float = 3.0
    probability: float = 1.0
    sigma_y: SigmaYMode = "same"
    # --sigmas: a fixed ladder instead of a draw, copy k at exactly sigmas[k] on both axes (0:
    # an unblurred copy, the source's bytes). Empty: the draw above.
    sigmas: tuple[float, ...] = ()
    kinds: KindRanges = field(default_factory=KindRanges)
    # --corruption NAME --severities: copy k is the benchmark corruption at severity k
    corruption: str = ""
    severities: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if any(not s >= 0 for s in self.sigmas):
            raise ValueError(f"every sigma of the ladder must be >= 0, got {self.sigmas}")
        if not 0.0 <= self.min_sigma <= self.max_sigma:
            raise ValueError(
                f"need 0 <= min_sigma <= max_sigma, got {self.min_sigma} and {self.max_sigma}"
            )
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"probability must lie in [0, 1], got {self.probability}")
        if self.sigma_y not in SIGMA_Y_MODES:
            raise ValueError(f"sigma_y must be one of {SIGMA_Y_MODES}, got {self.sigma_y!r}")
        if self.corruption and self.corruption not in CORRUPTIONS:
            raise ValueError(f"unknown corruption {self.corruption!r}")


@dataclass(frozen=True)
class BlurParams:
    """One image copy's draw: whether it is blurred, its kind and that kind's parameters (the
    others 0). sigma_x and sigma_y are the Gaussian's."""

    applied: bool
    sigma_x: float
    sigma_y: float
    kind: str = "gaussian"
    motion_length: float = 0.0
    motion_angle: float = 0.0
    defocus_radius: float = 0.0
    zoom_factor: float = 0.0
    glass_delta: int = 0
    glass_sigma: float = 0.0
    glass_iterations: int = 0
    shake_length: float = 0.0
    # the seed of a seeded kind's own random field (glass displacements, a shaking camera's
    # path): field_seed(seed, copy, key, kind), never logged, made again from the row
    field_seed: int = 0
    corruption: str = ""
    severity: int = 0

    @property
    def identity(self) -> bool:
        """Whether the pixels would not change (not applied, or nothing to blur with)."""
        return not self.applied

    def kind_columns(self) -> dict[str, object]:
        """The log's columns of the blur's kind (added in 0.5), in the schema's order: 0 where
        a kind has no such parameter, "" where there is no corruption."""
        return {
            "blur_kind": self.kind if self.applied else "none",
            **{name: getattr(self, name) for name in PARAMETERS},
            "corruption": self.corruption,
            "severity": self.severity,
        }

    @classmethod
    def from_row(cls, row: dict) -> BlurParams:
        """The blur a log row records (older logs: every row Gaussian). A kind's random field
        (glass displacements) is not logged: its seed comes from the row's seed, copy and key,
        as the sampler made it."""
        kind = row.get("blur_kind") or "gaussian"
        kind = "gaussian" if kind == "none" else kind
        values = {name: p.type(row.get(name) or 0) for name, p in PARAMETERS.items()}
        if BLUR_KINDS[kind].seeded and "seed" in row:
            values["field_seed"] = field_seed(row["seed"], row["copy_index"], row["key"], kind)
        return cls(bool(row["applied"]), float(row["sigma_x"]), float(row["sigma_y"]),
                   kind, **values,
                   corruption=str(row.get("corruption") or ""),
                   severity=int(row.get("severity") or 0))  # fmt: skip


UNBLURRED = BlurParams(applied=False, sigma_x=0.0, sigma_y=0.0)  # an original, or not drawn


def uniforms(seed: int, copy: int, key: str) -> tuple[float, float, float]:
    """Three uniforms in [0, 1) from sha256 of "seed:copy:key", big-endian 64-bit words."""
    return _uniforms(seed, copy, key)[:3]  # type: ignore[return-value]


def _uniforms(seed: int, copy: int, key: str) -> tuple[float, ...]:
    digest = hashlib.sha256(f"{seed}:{copy}:{key}".encode()).digest()
    return tuple(int.from_bytes(digest[8 * i : 8 * i + 8], "big") / 2**64 for i in range(4))


def field_seed(seed: int, copy: int, key: str, kind: str) -> int:
    """The seed of a copy's random field (glass displacements, a shaking camera's path): 64
    bits of sha256("seed:copy:key:KIND")."""
    digest = hashlib.sha256(f"{seed}:{copy}:{key}:{kind}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def glass_seed(seed: int, copy: int, key: str) -> int:
    """Glass blur's field seed (sha256 of "seed:copy:key:glass"), as 0.5 named it."""
    return field_seed(seed, copy, key, "glass")


def _kind(ranges: KindRanges, u: float) -> str:
    """The kind a uniform picks, by weight (cumulative, in the order given)."""
    total = sum(w for _, w in ranges.weights)
    edge = 0.0
    for kind, weight in ranges.weights:
        edge += weight / total
        if u < edge:
            return kind
    return ranges.weights[-1][0]


def sample(seed: int, copy: int, key: str, spec: BlurSpec) -> BlurParams:
    """Draw the blur parameters of copy `copy` of the image `key` (the README's formula), or
    take them from the ladder (`spec.sigmas`) or the corruption (`spec.corruption`)."""
    if spec.sigmas:
        sigma = float(spec.sigmas[copy])
        return BlurParams(applied=sigma > 0, sigma_x=sigma, sigma_y=sigma)
    u0, u1, u2, u3 = _uniforms(seed, copy, key)
    if spec.corruption:
        return corruption_params(spec.corruption, spec.severities[copy], u2,
                                 glass_seed(seed, copy, key))  # fmt: skip
    if not u0 < spec.probability:
        return BlurParams(applied=False, sigma_x=0.0, sigma_y=0.0)
    ranges = spec.kinds
    if not ranges.weights:  # --blur none: the frame stays sharp (objects may still move)
        return UNBLURRED
    kind = "gaussian" if ranges.gaussian_only else _kind(ranges, u3)
    if kind == "gaussian":
        span = spec.max_sigma - spec.min_sigma
        sigma_x = spec.min_sigma + u1 * span
        sigma_y = sigma_x if spec.sigma_y == "same" else spec.min_sigma + u2 * span
        return BlurParams(applied=True, sigma_x=sigma_x, sigma_y=sigma_y)
    described = BLUR_KINDS[kind]
    u = (u0, u1, u2, u3)
    values = {p.name: p.draw(getattr(ranges, p.name), u) for p in described.parameters}
    if described.seeded:
        values["field_seed"] = field_seed(seed, copy, key, kind)
    return BlurParams(True, 0.0, 0.0, kind, **values)


def corruption_params(name: str, severity: int, u2: float, seed: int) -> BlurParams:
    """A corruption at a severity, as logged: its main parameter (the rest follows from the
    name and the severity, CORRUPTIONS), and the random parts from the sampler: motion blur's
    angle (uniform in [-45, 45) degrees, as the reference draws it), glass blur's
    displacements (their seed)."""
    c = CORRUPTIONS[name][severity - 1]
    kind = CORRUPTION_KINDS[name]
    named = {"corruption": name, "severity": severity}
    if name == "gaussian_blur":
        return BlurParams(True, float(c), float(c), kind, **named)
    if name == "defocus_blur":
        return BlurParams(True, 0.0, 0.0, kind, defocus_radius=float(c[0]), **named)
    if name == "motion_blur":
        return BlurParams(True, 0.0, 0.0, kind, motion_length=float(2 * c[0] + 1),
                          motion_angle=-45 + 90 * u2, **named)  # fmt: skip
    if name == "zoom_blur":
        return BlurParams(True, 0.0, 0.0, kind, zoom_factor=float(c[1]), **named)
    return BlurParams(True, 0.0, 0.0, kind, glass_delta=int(c[1]), glass_sigma=float(c[0]),
                      glass_iterations=int(c[2]), field_seed=seed, **named)  # fmt: skip


def spec_parameters(spec: BlurSpec) -> dict[str, object]:
    """The spec as the log's metadata records it (and `spec_from` reads it back)."""
    ranges = spec.kinds
    fixed = {name for name, p in PARAMETERS.items() if not p.uniform}
    return {
        "min_sigma": spec.min_sigma,
        "max_sigma": spec.max_sigma,
        "probability": spec.probability,
        "sigma_y": spec.sigma_y,
        "sigmas": list(spec.sigmas),
        "blur": [[kind, weight] for kind, weight in ranges.weights],
        **{
            name: getattr(ranges, name) if name in fixed else list(getattr(ranges, name))
            for name in PARAMETERS
        },
        "corruption": spec.corruption,
        "severities": list(spec.severities),
    }


def spec_from(parameters: dict) -> BlurSpec:
    """The spec a log's metadata records (older logs: the Gaussian draw alone)."""

    def recorded(p: Parameter):
        value = parameters.get(p.name)
        if not value:
            return p.default
        return p.type(value) if not p.uniform else tuple(p.type(v) for v in value)

    ranges = KindRanges(
        weights=tuple((str(k), float(w)) for k, w in parameters.get("blur", (("gaussian", 1),))),
        **{name: recorded(p) for name, p in PARAMETERS.items()},
    )
    return BlurSpec(
        float(parameters.get("min_sigma", 0.0)), float(parameters.get("max_sigma", 3.0)),
        float(parameters.get("probability", 1.0)), parameters.get("sigma_y", "same"),
        tuple(float(s) for s in parameters.get("sigmas") or ()), ranges,
        str(parameters.get("corruption") or ""),
        tuple(int(s) for s in parameters.get("severities") or ()),
    )  # fmt: skip
