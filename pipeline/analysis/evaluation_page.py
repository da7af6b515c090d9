"""`evaluate --html`: the evaluation as one self-contained page, like `report --html`: the chart,
the table per level, the per-class drops, and thumbnails of the worst level with the ground
truth (green) and the predictions (orange, score 0.3 and above) drawn on them."""

from __future__ import annotations

import html
from typing import Any

import numpy as np

from blur_augment.pipeline.analysis.cocometrics import METRICS
from blur_augment.pipeline.analysis.htmlparts import STYLE, image_tag
from blur_augment.pipeline.analysis.levels import accounting_lines

GALLERY = 8
SHOWN_SCORE = 0.3


def _row_cells(row: Any) -> str:
    cells = []
    for name in METRICS:
        value = row.metrics.get(name, -1.0)
        low, high = row.intervals.get(name, (None, None))
        text = "-" if value is None or value < 0 else f"{value:.3f}"
        if low is not None and text != "-":
            text += f' <span class="muted">[{low:.3f}, {high:.3f}]</span>'
        cells.append(f'<td class="n">{text}</td>')
    return "".join(cells)


def _table(evaluation: Any) -> str:
    worst = evaluation.worst
    shown = ([evaluation.clean] if evaluation.clean else []) + evaluation.rows
    objects = bool(shown) and shown[0].objects is not None  # evaluate --objects
    counted = "objects" if objects else "images"
    head = f"<tr><th>level</th><th>{counted}</th>" + "".join(
        f"<th>{m}</th>" for m in METRICS) + "</tr>"  # fmt: skip
    body = "".join(
        f'<tr class="{"worst" if r is worst else ""}"><td>{html.escape(r.level.label)}</td>'
        f'<td class="n">{r.objects if objects else r.images}</td>{_row_cells(r)}</tr>'
        for r in shown
    )
    return f"<table>{head}{body}</table>"


def _drops(evaluation: Any) -> str:
    drops = evaluation.per_class_drops()
    if not drops:
        return '<p class="muted">no clean row to compare with</p>'
    head = ("<tr><th>class</th><th>clean AP</th><th>drop</th>"
            + "".join(f"<th>{html.escape(r.level.label)}</th>" for r in evaluation.rows)
            + "</tr>")  # fmt: skip
    body = "".join(
        f'<tr><td>{html.escape(name)}</td><td class="n">{clean:.3f}</td>'
        f'<td class="n">{drop:+.3f}</td>'
        + "".join(f'<td class="n">{v:.3f}</td>' if v == v else "<td>-</td>" for v in values)
        + "</tr>"
        for name, drop, clean, values in drops
    )
    return f"<table>{head}{body}</table>"


def _boxed(image: dict[str, Any], truth: list[dict], found: list[dict], uri: str) -> bytes:
    """A thumbnail of one copy with its boxes drawn (ground truth green, predictions orange)."""
    import cv2

    from blur_augment.pipeline.analysis.preview import displayable
    from blur_augment.transforms import codec
    from blur_augment.transforms.io import storage

    pixels = np.ascontiguousarray(displayable(codec.decode(storage.read_bytes(uri)).pixels))
    for boxes, colour in ((truth, (80, 180, 60)), (found, (40, 140, 240))):
        for box in boxes:
            x, y, w, h = (round(v) for v in box["bbox"])
            cv2.rectangle(pixels, (x, y), (x + w, y + h), colour, max(1, pixels.shape[1] // 300))
    scale = min(1.0, 240 / pixels.shape[1])
    size = (max(1, round(pixels.shape[1] * scale)), max(1, round(pixels.shape[0] * scale)))
    return codec.encode(cv2.resize(pixels, size, interpolation=cv2.INTER_AREA), "jpeg", 85)


def _gallery(evaluation: Any, found: Any) -> str:
    worst = evaluation.worst
    if worst is None or found is None:
        return '<p class="muted">no level to show</p>'
    output = ""
    figures = []
    truth = evaluation.truth
    for copy in worst.level.copies[:GALLERY]:
        image_id = truth.id_of.get(copy.relative)
        image = next((i for i in truth.images if i["id"] == image_id), None)
        if image is None:
            continue
        boxes = [a for a in truth.annotations if a["image_id"] == image_id]
        predicted = [d for d in found.of({image_id}) if d["score"] >= SHOWN_SCORE]
        uri = evaluation.output_root.rstrip("/") + "/" + copy.relative
        try:
            picture = image_tag(_boxed(image, boxes, predicted, uri), "image/jpeg", copy.relative)
        except Exception as error:
            picture = f'<p class="muted">{html.escape(str(error)[:200])}</p>'
        figures.append(f"<figure>{picture}<figcaption>{html.escape(copy.relative)}<br>"
                       f"sigma {copy.sigma:.3g}; {len(boxes)} boxes, {len(predicted)} "
                       "predictions shown</figcaption></figure>")  # fmt: skip
    output = "".join(figures) or '<p class="muted">no image of the level could be shown</p>'
    return f'<div class="gallery">{output}</div>'


def page(evaluation: Any) -> str:
    """The whole page as one string."""
    mpc, rpc, worst = evaluation.mpc, evaluation.rpc, evaluation.worst
    summary = []
    if mpc is not None:
        summary.append(f"mPC {mpc:.4f}")
    if rpc is not None:
        summary.append(f"rPC {rpc:.1%}")
    if worst is not None:
        summary.append(f"worst level <strong>{html.escape(worst.level.label)}</strong> "
                       f"(AP {worst.metrics['AP']:.4f})")  # fmt: skip
    notes = "".join(f"<p class=\"muted\">{html.escape(line)}</p>"
                    for line in accounting_lines(evaluation.accounting))  # fmt: skip
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>blur-augment evaluation: AP against blur</title>
<style>{STYLE}</style></head>
<body>
<h1>{html.escape(evaluation.iou_type)} AP against blur</h1>
<p>Log <code>{html.escape(evaluation.log_dir)}</code>. {"; ".join(summary)}.</p>
{notes}
<div class="charts">{image_tag(evaluation.chart_png(), "image/png", "AP against sigma")}</div>
<h2>Per level</h2>
{_table(evaluation)}
<h2>Per class: the drop from clean</h2>
{_drops(evaluation)}
<h2>The worst level</h2>
<p>Ground truth in green, predictions (score {SHOWN_SCORE} and above) in orange.</p>
{_gallery(evaluation, evaluation.detections)}
</body></html>
"""


def mask_page(evaluation: Any) -> str:
    """The page of a mask evaluation: the chart and the table."""
    rows = ([evaluation.clean] if evaluation.clean else []) + evaluation.rows
    body = "".join(
        f'<tr><td>{html.escape(r.label)}</td><td class="n">{r.images}</td>'
        f'<td class="n">{r.metrics["mIoU"]:.4f}</td>'
        f'<td class="n">{r.metrics["pixel_accuracy"]:.4f}</td></tr>'
        for r in rows
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>blur-augment evaluation: mIoU</title>
<style>{STYLE}</style></head><body>
<h1>Mean IoU against blur</h1>
<p>Log <code>{html.escape(evaluation.log_dir)}</code>.</p>
<div class="charts">{image_tag(evaluation.chart_png(), "image/png", "mIoU against sigma")}</div>
<table><tr><th>level</th><th>images</th><th>mIoU</th><th>pixel accuracy</th></tr>{body}</table>
</body></html>
"""
