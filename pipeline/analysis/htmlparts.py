"""The HTML helpers the pages share (`report --html`, `evaluate --html`): one stylesheet,
images inlined as data URIs, numbers and intervals as the tables show them."""

from __future__ import annotations

import base64
import html
from typing import Any

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222;
       padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 2em; }
table { border-collapse: collapse; margin: .5em 0; }
th, td { padding: .25em .7em; border-bottom: 1px solid #ddd; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
tr.worst td { background: #fbf3d5; }
.charts img { max-width: 100%; margin: .5em 0; }
.gallery { display: flex; flex-wrap: wrap; gap: .8em; }
.gallery figure { margin: 0; width: 180px; font-size: 12px; }
.gallery img { width: 180px; height: auto; display: block; background: #eee; }
.gallery figcaption { word-break: break-all; }
.muted { color: #777; }
"""


def image_tag(data: bytes, mime: str, alt: str) -> str:
    encoded = base64.b64encode(data).decode()
    return f'<img src="data:{mime};base64,{encoded}" alt="{html.escape(alt)}">'


def number(value: Any) -> str:
    if value is None:
        return "&ndash;"
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def interval(low: float | None, high: float | None) -> str:
    if low is None or high is None or low != low:  # no images, or one (no spread to measure)
        return "&ndash;"
    return f"{number(low)} &ndash; {number(high)}"
