"""Beam's portable runner, as Flink and Spark clusters run the job: `--runner PortableRunner
--job_endpoint embed --environment_type LOOPBACK` (Beam's embedded job service, SDK workers
in this process: nothing downloaded) through the same launch path as the local runner. The
outputs and the log equal a DirectRunner run's byte for byte and row for row; the command
waits, prints the usual summary, and exits with the usual statuses."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from blur_augment.pipeline import outcome
from blur_augment.pipeline import run as run_module
from blur_augment.pipeline.options import resolve
from tests.support import datasets
from tests.support.command import blur_augment
from tests.support.helpers import textured, write_image
from tests.support.shards import read_webdataset, webdataset_samples, write_webdataset

PORTABLE = ("--runner", "PortableRunner", "--job_endpoint", "embed",
            "--environment_type", "LOOPBACK")  # fmt: skip
SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "images"


def run(source: Path, out: Path, *extra: str):
    return blur_augment("run", "--input", str(source), "--output", str(out), "--seed", "9",
                        *extra)  # fmt: skip


def files(out: Path) -> dict[str, str]:
    """Every file the run wrote, relative, with its sha256 (the log's own shards apart)."""
    return {
        p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in out.rglob("*")
        if p.is_file() and not p.relative_to(out).as_posix().startswith(("_blur_log/",
                                                                          "_blur_errors/"))
    }  # fmt: skip


def rows(out: Path, folder: str = "_blur_log") -> list[dict]:
    """The log's rows with paths made relative, in key order."""
    if not any((out / folder).glob("*.parquet")):
        return []
    table = pq.read_table(out / folder).to_pylist()
    prefix = str(out) + "/"
    for row in table:
        for name, value in row.items():
            if isinstance(value, str):
                row[name] = value.replace(prefix, "")
            elif isinstance(value, list):
                row[name] = [v.replace(prefix, "") for v in value]
    return sorted(table, key=lambda r: (r["key"], r.get("copy_index", 0), r.get("stage", "")))


def same_as_direct(source: Path, tmp_path: Path, *options: str, runner=PORTABLE) -> str:
    """Run locally and on `runner`; every file, log row, error row and the marker agree."""
    direct = run(source, tmp_path / "direct", *options)
    assert direct.returncode == 0, direct.stderr
    portable = run(source, tmp_path / "portable", *options, *runner)
    assert portable.returncode == 0, portable.stderr
    assert files(tmp_path / "portable") == files(tmp_path / "direct")
    assert rows(tmp_path / "portable") == rows(tmp_path / "direct")
    assert rows(tmp_path / "portable", "_blur_errors") == rows(tmp_path / "direct", "_blur_errors")
    marker = json.loads((tmp_path / "portable" / "_blur_log" / "_SUCCESS").read_text())
    assert marker["log_rows"] == len(rows(tmp_path / "direct"))
    return portable.stderr


def test_the_sample_images_on_the_portable_runner_equal_a_local_run(tmp_path: Path):
    stderr = same_as_direct(SAMPLES, tmp_path, "--copies", "2", "--blur", "gaussian,motion")
    assert "blur-augment: matched 7 files (7 images" in stderr
    assert "written 14, failed 0" in stderr
    assert "submitted job" not in stderr and "Traceback" not in stderr


def test_a_coco_dataset_on_the_portable_runner_equals_a_local_run(tmp_path: Path):
    source = datasets.coco(tmp_path / "coco")
    stderr = same_as_direct(source, tmp_path, "--copies", "2", "--include_originals")
    assert "dataset: coco" in stderr


def test_a_webdataset_shard_on_the_portable_runner_equals_a_local_run(tmp_path: Path):
    shard = write_webdataset(tmp_path / "in" / "train-000000.tar", webdataset_samples(0, 5))
    stderr = same_as_direct(shard.parent, tmp_path, "--copies", "2")
    assert "shards: 1" in stderr
    assert len(read_webdataset(sorted((tmp_path / "portable").glob("*.tar")))) == 10


def test_a_failing_portable_job_exits_non_zero_in_one_line(tmp_path: Path):
    write_image(tmp_path / "in" / "x.png", textured(16, 16, 3))
    # /sys takes no new files (EPERM as root, EACCES otherwise): the output cannot be written
    done = run(tmp_path / "in", Path("/sys/blur-augment-portable-test"), "--log",
               str(tmp_path / "log"), "--errors", str(tmp_path / "errors"), *PORTABLE)  # fmt: skip
    assert done.returncode == 1, done.stderr
    lines = [line for line in done.stderr.strip().splitlines() if line.startswith("blur-augment")]
    assert len(lines) == 1 and "the output cannot be written" in lines[0], done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "log" / "_SUCCESS").exists()


