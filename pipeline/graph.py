"""The whole job's graph: the run itself (`transforms.beam.graph.BlurDataset`), the log and
the error table written as Parquet with the run's parameters in their metadata, and the
completion marker written last."""

from __future__ import annotations

from dataclasses import dataclass

import apache_beam as beam

from blur_augment.pipeline.options import RunConfig
from blur_augment.pipeline.schema import (
    ERROR_SCHEMA,
    LOG_SCHEMA,
    MARKER,
    OBJECT_SCHEMA,
    with_run_metadata,
)
from blur_augment.pipeline.usage import package_version
from blur_augment.transforms import keys
from blur_augment.transforms.beam.graph import BlurDataset
from blur_augment.transforms.beam.marker import WriteMarker


def run_metadata(config: RunConfig) -> dict[str, object]:
    """What goes into the Parquet metadata: the parameters and the versions that made the log."""
    return {
        **config.parameters(),
        "blur_augment_version": package_version(),
        "beam_version": beam.__version__,
    }


@dataclass(frozen=True)
class BlurOutputs:
    """The graph's outputs: the log rows and the error rows (both also written to Parquet)."""

    rows: beam.PCollection
    errors: beam.PCollection


def build(pipeline: beam.Pipeline, config: RunConfig) -> BlurOutputs:
    """Add the whole job to `pipeline` without running it (and without touching storage)."""
    outputs = pipeline | "BlurDataset" >> BlurDataset(
        config.input, config.job, config.manifest, config.manifest_column
    )
    metadata = run_metadata(config)
    rows, errors = outputs["rows"], outputs["errors"]
    shards = {}
    tables = [
        ("WriteLog", rows, config.log, LOG_SCHEMA),
        ("WriteErrors", errors, config.errors, ERROR_SCHEMA),
    ]
    if config.objects_log:
        tables.append(("WriteObjects", outputs["objects"], config.objects_log, OBJECT_SCHEMA))
    for label, pcoll, directory, schema in tables:
        shards[label] = pcoll | label >> beam.io.WriteToParquet(
            keys.join(directory, "part"),
            schema=with_run_metadata(schema, metadata),
            codec="snappy",
            file_name_suffix=".parquet",
        )
    # The completion marker: written last, once both tables' shards are final, with the counts
    # a reader can check. A run that fails or is interrupted leaves none.
    _ = (
        pipeline
        | "MarkerTrigger" >> beam.Create([None])
        | "WriteMarker"
        >> beam.ParDo(
            WriteMarker(keys.join(config.log, MARKER)),
            log_shards=beam.pvalue.AsList(shards["WriteLog"]),
            error_shards=beam.pvalue.AsList(shards["WriteErrors"]),
            object_shards=beam.pvalue.AsList(
                shards.get("WriteObjects") or pipeline | "NoObjects" >> beam.Create([])
            ),
            dataset_files=beam.pvalue.AsList(outputs["files"]),
            log_rows=beam.pvalue.AsSingleton(rows | "CountRows" >> beam.combiners.Count.Globally()),
            error_rows=beam.pvalue.AsSingleton(
                errors | "CountErrors" >> beam.combiners.Count.Globally()
            ),
        )
    )
    return BlurOutputs(rows=rows, errors=errors)
