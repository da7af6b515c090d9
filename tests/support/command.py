"""The command as tests run it: the installed `blur-augment` in a fresh process, its main()
in this one, and a log read back from the GCS emulator."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from blur_augment.pipeline.cli import main

COMMAND = str(Path(sys.executable).parent / "blur-augment")


def run_in_group(command: list[str], timeout: float, **options) -> subprocess.CompletedProcess:
    """subprocess.run in a session of its own: on a time-out the whole group (the command and
    the worker processes it started) is killed, so no worker outlives the test."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True, **options)  # fmt: skip
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # workers left behind by a finished command
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def blur_augment(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The installed command in a fresh process; `env` adds to this process's environment."""
    return run_in_group([COMMAND, *args], timeout=300, env={**os.environ, **(env or {})})


# The peak resident memory of the command's own process is VmHWM, which starts afresh at exec:
# ru_maxrss would carry over the high-water mark of the process that started it (the test
# runner, hundreds of MB into the suite). A child's ru_maxrss starts at the command's own peak
# when it is started, which is no more than that peak at the end: the larger of the two holds.
_MEASURED = """
import re, resource, sys
from blur_augment.pipeline.cli import main
code = main(sys.argv[1:])
own = int(re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1))
children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(f"PEAK_MB {max(own, children) // 1024}", file=sys.stderr)
sys.exit(code)
"""


def measured(*args: str, timeout: float = 240) -> tuple[subprocess.CompletedProcess, int]:
    """main(args) in a fresh process, with the peak memory (MB) of its process tree; a hang
    fails the test at `timeout`."""
    done = run_in_group([sys.executable, "-c", _MEASURED, *args], timeout=timeout)
    assert "PEAK_MB " in done.stderr, done.stderr  # the command died before main() returned
    peak = int(done.stderr.rsplit("PEAK_MB ", 1)[1].split()[0])
    done.stderr = done.stderr.rsplit("PEAK_MB ", 1)[0]
    return done, peak


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
