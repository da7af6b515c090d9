"""`blur-augment verify LOG_DIR`: read back every file a log names and check it against the log
(and, with --recompute, make copies again from their sources and the log's parameters alone).

Runs on the local runner (in-process or with --direct_num_workers worker processes); the log
and the files may be on any Beam filesystem. Exit 0 when everything is as the log says, 1 when
a file is missing or changed or a copy does not come out the same, 2 for a mistake (no log).
"""

from __future__ import annotations

import io
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions

from blur_augment.pipeline.options import refuse_unknown_options
from blur_augment.pipeline.schema import MARKER, SHARD_GLOB, run_metadata
from blur_augment.pipeline.usage import UsageError
from blur_augment.transforms import keys
from blur_augment.transforms.beam.counters import VERIFY_NAMESPACE
from blur_augment.transforms.beam.verify import Expected, VerifyLog
from blur_augment.transforms.io import storage

PROBLEMS_SHOWN = 50  # problem lines printed; the count says how many there were


@dataclass(frozen=True)
class Verdict:
    """What verify found: counts and every problem line."""

    checked: int
    recomputed: int
    problems: list[str]

    @property
    def status(self) -> int:
        return 1 if self.problems else 0


def recompute_count(text: str | None) -> int | None:
    """--recompute N or all (-1); None when not asked."""
    if text is None:
        return None
    if text == "all":
        return -1
    try:
        count = int(text)
    except ValueError:
        raise UsageError(f"--recompute takes a number or 'all', got {text!r}") from None
    if count < 0:
        raise UsageError(f"--recompute must be >= 0, got {count}")
    return count


def _marker(log_dir: str) -> dict | None:
    try:
        return json.loads(storage.read_bytes(keys.join(log_dir, MARKER)))
    except Exception:
        return None


def verify(log_dir: str, recompute: int | None, beam_args: list[str]) -> Verdict:
    """Check the log at `log_dir` (see the module's docstring)."""
    from blur_augment.pipeline.local import local_runner

    log_dir = log_dir.rstrip("/")
    shards = storage.list_files(keys.join(log_dir, SHARD_GLOB))
    if not shards:
        raise UsageError(f"no Parquet shards ({SHARD_GLOB}) in {log_dir}")
    refuse_unknown_options(beam_args)
    metadata = run_metadata(pq.read_schema(io.BytesIO(storage.read_bytes(shards[0]))))
    marker = _marker(log_dir)
    problems: list[str] = []
    dataset_files: list[Expected] = []
    if marker is None:
        problems.append(f"incomplete: no {MARKER} marker in {log_dir}: the run did not finish")
    else:
        hashes = marker.get("dataset_file_hashes", {})
        dataset_files = [Expected(uri, v["bytes"], v["sha256"]) for uri, v in hashes.items()]
    options = PipelineOptions(beam_args)
    with tempfile.TemporaryDirectory(prefix="blur-augment-verify-") as scratch:
        pipeline = beam.Pipeline(runner=local_runner(options), options=options)
        found = pipeline | "Verify" >> VerifyLog(
            keys.join(log_dir, SHARD_GLOB), dataset_files, metadata, recompute or None
        )
        _ = found | "WriteProblems" >> beam.io.WriteToText(str(Path(scratch) / "problems"))
        result = pipeline.run()
        result.wait_until_finish()
        for path in sorted(Path(scratch).glob("problems*")):
            problems += [line for line in path.read_text().splitlines() if line]
    counts = _counters(result)
    rows = counts.get("rows", 0)
    if marker is not None and marker.get("log_rows") != rows:
        problems.append(f"incomplete: the log has {rows} rows, its {MARKER} marker says "
                        f"{marker.get('log_rows')}")  # fmt: skip
    return Verdict(counts.get("checked", 0), counts.get("recomputed", 0), sorted(problems))


def _counters(result) -> dict[str, int]:
    totals: dict[str, int] = {}
    query = result.metrics().query(MetricsFilter().with_namespace(VERIFY_NAMESPACE))
    for counter in query["counters"]:
        value = counter.committed if counter.committed is not None else counter.attempted
        name = counter.key.metric.name
        totals[name] = totals.get(name, 0) + int(value or 0)
    return totals


def print_verdict(log_dir: str, verdict: Verdict) -> None:
    lines = [f"verify {log_dir}: {verdict.checked} files checked against the log"]
    if verdict.recomputed:
        lines.append(f"  {verdict.recomputed} copies made again from their sources")
    if verdict.problems:
        lines.append(f"  {len(verdict.problems)} problems:")
        lines += [f"  {p}" for p in verdict.problems[:PROBLEMS_SHOWN]]
        if len(verdict.problems) > PROBLEMS_SHOWN:
            lines.append(f"  ... and {len(verdict.problems) - PROBLEMS_SHOWN} more")
    else:
        lines.append("  every file is as the log says")
    print("\n".join(lines), file=sys.stdout)
