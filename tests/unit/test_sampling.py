"""The sampler against the README's formula, and its distribution over many keys."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from blur_augment.transforms.sampling import BlurParams, BlurSpec, sample


def formula(seed: int, copy: int, key: str, lo: float, hi: float, p: float, mode: str):
    """The formula exactly as the issue and README state it."""
    d = hashlib.sha256(f"{seed}:{copy}:{key}".encode()).digest()
    u0, u1, u2 = (int.from_bytes(d[8 * i : 8 * i + 8], "big") / 2**64 for i in range(3))
    applied = u0 < p
    sigma_x = lo + u1 * (hi - lo)
    sigma_y = sigma_x if mode == "same" else lo + u2 * (hi - lo)
    return (applied, sigma_x, sigma_y) if applied else (False, 0.0, 0.0)


@pytest.mark.parametrize("mode", ["same", "independent"])
@pytest.mark.parametrize(
    ("seed", "copy", "key", "lo", "hi", "p"),
    [
        (0, 0, "a.jpg", 0.0, 3.0, 1.0),
        (7, 3, "dir/sub/x y.png", 0.5, 10.0, 0.5),
        (-12, 0, "ünïcode/名前.webp", 1.0, 1.0, 0.9),
        (2**40, 1, "deep/" * 20 + "z.tif", 0.0, 25.0, 0.1),
    ],
)
def test_sample_matches_formula(seed, copy, key, lo, hi, p, mode):
    got = sample(seed, copy, key, BlurSpec(lo, hi, p, mode))
    assert (got.applied, got.sigma_x, got.sigma_y) == formula(seed, copy, key, lo, hi, p, mode)


def test_sigmas_uniform_over_range():
    spec = BlurSpec(min_sigma=1.0, max_sigma=5.0)
    sigmas = np.array([sample(3, 0, f"img_{i}.jpg", spec).sigma_x for i in range(20000)])
    assert sigmas.min() >= 1.0 and sigmas.max() < 5.0
    counts, _ = np.histogram(sigmas, bins=10, range=(1.0, 5.0))
    expected = len(sigmas) / 10
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 27.88  # 99.9th percentile of chi-square with 9 degrees of freedom


def test_probability_respected_and_unapplied_logged_as_zero():
    spec = BlurSpec(min_sigma=0.5, max_sigma=2.0, probability=0.3)
    draws = [sample(11, 0, f"k{i}", spec) for i in range(20000)]
    share = np.mean([d.applied for d in draws])
    assert abs(share - 0.3) < 0.015  # > 4 standard deviations
    assert all(d == BlurParams(False, 0.0, 0.0) for d in draws if not d.applied)
    assert all(0.5 <= d.sigma_x <= 2.0 for d in draws if d.applied)


def test_independent_sigma_y_differs_same_does_not():
    same = sample(1, 0, "k", BlurSpec(0, 5, 1, "same"))
    indep = sample(1, 0, "k", BlurSpec(0, 5, 1, "independent"))
    assert same.sigma_x == same.sigma_y
    assert indep.sigma_x == same.sigma_x and indep.sigma_y != indep.sigma_x


def test_draw_depends_on_seed_copy_and_key():
    spec = BlurSpec(0, 10)
    base = sample(1, 0, "k", spec)
    assert sample(1, 0, "k", spec) == base
    assert sample(2, 0, "k", spec) != base
    assert sample(1, 1, "k", spec) != base
    assert sample(1, 0, "k2", spec) != base


@pytest.mark.parametrize(
    "kwargs",
    [
        {"min_sigma": -1.0},
        {"min_sigma": 2.0, "max_sigma": 1.0},
        {"probability": 1.5},
        {"probability": -0.1},
        {"sigma_y": "diagonal"},
    ],
)
def test_spec_rejects_bad_values(kwargs):
    with pytest.raises(ValueError):
        BlurSpec(**kwargs)
