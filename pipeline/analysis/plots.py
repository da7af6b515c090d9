"""Charts as PNG bytes, with matplotlib (the `plot` extra), imported only when a chart is asked."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import numpy as np

from blur_augment.pipeline.usage import UsageError
from blur_augment.transforms.sampling import PARAMETERS

if TYPE_CHECKING:
    from blur_augment.pipeline.analysis.report import Report


def _pyplot():
    try:
        import matplotlib
    except ImportError as error:
        raise UsageError(
            "plots need matplotlib: pip install 'blur-augment[plot]' (or pip install matplotlib)"
        ) from error
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    figure.clf()
    return buffer.getvalue()


def sigma_histogram_png(counts: np.ndarray, edges: np.ndarray, unblurred: int) -> bytes:
    """Histogram of the blurred images' sigma_x, from its bin counts and edges (as DuckDB
    counted them); the unblurred count in the title."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7, 4))
    if counts.size:
        axes.stairs(counts, edges, fill=True, color="#4477aa", edgecolor="white")
    axes.set_xlabel("sigma_x (pixels)")
    axes.set_ylabel("images")
    axes.yaxis.get_major_locator().set_params(integer=True)
    axes.set_title(f"Blur log: {int(counts.sum())} blurred, {unblurred} unblurred")
    axes.grid(axis="y", alpha=0.3)
    data = _png(figure)
    plt.close(figure)
    return data


def _error_bars(bins: list) -> np.ndarray:
    """Lengths below and above each bin's mean of its interval: never negative (a bin whose
    0/1 metric is all 0 or all 1 has an interval that ends at its mean), 0 where there is no
    interval (one value)."""
    means = np.array([b.mean for b in bins], dtype=float)
    low = np.array([b.ci_low if b.ci_low is not None else np.nan for b in bins], dtype=float)
    high = np.array([b.ci_high if b.ci_high is not None else np.nan for b in bins], dtype=float)
    below = np.nan_to_num(means - low, nan=0.0)
    above = np.nan_to_num(high - means, nan=0.0)
    return np.maximum(np.vstack([below, above]), 0.0)


_UNITS = {"sigma_x": "sigma_x (pixels)", "sigma_y": "sigma_y (pixels)", "severity": "severity",
          **{name: p.label for name, p in PARAMETERS.items()}}  # fmt: skip


def _panels(plt, groups: dict):
    """A figure with one panel per group (a kind of a mixed run; one panel otherwise)."""
    count = max(len(groups), 1)
    figure, axes = plt.subplots(1, count, figsize=(8 if count == 1 else 4.5 * count, 4.5),
                                squeeze=False)  # fmt: skip
    return figure, list(axes[0])


def _grouped(items: list, level_of) -> dict:
    """Items by their level's kind (None when the run has one), in the levels' order."""
    groups: dict = {}
    for item in items:
        level = level_of(item)
        groups.setdefault(level.kind if level is not None else None, []).append(item)
    return groups


def _x_label(level) -> str:
    column = level.column if level is not None else "sigma_x"
    return _UNITS.get(column, column)


def report_png(report: Report) -> bytes:
    """Mean metric against each level's parameter (a panel per kind of a mixed run), with the
    95% intervals; unblurred images at 0."""
    plt = _pyplot()
    blurred = [b for b in report.bins if b.label != "unblurred" and b.mean is not None]
    groups = _grouped(blurred, lambda b: b.level) or {None: []}
    figure, panels = _panels(plt, groups)
    unblurred = report.bins[0]
    worst = next((b for b in report.bins if b.label == report.worst), None)
    for axes, (kind, members) in zip(panels, groups.items(), strict=True):
        if members:
            centres = np.array([(b.low + b.high) / 2 for b in members])
            means = np.array([b.mean for b in members])
            axes.errorbar(centres, means, yerr=_error_bars(members), fmt="o-", capsize=4,
                          color="#4477aa", label="blurred (level centre)")  # fmt: skip
            for b, x in zip(members, centres, strict=True):
                axes.annotate(f"n={b.count}", (x, b.mean), textcoords="offset points",
                              xytext=(0, 8), ha="center", fontsize=8)  # fmt: skip
        if unblurred.mean is not None:
            axes.errorbar([0.0], [unblurred.mean], yerr=_error_bars([unblurred]), fmt="s",
                          color="#cc6677", capsize=4,
                          label=f"unblurred (n={unblurred.count})")  # fmt: skip
        if worst is not None and worst in members:
            axes.axvspan(worst.low, worst.high, color="#ddcc77", alpha=0.3, label="worst bin")
        axes.set_xlabel(_x_label(members[0].level if members else None))
        axes.set_ylabel(f"mean {report.metric} (95% interval)")
        axes.set_title(kind or f"{report.metric} against blur ({report.matched} images)")
        axes.grid(alpha=0.3)
        axes.legend(loc="best", fontsize=8)
    if len(panels) > 1:
        figure.suptitle(f"{report.metric} against blur ({report.matched} images)")
    data = _png(figure)
    plt.close(figure)
    return data


