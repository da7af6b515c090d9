"""The shard step: one shard per element (so one worker per shard), blurred
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

import contextlib
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.pvalue import TaggedOutput

from blur_augment.transforms import codec, keys
from blur_augment.transforms.beam.counters import COUNTERS
from blur_augment.transforms.copies import ImageCopies, log_row, make_copies
from blur_augment.transforms.errors import StageError, error_row
from blur_augment.transforms.io import progress, storage
from blur_augment.transforms.io.failures import stage
from blur_augment.transforms.job import BlurJob
from blur_augment.transforms.shards import TAR, item_uri, parquet, shard_kind, webdataset
from blur_augment.transforms.tuning import tune_worker_process

PARQUET_BATCH_ROWS = 64  # rows decoded and blurred between writes: bounds a worker's memory


class _Outcome:
    """What a shard gave: log rows and error rows, yielded once the output shard is whole, and
    its counts, added to Beam's counters only then (a shard read twice counts once)."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []
        self.images = 0  # image inputs (and inputs that should hold one)
        self.carried = 0
        self.planar = 0


class _Clash(StageError):
    """Names that a pass over a tar found taken twice: the shard is read again with them
    refused, so that nothing is overwritten or duplicated in the output. (A StageError, so
    that `stage` lets it pass and the half-written output is discarded.)"""

    def __init__(self, names: dict[str, str]) -> None:
        super().__init__("write", ValueError(f"{len(names)} sample names taken twice"))
        self.names = names


