"""The options that describe a blur (the draw, a ladder or a corruption, and the method) and
their validation, for `run` and for `blur_augment.Augmenter` alike: the same refusals with the
same messages. Light: no Beam, so a training loop can validate its options without it."""

from __future__ import annotations

from typing import Protocol

from blur_augment.pipeline.usage import UsageError
from blur_augment.transforms.blur import BLUR_METHODS
from blur_augment.transforms.sampling import (
    CORRUPTIONS,
    KIND_OF,
    KINDS,
    OBJECT_KINDS,
    PARAMETERS,
    SIGMA_Y_MODES,
    BlurSpec,
    KindRanges,
    Parameter,
)

# Every option a blur is described by (None: not given), as `run` names them.
BLUR_OPTIONS = ("blur", "min_sigma", "max_sigma", "probability", "sigma_y", "copies", "sigmas",
                "corruption", "severities", *PARAMETERS)  # fmt: skip


class Given(Protocol):
    """The options as given: attributes named as the options, None where not given (the run's
    PipelineOptions view, or a namespace of an Augmenter's keywords)."""

    def __getattr__(self, name: str) -> object: ...


def one_of(option: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise UsageError(f"{option} must be one of {', '.join(choices)}, got {value!r}")


def check_blur_method(method: object) -> None:
    one_of("--blur_method", method, BLUR_METHODS)


_DRAW_DEFAULTS = {"min_sigma": 0.0, "max_sigma": 3.0, "probability": 1.0, "sigma_y": "same"}
# The options of each kind's draw (an option of a kind --blur does not draw is a mistake).
_KIND_OPTIONS = {"min_sigma": "gaussian", "max_sigma": "gaussian", "sigma_y": "gaussian",
                 **KIND_OF}  # fmt: skip


def _draw_options_given(opts: Given) -> list[str]:
    """The options of a drawn blur the command line gives (none go with a ladder)."""
    names = dict.fromkeys([*_DRAW_DEFAULTS, "blur", *_KIND_OPTIONS])
    return [f"--{name}" for name in names if getattr(opts, name) is not None]


def blur_spec(opts: Given) -> tuple[BlurSpec, int]:
    """The distribution the blur is drawn from (or the --sigmas or --corruption ladder), and
    the copies."""
    if opts.sigmas is not None and opts.corruption is not None:
        raise UsageError("--sigmas and --corruption cannot be combined: each is a ladder")
    if opts.corruption is not None:
        return _corruption(opts)
    if opts.sigmas is not None:
        return _ladder(opts)
    draw = {name: default if getattr(opts, name) is None else getattr(opts, name)
            for name, default in _DRAW_DEFAULTS.items()}  # fmt: skip
    if draw["min_sigma"] < 0:
        raise UsageError(f"--min_sigma must be >= 0, got {draw['min_sigma']}")
    if draw["max_sigma"] < draw["min_sigma"]:
        raise UsageError(
            f"--max_sigma ({draw['max_sigma']}) must be >= --min_sigma ({draw['min_sigma']})"
        )
    if not 0.0 <= draw["probability"] <= 1.0:
        raise UsageError(f"--probability must lie in [0, 1], got {draw['probability']}")
    one_of("--sigma_y", draw["sigma_y"], SIGMA_Y_MODES)
    copies = 1 if opts.copies is None else opts.copies
    if copies < 1:
        raise UsageError(f"--copies must be >= 1, got {copies}")
    return BlurSpec(**draw, kinds=_kind_ranges(opts)), copies


def _numbers(option: str, text: str | None, default: tuple, kind=float) -> tuple:
    """MIN,MAX of an option (one number: both), checked MIN <= MAX and >= 0."""
    if text is None:
        return default
    try:
        values = tuple(kind(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise UsageError(f"--{option} takes MIN,MAX numbers, got {text!r}") from None
    values = values * 2 if len(values) == 1 else values
    if len(values) != 2 or values[0] > values[1] or values[0] < 0:
        raise UsageError(f"--{option} takes MIN,MAX with 0 <= MIN <= MAX, got {text!r}")
    return values


def _parameter(p: Parameter, given: object) -> tuple | int:
    """A kind parameter's range (or fixed value) from its option, checked against its
    descriptor's minimum."""
    if not p.uniform:
        value = p.default if given is None else given
        low = value
    else:
        value = _numbers(p.name, given, p.default, p.type)  # type: ignore[arg-type]
        low = value[0]
    if low < p.minimum:
        raise UsageError(f"--{p.name} must be >= {p.minimum:g}, got {given!r}")
    return value


def weights(
    text: str | None, option: str = "--blur", kinds: tuple[str, ...] = KINDS
) -> tuple[tuple[str, float], ...]:
    """--blur KIND[=WEIGHT],... (or --object_blur's); --blur none: () (the frame stays sharp)."""
    if text is None:
        return (("gaussian", 1.0),)
    if text.strip() == "none" and option == "--blur":
        return ()
    found = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        kind, _, weight = part.partition("=")
        if kind not in kinds:
            raise UsageError(f"{option}: unknown kind {kind!r} (kinds: {', '.join(kinds)})")
        try:
            value = float(weight) if weight else 1.0
        except ValueError:
            raise UsageError(
                f"{option}: the weight of {kind} must be a number, got {weight!r}"
            ) from None
        if value <= 0:
            raise UsageError(f"{option}: the weight of {kind} must be > 0, got {weight!r}")
        found.append((kind, value))
    if not found or len({k for k, _ in found}) != len(found):
        raise UsageError(f"{option} must name each kind once, got {text!r}")
    return tuple(found)


def _kind_ranges(opts: Given) -> KindRanges:
    ranges = KindRanges(
        weights=weights(opts.blur),
        **{name: _parameter(p, getattr(opts, name)) for name, p in PARAMETERS.items()},
    )
    objects = getattr(opts, "object_blur", None)
    drawn = {kind for kind, _ in ranges.weights}
    drawn |= {k for k, _ in weights(objects, "--object_blur", OBJECT_KINDS)} if objects else set()
    for name, kind in _KIND_OPTIONS.items():
        if getattr(opts, name) is not None and kind not in drawn:
            frame = f"--blur ({opts.blur or 'gaussian'})"
            raise UsageError(f"--{name} is a parameter of {kind} blur, which " + (
                f"neither {frame} nor --object_blur ({objects}) draws" if objects else
                f"{frame} does not draw"))  # fmt: skip
    return ranges


def _corruption(opts: Given) -> tuple[BlurSpec, int]:
    """--corruption NAME --severities 1,2,...: copy k at severity k, the reference's way."""
    one_of("--corruption", opts.corruption, tuple(CORRUPTIONS))
    try:
        severities = tuple(int(v) for v in (opts.severities or "1,2,3,4,5").split(",") if v)
    except ValueError:
        raise UsageError(f"--severities must be integers 1-5, got {opts.severities!r}") from None
    if not severities or any(not 1 <= s <= 5 for s in severities):
        raise UsageError(f"--severities must be integers 1-5, got {opts.severities!r}")
    given = _draw_options_given(opts)
    if given:
        raise UsageError(f"--corruption and {given[0]} cannot be combined: --corruption is a "
                         f"fixed ladder, {given[0]} is for a drawn blur")  # fmt: skip
    if opts.copies is not None and opts.copies != len(severities):
        raise UsageError(f"--copies {opts.copies} disagrees with --severities, which has "
                         f"{len(severities)} levels (leave --copies out)")  # fmt: skip
    return BlurSpec(corruption=opts.corruption, severities=severities), len(severities)


def _ladder(opts: Given) -> tuple[BlurSpec, int]:
    """--sigmas: copy k at exactly the k-th sigma; the draw's options make no sense with it."""
    try:
        sigmas = tuple(float(part) for part in opts.sigmas.split(",") if part.strip())
    except ValueError:
        raise UsageError(f"--sigmas must be comma-separated numbers, got {opts.sigmas!r}") from None
    if not sigmas or any(not s >= 0 for s in sigmas):
        raise UsageError(f"--sigmas must be numbers >= 0, got {opts.sigmas!r}")
    given = _draw_options_given(opts)
    if given:
        raise UsageError(
            f"--sigmas and {given[0]} cannot be combined: --sigmas is a fixed ladder, "
            f"{given[0]} is for a drawn blur"
        )
    if opts.copies is not None and opts.copies != len(sigmas):
        raise UsageError(
            f"--copies {opts.copies} disagrees with --sigmas, which has {len(sigmas)} levels "
            "(--copies is the ladder's length; leave it out)"
        )
    return BlurSpec(sigmas=sigmas), len(sigmas)


def object_blur(opts: Given) -> tuple[tuple[tuple[str, float], ...], float]:
    """--object_blur KIND[=WEIGHT],... and --object_probability: the kinds each labelled
    object draws from (() when objects are not blurred) and the share of objects that move.
    The kinds' ranges are the run's own kind options."""
    given = getattr(opts, "object_blur", None)
    probability = getattr(opts, "object_probability", None)
    if given is None:
        if probability is not None:
            raise UsageError("--object_probability is for --object_blur, which is not given")
        return (), 1.0
    if opts.sigmas is not None or opts.corruption is not None:
        ladder = "--sigmas" if opts.sigmas is not None else "--corruption"
        raise UsageError(f"--object_blur cannot be combined with {ladder}: a ladder blurs "
                         "whole frames at fixed levels")  # fmt: skip
    probability = 1.0 if probability is None else float(probability)
    if not 0.0 <= probability <= 1.0:
        raise UsageError(f"--object_probability must lie in [0, 1], got {probability}")
    return weights(given, "--object_blur", OBJECT_KINDS), probability
