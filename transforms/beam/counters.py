"""Every counter of a run, declared once: the DoFns count through these, and the run summary
reads them back by the same names (`NAMES`)."""

from __future__ import annotations

from typing import Any

from apache_beam.metrics import Metrics

NAMESPACE = "blur_augment"
VERIFY_NAMESPACE = NAMESPACE + "_verify"

# name -> what it counts (the run summary's words come from these)
MEANINGS = {
    "matched": "files listed or named by a manifest",
    "images": "image inputs (loose files, tar members, Parquet rows)",
    "label_files": "label files and masks",
    "skipped": "files that are neither images nor dataset files",
    "excluded": "files matched by --exclude",
    "special_files": "entries that are not regular files (FIFOs, devices, bad links)",
    "shards": "WebDataset and Parquet shards",
    "copied_files": "other files of a dataset copied as they are",
    "augmented_images": "images of augmented splits",
    "kept_images": "images of other splits copied as they are",
    "not_augmented": "images of splits that are not written",
    "orphan_labels": "label files and index entries whose image does not exist",
    "unlisted_images": "COCO images that no JSON of their split lists",
    "resumed_images": "images whose copies an earlier run wrote (--resume)",
    "planar_jpegs": "JPEGs blurred as stored planes",
    "manifest_lines": "lines of --input_manifest",
    "manifest_duplicates": "manifest lines naming a file already named",
    "carried_members": "tar members of no sample, carried as they are",
    "written": "outputs written (log rows)",
    "failed": "outputs that failed (error rows)",
}
NAMES = tuple(MEANINGS)


class Counters:
    """The run's counters as attributes (`COUNTERS.written.inc()`); Beam counters are cheap
    handles, and every step that counts a name adds to the same total."""

    def __init__(self, namespace: str, names: tuple[str, ...]) -> None:
        for name in names:
            setattr(self, name, Metrics.counter(namespace, name))


COUNTERS: Any = Counters(NAMESPACE, NAMES)
VERIFY_COUNTERS: Any = Counters(
    VERIFY_NAMESPACE, ("rows", "checked", "missing", "changed", "recomputed", "not_reproduced")
)