def test_max_error_rate_on_the_portable_runner(tmp_path: Path):
    for i in range(3):
        write_image(tmp_path / "in" / f"x{i}.png", textured(16, 16, 3, seed=i))
    # /proc takes no new file either, but file by file: every output is an error row
    done = run(tmp_path / "in", Path("/proc/blur-augment-portable-test"), "--log",
               str(tmp_path / "log"), "--errors", str(tmp_path / "errors"),
               "--max_error_rate", "0.5", *PORTABLE)  # fmt: skip
    assert done.returncode == 3, done.stderr
    assert "written 0, failed 3" in done.stderr
    assert "more than --max_error_rate=0.5" in done.stderr
    assert (tmp_path / "log" / "_SUCCESS").exists()  # the log is complete


def test_no_wait_with_an_in_process_job_is_refused(tmp_path: Path):
    write_image(tmp_path / "in" / "x.png", textured(8, 8, 3))
    done = run(tmp_path / "in", tmp_path / "out", "--no_wait", *PORTABLE)
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert "--no_wait cannot go with --job_endpoint embed" in line


def test_without_metrics_the_summary_counts_the_log_and_says_so(tmp_path, monkeypatch, capsys):
    """A runner that reports no metrics (forced here): the summary comes from the log and the
    error table, and the exit status rules still hold."""
    for i in range(4):
        write_image(tmp_path / "in" / f"x{i}.png", textured(12, 12, 3, seed=i))
    (tmp_path / "in" / "broken.png").write_bytes(b"\x89PNG not really")
    monkeypatch.setattr(run_module, "counters", lambda result: None)
    status = run_module.run(["--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"),
                             "--copies", "2", "--max_error_rate", "0.1", *PORTABLE])  # fmt: skip
    err = capsys.readouterr().err
    assert status == 3, err  # 2 failed of 10 outputs: above 0.1
    assert "matched 5 files" in err and "written 8, failed 2" in err
    assert "the runner reported no metrics: counted from the log and the error table" in err
    assert "WARNING" not in err
    config = resolve(PipelineOptions(["--input", str(tmp_path / "in"), "--output",
                                      str(tmp_path / "out")]))  # fmt: skip
    totals = outcome.counted_from_tables(config)
    assert (totals["matched"], totals["written"], totals["failed"]) == (5, 8, 2)


class _Running:
    """A job that is still running when Ctrl-C comes."""

    cancelled = False
    state = "RUNNING"

    def wait_until_finish(self):
        raise KeyboardInterrupt

    def cancel(self):
        self.cancelled = True


class _Failed:
    state = "FAILED"

    def wait_until_finish(self):
        return "FAILED"


def test_ctrl_c_cancels_the_job_and_a_failed_state_raises():
    running = _Running()
    with pytest.raises(KeyboardInterrupt):
        run_module.finished(running)
    assert running.cancelled
    with pytest.raises(RuntimeError, match="state FAILED"):
        run_module.finished(_Failed())


