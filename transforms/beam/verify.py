"""The verify step (`blur-augment verify`): every file a log names read back and checked
against its size and sha256, and (`--recompute`) copies made again from their sources and the
log's parameters alone, checked byte for byte.

Rows are grouped by the file that holds their output (a plain file, or a tar or Parquet shard
holding many), so a shard is read once for all its images. Every problem is one line of text
(`missing: ...`, `changed: ...`, `not reproduced: ...`) on the main output; the counters say
how much was checked.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import apache_beam as beam

from blur_augment.transforms import codec, imaging, jpeg_planes, keys, objects
from blur_augment.transforms.beam.counters import VERIFY_COUNTERS
from blur_augment.transforms.copies import Scene, copy_with, draw_objects
from blur_augment.transforms.errors import StageError
from blur_augment.transforms.io import storage
from blur_augment.transforms.io.failures import is_transient
from blur_augment.transforms.io.items import read_items
from blur_augment.transforms.job import ORIGINAL_COPY, BlurJob
from blur_augment.transforms.labels import coco
from blur_augment.transforms.sampling import BlurParams, BlurSpec, sample, spec_from
from blur_augment.transforms.shards import split_item_uri


@dataclass(frozen=True)
class Expected:
    """One file as the log or the marker records it: where it is, its size and sha256."""

    uri: str
    size: int | None  # None: not recorded (label files are recorded by hash only)
    sha256: str


def container_of(uri: str) -> str:
    """The file that holds an output: the shard of `shard.tar#member`, else the file itself."""
    parts = split_item_uri(uri)
    return parts[0] if parts else uri


class ExpectedFiles(beam.DoFn):
    """A log row -> (container, Expected) for its output and each of its label files."""

    def process(self, row: dict[str, Any]) -> Iterator[tuple[str, Expected]]:
        VERIFY_COUNTERS.rows.inc()
        output = row["output_uri"]
        yield container_of(output), Expected(output, row["output_bytes"], row["output_sha256"])
        for uri, digest in zip(row.get("label_uris") or [], row.get("label_sha256") or [],
                               strict=False):  # fmt: skip
            yield uri, Expected(uri, None, digest)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _compare(expected: Expected, data: bytes | BaseException | None) -> str | None:
    """A problem line, or None when the file is as recorded."""
    if isinstance(data, ChangedSize):
        return f"changed: {expected.uri} is larger than the {expected.size:,} bytes the log says"
    if data is None or isinstance(data, BaseException):
        why = f" ({type(data).__name__}: {data})" if isinstance(data, BaseException) else ""
        return f"missing: {expected.uri}{why}"
    if expected.size is not None and len(data) != expected.size:
        return f"changed: {expected.uri} is {len(data):,} bytes, the log says {expected.size:,}"
    if _digest(data) != expected.sha256:
        return f"changed: {expected.uri}: its sha256 differs from the log's"
    return None


class CheckFiles(beam.DoFn):
    """(container, [Expected]) -> a problem line for each file that is missing or changed."""

    def process(self, element: tuple[str, Iterable[Expected]]) -> Iterator[str]:
        container, expected = element
        wanted = list(expected)
        if split_item_uri(wanted[0].uri) is None:  # a plain file: one read, no more than it was
            found = {container: _read_file(container, wanted[0].size)}
        else:  # items of one shard, read in one pass
            found = dict(read_items([e.uri for e in wanted]))
        for item in wanted:
            VERIFY_COUNTERS.checked.inc()
            problem = _compare(item, found.get(item.uri))
            if problem:
                missing = problem.startswith("missing")
                (VERIFY_COUNTERS.missing if missing else VERIFY_COUNTERS.changed).inc()
                yield problem


def _read_file(uri: str, size: int | None) -> bytes | BaseException:
    """The file's bytes, reading at most one byte more than recorded (a file that grew is
    changed, and is not read whole); what stopped the read otherwise."""
    limit = size + 1 if size is not None else storage.DEFAULT_MAX_BYTES
    try:
        return storage.read_bytes(uri, limit)
    except storage.InputRefused as refused:
        return ChangedSize(str(refused))
    except Exception as error:
        if is_transient(error):
            raise
        return error


class ChangedSize(Exception):
    """A file larger than the log says."""


def recompute_job(metadata: dict[str, Any], codec_path: str) -> BlurJob:
    """The job a copy is made again with: the run's encoding parameters from the log's
    metadata, the codec path the log says that copy took, and (--object_blur) the seed and
    the distribution its objects drew from."""
    return BlurJob(
        output="",
        spec=spec_from(metadata) if "min_sigma" in metadata else BlurSpec(),
        seed=int(metadata.get("seed", 0)),
        jpeg_quality=int(metadata.get("jpeg_quality", 95)),
        max_pixels=int(metadata.get("max_pixels", codec.DEFAULT_MAX_PIXELS)),
        blur_method=str(metadata.get("blur_method", "auto")),
        codec_path=codec_path if codec_path != "none" else "pixels",
        objects=tuple((str(k), float(w)) for k, w in metadata.get("object_blur") or ()),
        object_probability=float(metadata.get("object_probability", 1.0)),
    )


def drawn_again(row: dict[str, Any], metadata: dict[str, Any]) -> str | None:
    """A problem when the sampler, given the log's seed, copy and key, does not draw the
    logged blur (the log is then not what this version of the sampler makes)."""
    if row["copy_index"] == ORIGINAL_COPY or "min_sigma" not in metadata:
        return None
    drawn = sample(row["seed"], row["copy_index"], row["key"], spec_from(metadata))
    logged = {"applied": row["applied"], "sigma_x": row["sigma_x"], "sigma_y": row["sigma_y"]}
    now = {"applied": drawn.applied, "sigma_x": drawn.sigma_x, "sigma_y": drawn.sigma_y}
    for name, value in drawn.kind_columns().items():
        if name in row and row[name] is not None:
            logged[name], now[name] = row[name], value
    if logged != now:
        differ = ", ".join(f"{k} {now[k]!r} (the log says {logged[k]!r})" for k in logged
                           if logged[k] != now[k])  # fmt: skip
        return (f"not reproduced: {row['key']} copy {row['copy_index']}: the sampler draws "
                f"{differ}")  # fmt: skip
    return None


def remade(
    row: dict[str, Any], source: bytes, metadata: dict[str, Any],
    annotations: Iterable[dict[str, Any]] = (),
) -> bytes:  # fmt: skip
    """Copy `row` made again from its source's bytes and the logged blur alone (glass blur's
    displacements from the seed the sampler gives that copy); its objects (--object_blur) from
    its own labels (its label files, or its `annotations` in the output COCO JSON) and the
    sampler's draws for them."""
    job = recompute_job(metadata, row["codec_path"])
    out_format = row["format"]
    decoded = imaging.decode(source, out_format, job.codec_path, job.max_pixels)
    moving: list = []
    if row.get("objects_blurred"):
        files = tuple(
            (uri, storage.read_bytes(uri, job.max_bytes))
            for uri in row.get("label_uris") or ()
            if uri.endswith((".txt", ".xml")) or objects.is_instance_mask(uri)
        )
        keypoints = bool((metadata.get("dataset") or {}).get("keypoints"))
        labels = objects.Labels(files, tuple(annotations), keypoints)
        draws = draw_objects(job, row["key"], labels, [row["copy_index"]])
        if draws:
            moving = Scene.of(labels, codec.properties(decoded), draws).moving(row["copy_index"])
        if len(moving) != row["objects_blurred"]:
            raise StageError("labels", ValueError(
                f"its labels give {len(moving)} moving objects, the log says "
                f"{row['objects_blurred']}"))  # fmt: skip
    return copy_with(job, source, decoded, BlurParams.from_row(row), out_format, moving)


