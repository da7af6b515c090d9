"""The graph of a run: `BlurDataset` turns --input into log rows, error rows and the dataset
files written besides the copies, from one small composite per step:

    _Matched    list (or read the manifest) and match, each file with its role
    _Samples    images, label files, masks, index entries and name clashes, grouped by sample,
                then the sample step (every copy made and written)
    _Indexes    index files read into entries, and written again from the written copies
    shards      one shard per worker, blurred inside
    others      other files of a dataset, copied as they are

The Parquet sinks and the completion marker are added by `pipeline.graph`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import apache_beam as beam

from blur_augment.transforms import keys
from blur_augment.transforms.beam.claims import claimed_outputs, clashing_claims
from blur_augment.transforms.beam.index import ReadIndex, RewriteIndex
from blur_augment.transforms.beam.manifest import DEFAULT_COLUMN, ReadManifest
from blur_augment.transforms.beam.matching import ListInput, ManifestInputs, MatchInputs
from blur_augment.transforms.beam.other_files import CopyOtherFile
from blur_augment.transforms.beam.sample import BlurSample
from blur_augment.transforms.beam.shards import BlurShard
from blur_augment.transforms.job import BlurJob

MEMBERS = "members"


def _with_nothing(uri: str) -> tuple[str, None]:
    return uri, None


def _index_seed(member: Any) -> tuple[str, None]:
    """An index file's own key, so that it is written even when it lists no copy."""
    return member.key, None


class _Matched(beam.PTransform):
    """--input (or --input_manifest) -> members keyed by sample, and tagged index files,
    shards, other files and (manifest) error rows."""

    def __init__(self, input_spec: str, job: BlurJob, manifest: str | None, column: str) -> None:
        super().__init__()
        self._input_spec, self._job, self._manifest, self._column = (
            input_spec, job, manifest, column,
        )  # fmt: skip

    def expand(self, pbegin: beam.pvalue.PBegin) -> Any:
        tags = (MatchInputs.INDEX_FILES, MatchInputs.OTHER_FILES, MatchInputs.SHARD_FILES)
        if self._manifest:  # the files a manifest names, each once; --input is their base
            base = keys.match_plans(self._input_spec)[0].base
            return (
                pbegin
                | "ReadManifest" >> ReadManifest(self._manifest, self._column)
                | "ByUri" >> beam.Map(_with_nothing)
                | "EachUriOnce" >> beam.GroupByKey()
                | "ManifestFiles"
                >> beam.ParDo(ManifestInputs(self._job), base=base).with_outputs(
                    *tags, ManifestInputs.ERRORS, main=MEMBERS
                )
            )
        return (
            pbegin
            | "InputPattern" >> beam.Create([self._input_spec])
            | "ListInput" >> beam.ParDo(ListInput())
            | "SpreadListing" >> beam.Reshuffle()
            | "MatchFiles" >> beam.ParDo(MatchInputs(self._job)).with_outputs(*tags, main=MEMBERS)
        )


class _Samples(beam.PTransform):
    """(members, index entries) -> the sample step's rows, errors and listings. Only numbered
    copies (name_blur{k}.ext) can take another input's name, so only then are names claimed."""

    def __init__(self, job: BlurJob) -> None:
        super().__init__()
        self._job = job

    def expand(self, inputs: tuple[beam.PCollection, beam.PCollection]) -> Any:
        members, entries = inputs
        grouped: list[beam.PCollection] = [members, entries]
        if self._job.numbered:
            grouped.append(
                members
                | "ClaimOutputs" >> beam.FlatMap(claimed_outputs, self._job)
                | "GroupClaims" >> beam.GroupByKey()
                | "Clashes" >> beam.FlatMap(clashing_claims)
            )
        return (
            tuple(grouped)
            | "MembersAndEntries" >> beam.Flatten()
            | "GroupSamples" >> beam.GroupByKey()
            | "BlurSample"
            >> beam.ParDo(BlurSample(self._job)).with_outputs(
                BlurSample.ERRORS, BlurSample.LISTINGS, BlurSample.OBJECTS, main="rows"
            )
        )


