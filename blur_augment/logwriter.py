"""`LogWriter`: a training loop's draws written as the blur log, so `summary`, `query`,
`report` and `evaluate` read an online run as they read an offline one.

Each process writes shards of its own (its pid and a random part in the name), so data-loader
workers share nothing and lock nothing. A shard appears whole or not at all: it is written to
a hidden temporary name and renamed into place (gs://: one upload, published whole). Rows are
flushed every `rows_per_shard` rows, by `flush()`, on `close()`, and when the process exits
(a data-loader worker included: multiprocessing runs its finalizers on the way out).
"""

from __future__ import annotations

import functools
import io
import os
import socket
import uuid
from multiprocessing import util
from typing import Any

from blur_augment.augment import Augmented, Augmenter
from blur_augment.pipeline.usage import package_version

# What a row holds where a training loop has nothing to say (no file was written).
_EMPTY = {"string": "", "bool": False, "list<item: string>": []}


@functools.cache
def _empty_row() -> dict[str, Any]:
    """Every column of the log with its empty value, built once (the schema loads pyarrow, so
    only when the first row is added)."""
    from blur_augment.pipeline.schema import LOG_SCHEMA

    return {f.name: _EMPTY.get(str(f.type), 0) for f in LOG_SCHEMA}


class LogWriter:
    """Rows of the log's schema, one per augmented image: `log.add(result, key=K, copy=C,
    **extra)`; `extra` sets any other column of the log (`split`, `source_uri`, `format`,
    ...). `output_uri` is `K@C` (no file is written), which results can name. The metadata
    records the augmenter's parameters (pass `augmenter`), marked online."""

    def __init__(
        self, directory: str, augmenter: Augmenter | None = None, rows_per_shard: int = 10_000
    ) -> None:
        self.directory = directory.rstrip("/")
        self.rows_per_shard = rows_per_shard
        self.metadata = {
            **(augmenter.parameters() if augmenter is not None else {}),
            "online": True,
            "log": self.directory,
            "blur_augment_version": package_version(),
        }
        self._rows: list[dict[str, Any]] = []
        self._pid = -1
        self._shards = 0
        self._started()

    def _started(self) -> None:
        """Set up this process's buffer (again in a forked worker, which must not write the
        parent's rows), and its flush on exit."""
        if self._pid == os.getpid():
            return
        self._pid, self._rows, self._shards = os.getpid(), [], 0
        util.Finalize(self, LogWriter.close, args=(self,), exitpriority=10)

    def add(self, result: Augmented, key: str, copy: int, **extra: Any) -> None:
        self._started()
        empty = _empty_row()
        unknown = set(extra) - set(empty)
        if unknown:
            raise ValueError(f"not columns of the log: {', '.join(sorted(unknown))}")
        row = dict(empty)
        # No file was written: the draw's name, unique per (key, copy), stands for one, so that
        # results can name it (`report --on output_uri`) as they name a written copy.
        row.update(result.row, key=key, source_uri=key, output_uri=f"{key}@{copy}",
                   copy_index=copy, **extra)  # fmt: skip
        self._rows.append(row)
        if len(self._rows) >= self.rows_per_shard:
            self.flush()

    def flush(self) -> None:
        """This process's rows so far as one more shard."""
        if os.getpid() != self._pid or not self._rows:
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        from blur_augment.pipeline.schema import LOG_SCHEMA, with_run_metadata

        schema = with_run_metadata(LOG_SCHEMA, self.metadata)
        buffer = io.BytesIO()
        pq.write_table(
            pa.Table.from_pylist(self._rows, schema=schema), buffer, compression="snappy"
        )
        name = (f"part-online-{socket.gethostname()}-{os.getpid()}-{self._shards:05d}-"
                f"{uuid.uuid4().hex[:8]}.parquet")  # fmt: skip
        _write_whole(f"{self.directory}/{name}", buffer.getvalue())
        self._rows, self._shards = [], self._shards + 1

    def close(self) -> None:
        self.flush()

    def __enter__(self) -> LogWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _write_whole(path: str, data: bytes) -> None:
    """`data` at `path`, whole or not at all; local paths without loading Beam."""
    if "://" in path and not path.startswith("file://"):
        from blur_augment.transforms.io import storage

        storage.write_bytes(path, data)
        return
    path = path.removeprefix("file://")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    partial = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.partial")
    with open(partial, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, path)
