"""What `evaluate` reads of the log (a Copy per written image) and counts of what it could not
match (Accounting): shared by detection, segmentation and levels."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Copy:
    """One row of the log: a written image, where it is relative to --output, its size, and
    the blur it got."""

    relative: str
    copy_index: int
    applied: bool
    sigma: float
    width: int
    height: int
    label_uris: tuple[str, ...]
    kind: str = "gaussian"
    values: tuple[tuple[str, float], ...] = ()  # the log columns its level is chosen by

    def value(self, column: str) -> float:
        return dict(self.values).get(column, self.sigma if column == "sigma_x" else 0.0)


@dataclass
class Accounting:
    """What could not be matched, counted for the summary."""

    no_image: int = 0  # predictions naming no image of the log
    unknown_category: int = 0
    outside_image: int = 0  # boxes reaching outside their image (kept, as COCOeval keeps them)
    without_file: int = 0  # copies with no prediction file in a folder of them
    without_predictions: int = 0  # copies with no prediction at all (no detections)
    examples: dict[str, str] = field(default_factory=dict)

    def note(self, what: str, example: str) -> None:
        self.examples.setdefault(what, example)