class BlurShard(beam.DoFn):
    """(shard key, shard path) -> the log rows of every copy written into its output shard, and
    error rows (tagged `errors`) for the samples or rows that failed."""

    ERRORS = "errors"

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
                outcome = self._tar_whole(key, path, target)
            else:
                self._parquet(key, path, target, outcome)
        except StageError as error:
            # the shard could not be opened, or its output not written: nothing of it is in
            # place, so every copy made so far is an error row too
            lost = [error_row(r["key"], r["source_uri"], r["copy_index"], error.stage,
                              error.cause) for r in outcome.rows]  # fmt: skip
            outcome.rows = []
            outcome.errors += lost + self._failed(key, path, error.stage, error.cause, outcome)
        COUNTERS.images.inc(outcome.images)
        COUNTERS.augmented_images.inc(outcome.images)
        COUNTERS.carried_members.inc(outcome.carried)
        COUNTERS.planar_jpegs.inc(outcome.planar)
        COUNTERS.written.inc(len(outcome.rows))
        COUNTERS.failed.inc(len(outcome.errors))
        if self._matched:
            self._matched.add(outcome.images)
        if self._done:
            self._done.add(outcome.images)
        yield from outcome.rows
        for row in outcome.errors:
            yield TaggedOutput(self.ERRORS, row)

    # -- shared -----------------------------------------------------------------------------

    def _failed(
        self, key: str, uri: str, stage_name: str, cause: BaseException, outcome: _Outcome
    ) -> list[dict]:
        """Error rows of one input (an image, a sample without one, a shard's unread rest): one
        per copy, as for a loose image that cannot be read."""
        outcome.images += 1
        return [error_row(key, uri, c, stage_name, cause) for c in self._job.copy_indices()]

    # -- WebDataset --------------------------------------------------------------------------

    def _tar_whole(self, key: str, path: str, target: str) -> _Outcome:
        """The tar written once; again, with the clashing names refused, in the rare case that
        a copy's name is another sample's or a sample key comes twice (both known only once
        the whole shard has been read)."""
        outcome = _Outcome()
        try:
            self._tar(key, path, target, outcome, {})
        except _Clash as clash:
            outcome = _Outcome()
            self._tar(key, path, target, outcome, clash.names)
        return outcome

    def _tar(
        self, key: str, path: str, target: str, outcome: _Outcome, refused: dict[str, str]
    ) -> None:
        with stage("read"):
            stream = storage.open_read(path)
        with stream, stage("write"), storage.open_atomic(target) as out:
            tar = _TarOutput(key, path, target, webdataset.open_writer(out), outcome,
                             _SampleNames(self._job, refused))  # fmt: skip
            try:
                self._tar_samples(tar, stream)
                clashes = tar.names.clashes()
                if clashes.keys() - refused.keys():
                    raise _Clash({**refused, **clashes})  # the temporary output is discarded
            finally:
                with contextlib.suppress(Exception):  # (also on failure: no noise at exit)
                    tar.writer.close()

    def _tar_samples(self, tar: _TarOutput, stream: Any) -> None:
        """Every sample of the shard into the writer, until its end or its damage."""
        samples = webdataset.read_samples(stream, self._job.max_bytes)
        while True:
            try:
                with stage("read"):
                    sample = next(samples, None)
            except StageError as error:
                if not isinstance(error.cause, webdataset.ShardDamage):
                    raise  # not damage of the shard: the storage failed
                self._damaged(tar, error.cause)
                return
            if sample is None:
                return
            if sample.key is None:
                self._carried(tar, sample)
            else:
                self._tar_sample(tar, sample)

    def _fail(self, tar: _TarOutput, name: str, stage_name: str, cause: BaseException) -> None:
        """Error rows (one per copy) for the item `name` of the shard."""
        item_key, uri = tar.item(name)
        tar.outcome.errors += self._failed(item_key, uri, stage_name, cause, tar.outcome)

    def _damaged(self, tar: _TarOutput, damage: webdataset.ShardDamage) -> None:
        """Error rows for the sample the damage cut through and for the shard's unread rest."""
        partial = damage.partial
        if partial is not None and partial.key is not None:
            read = ", ".join(m.name for m in partial.members if not m.refused) or "none"
            why = codec.ImageError(f"sample {partial.key} is not written: the shard is damaged "
                                   f"within it, so it may lack members (members read: {read}; "
                                   f"{damage.cause})")  # fmt: skip
            for member in partial.images() or partial.members[-1:]:
                self._fail(tar, member.name, "read", why)
        written = "every sample before it was written" if damage.after else "nothing was written"
        rest = ValueError(f"{damage}; {written}, and nothing after it")
        tar.outcome.errors += self._failed(tar.key, tar.path, "read", rest, tar.outcome)

    def _carried(self, tar: _TarOutput, sample: webdataset.Sample) -> None:
        """A member of no sample (no dot in its name): carried once, as it is."""
        for member in sample.members:
            if member.refused:
                self._fail(tar, member.name, "read", _refused(member))
            else:
                webdataset.add_member(tar.writer, member, member.name, member.data)
                tar.outcome.carried += 1

    def _tar_sample(self, tar: _TarOutput, sample: webdataset.Sample) -> None:
        """Every copy of one sample into the output tar, or its error rows."""
        assert sample.key is not None
        images = sample.images()
        clash = tar.names.problem(sample.key)
        problem = clash or _sample_problem(sample, images)
        if problem is not None:
            failing = [m.name for m in images or sample.refused()] or [sample.key]
            stage_name = "write" if clash else "read" if sample.refused() else "decode"
            for name in failing:
                self._fail(tar, name, stage_name, problem)
            return
        made: dict[str, dict[int, bytes | StageError]] = {}  # image member -> copy -> bytes
        decoded: dict[str, ImageCopies] = {}  # properties and draws, once per image
        for member in images:
            tar.outcome.images += 1
            copies = make_copies(self._job, tar.item(member.name)[0], member.data,
                                 codec.format_for_path(member.name))  # fmt: skip
            tar.outcome.planar += copies.planar
            if copies.properties is not None:
                decoded[member.name] = copies
            made[member.name] = dict(copies.each(self._job.copy_indices()))
        for copy_index in self._job.copy_indices():
            problems = {name: copies[copy_index] for name, copies in made.items()
                        if isinstance(copies[copy_index], StageError)}  # fmt: skip
            clash = tar.names.copy_problem(sample.key, copy_index)
            if clash is not None:
                problems = {m.name: StageError("write", clash) for m in images}
            if problems:
                self._sample_failed(tar, sample, images, copy_index, problems)
            else:
                self._write_copy(tar, sample, made, decoded, copy_index)

    def _write_copy(
        self,
        tar: _TarOutput,
        sample: webdataset.Sample,
        made: dict[str, dict[int, bytes | StageError]],
        decoded: dict[str, ImageCopies],
        copy_index: int,
    ) -> None:
        """Copy `copy_index` of a sample, every member renamed, its images blurred."""
        job = self._job
        for member in sample.members:
            name = webdataset.copy_name(member.name, copy_index, job.numbered)
            data = made[member.name][copy_index] if member.name in made else member.data
            webdataset.add_member(tar.writer, member, name, data)  # type: ignore[arg-type]
            if member.name in made:
                item_key, uri = tar.item(member.name)
                image = decoded[member.name]
                tar.outcome.rows.append(log_row(
                    job, item_key, uri, item_uri(tar.target, name), len(member.data),
                    image.properties, copy_index, image.draws[copy_index], data, [],  # type: ignore[arg-type]
                ))  # fmt: skip

    def _sample_failed(
        self,
        tar: _TarOutput,
        sample: webdataset.Sample,
        images: list[webdataset.TarMember],
        copy_index: int,
        problems: dict[str, StageError],
    ) -> None:
        """A copy of a sample that cannot be made whole is left out: an error row for each of
        its images (the others say which image failed), so no copy lacks one of its images."""
        first_name, first = next(iter(problems.items()))
        other = codec.ImageError(
            f"another image of sample {sample.key} failed ({first_name}: {first.cause})"
        )
        for member in images:
            error = problems.get(member.name) or StageError(first.stage, other)
            item_key, uri = tar.item(member.name)
            tar.outcome.errors.append(
                error_row(item_key, uri, copy_index, error.stage, error.cause)
            )

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
                                                       "read", error.cause, outcome)  # fmt: skip
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
        for offset, value in enumerate(values):
            row = first_row + offset
            row_key, row_uri = f"{key}#{row}", item_uri(path, row)
            data, image_path = parquet.image_of(value)
            copies = make_copies(job, row_key, data, codec.format_for_path(image_path or ""))
            if copies.failure is not None:
                outcome.errors += self._failed(row_key, row_uri, copies.failure.stage,
                                               copies.failure.cause, outcome)  # fmt: skip
                continue
            outcome.images += 1
            outcome.planar += copies.planar
            props, fmt = copies.properties, copies.out_format
            assert data is not None and props is not None
            for copy_index, made in copies.each(job.copy_indices()):
                if isinstance(made, StageError):
                    outcome.errors.append(error_row(row_key, row_uri, copy_index, made.stage,
                                                    made.cause))  # fmt: skip
                    continue
                output_row = first_output_row + len(taken)
                taken.append(offset)
                cells.append(parquet.copied_value(value, made, copy_index, job.numbered))
                outcome.rows.append(log_row(
                    job, row_key, row_uri, item_uri(target, output_row), len(data), props,
                    copy_index, copies.draws[copy_index], made, [], image_format=fmt,
                ))  # fmt: skip
        return taken, cells


