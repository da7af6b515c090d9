"""Reading a run's log back: one module per command (summary, query, report and its HTML page,
preview), the statistics in `stats`, DuckDB views over the files in `database`, reading and
formatting shared below them, charts in `plots`.

DuckDB reads the log's Parquet shards (and a results file) where they lie, local or gs://, in
bounded memory. DuckDB and matplotlib are optional extras; the message for a missing extra says
what to install. Arrows point one way: `page` uses `report` and `summary`, which use
`database`, `reading`, `formatting` and `stats`; `plots` draws what they computed.
"""

from blur_augment.pipeline.analysis.formatting import OUTPUT_FORMATS, format_table, render
from blur_augment.pipeline.analysis.page import html_report
from blur_augment.pipeline.analysis.preview import Sheet, preview_sheet
from blur_augment.pipeline.analysis.query import query
from blur_augment.pipeline.analysis.reading import read_table
from blur_augment.pipeline.analysis.report import Report, report
from blur_augment.pipeline.analysis.stats import confidence_interval
from blur_augment.pipeline.analysis.summary import summary

__all__ = [
    "OUTPUT_FORMATS",
    "Report",
    "Sheet",
    "confidence_interval",
    "format_table",
    "html_report",
    "preview_sheet",
    "query",
    "read_table",
    "render",
    "report",
    "summary",
]
