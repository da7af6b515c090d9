"""The Beam layer of sharded datasets: one shard per element (so one worker per shard), blurred
inside and written as one output shard of the same name and layout at OUTPUT/<shard key>.

WebDataset tars: every sample's image members are blurred, every other member is carried byte
for byte, and copies are new samples in the same shard (`KEY_blur{k}`, as loose copies are
named). Parquet files: the image column is blurred, every other column carried, and copies are
new rows after their source row. The log names each image as `SHARD#MEMBER` (tar) or
`SHARD#ROW` (Parquet); its rows are yielded only once the output shard is in place. A sample or
row that fails is an error row and is left out of the output, the rest of its shard is written;
a shard that cannot be read from some point on is written up to there, and its unread rest is an
error row of the shard.
"""

from __future__ import annotations

import tarfile
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.metrics import Metrics
from apache_beam.pvalue import TaggedOutput

from transforms import codec, imaging, jpeg_planes, keys, progress, storage
from transforms.shards import TAR, item_uri, parquet, shard_kind, split_item_uri, webdataset
from transforms.worker import (
    NAMESPACE,
    BlurJob,
    StageError,
    error_row,
    log_row,
    made_copy,
    stage,
    tune_worker_process,
)

PARQUET_BATCH_ROWS = 64  # rows decoded and blurred between writes: bounds a worker's memory


