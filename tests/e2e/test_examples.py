"""The examples run as a user runs them: the robustness loop on scikit-learn's digits."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_robustness_loop_example(tmp_path: Path):
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "robustness_loop.py"),
                           str(tmp_path)], capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0].split()[0] == "level" and len(lines) == 1 + 5
    clean, blurred = (float(v) for v in lines[-1].split()[-2:])
    assert blurred > clean  # trained on blur, the model holds up where the clean one falls
