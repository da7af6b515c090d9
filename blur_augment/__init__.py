"""blur-augment's public API: what a training loop imports.

The seeded sampler (parameters from seed, copy and key alone) and the run's blur spec, the same
ones the pipeline draws with. Importing this package loads neither Apache Beam nor pyarrow; the
pipeline lives in `blur_augment.pipeline` and its pure functions in `blur_augment.transforms`.
"""

from __future__ import annotations

from blur_augment.pipeline.usage import package_version
from blur_augment.transforms.sampling import (
    CORRUPTIONS,
    KINDS,
    BlurParams,
    BlurSpec,
    KindRanges,
    sample,
    spec_from,
    spec_parameters,
    uniforms,
)

__version__ = package_version()

__all__ = [
    "CORRUPTIONS",
    "KINDS",
    "BlurParams",
    "BlurSpec",
    "KindRanges",
    "__version__",
    "sample",
    "spec_from",
    "spec_parameters",
    "uniforms",
]