def _level_chart(rows: list, name: str, clean: float | None, title: str,
                 intervals: bool = True) -> bytes:  # fmt: skip
    """A metric against each level's parameter (level centres; a panel per kind of a mixed
    run), with 95% intervals where there are some, and the clean value as a line."""
    plt = _pyplot()
    shown = [r for r in rows if r.images]
    groups = _grouped(shown, lambda r: r.level) or {None: []}
    figure, panels = _panels(plt, groups)
    for axes, (kind, members) in zip(panels, groups.items(), strict=True):
        if members:
            _draw_levels(axes, members, name, intervals)
        if clean is not None:
            axes.axhline(clean, color="#cc6677", linestyle="--",
                         label=f"clean {name} {clean:.3f}")  # fmt: skip
        axes.set_xlabel(_x_label(members[0].level if members else None))
        axes.set_ylabel(name)
        axes.set_title(kind or title)
        axes.grid(alpha=0.3)
        axes.legend(loc="best", fontsize=8)
    if len(panels) > 1:
        figure.suptitle(title)
    data = _png(figure)
    plt.close(figure)
    return data


def _draw_levels(axes, members: list, name: str, intervals: bool) -> None:
    centres = np.array([(r.level.low + r.level.high) / 2 for r in members])
    values = np.array([r.metric(name) for r in members])
    bounds = [r.interval(name) for r in members] if intervals else []
    if bounds and all(b is not None for b in bounds):
        below = np.maximum(values - np.array([b[0] for b in bounds]), 0.0)
        above = np.maximum(np.array([b[1] for b in bounds]) - values, 0.0)
        axes.errorbar(centres, values, yerr=[below, above], fmt="o-", capsize=4,
                      color="#4477aa", label=f"{name} (95% interval)")  # fmt: skip
    else:
        axes.plot(centres, values, "o-", color="#4477aa", label=name)
    for row, x, y in zip(members, centres, values, strict=True):
        axes.annotate(f"n={row.images}", (x, y), textcoords="offset points", xytext=(0, 8),
                      ha="center", fontsize=8)  # fmt: skip


class _Point:
    """A level as the chart reads it."""

    def __init__(self, level, images: int, metrics: dict, intervals: dict):
        self.level, self.images = level, images
        self._metrics, self._intervals = metrics, intervals

    def metric(self, name: str) -> float:
        return self._metrics[name]

    def interval(self, name: str) -> tuple[float, float] | None:
        return self._intervals.get(name)


def evaluation_png(evaluation) -> bytes:
    """AP against each level's parameter, with the intervals and the clean AP."""
    rows = [_Point(r.level.bound, r.images if r.objects is None else r.objects, r.metrics,
                   r.intervals) for r in evaluation.rows]  # fmt: skip
    clean = evaluation.clean.metrics["AP"] if evaluation.clean else None
    rpc = evaluation.rpc
    objects = bool(evaluation.rows) and evaluation.rows[0].objects is not None
    title = ("AP against each object's blur (n: objects)" if objects else "AP against blur") + (
        f" (mPC {evaluation.mpc:.3f}, rPC {rpc:.1%})" if rpc else "")  # fmt: skip
    return _level_chart(rows, "AP", clean, title, intervals=bool(evaluation.bootstrap))


def mask_evaluation_png(evaluation) -> bytes:
    """mIoU against each level's parameter, with the clean mIoU."""
    rows = [_Point(r.level.bound, r.images, r.metrics, {}) for r in evaluation.rows]
    clean = evaluation.clean.metrics["mIoU"] if evaluation.clean else None
    return _level_chart(rows, "mIoU", clean, "mean IoU against blur", intervals=False)