class BlurDataset(beam.PTransform):
    """--input -> {"rows", "errors", "files"} (and "objects" under --object_blur): the log rows
    of every written copy, the error rows of every input or copy that failed, the dataset
    files written besides the copies (index files, other files), and each copy's objects'
    rows."""

    def __init__(
        self, input_spec: str, job: BlurJob, manifest: str | None = None,
        manifest_column: str = DEFAULT_COLUMN,
    ) -> None:  # fmt: skip
        super().__init__()
        self._input_spec = input_spec
        self._job = job
        self._manifest = manifest
        self._manifest_column = manifest_column

    def expand(self, pbegin: beam.pvalue.PBegin) -> dict[str, beam.PCollection]:
        job = self._job
        base = keys.match_plans(self._input_spec)[0].base
        matched = pbegin | "Match" >> _Matched(
            self._input_spec, job, self._manifest, self._manifest_column
        )
        index_files = matched[MatchInputs.INDEX_FILES] | "SpreadIndexFiles" >> beam.Reshuffle()
        entries = index_files | "ReadIndex" >> beam.ParDo(ReadIndex(job)).with_outputs(
            ReadIndex.ERRORS, main="entries"
        )
        blurred = (matched[MEMBERS], entries.entries) | "Samples" >> _Samples(job)
        shards = (
            matched[MatchInputs.SHARD_FILES]
            | "SpreadShards" >> beam.Reshuffle()  # a worker per shard
            | "BlurShard" >> beam.ParDo(BlurShard(job)).with_outputs(BlurShard.ERRORS, main="rows")
        )
        rewritten = (
            (index_files | "IndexSeeds" >> beam.Map(_index_seed), blurred[BlurSample.LISTINGS])
            | "ListingsByIndex" >> beam.Flatten()
            | "GroupListings" >> beam.GroupByKey()
            | "RewriteIndex"
            >> beam.ParDo(RewriteIndex(job), base=base).with_outputs(
                RewriteIndex.ANNOTATION_IDS, main="files"
            )
        )
        copied = (
            matched[MatchInputs.OTHER_FILES]
            | "SpreadOtherFiles" >> beam.Reshuffle()
            | "CopyOtherFiles" >> beam.ParDo(CopyOtherFile(job))
        )
        errors: Iterable[beam.PCollection] = (
            blurred[BlurSample.ERRORS], shards[BlurShard.ERRORS], entries[ReadIndex.ERRORS],
            *([matched[ManifestInputs.ERRORS]] if self._manifest else []),
        )  # fmt: skip
        outputs = {
            "rows": (blurred.rows, shards.rows) | "AllRows" >> beam.Flatten(),
            "errors": tuple(errors) | "AllErrors" >> beam.Flatten(),
            "files": (rewritten.files, copied) | "DatasetFiles" >> beam.Flatten(),
        }
        if job.objects:  # --object_blur: the object table's rows
            outputs["objects"] = (
                blurred[BlurSample.OBJECTS],
                rewritten[RewriteIndex.ANNOTATION_IDS],
            ) | "ObjectRows" >> _ObjectRows()
        return outputs


class _ObjectRows(beam.PTransform):
    """(objects keyed by their COCO annotation's join key or "", annotation ids by the same
    key) -> object rows, each COCO object with the id its copy's annotation got in the output
    JSON (assigned when the JSON is written, once every copy is known)."""

    def expand(self, inputs: tuple[beam.PCollection, beam.PCollection]) -> beam.PCollection:
        objects, annotation_ids = inputs
        coco, others = objects | "ByFormat" >> beam.Partition(lambda item, _: int(not item[0]), 2)
        joined = (
            {"objects": coco, "ids": annotation_ids}
            | "JoinAnnotationIds" >> beam.CoGroupByKey()
            | "WithAnnotationIds" >> beam.FlatMap(_with_annotation_id)
        )
        return (joined, others | "Rows" >> beam.Values()) | "AllObjects" >> beam.Flatten()


def _with_annotation_id(element: tuple[str, dict[str, list[Any]]]) -> Iterable[dict[str, Any]]:
    _, joined = element
    ids = joined["ids"]
    for row in joined["objects"]:
        yield {**row, "annotation_id": ids[0] if ids else None}
