"""The command as tests run it: the installed `blur-augment` in a fresh process, its main()
in this one, and a log read back from the GCS emulator."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.cli import main

COMMAND = str(Path(sys.executable).parent / "blur-augment")


def blur_augment(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The installed command in a fresh process; `env` adds to this process's environment."""
    return subprocess.run(
        [COMMAND, *args], capture_output=True, text=True, timeout=300,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


def cli(capsys, *args: str) -> tuple[int, str, str]:
    """main() in this process: (exit code, stdout, stderr)."""
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def read_log_from_gcs(client, bucket_name: str, prefix: str) -> pa.Table:
    blobs = [
        b for b in client.list_blobs(bucket_name, prefix=prefix) if b.name.endswith(".parquet")
    ]
    assert blobs, f"no shards under gs://{bucket_name}/{prefix}"
    return pa.concat_tables([pq.read_table(io.BytesIO(b.download_as_bytes())) for b in blobs])
