"""blur-augment's public API: what a training loop imports.

The seeded sampler (parameters from seed, copy and key alone) and the run's blur spec, the same
ones the pipeline draws with; `Augmenter`, the pipeline's blur on an image in memory, and
`LogWriter`, its draws written as the blur log. Importing this package loads neither Apache
Beam nor pyarrow; the pipeline lives in `blur_augment.pipeline` and its pure functions in
`blur_augment.transforms`.
"""

from __future__ import annotations

import os

# Imported from a checkout (its folder first on sys.path: a command run from the repository
# root, or the image's WORKDIR) this package is the source folder, whose pipeline/ and
# transforms/ sit beside it rather than inside: found there, as the installed wheel has them.
_CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_MARKS = ("pyproject.toml", "pipeline/__init__.py", "transforms/__init__.py")
if all(os.path.isfile(os.path.join(_CHECKOUT, mark)) for mark in _MARKS):
    __path__.append(_CHECKOUT)

from blur_augment.pipeline.usage import package_version  # noqa: E402 (after __path__)
from blur_augment.transforms.sampling import (  # noqa: E402
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

# Loaded on first use (PEP 562): the command's `--help` imports this package too, and the
# blur's modules load OpenCV.
_LAZY = {
    "Augmenter": "augment",
    "Augmented": "augment",
    "LogWriter": "logwriter",
    "kernel": "kernels",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CORRUPTIONS",
    "KINDS",
    "Augmented",
    "Augmenter",
    "BlurParams",
    "BlurSpec",
    "KindRanges",
    "LogWriter",
    "__version__",
    "kernel",
    "sample",
    "spec_from",
    "spec_parameters",
    "uniforms",
]