class Recompute(beam.DoFn):
    """(source container, [log rows]) -> a problem line for each copy that does not come out
    of its source and the log's parameters byte for byte as the log records it."""

    def __init__(self, metadata: dict[str, Any]) -> None:
        self._metadata = metadata

    def process(self, element: tuple[str, Iterable[dict[str, Any]]]) -> Iterator[str]:
        _, rows = element
        rows = list(rows)
        sources = read_items(sorted({r["source_uri"] for r in rows}))
        for row in rows:
            VERIFY_COUNTERS.recomputed.inc()
            problem = self._check(row, sources.get(row["source_uri"]))
            if problem:
                VERIFY_COUNTERS.not_reproduced.inc()
                yield problem

    def _check(self, row: dict[str, Any], source: bytes | Exception | None) -> str | None:
        name = f"{row['key']} copy {row['copy_index']}"
        if source is None or isinstance(source, Exception):
            return f"not reproduced: {name}: its source {row['source_uri']} cannot be read"
        if row["codec_path"] == jpeg_planes.PATH_PLANES and jpeg_planes.missing_reason():
            return (f"not reproduced: {name}: made as JPEG planes, and this machine cannot: "
                    f"{jpeg_planes.missing_reason()}")  # fmt: skip
        drawn = drawn_again(row, self._metadata)
        if drawn:
            return drawn
        try:
            data = remade(row, source, self._metadata, row.get(ANNOTATIONS) or ())
        except (StageError, codec.ImageError) as error:
            return f"not reproduced: {name}: {error}"
        if _digest(data) != row["output_sha256"]:
            return (
                f"not reproduced: {name}: made again from {row['source_uri']} with sigma "
                f"{row['sigma_x']:g}, {row['sigma_y']:g}, its sha256 differs from the log's"
            )
        return None


