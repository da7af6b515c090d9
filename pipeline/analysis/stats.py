"""The statistics of `report`, in one place: confidence intervals of a bin's mean, from the
aggregates DuckDB returns (count, mean, sample standard deviation), never from every row."""

from __future__ import annotations

import math

# Two-sided 97.5% quantiles of Student's t for 1..30 degrees of freedom.
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
         2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
         2.060, 2.056, 2.052, 2.048, 2.045, 2.042)  # fmt: skip
_Z975 = 1.959964


def confidence_interval(
    n: int, mean: float, std: float | None, binary: bool
) -> tuple[float, float]:
    """95% interval of the mean of n values: Wilson's for 0/1 metrics (from n and the mean),
    Student's t otherwise (from n, the mean and the sample standard deviation)."""
    if binary:
        z = _Z975
        centre = (mean + z * z / (2 * n)) / (1 + z * z / n)
        half = z * math.sqrt(mean * (1 - mean) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        # Wilson's interval holds the mean; at 0 and 1 rounding could put it a hair outside
        return max(0.0, min(centre - half, mean)), min(1.0, max(centre + half, mean))
    if n < 2 or std is None:
        return float("nan"), float("nan")
    t = _T975[n - 2] if n - 1 <= len(_T975) else _Z975
    half = t * std / math.sqrt(n)
    return mean - half, mean + half