class _Outcome:
    """What a shard gave: log rows and error rows, yielded once the output shard is whole."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []


class BlurShard(beam.DoFn):
    """(shard key, shard path) -> the log rows of every copy written into its output shard, and
    error rows (tagged `errors`) for the samples or rows that failed."""

    ERRORS = "errors"
    images = Metrics.counter(NAMESPACE, "images")
    augmented = Metrics.counter(NAMESPACE, "augmented_images")
    written = Metrics.counter(NAMESPACE, "written")
    failed = Metrics.counter(NAMESPACE, "failed")
    planar = Metrics.counter(NAMESPACE, "planar_jpegs")
    carried = Metrics.counter(NAMESPACE, "carried_members")

    def __init__(self, job: BlurJob) -> None:
        self._job = job
        self._matched: progress.Counter | None = None
        self._done: progress.Counter | None = None

    def setup(self) -> None:
        tune_worker_process()
        self._matched = progress.counter(self._job.progress_dir, progress.MATCHED)
        self._done = progress.counter(self._job.progress_dir, progress.DONE)

    def finish_bundle(self) -> None:
        for counter in (self._matched, self._done):
            if counter:
                counter.flush()

    def process(self, shard: Any) -> Iterator[Any]:
        key, path = shard.key, shard.path
        outcome = _Outcome()
        try:
            with stage("write"):
                keys.check_key(key)
            target = keys.join(self._job.output, key)
            if shard_kind(key) == TAR:
                self._tar(key, path, target, outcome)
            else:
                self._parquet(key, path, target, outcome)
        except StageError as error:
            # the shard could not be opened, or its output not written: nothing of it is in
            # place, so every copy made so far is an error row too
            lost = [error_row(r["key"], r["source_uri"], r["copy_index"], error.stage,
                              error.cause) for r in outcome.rows]  # fmt: skip
            outcome.rows = []
            outcome.errors += lost + self._failed(key, path, error.stage, error.cause)
        self.written.inc(len(outcome.rows))
        self.failed.inc(len(outcome.errors))
        yield from outcome.rows
        for row in outcome.errors:
            yield TaggedOutput(self.ERRORS, row)

    # -- shared -----------------------------------------------------------------------------

    def _failed(self, key: str, uri: str, stage_name: str, cause: BaseException) -> list[dict]:
        """Error rows of one input (an image, a sample without one, a shard's unread rest): one
        per copy, as for a loose image that cannot be read."""
        self.images.inc()
        self.augmented.inc()
        if self._done:
            self._done.add()
        return [error_row(key, uri, c, stage_name, cause) for c in self._job.copy_indices()]

    def _decoded(self, data: bytes | None, out_format: str | None) -> tuple[imaging.Decoded, str]:
        """The image decoded once for all its copies, and the format its copies are written in
        (the member's suffix, else the bytes' own)."""
        job = self._job
        with stage("decode"):
            if data is None:
                raise codec.ImageError("no image in this row (the image cell is null)")
            out_format = out_format or codec.probe(data).format
            decoded = imaging.decode(data, out_format, job.codec_path, job.max_pixels)
        if decoded.codec_path == jpeg_planes.PATH_PLANES:
            self.planar.inc()
        return decoded, out_format

    def _copies_of(
        self, key: str, data: bytes, decoded: imaging.Decoded, out_format: str
    ) -> Iterator[tuple[int, bytes | StageError]]:
        """Each copy index with the copy's bytes, or the StageError that stopped it."""
        for copy_index in self._job.copy_indices():
            try:
                yield copy_index, made_copy(self._job, key, data, decoded, copy_index, out_format)
            except StageError as error:
                yield copy_index, error

    # -- WebDataset --------------------------------------------------------------------------

    def _tar(self, key: str, path: str, target: str, outcome: _Outcome) -> None:
        with stage("read"):
            stream = storage.open_read(path)
        with stream, stage("write"), storage.open_atomic(target) as out:
            writer = webdataset.open_writer(out)
            samples = webdataset.read_samples(stream)
            while True:
                try:
                    with stage("read"):
                        sample = next(samples, None)
                except StageError as error:
                    if not isinstance(error.cause, tarfile.TarError | EOFError):
                        raise  # not damage of the shard: the storage failed
                    damage = ValueError(f"the shard cannot be read past its last whole sample, "
                                        f"which was written: {error.cause}")  # fmt: skip
                    outcome.errors += self._failed(key, path, "read", damage)
                    break
                if sample is None:
                    break
                self._tar_sample(key, path, target, sample, writer, outcome)
            writer.close()

    def _tar_sample(
        self,
        key: str,
        path: str,
        target: str,
        sample: webdataset.Sample,
        writer: tarfile.TarFile,
        outcome: _Outcome,
    ) -> None:
        """Every copy of one sample into the output tar, or its error rows."""
        job = self._job
        if sample.key is None:  # a member of no sample (no dot in its name): carried once
            for member in sample.members:
                webdataset.add_member(writer, member, member.name, member.data)
            self.carried.inc(len(sample.members))
            return
        images = sample.images()
        if self._matched:
            self._matched.add(max(len(images), 1))
        if not images:
            suffixes = ", ".join(m.name[len(sample.key) :] for m in sample.members)
            outcome.errors += self._failed(f"{key}#{sample.key}", item_uri(path, sample.key),
                                           "decode", codec.ImageError(
                f"sample {sample.key} has no image member (its members: {suffixes})"))  # fmt: skip
            return
        made: dict[str, dict[int, bytes | StageError]] = {}  # image member -> copy -> bytes
        props: dict[str, codec.Properties] = {}  # once per image, whatever the copies
        for member in images:
            image_key = f"{key}#{member.name}"
            self.images.inc()
            self.augmented.inc()
            try:
                decoded, out_format = self._decoded(member.data, codec.format_for_path(member.name))
            except StageError as error:
                made[member.name] = dict.fromkeys(job.copy_indices(), error)
                continue
            props[member.name] = codec.properties(decoded)
            made[member.name] = dict(self._copies_of(image_key, member.data, decoded, out_format))
        for copy_index in job.copy_indices():
            problems = {name: copies[copy_index] for name, copies in made.items()
                        if isinstance(copies[copy_index], StageError)}  # fmt: skip
            if problems:
                self._sample_failed(key, path, sample, images, copy_index, problems, outcome)
                continue
            for member in sample.members:
                name = webdataset.copy_name(member.name, copy_index, job.numbered)
                data = made[member.name][copy_index] if member.name in made else member.data
                webdataset.add_member(writer, member, name, data)  # type: ignore[arg-type]
                if member.name in made:
                    outcome.rows.append(log_row(
                        job, f"{key}#{member.name}", item_uri(path, member.name),
                        item_uri(target, name), len(member.data), props[member.name],
                        copy_index, data, [],
                    ))  # type: ignore[arg-type]  # fmt: skip
        if self._done:
            self._done.add(len(images))

    def _sample_failed(
        self,
        key: str,
        path: str,
        sample: webdataset.Sample,
        images: list[webdataset.Member],
        copy_index: int,
        problems: dict[str, StageError],
        outcome: _Outcome,
    ) -> None:
        """A copy of a sample that cannot be made whole is left out: an error row for each of
        its images (the others say which image failed), so no copy lacks one of its images."""
        first_name, first = next(iter(problems.items()))
        other = codec.ImageError(
            f"another image of sample {sample.key} failed ({first_name}: {first.cause})"
        )
        for member in images:
            error = problems.get(member.name) or StageError(first.stage, other)
            image_key, uri = f"{key}#{member.name}", item_uri(path, member.name)
            outcome.errors.append(error_row(image_key, uri, copy_index, error.stage, error.cause))

    # -- Parquet -----------------------------------------------------------------------------

    def _parquet(self, key: str, path: str, target: str, outcome: _Outcome) -> None:
        job = self._job
        with stage("read"):
            stream = storage.open_read(path)
            source = pq.ParquetFile(stream)
            schema = source.schema_arrow
            column = parquet.image_column(schema, job.image_column or None)
        total = source.metadata.num_rows
        row = written_rows = 0
        with stream, stage("write"), storage.open_atomic(target) as out:
            writer = pq.ParquetWriter(out, schema)
            batches = source.iter_batches(batch_size=PARQUET_BATCH_ROWS)
            while True:
                try:
                    with stage("read"):
                        batch = next(batches, None)
                except StageError as error:  # (a transient failure is raised, not wrapped)
                    for unread in range(row, total):
                        outcome.errors += self._failed(f"{key}#{unread}", item_uri(path, unread),
                                                       "read", error.cause)  # fmt: skip
                    break
                if batch is None:
                    break
                table = pa.Table.from_batches([batch], schema=schema)
                taken, cells = self._parquet_batch(key, path, target, table, column, row,
                                                   written_rows, outcome)  # fmt: skip
                if taken:
                    writer.write_table(parquet.copied_rows(table, column, taken, cells))
                row += table.num_rows
                written_rows += len(taken)
            writer.close()

    def _parquet_batch(
        self,
        key: str,
        path: str,
        target: str,
        table: pa.Table,
        column: str,
        first_row: int,
        first_output_row: int,
        outcome: _Outcome,
    ) -> tuple[list[int], list[Any]]:
        """The copies of a batch of rows: which input row each output row takes its other
        columns from, and its image cell."""
        job = self._job
        taken: list[int] = []
        cells: list[Any] = []
        values = table.column(column).to_pylist()
        if self._matched:
            self._matched.add(len(values))
        for offset, value in enumerate(values):
            row = first_row + offset
            row_key, row_uri = f"{key}#{row}", item_uri(path, row)
            data, image_path = parquet.image_of(value)
            try:
                decoded, fmt = self._decoded(data, codec.format_for_path(image_path or ""))
            except StageError as error:
                outcome.errors += self._failed(row_key, row_uri, error.stage, error.cause)
                continue
            assert data is not None
            self.images.inc()
            self.augmented.inc()
            props = codec.properties(decoded)
            for copy_index, made in self._copies_of(row_key, data, decoded, fmt):
                if isinstance(made, StageError):
                    outcome.errors.append(error_row(row_key, row_uri, copy_index, made.stage,
                                                    made.cause))  # fmt: skip
                    continue
                output_row = first_output_row + len(taken)
                taken.append(offset)
                cells.append(parquet.copied_value(value, made, copy_index, job.numbered))
                outcome.rows.append(log_row(
                    job, row_key, row_uri, item_uri(target, output_row), len(data), props,
                    copy_index, made, [], image_format=fmt,
                ))  # fmt: skip
            if self._done:
                self._done.add()
        return taken, cells


def read_items(uris: list[str], image_column: str | None = None) -> dict[str, bytes | Exception]:
    """The bytes of images by the URIs the log names them by: files, members of tar shards
    (`SHARD.tar#NAME`) and image cells of Parquet rows (`SHARD.parquet#ROW`); each shard is
    opened once for all its items. An item that cannot be read maps to the exception why."""
    found: dict[str, bytes | Exception] = {}
    by_shard: dict[str, dict[str, str]] = {}
    for uri in uris:
        parts = split_item_uri(uri)
        if parts is None:
            try:
                found[uri] = storage.read_bytes(uri)
            except Exception as error:
                found[uri] = error
        else:
            by_shard.setdefault(parts[0], {})[parts[1]] = uri
    for shard, items in by_shard.items():
        try:
            with storage.open_read(shard) as stream:
                if shard_kind(shard) == TAR:
                    data: dict[Any, bytes | None] = dict(
                        webdataset.find_members(stream, set(items))
                    )
                    cells = {name: data.get(name) for name in items}
                else:
                    source = pq.ParquetFile(stream)
                    column = parquet.image_column(source.schema_arrow, image_column)
                    data = parquet.image_cells(source, {int(i) for i in items}, column)
                    cells = {item: data.get(int(item)) for item in items}
        except Exception as error:
            cells = {item: error for item in items}  # type: ignore[misc]
        for item, uri in items.items():
            value = cells[item]
            found[uri] = value if value is not None else LookupError(f"{item} is not in {shard}")
    return found
