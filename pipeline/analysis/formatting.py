"""Tables as text, CSV, JSON or Parquet: how `query` and `report` print their answers."""

from __future__ import annotations

import io
import json

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from blur_augment.pipeline.usage import OUTPUT_FORMATS, UsageError


def format_table(table: pa.Table, max_rows: int = 200) -> str:
    """An aligned text table of the first `max_rows` rows."""
    names = table.column_names
    if not names:
        return "(no result)"
    rows = [[_cell(v) for v in row.values()] for row in table.slice(0, max_rows).to_pylist()]
    widths = [max([len(n)] + [len(r[i]) for r in rows]) for i, n in enumerate(names)]
    numeric = [pa.types.is_integer(t) or pa.types.is_floating(t) for t in table.schema.types]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if num else c.ljust(w)
            for c, w, num in zip(cells, widths, numeric, strict=True)
        ).rstrip()

    out = [line(names), line(["-" * w for w in widths]), *(line(r) for r in rows)]
    if table.num_rows > max_rows:
        out.append(f"... {table.num_rows - max_rows} more rows (use --format csv --out FILE)")
    out.append(f"({table.num_rows} row{'s' if table.num_rows != 1 else ''})")
    return "\n".join(out)


def _cell(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def render(table: pa.Table, fmt: str) -> bytes:
    """The table as bytes in one of OUTPUT_FORMATS."""
    if fmt == "table":
        return (format_table(table) + "\n").encode()
    sink = io.BytesIO()
    if fmt == "csv":
        pacsv.write_csv(table, sink)
    elif fmt == "json":
        sink.write(json.dumps(table.to_pylist(), default=str, indent=1).encode() + b"\n")
    elif fmt == "parquet":
        pq.write_table(table, sink)
    else:
        raise UsageError(f"--format must be one of {', '.join(OUTPUT_FORMATS)}, got {fmt!r}")
    return sink.getvalue()


def csv_text(rows: list[dict]) -> str:
    """Rows as CSV with a header of every key any row has (in first-seen order): levels of
    different kinds have different range columns."""
    import csv

    names = list(dict.fromkeys(name for row in rows for name in row)) or ["level"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=names)
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()
