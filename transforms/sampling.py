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
KINDS: tuple[str, ...] = ("gaussian", "motion", "defocus", "zoom", "glass")

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


@dataclass(frozen=True)
class KindRanges:
    """The ranges each kind's parameters are drawn from (uniformly), and the kinds' weights."""

    weights: tuple[tuple[str, float], ...] = (("gaussian", 1.0),)
    motion_length: tuple[float, float] = (3.0, 25.0)  # pixels, the line's full length
    motion_angle: tuple[float, float] = (0.0, 180.0)  # degrees, counterclockwise from +x
    defocus_radius: tuple[float, float] = (1.0, 8.0)  # pixels
    zoom_factor: tuple[float, float] = (1.01, 1.25)  # the largest zoom of the mean
    glass_delta: tuple[int, int] = (1, 4)  # pixels, the largest displacement
    glass_sigma: tuple[float, float] = (0.7, 1.5)  # the Gaussian before and after
    glass_iterations: int = 2

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
    glass_seed: int = 0  # seeds the displacements (from sha256 of "seed:copy:key:glass")
    corruption: str = ""
    severity: int = 0

    @property
    def identity(self) -> bool:
        """Whether the pixels would not change (not applied, or nothing to blur with)."""
        return not self.applied


def uniforms(seed: int, copy: int, key: str) -> tuple[float, float, float]:
    """Three uniforms in [0, 1) from sha256 of "seed:copy:key", big-endian 64-bit words."""
    return _uniforms(seed, copy, key)[:3]  # type: ignore[return-value]


def _uniforms(seed: int, copy: int, key: str) -> tuple[float, ...]:
    digest = hashlib.sha256(f"{seed}:{copy}:{key}".encode()).digest()
    return tuple(int.from_bytes(digest[8 * i : 8 * i + 8], "big") / 2**64 for i in range(4))


def glass_seed(seed: int, copy: int, key: str) -> int:
    """The seed of a copy's glass displacements: 64 bits of sha256("seed:copy:key:glass")."""
    digest = hashlib.sha256(f"{seed}:{copy}:{key}:glass".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def _between(bounds: tuple[float, float], u: float) -> float:
    return bounds[0] + u * (bounds[1] - bounds[0])


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
    kind = "gaussian" if ranges.gaussian_only else _kind(ranges, u3)
    if kind == "gaussian":
        span = spec.max_sigma - spec.min_sigma
        sigma_x = spec.min_sigma + u1 * span
        sigma_y = sigma_x if spec.sigma_y == "same" else spec.min_sigma + u2 * span
        return BlurParams(applied=True, sigma_x=sigma_x, sigma_y=sigma_y)
    if kind == "motion":
        return BlurParams(True, 0.0, 0.0, kind, motion_length=_between(ranges.motion_length, u1),
                          motion_angle=_between(ranges.motion_angle, u2))  # fmt: skip
    if kind == "defocus":
        return BlurParams(True, 0.0, 0.0, kind, defocus_radius=_between(ranges.defocus_radius, u1))
    if kind == "zoom":
        return BlurParams(True, 0.0, 0.0, kind, zoom_factor=_between(ranges.zoom_factor, u1))
    low, high = ranges.glass_delta
    return BlurParams(True, 0.0, 0.0, kind, glass_delta=low + min(int(u1 * (high - low + 1)),
                      high - low), glass_sigma=_between(ranges.glass_sigma, u2),
                      glass_iterations=ranges.glass_iterations,
                      glass_seed=glass_seed(seed, copy, key))  # fmt: skip


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
                      glass_iterations=int(c[2]), glass_seed=seed, **named)  # fmt: skip


def spec_parameters(spec: BlurSpec) -> dict[str, object]:
    """The spec as the log's metadata records it (and `spec_from` reads it back)."""
    ranges = spec.kinds
    return {
        "min_sigma": spec.min_sigma,
        "max_sigma": spec.max_sigma,
        "probability": spec.probability,
        "sigma_y": spec.sigma_y,
        "sigmas": list(spec.sigmas),
        "blur": [[kind, weight] for kind, weight in ranges.weights],
        "motion_length": list(ranges.motion_length),
        "motion_angle": list(ranges.motion_angle),
        "defocus_radius": list(ranges.defocus_radius),
        "zoom_factor": list(ranges.zoom_factor),
        "glass_delta": list(ranges.glass_delta),
        "glass_sigma": list(ranges.glass_sigma),
        "glass_iterations": ranges.glass_iterations,
        "corruption": spec.corruption,
        "severities": list(spec.severities),
    }


def spec_from(parameters: dict) -> BlurSpec:
    """The spec a log's metadata records (older logs: the Gaussian draw alone)."""
    base = KindRanges()

    def pair(name: str, kind=float) -> tuple:
        value = parameters.get(name)
        return tuple(kind(v) for v in value) if value else getattr(base, name)

    ranges = KindRanges(
        weights=tuple((str(k), float(w)) for k, w in parameters.get("blur") or base.weights),
        motion_length=pair("motion_length"), motion_angle=pair("motion_angle"),
        defocus_radius=pair("defocus_radius"), zoom_factor=pair("zoom_factor"),
        glass_delta=pair("glass_delta", int), glass_sigma=pair("glass_sigma"),
        glass_iterations=int(parameters.get("glass_iterations") or base.glass_iterations),
    )  # fmt: skip
    return BlurSpec(
        float(parameters.get("min_sigma", 0.0)), float(parameters.get("max_sigma", 3.0)),
        float(parameters.get("probability", 1.0)), parameters.get("sigma_y", "same"),
        tuple(float(s) for s in parameters.get("sigmas") or ()), ranges,
        str(parameters.get("corruption") or ""),
        tuple(int(s) for s in parameters.get("severities") or ()),
    )  # fmt: skip
