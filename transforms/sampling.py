"""The seeded sampler: blur parameters from (seed, copy, key) alone.

The formula is a public contract (README, "The sampler"): users recompute it outside the
pipeline, so nothing else (worker, order, time, retries) may feed the draw.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

SigmaYMode = Literal["same", "independent"]
SIGMA_Y_MODES: tuple[str, ...] = ("same", "independent")


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


@dataclass(frozen=True)
class BlurParams:
    """One image copy's draw: whether it is blurred and with which sigmas (0.0 when not)."""

    applied: bool
    sigma_x: float
    sigma_y: float


def uniforms(seed: int, copy: int, key: str) -> tuple[float, float, float]:
    """Three uniforms in [0, 1) from sha256 of "seed:copy:key", big-endian 64-bit words."""
    digest = hashlib.sha256(f"{seed}:{copy}:{key}".encode()).digest()
    return tuple(int.from_bytes(digest[8 * i : 8 * i + 8], "big") / 2**64 for i in range(3))  # type: ignore[return-value]


def sample(seed: int, copy: int, key: str, spec: BlurSpec) -> BlurParams:
    """Draw the blur parameters of copy `copy` of the image `key` (the README's formula), or
    take them from the ladder (`spec.sigmas`), which involves no draw at all."""
    if spec.sigmas:
        sigma = float(spec.sigmas[copy])
        return BlurParams(applied=sigma > 0, sigma_x=sigma, sigma_y=sigma)
    u0, u1, u2 = uniforms(seed, copy, key)
    if not u0 < spec.probability:
        return BlurParams(applied=False, sigma_x=0.0, sigma_y=0.0)
    span = spec.max_sigma - spec.min_sigma
    sigma_x = spec.min_sigma + u1 * span
    sigma_y = sigma_x if spec.sigma_y == "same" else spec.min_sigma + u2 * span
    return BlurParams(applied=True, sigma_x=sigma_x, sigma_y=sigma_y)