def rank(row: dict[str, Any]) -> str:
    """A row's place in the deterministic choice of `--recompute N` copies."""
    return hashlib.sha256(f"{row['key']}\x00{row['copy_index']}".encode()).hexdigest()


class VerifyLog(beam.PTransform):
    """Log rows (and the marker's dataset files) -> problem lines."""

    def __init__(
        self, rows_pattern: str, dataset_files: list[Expected], metadata: dict[str, Any],
        recompute: int | None,
    ) -> None:  # fmt: skip
        super().__init__()
        self._rows, self._files = rows_pattern, dataset_files
        self._metadata, self._recompute = metadata, recompute

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        rows = pbegin | "ReadLog" >> beam.io.ReadFromParquet(self._rows)
        files = (
            (
                rows | "ExpectedFiles" >> beam.ParDo(ExpectedFiles()),
                pbegin
                | "DatasetFiles" >> beam.Create([(f.uri, f) for f in self._files], reshuffle=False),
            )
            | "AllFiles" >> beam.Flatten()
            | "ByContainer" >> beam.GroupByKey()
            | "CheckFiles" >> beam.ParDo(CheckFiles())
        )
        if not self._recompute:
            return files
        chosen = rows
        if self._recompute > 0:
            chosen = (
                rows
                | "ChooseCopies" >> beam.combiners.Top.Smallest(self._recompute, key=rank)
                | "EachChosen" >> beam.FlatMap(lambda chosen_rows: chosen_rows)
            )
        if (self._metadata.get("dataset") or {}).get("kind") == "coco" and self._metadata.get(
            "object_blur"
        ):
            chosen = chosen | "WithAnnotations" >> _WithAnnotations(self._metadata)
        remade_copies = (
            chosen
            | "BySource" >> beam.Map(lambda row: (container_of(row["source_uri"]), row))
            | "GroupBySource" >> beam.GroupByKey()
            | "Recompute" >> beam.ParDo(Recompute(self._metadata))
        )
        return (files, remade_copies) | "AllProblems" >> beam.Flatten()


ANNOTATIONS = "_annotations"  # a chosen COCO row's annotations in the output JSON (objects)


class _WithAnnotations(beam.PTransform):
    """Chosen log rows -> the same rows, each object-blurred one with its copy's annotations
    from the output COCO JSONs (streamed once each, keeping only the chosen copies')."""

    def __init__(self, metadata: dict[str, Any]) -> None:
        super().__init__()
        self._metadata = metadata

    def expand(self, rows: beam.PCollection) -> beam.PCollection:
        output = str(self._metadata.get("output", ""))
        files = [keys.join(output, k) for k in (self._metadata.get("dataset") or {}).get(
            "index_files", []) if k.endswith(".json")]  # fmt: skip
        moved = rows | "ObjectsMoved" >> beam.Filter(lambda r: bool(r.get("objects_blurred")))
        wanted = moved | "Outputs" >> beam.Map(lambda r: r["output_uri"])
        found = (
            rows.pipeline
            | "OutputJsons" >> beam.Create(files)
            | "CopyAnnotations" >> beam.ParDo(_CopyAnnotations(), wanted=beam.pvalue.AsList(wanted))
        )
        return (
            {"rows": rows | "ByOutput" >> beam.Map(lambda r: (r["output_uri"], r)),
             "annotations": found}
            | "JoinAnnotations" >> beam.CoGroupByKey()
            | "Attach" >> beam.FlatMap(_attached)
        )  # fmt: skip


class _CopyAnnotations(beam.DoFn):
    """An output COCO JSON -> (output uri, its object annotations in order) of each wanted
    copy it lists (by file_name: the tail of the copy's path)."""

    def process(self, path: str, wanted: list[str]) -> Iterator[tuple[str, list[dict]]]:
        if not wanted or not storage.exists(path):
            return
        tails = {}
        for uri in wanted:
            parts = uri.split("/")
            for i in range(1, len(parts)):
                tails.setdefault("/".join(parts[i:]), []).append(uri)
        with storage.open_read(path) as stream:
            named = {
                e.image_id: tails[e.file_name][0]
                for e in coco.image_entries(stream, path)
                if not isinstance(e, Exception) and len(tails.get(e.file_name, ())) == 1
            }
        found: dict[str, list[dict]] = {}
        with storage.open_read(path) as stream:
            for image_id, _, annotation in coco.image_annotations(stream, named):
                if coco.is_object(annotation):
                    found.setdefault(named[image_id], []).append(annotation)
        yield from found.items()


def _attached(element: tuple[str, dict[str, list]]) -> Iterator[dict[str, Any]]:
    _, joined = element
    annotations = [a for each in joined["annotations"] for a in each]
    for row in joined["rows"]:
        yield {**row, ANNOTATIONS: annotations} if annotations else row
