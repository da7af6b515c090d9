"""Matching the input: what ListInput found (a directory's first level, a sub-directory, a
pattern) or what a manifest names, matched at run time and each file given its role. Images,
label files and masks go out keyed by their sample; index files, shards and other files to
tagged outputs. Keys that would escape --output still go on, so that the sample step reports
them as error rows: nothing matched is silently dropped."""

from __future__ import annotations

import logging
import posixpath
from collections.abc import Iterable, Iterator

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.pvalue import TaggedOutput

from blur_augment.transforms import keys
from blur_augment.transforms.beam.counters import COUNTERS
from blur_augment.transforms.errors import error_row
from blur_augment.transforms.io import listing, progress
from blur_augment.transforms.job import BlurJob
from blur_augment.transforms.labels.layout import EXCLUDED, IMAGE, INDEX, OTHER, SHARD, classify
from blur_augment.transforms.plan import Member

_log = logging.getLogger(__name__)


class ListInput(beam.DoFn):
    """--input -> what to match, at run time (never at graph construction): a directory's first
    level (its files, and each sub-directory to be matched in its own element, so that after a
    Reshuffle many workers list a big tree), or a pattern to match whole. The first match plan
    that finds anything wins (a directory, else a single file)."""

    def process(self, input_spec: str) -> Iterator[tuple[str, str, str]]:
        named = listing.brace_paths(input_spec)
        if named is not None:  # each path a brace list names is expected: missing, an error row
            base = keys.match_plans(input_spec)[0].base
            for path in dict.fromkeys(named):
                yield (listing.PATTERN if keys.has_wildcard(path) else listing.FILE), path, base
            return
        for plan in keys.match_plans(input_spec):
            level = listing.first_level(plan.base) if plan.pattern == plan.base + "**" else None
            if level is not None:
                found = False
                for kind, path in level:
                    found = True
                    yield kind, path, plan.base
                if found:
                    return
            elif FileSystems.match([plan.pattern], limits=[1])[0].metadata_list:
                yield listing.PATTERN, plan.pattern, plan.base
                return
        _log.warning("--input %s matched no files", input_spec)


class MatchInputs(beam.DoFn):
    """Match what ListInput found and tell each file's role.

    Images, label files and masks go out keyed by their sample; index files (COCO JSON, VOC
    lists, data.yaml), shards (.tar, .parquet) and other files to the tagged outputs. Keys that
    would escape --output still go on, so that the sample step reports them as error rows: nothing
    matched is silently dropped.
    """

    INDEX_FILES = "index_files"  # tags of the outputs (not roles: see labels.layout)
    OTHER_FILES = "other_files"
    SHARD_FILES = "shard_files"

    def __init__(self, job: BlurJob) -> None:
        self._job = job
        self._matched: progress.Counter | None = None

    def setup(self) -> None:
        self._matched = progress.counter(self._job.progress_dir, progress.MATCHED)

    def finish_bundle(self) -> None:
        if self._matched:
            self._matched.flush()

    def process(self, element: tuple[str, str, str]) -> Iterator[tuple[str, Member] | TaggedOutput]:
        """One element of ListInput's: a file, or a sub-directory or pattern to match whole."""
        kind, path, base = element
        for found_kind, found in listing.files_under(kind, path):
            if found_kind == listing.SKIPPED:
                COUNTERS.special_files.inc()  # a FIFO, a device, a link that loops: never opened
                _log.debug("skipped %s", found)
            else:
                yield from self._classified(found, base, self._matched)

    def _classified(
        self, path: str, base: str, matched_images: progress.Counter | None
    ) -> Iterator[tuple[str, Member] | TaggedOutput]:
        """One matched file, by its role: an image, label file or mask keyed by its sample, an
        index file, another file, or nothing (excluded, skipped, our own temporary)."""
        layout = self._job.layout
        key = keys.relative_key(path, base)
        if posixpath.basename(key).startswith(".") and key.endswith(".partial"):
            return  # a temporary of an interrupted write of ours
        COUNTERS.matched.inc()
        role = classify(key, layout)
        if role.kind == EXCLUDED:
            COUNTERS.excluded.inc()
        elif role.kind == INDEX:
            yield TaggedOutput(self.INDEX_FILES, Member(INDEX, key, path))
        elif role.kind == SHARD:
            COUNTERS.shards.inc()
            yield TaggedOutput(self.SHARD_FILES, Member(SHARD, key, path))
        elif role.kind == OTHER:
            if layout.kind == "images" or not self._job.include_originals:
                COUNTERS.skipped.inc()
            else:
                yield TaggedOutput(self.OTHER_FILES, Member(OTHER, key, path))
        else:
            (COUNTERS.images if role.kind == IMAGE else COUNTERS.label_files).inc()
            if matched_images and role.kind == IMAGE:
                matched_images.add()
            yield role.sample, Member(role.kind, key, path, role.split)


class ManifestInputs(MatchInputs):
    """The files a manifest names, each once, classified as a listing's are. Input: (uri,
    its occurrences), grouped by URI so that a line given twice is counted, not blurred twice.
    A URI outside --input gets an error row per copy (its key would be absolute); one that does
    not exist gets its error row from the read, like any unreadable image."""

    ERRORS = "errors"

    def process(  # type: ignore[override]
        self, element: tuple[str, Iterable[None]], base: str
    ) -> Iterator[tuple[str, Member] | TaggedOutput]:
        uri, occurrences = element
        count = sum(1 for _ in occurrences)
        COUNTERS.manifest_lines.inc(count)
        COUNTERS.manifest_duplicates.inc(count - 1)
        if not uri.startswith(base):  # an image that cannot be made: an error row per copy
            COUNTERS.matched.inc()
            COUNTERS.images.inc()
            COUNTERS.augmented_images.inc()
            cause = ValueError(f"{uri} is not under --input {base}: it has no key")
            for copy_index in self._job.copy_indices():
                COUNTERS.failed.inc()
                yield TaggedOutput(self.ERRORS, error_row(uri, uri, copy_index, "read", cause))
            return
        yield from self._classified(uri, base, self._matched)