def test_local_paths_with_container_workers_are_warned_of(tmp_path: Path):
    write_image(tmp_path / "in" / "x.png", textured(8, 8, 3))
    done = run(tmp_path / "in", tmp_path / "out", "--runner", "PortableRunner", "--job_endpoint",
               "127.0.0.1:1", "--environment_type", "DOCKER", "--dry_run=True")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "warning: --input, --output, --log are local paths, and DOCKER workers" in done.stderr
    quiet = run(tmp_path / "in", tmp_path / "out2", *PORTABLE, "--dry_run=True")
    assert "warning" not in quiet.stderr  # LOOPBACK workers are this process


def test_a_job_service_that_never_answers_is_one_line(tmp_path: Path):
    import socket

    with socket.socket() as free:  # a port nobody listens on
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    write_image(tmp_path / "in" / "x.png", textured(8, 8, 3))
    done = run(tmp_path / "in", tmp_path / "out", "--runner", "PortableRunner", "--job_endpoint",
               f"127.0.0.1:{port}", "--job_server_timeout", "3", "--environment_type",
               "LOOPBACK")  # fmt: skip
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line.startswith("blur-augment")]
    assert len(lines) == 1 and f"no job service answered at 127.0.0.1:{port}" in lines[0]


@pytest.mark.parametrize(
    "runner",
    [("--runner", "FlinkRunner", "--flink_master", "flink-jobmanager:8081"),
     ("--runner", "SparkRunner", "--spark_master_url", "spark://spark-master:7077")],
)  # fmt: skip
def test_flink_and_spark_commands_of_the_docs_build_offline(runner):
    """What docs/clusters.md tells a Flink or Spark user to type is accepted and builds (the
    job is not submitted: no cluster here, and nothing is downloaded)."""
    done = blur_augment("run", "--input", "gs://in-bucket/train", "--output",
                        "gs://out-bucket/blurred", *runner, "--environment_type", "DOCKER",
                        "--environment_config", "blur-augment:0.5.0", "--dry_run=True")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "dry run: the job was built and not submitted" in done.stderr
    assert "warning" not in done.stderr  # gs:// paths: every worker reads them


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serving(process, port: int, seconds: float = 60) -> None:
    """Wait until `process` accepts connections on `port` (or fail with what it printed)."""
    import socket
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the service exited: {process.communicate()[0][-2000:]}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    pytest.fail(f"nothing answered on 127.0.0.1:{port} within {seconds} s")


@pytest.fixture
def job_service_and_worker_pool():
    """Beam's job service and an SDK worker pool, each a process of its own on 127.0.0.1 (as
    a cluster's workers are: they import the package by name), stopped at teardown with every
    worker they started (each in its own session, killed as a group)."""
    import os
    import signal
    import subprocess
    import sys

    job_port, pool_port = _free_port(), _free_port()
    commands = [
        [sys.executable, "-m", "apache_beam.runners.portability.local_job_service_main",
         "--port", str(job_port)],
        [sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main",
         "--service_port", str(pool_port)],
    ]  # fmt: skip
    # the pool starts each SDK worker as `python ...`: this environment's, found on PATH
    env = {**os.environ, "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}"}
    started = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True, cwd="/", env=env)
               for c in commands]  # fmt: skip
    try:
        _serving(started[0], job_port)
        _serving(started[1], pool_port)
        yield ("--runner", "PortableRunner", "--job_endpoint", f"127.0.0.1:{job_port}",
               "--environment_type", "EXTERNAL",
               "--environment_config", f"127.0.0.1:{pool_port}")  # fmt: skip
    finally:
        for process in started:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in started:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def test_workers_in_processes_of_their_own_equal_a_local_run(
    tmp_path: Path, job_service_and_worker_pool: tuple[str, ...]
):
    """The closest to Flink's or Spark's workers that runs here: a separate job service and
    worker pool; the outputs and the log equal the local runner's."""
    stderr = same_as_direct(SAMPLES, tmp_path, "--copies", "2", "--blur", "gaussian,motion,glass",
                            runner=job_service_and_worker_pool)  # fmt: skip
    assert "written 14, failed 0" in stderr
