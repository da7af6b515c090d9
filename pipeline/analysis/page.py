"""`report --html`: the report as one self-contained HTML file (charts and thumbnails embedded
as data URIs, no script, nothing fetched), to open in any browser or attach to a ticket."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from blur_augment.pipeline.analysis.htmlparts import STYLE, image_tag, interval, number

if TYPE_CHECKING:
    from blur_augment.pipeline.analysis.report import Report


@dataclass(frozen=True)
class Thumbnail:
    """One copy in the gallery: its key, sigma, metric and a small JPEG of the written image."""

    key: str
    output_uri: str
    sigma: float
    value: float
    jpeg: bytes | None  # None: the image could not be read or decoded (the caption says why)
    problem: str = ""


def _parameters(parameters: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><th>{html.escape(name)}</th><td>{html.escape(_compact(value))}</td></tr>"
        for name, value in sorted(parameters.items())
    )
    return f"<table>{rows}</table>" if rows else '<p class="muted">none recorded</p>'


def _compact(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _bins(report: Report) -> str:
    head = (f"<tr><th>bin ({html.escape(report.by)})</th><th>images</th>"
            f"<th>mean {html.escape(report.metric)}</th><th>95% interval</th></tr>")  # fmt: skip
    body = "".join(
        f'<tr class="{"worst" if b.label == report.worst else ""}"><td>{html.escape(b.label)}'
        f'</td><td class="n">{b.count}</td><td class="n">{number(b.mean)}</td>'
        f'<td class="n">{interval(b.ci_low, b.ci_high)}</td></tr>'
        for b in report.bins
    )
    return f"<table>{head}{body}</table>"


def _gallery(title: str, thumbnails: list[Thumbnail], metric: str) -> str:
    if not thumbnails:
        return f'<h3>{html.escape(title)}</h3><p class="muted">no matched images</p>'
    figures = []
    for t in thumbnails:
        picture = (image_tag(t.jpeg, "image/jpeg", t.key) if t.jpeg is not None
                   else f'<p class="muted">{html.escape(t.problem)}</p>')  # fmt: skip
        figures.append(
            f"<figure>{picture}<figcaption>{html.escape(t.key)}<br>sigma {t.sigma:.3g}, "
            f"{html.escape(metric)} {t.value:.4g}</figcaption></figure>"
        )
    return f'<h3>{html.escape(title)}</h3><div class="gallery">{"".join(figures)}</div>'


def report_page(
    report: Report,
    log_dir: str,
    parameters: dict[str, Any],
    histogram_png: bytes,
    chart_png: bytes,
    errors_by_stage: list[tuple[str, int]] | None,
    worst: list[Thumbnail],
    best: list[Thumbnail],
    best_label: str | None,
) -> str:
    """The whole page as one string."""
    if errors_by_stage is None:
        errors = '<p class="muted">no error table beside this log</p>'
    elif not errors_by_stage:
        errors = "<p>no errors</p>"
    else:
        errors = (
            "<table><tr><th>stage</th><th>rows</th></tr>"
            + "".join(
                f'<tr><td>{html.escape(stage)}</td><td class="n">{count}</td></tr>'
                for stage, count in errors_by_stage
            )
            + "</table>"
        )
    direction = "lower" if report.lower_is_better else "higher"
    matched = (f"Joined on <code>{html.escape(report.joined_on)}</code>: {report.matched} of "
               f"{report.results_rows} result rows matched the log; results not in the log: "
               f"{report.results_not_in_log}; log rows without a result: "
               f"{report.log_not_in_results}.")  # fmt: skip
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>blur-augment report: {html.escape(report.metric)} against blur</title>
<style>{STYLE}</style></head>
<body>
<h1>{html.escape(report.metric)} against blur</h1>
<p>Log <code>{html.escape(log_dir)}</code>. {direction.capitalize()} is better; 95% intervals:
{html.escape(report.interval)}. Worst bin: <strong>{html.escape(report.worst or "none")}
</strong>.</p>
<p>{matched}</p>
<div class="charts">
{image_tag(chart_png, "image/png", f"mean {report.metric} against sigma")}
{image_tag(histogram_png, "image/png", "histogram of sigma_x")}
</div>
<h2>Per sigma bin</h2>
{_bins(report)}
<h2>Worst and best bins</h2>
{_gallery(f"worst bin {report.worst or ''}", worst, report.metric)}
{_gallery(f"best bin {best_label or ''}", best, report.metric)}
<h2>Errors by stage</h2>
{errors}
<h2>Run parameters</h2>
{_parameters(parameters)}
</body></html>
"""


def _thumbnails(database: Any, report: Report, label: str | None, worst_first: bool,
                limit: int) -> list[Thumbnail]:  # fmt: skip
    """Up to `limit` copies of a bin, each read through the project's storage layer (gs://
    too) and shrunk; an image that cannot be read is shown as a caption saying why."""
    from blur_augment.pipeline.analysis.preview import thumbnail
    from blur_augment.pipeline.analysis.report import bin_members
    from blur_augment.transforms.io.items import read_items

    members = bin_members(database, report, label, limit, worst_first)
    image_column = (database.metadata or {}).get("image_column") or None
    images = read_items([uri for _, uri, _, _ in members], image_column)
    thumbnails = []
    for key, uri, sigma, value in members:
        try:
            data = images[uri]
            if isinstance(data, Exception):
                raise data
            jpeg, problem = thumbnail(data), ""
        except Exception as error:  # a moved or damaged output: say so in the page
            jpeg, problem = None, f"cannot show {uri}: {error}"
        thumbnails.append(Thumbnail(key, uri, float(sigma), float(value), jpeg, problem))
    return thumbnails


def html_report(
    log_dir: str,
    results_path: str,
    on: str = "key",
    metric: str = "correct",
    bins: int = 10,
    lower_is_better: bool | None = None,
    gallery: int = 8,
    by: str | None = None,
) -> tuple[Report, str]:
    """The report and its self-contained HTML page (matplotlib charts, thumbnails of the worst
    and the best bin)."""
    from blur_augment.pipeline.analysis import plots
    from blur_augment.pipeline.analysis.database import log_database
    from blur_augment.pipeline.analysis.report import report as make_report
    from blur_augment.pipeline.analysis.summary import errors_by_stage, sigma_histogram

    with log_database(log_dir) as database:
        result = make_report(log_dir, results_path, on, metric, bins, lower_is_better, database,
                             by)  # fmt: skip
        counts, edges = sigma_histogram(database, 20)
        unblurred = database.value("SELECT count(*) FROM blur_log WHERE NOT applied")
        best = result.best()
        page = report_page(
            result,
            database.log_dir,
            database.metadata,
            plots.sigma_histogram_png(counts, edges, unblurred),
            plots.report_png(result),
            errors_by_stage(database),
            _thumbnails(database, result, result.worst, True, gallery),
            _thumbnails(database, result, best, False, gallery) if best != result.worst else [],
            best,
        )
    return result, page