@dataclass
class _TarOutput:
    """One tar being written: its key and path, the output and its writer, what it gave so
    far, and the names its samples take."""

    key: str
    path: str
    target: str
    writer: tarfile.TarFile
    outcome: _Outcome
    names: _SampleNames

    def item(self, name: str) -> tuple[str, str]:
        """The log key and URI of a member."""
        return f"{self.key}#{name}", item_uri(self.path, name)


class _SampleNames:
    """The sample names of one tar: the input's keys and the names its copies take, so that a
    copy never takes another sample's name and a key given twice is never written twice.
    `refused` (from an earlier pass) maps each clashing name to why."""

    def __init__(self, job: BlurJob, refused: dict[str, str]) -> None:
        self._job = job
        self._refused = refused
        self._inputs: dict[str, int] = {}  # sample key -> times seen
        self._copies: dict[str, tuple[str, int]] = {}  # copy name -> (source key, copy index)

    def problem(self, sample_key: str) -> codec.ImageError | None:
        """Why an input sample is refused, counting it as seen (None: it is not)."""
        self._inputs[sample_key] = self._inputs.get(sample_key, 0) + 1
        for copy_index in self._job.copy_indices():
            name = webdataset.copy_name(sample_key + ".x", copy_index, self._job.numbered)[:-2]
            if name != sample_key:
                self._copies.setdefault(name, (sample_key, copy_index))
        why = self._refused.get(sample_key)
        return codec.ImageError(why) if why else None

    def copy_problem(self, sample_key: str, copy_index: int) -> codec.ImageError | None:
        """Why copy `copy_index` of a sample is refused (its name is another sample's)."""
        name = webdataset.copy_name(sample_key + ".x", copy_index, self._job.numbered)[:-2]
        if name == sample_key or name not in self._refused:
            return None
        return codec.ImageError(
            f"copy {copy_index} of sample {sample_key} would be named {name}, which is the name "
            "of another sample of the shard; neither is written"
        )

    def clashes(self) -> dict[str, str]:
        """Every name taken twice in this pass, with why its input sample is refused."""
        found = {
            key: f"sample {key} appears {count} times in the shard (not consecutively); a "
            "loader would see duplicates, so none is written"
            for key, count in self._inputs.items() if count > 1
        }  # fmt: skip
        for name, (source, copy_index) in self._copies.items():
            if name in self._inputs:
                found.setdefault(name, f"sample {name} has the name of copy {copy_index} of "
                                       f"sample {source}; neither is written")  # fmt: skip
        return found


def _refused(member: webdataset.TarMember) -> codec.ImageError:
    return codec.ImageError(f"tar member {member.name} {member.refused}")


def _sample_problem(
    sample: webdataset.Sample, images: list[webdataset.TarMember]
) -> codec.ImageError | None:
    """Why a sample cannot be copied whole: a member that was not read, or no image at all."""
    refused = sample.refused()
    if refused:
        reasons = "; ".join(f"{m.name} {m.refused}" for m in refused)
        return codec.ImageError(f"sample {sample.key} is not written: its member {reasons}")
    if not images:
        suffixes = ", ".join(m.name[len(sample.key or "") :] for m in sample.members)
        return codec.ImageError(
            f"sample {sample.key} has no image member (its members: {suffixes})"
        )
    return None
