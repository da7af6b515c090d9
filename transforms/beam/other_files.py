"""Other files of a dataset (README, classes.txt) copied as they are with --include_originals,
so the output is a complete dataset; streamed, so any size takes bounded memory."""

from __future__ import annotations

from collections.abc import Iterator

import apache_beam as beam

from blur_augment.transforms import keys
from blur_augment.transforms.beam.counters import COUNTERS
from blur_augment.transforms.beam.index import DatasetFile
from blur_augment.transforms.io import storage
from blur_augment.transforms.io.failures import stage
from blur_augment.transforms.job import BlurJob
from blur_augment.transforms.plan import Member


class CopyOtherFile(beam.DoFn):
    """Copies a file of the dataset that is neither image nor label (README, classes.txt) with
    --include_originals, so the output is a complete dataset."""

    def __init__(self, job: BlurJob) -> None:
        self._job = job

    def process(self, member: Member) -> Iterator[DatasetFile]:
        target = keys.join(self._job.output, member.key)
        keys.check_key(member.key)
        with stage("write"):
            copied = DatasetFile(target, *storage.copy(member.path, target))
        COUNTERS.copied_files.inc()
        yield copied
