"""A user's own `transforms.py` and `pipeline.py` (most PyTorch projects keep one) must not
shadow blur-augment's modules, in the command's process or in its worker processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq

from tests.support.command import COMMAND
from tests.support.helpers import textured, write_image

RAISES = "raise ImportError('the user\\'s own {name}.py was imported instead of blur_augment')\n"


def _user_project(root: Path) -> Path:
    """A training repository with modules named like the layout's folders, each raising."""
    project = root / "my-detector"
    project.mkdir()
    for name in ("transforms", "pipeline"):
        (project / f"{name}.py").write_text(RAISES.format(name=name))
    return project


def test_a_run_with_two_worker_processes_ignores_the_users_own_modules(tmp_path: Path):
    project = _user_project(tmp_path)
    for index in range(4):
        write_image(project / "data" / "train" / f"img{index}.png", textured(24, 32, seed=index))
    out = tmp_path / "out"
    # cwd and PYTHONPATH both put the user's modules first, as `python -m` or a notebook would
    env = {**os.environ, "PYTHONPATH": str(project)}
    process = subprocess.Popen(
        [COMMAND, "run", "--input", "data/train", "--output", str(out), "--seed", "3",
         "--direct_num_workers", "2", "--direct_running_mode", "multi_processing"],
        cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,  # its workers in its own group, killed with it on a time-out
    )  # fmt: skip
    try:
        _, stderr = process.communicate(timeout=240)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 0, stderr
    rows = pq.read_table(out / "_blur_log").to_pylist()
    assert sorted(row["key"] for row in rows) == [f"img{i}.png" for i in range(4)]
    assert all((out / row["key"]).is_file() for row in rows)


def test_the_public_api_and_python_m_ignore_the_users_own_modules(tmp_path: Path):
    project = _user_project(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(project)}
    api = subprocess.run(
        [sys.executable, "-c", "from blur_augment import BlurSpec, sample; "
         "print(sample(0, 0, 'a.jpg', BlurSpec()).sigma_x)"],
        cwd=project, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert api.returncode == 0, api.stderr
    assert float(api.stdout) >= 0
    module = subprocess.run([sys.executable, "-m", "blur_augment", "--version"], cwd=project,
                            env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert module.returncode == 0, module.stderr
    assert module.stdout.startswith("blur-augment ")
