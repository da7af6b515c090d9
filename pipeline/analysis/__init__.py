"""Reading a run's log back: one module per command (summary, query, report, preview), the
statistics in `stats`, reading and formatting shared below them, charts in `plots`.

Logs are read through Beam's FileSystems, so a gs:// log reads like a local one. DuckDB and
matplotlib are optional extras: every text answer works without matplotlib, and the message
for a missing extra says what to install. Arrows point one way: the commands use reading,
formatting and stats; `plots` draws what `summary` and `report` computed.
"""

from pipeline.analysis.formatting import OUTPUT_FORMATS, format_table, render
from pipeline.analysis.preview import preview_sheet
from pipeline.analysis.query import query
from pipeline.analysis.reading import read_table
from pipeline.analysis.report import Report, report
from pipeline.analysis.stats import confidence_interval
from pipeline.analysis.summary import summary

__all__ = [
    "OUTPUT_FORMATS",
    "Report",
    "confidence_interval",
    "format_table",
    "preview_sheet",
    "query",
    "read_table",
    "render",
    "report",
    "summary",
]
