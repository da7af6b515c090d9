"""`kernel(row)`: the exact 2-D kernel, in pixels, that a log row's whole-frame blur applied.

With it a user can plot a copy's kernel, or filter its source exactly as the pipeline did:
`cv2.filter2D(source, -1, kernel(row), borderType=cv2.BORDER_REFLECT_101)` gives the copy's
pixels (on the pixel path, within the rounding of the separable Gaussian's float32 taps).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from blur_augment.transforms.blur import gaussian_taps
from blur_augment.transforms.imaging import single_kernel
from blur_augment.transforms.sampling import BlurParams


def kernel(row: Mapping[str, Any]) -> np.ndarray:
    """The row's kernel (float64, sums to 1, odd on each axis, centred); 1x1 when the copy
    was not blurred. A ValueError says why there is none: zoom and glass blur (no single
    kernel), a benchmark corruption (its reference's arithmetic), or a blur that took a
    lower-resolution path (`blur_method` pyramid2/pyramid4: `--blur_method exact` makes it
    one kernel)."""
    params = BlurParams.from_row(dict(row))
    method = str(row.get("blur_method") or "")
    if not params.applied or method == "none":
        return np.ones((1, 1))
    if params.corruption:
        raise ValueError(f"{params.corruption} is computed as its reference computes it "
                         "(crops, clipping, several passes), not as one kernel")  # fmt: skip
    if params.kind in ("zoom", "glass"):
        raise ValueError(f"{params.kind} blur has no single kernel: it varies across the "
                         "image (zoom: the mean of zooms; glass: pixel shuffles)")  # fmt: skip
    if method.startswith("pyramid"):
        raise ValueError(f"this copy was blurred at lower resolution ({method}), which is no "
                         "single kernel; --blur_method exact gives one")  # fmt: skip
    if params.kind == "gaussian":
        width, height = int(row["kernel_width"]), int(row["kernel_height"])
        taps_x = gaussian_taps(width, params.sigma_x).astype(np.float64)[:, 0]
        taps_y = gaussian_taps(height, params.sigma_y).astype(np.float64)[:, 0]
        return np.outer(taps_y, taps_x)
    return np.asarray(single_kernel(params), dtype=np.float64)
