"""--input_manifest: the files to blur, named by a manifest instead of a listing.

A text file (one URI per line), a CSV or a Parquet file (a column named `uri`, or
--manifest_column), or a GCS Storage Insights inventory report (CSV or Parquet shards with
`bucket` and `name` columns), read with Beam's splittable sources so that workers share a
manifest of tens of millions of lines and no process lists the bucket. A path may be a glob
(inventory shards). Blank lines and lines starting with '#' in a text manifest are skipped.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator

import apache_beam as beam

from blur_augment.transforms.io import storage
from blur_augment.transforms.manifests import DEFAULT_COLUMN, kind_of, uri_of


class _CsvLines(beam.DoFn):
    """CSV lines (with the name of their file) -> URIs. Each file's header, its first line, is
    read once per worker, so that any split of a file can be parsed on its own."""

    def __init__(self, column: str) -> None:
        self._column = column
        self._headers: dict[str, list[str]] = {}

    def process(self, element: tuple[str, str]) -> Iterator[str]:
        filename, line = element
        header = self._headers.get(filename)
        if header is None:
            with storage.open_read(filename) as f:
                first = f.readline().decode("utf-8-sig").rstrip("\r\n")
            header = self._headers[filename] = next(csv.reader([first]))
        fields = next(csv.reader([line.lstrip("\ufeff")]), [])
        if not fields or fields == header:
            return
        uri = uri_of(dict(zip(header, fields, strict=False)), self._column)
        if uri:
            yield uri


class ReadManifest(beam.PTransform):
    """The manifest's URIs, one element per line or row, in no particular order. Nothing is
    read while the graph is built (the launcher checks that the manifest exists)."""

    def __init__(self, path: str, column: str = DEFAULT_COLUMN) -> None:
        super().__init__()
        self._path = path
        self._column = column

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        kind = kind_of(self._path)
        column = self._column
        if kind == "parquet":
            return (
                pbegin
                | "ReadManifestParquet" >> beam.io.ReadFromParquet(self._path, validate=False)
                | "ManifestRowUris" >> beam.Map(uri_of, column)
                | "DropEmptyUris" >> beam.Filter(bool)
            )
        if kind == "csv":
            return (
                pbegin
                | "ReadManifestCsv" >> beam.io.ReadFromTextWithFilename(self._path, validate=False)
                | "ManifestCsvUris" >> beam.ParDo(_CsvLines(column))
            )
        return (
            pbegin
            | "ReadManifestText" >> beam.io.ReadFromText(self._path, validate=False)
            | "ManifestLines" >> beam.Map(str.strip)
            | "DropBlankLines" >> beam.Filter(lambda line: bool(line) and not line.startswith("#"))
        )
