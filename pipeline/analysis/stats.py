"""The statistics of `report`, in one place: confidence intervals of a bin's mean."""

from __future__ import annotations

import math

import numpy as np

# Two-sided 97.5% quantiles of Student's t for 1..30 degrees of freedom.
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
         2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
         2.060, 2.056, 2.052, 2.048, 2.045, 2.042)  # fmt: skip


def confidence_interval(values: np.ndarray, binary: bool) -> tuple[float, float]:
    """95% interval of the mean: Wilson's for 0/1 metrics, Student's t otherwise."""
    n = values.size
    mean = float(values.mean())
    if binary:
        z = 1.959964
        centre = (mean + z * z / (2 * n)) / (1 + z * z / n)
        half = z * math.sqrt(mean * (1 - mean) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        return max(0.0, centre - half), min(1.0, centre + half)
    if n < 2:
        return float("nan"), float("nan")
    t = _T975[n - 2] if n - 1 <= len(_T975) else 1.959964
    half = t * float(values.std(ddof=1)) / math.sqrt(n)
    return mean - half, mean + half
