"""End to end through the installed `blur-augment` command, as a user runs it."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from blur_augment.pipeline.cli import main
from blur_augment.pipeline.schema import ERROR_SCHEMA, LOG_SCHEMA, run_metadata
from blur_augment.transforms.sampling import BlurSpec, sample
from tests.support.command import COMMAND, blur_augment
from tests.support.helpers import ConnectionSentinel, max_abs_diff, reference_blur

GOOD = ["cats/a.jpg", "cats/deep/b.png", "gray.png", "wide16.png", "alpha/c.PNG"]


def read_dir(directory: Path) -> pa.Table:
    return pq.read_table(directory)


def test_run_end_to_end(dataset: Path, tmp_path: Path):
    out = tmp_path / "out"
    done = blur_augment(
        "run", "--input", str(dataset), "--output", str(out), "--seed", "42",
        "--min_sigma", "0.5", "--max_sigma", "2.5",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "matched 7 files (6 images, 1 skipped" in done.stderr
    assert "written 5, failed 1" in done.stderr

    log = read_dir(out / "_blur_log")
    assert log.schema.remove_metadata().equals(LOG_SCHEMA)
    assert sorted(log.column("key").to_pylist()) == sorted(GOOD)
    params = run_metadata(log.schema)
    assert params["seed"] == 42 and params["max_sigma"] == 2.5 and params["beam_version"]

    spec = BlurSpec(0.5, 2.5)
    for row in log.to_pylist():
        drawn = sample(42, 0, row["key"], spec)
        assert (row["applied"], row["sigma_x"], row["sigma_y"]) == (
            drawn.applied, drawn.sigma_x, drawn.sigma_y,
        )  # fmt: skip
        output = Path(row["output_uri"])
        assert output == out / row["key"]
        assert hashlib.sha256(output.read_bytes()).hexdigest() == row["output_sha256"]
        source = cv2.imread(str(dataset / row["key"]), cv2.IMREAD_UNCHANGED)
        blurred = cv2.imread(str(output), cv2.IMREAD_UNCHANGED)
        assert blurred.dtype == source.dtype and blurred.shape == source.shape
        assert (row["width"], row["height"], row["dtype"]) == (
            source.shape[1], source.shape[0], source.dtype.name,
        )  # fmt: skip
        if row["format"] == "png":  # lossless: the pixels are exactly the blur's
            expected = reference_blur(
                source, row["sigma_x"], row["sigma_y"], row["kernel_width"], row["kernel_height"]
            )
            assert max_abs_diff(blurred, expected) <= 1, row["key"]
    by_key = {row["key"]: row for row in log.to_pylist()}
    assert by_key["alpha/c.PNG"]["channels"] == 4
    assert by_key["gray.png"]["channels"] == 1
    assert by_key["wide16.png"]["dtype"] == "uint16"

    errors = read_dir(out / "_blur_errors")
    assert errors.schema.remove_metadata().equals(ERROR_SCHEMA)
    assert errors.select(["key", "copy_index", "stage"]).to_pylist() == [
        {"key": "broken.jpg", "copy_index": 0, "stage": "decode"}
    ]
    assert not (out / "broken.jpg").exists() and not (out / "notes.txt").exists()

    summary = blur_augment("summary", str(out / "_blur_log"))
    assert summary.returncode == 0, summary.stderr
    assert "rows: 5" in summary.stdout and "distinct keys: 5" in summary.stdout
    assert "complete: yes" in summary.stdout
    assert json.loads((out / "_blur_log" / "_SUCCESS").read_text())["log_rows"] == 5
    assert "errors: 1" in summary.stdout and "decode: 1" in summary.stdout


def test_copies_and_originals_naming(dataset: Path, tmp_path: Path):
    out = tmp_path / "out"
    done = blur_augment(
        "run", "--input", f"{dataset}/cats/**", "--output", str(out), "--copies", "2",
        "--include_originals", "--sigma_y", "independent",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    files = sorted(
        p.relative_to(out).as_posix()
        for p in out.rglob("*")
        if p.is_file() and not p.relative_to(out).as_posix().startswith("_blur_")
    )
    assert files == [
        "a.jpg", "a_blur0.jpg", "a_blur1.jpg",
        "deep/b.png", "deep/b_blur0.png", "deep/b_blur1.png",
    ]  # fmt: skip
    assert (out / "a.jpg").read_bytes() == (dataset / "cats" / "a.jpg").read_bytes()
    log = read_dir(out / "_blur_log")
    assert sorted(log.column("copy_index").to_pylist()) == [-1, -1, 0, 0, 1, 1]
    originals = [r for r in log.to_pylist() if r["copy_index"] == -1]
    assert all(not r["applied"] and r["sigma_x"] == 0.0 for r in originals)


def test_bad_options_exit_2_naming_the_option(dataset: Path, tmp_path: Path):
    """Through the command once; every refusal's message is tests/unit/test_options.py's."""
    args, message = ["--max_sigma", "1", "--min_sigma", "2"], "--max_sigma"
    done = blur_augment("run", "--input", str(dataset), "--output", str(tmp_path / "o"), *args)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_output_inside_input_refused(dataset: Path):
    done = blur_augment("run", "--input", str(dataset), "--output", str(dataset / "blurred"))
    assert done.returncode == 2 and "inside the input tree" in done.stderr


def test_existing_log_refused_without_overwrite(dataset: Path, tmp_path: Path):
    out = tmp_path / "out"
    args = ["run", "--input", f"{dataset}/*.png", "--output", str(out)]
    assert blur_augment(*args).returncode == 0
    again = blur_augment(*args, "--seed", "1")
    assert again.returncode == 2 and "--overwrite" in again.stderr
    assert (out / "_blur_log" / "_SUCCESS").exists()  # a refused run leaves the old log whole
    assert blur_augment(*args, "--seed", "1", "--overwrite").returncode == 0
    log = read_dir(out / "_blur_log")
    assert log.num_rows == 2 and set(log.column("seed").to_pylist()) == {1}


def test_summary_of_missing_directory_exits_2(tmp_path: Path):
    done = blur_augment("summary", str(tmp_path / "nowhere"))
    assert done.returncode == 2 and "no Parquet shards" in done.stderr


def _interrupt_inside_runner(wrap: bool):
    """A stand-in for pipeline.run.run that is hit by Ctrl-C the way Beam's local runner is:
    re-raised as a RuntimeError from a DoFn (wrap) or dropped in a finaliser (not wrap)."""

    def run(argv: list[str]) -> int:
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
        except KeyboardInterrupt as interrupt:
            if wrap:
                raise RuntimeError("KeyboardInterrupt [while running 'BlurImage']") from interrupt
        return 0

    return run


@pytest.mark.parametrize(
    ("wrap", "status", "message"),
    [
        (True, 130, "interrupted; no completion marker was written"),
        (False, 0, "the runner absorbed the interrupt and carried on to the end"),
    ],
)
def test_ctrl_c_inside_the_runner_is_reported(monkeypatch, capsys, wrap, status, message):
    import blur_augment.pipeline.run

    started_with = signal.getsignal(signal.SIGINT)  # SIG_IGN under nohup, else Python's own
    monkeypatch.setattr(blur_augment.pipeline.run, "run", _interrupt_inside_runner(wrap))
    assert main(["run", "--input", "x", "--output", "y"]) == status
    assert message in capsys.readouterr().err
    assert signal.getsignal(signal.SIGINT) is started_with


PLAIN_BEAM = """
import apache_beam as beam
pipeline = beam.Pipeline()
_ = pipeline | beam.Create([1]) | beam.Map(print)
pipeline.run().wait_until_finish()
"""


@pytest.mark.parametrize("workers", [1, 2])
def test_local_run_opens_no_outside_connection(dataset: Path, tmp_path: Path, workers: int):
    """No --runner: the FnApiRunner, pinned. Beam's own DirectRunner would first try to
    download Prism (the control run shows the proxy sees that attempt)."""
    env_home = {"HOME": str(tmp_path / "home")}  # no cached Prism binary
    with ConnectionSentinel() as proxy:
        env = {**os.environ, **proxy.proxy_env, **env_home}
        control = subprocess.run(
            [sys.executable, "-c", PLAIN_BEAM], env=env, capture_output=True, timeout=300
        )
        assert control.returncode == 0 and proxy.connections >= 1
        proxy.connections = 0
        mode = ["--direct_num_workers", "2", "--direct_running_mode", "multi_processing"]
        done = blur_augment(
            "run", "--input", str(dataset), "--output", str(tmp_path / "out"),
            *(mode if workers == 2 else []), env={**proxy.proxy_env, **env_home},
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert proxy.connections == 0, "the run tried to reach outside 127.0.0.1"
    assert pq.read_table(tmp_path / "out" / "_blur_log").num_rows == 5


def _on_a_terminal(*args: str) -> tuple[int, str]:
    """The command with a pseudo-terminal as its stdout and stderr (as in an interactive
    shell, CI unset): its exit code and everything it drew."""
    import fcntl
    import pty
    import struct
    import termios

    primary, secondary = pty.openpty()
    # a new pseudo-terminal is 0 columns wide; a real one has a size (tqdm fits the bar to it)
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    process = subprocess.Popen([COMMAND, *args], stdin=subprocess.DEVNULL, stdout=secondary,
                               stderr=secondary, env=env)  # fmt: skip
    os.close(secondary)
    drawn = b""
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # the command closed the terminal
            break
        if not chunk:
            break
        drawn += chunk
    os.close(primary)
    return process.wait(timeout=300), drawn.decode(errors="replace")


def test_progress_bar_on_a_terminal_and_not_in_logs(tmp_path: Path):
    """On a terminal a local run shows images done out of matched, the rate and the time
    left while it runs; on a pipe (CI logs, `2> file`) it prints only the summary."""
    from tests.support.helpers import textured, write_image

    images = tmp_path / "in"
    for i in range(24):
        write_image(images / f"d{i % 3}" / f"img{i:02d}.jpg", textured(120, 160, 3, seed=i))
    code, drawn = _on_a_terminal("run", "--input", str(images), "--output",
                                 str(tmp_path / "tty"), "--max_sigma", "3")  # fmt: skip
    assert code == 0, drawn
    assert "24/24" in drawn and "images/s" in drawn, drawn
    assert "written 24, failed 0" in drawn
    piped = blur_augment("run", "--input", str(images), "--output", str(tmp_path / "pipe"))
    assert piped.returncode == 0 and "written 24" in piped.stderr
    assert "images/s]" not in piped.stderr and "\r" not in piped.stderr
