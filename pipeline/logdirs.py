"""The log directories before a run: never two runs' shards in one log (--overwrite to
replace them), --resume only with the options of the run it continues, and this run's options
recorded in LOG/_RUN.json."""

from __future__ import annotations

import json
import logging

from blur_augment.pipeline.options import RunConfig
from blur_augment.pipeline.schema import MARKER, SHARD_GLOB
from blur_augment.pipeline.usage import UsageError
from blur_augment.transforms import keys
from blur_augment.transforms.io import storage

_log = logging.getLogger(__name__)

RUN_FILE = "_RUN.json"  # the options of the run writing this log, for --resume to check
# Parameters a resumed run may change: they do not decide what is written.
_RESUMABLE_CHANGES = frozenset({"max_error_rate"})


def prepare_log_dirs(config: RunConfig) -> None:
    """Refuse to mix two runs' shards in one log; with --overwrite, clear the old shards first;
    with --resume, check that the earlier run had the same options. Then record this run's
    options in LOG/_RUN.json.

    The completion marker of an earlier run goes first, so that a log is never marked complete
    while it is being replaced.
    """
    run_file = keys.join(config.log, RUN_FILE)
    if config.resume:
        check_resumable(config, run_file)
    directories = {"--log": config.log, "--errors": config.errors}
    if config.objects_log:
        directories["--objects_log"] = config.objects_log
    old = {
        option: storage.list_files(keys.join(directory, SHARD_GLOB))
        for option, directory in directories.items()
    }
    if not (config.overwrite or config.resume):
        for option, shards in old.items():
            if shards:
                raise UsageError(
                    f"{option} {directories[option]} already holds {len(shards)} Parquet "
                    "shard(s) from an earlier run; pass --overwrite to replace them"
                )
    storage.delete_files(storage.list_files(keys.join(config.log, MARKER)))
    for directory in directories.values():  # what a killed run's Parquet sinks left
        storage.delete_files(storage.list_files(keys.join(directory, "beam-temp-*/*")))
    for shards in old.values():
        if shards:
            _log.info("deleting %d old shard(s)", len(shards))
            storage.delete_files(shards)
    storage.write_bytes(run_file, json.dumps(resumable_parameters(config), indent=1).encode())


def resumable_parameters(config: RunConfig) -> dict[str, object]:
    """The parameters that decide what a run writes (as stored in the log's metadata)."""
    return {
        k: v for k, v in json.loads(json.dumps(config.parameters())).items()
        if k not in _RESUMABLE_CHANGES
    }  # fmt: skip


def check_resumable(config: RunConfig, run_file: str) -> None:
    """--resume continues the run recorded in LOG/_RUN.json, with the same options, or not at
    all: a different seed or sigma range would mix two runs' images in one output."""
    try:
        earlier = json.loads(storage.read_bytes(run_file))
    except Exception as error:
        raise UsageError(
            f"--resume: no earlier run to resume in {config.log} ({RUN_FILE} cannot be read: "
            f"{type(error).__name__}); start the run without --resume"
        ) from error
    now = resumable_parameters(config)
    for name in sorted(set(earlier) | set(now)):
        if earlier.get(name) != now.get(name):
            option = "--dataset (the layout found)" if name == "dataset" else f"--{name}"
            raise UsageError(
                f"--resume: {option} was {earlier.get(name)!r} in the earlier run and is "
                f"{now.get(name)!r} now; resume with the same options, or start afresh with "
                "--overwrite"
            )
