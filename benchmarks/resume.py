"""Kill a run at about half, resume it, and compare with an uninterrupted run.

2,000 JPEGs (640x480 by default, --size), sigma U[0,3], one copy, the in-process runner, as
a user runs it: the full run's wall time, then a run killed once half its images are written, then
`--resume`; prints the resumed run's time as a share of the full run's (target: under 60%).

    python benchmarks/resume.py [--images 2000] [--size 640x480] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.helpers import textured, write_image  # noqa: E402

COMMAND = str(Path(sys.executable).with_name("blur-augment"))


def make_images(folder: Path, count: int, width: int, height: int) -> None:
    for i in range(count):
        path = folder / f"d{i % 20:02d}" / f"img{i:05d}.jpg"
        if not path.exists():
            write_image(path, textured(height, width, 3, seed=i))


def run(*args: str) -> float:
    started = time.perf_counter()
    subprocess.run([COMMAND, "run", *args], check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--size", default="640x480", help="WIDTHxHEIGHT of the images")
    parser.add_argument("--keep", help="a folder for the inputs (default: a temporary one)")
    options = parser.parse_args()
    work = Path(options.keep or tempfile.mkdtemp(prefix="resume-bench-"))
    width, height = (int(v) for v in options.size.split("x"))
    images = work / f"in-{options.size}"
    make_images(images, options.images, width, height)
    common = ("--input", str(images), "--seed", "1", "--max_sigma", "3")

    full_out = work / "full"
    shutil.rmtree(full_out, ignore_errors=True)
    full = run(*common, "--output", str(full_out))

    out = work / "killed"
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    process = subprocess.Popen(
        [COMMAND, "run", *common, "--output", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    while len(list(out.rglob("img*.jpg"))) < options.images // 2:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    killed_after = time.perf_counter() - started
    written = len(list(out.rglob("img*.jpg")))
    resumed = run(*common, "--output", str(out), "--resume")
    print(
        json.dumps(
            {
                "images": options.images,
                "size": options.size,
                "full_run_s": round(full, 1),
                "killed_after_s": round(killed_after, 1),
                "written_when_killed": written,
                "resume_s": round(resumed, 1),
                "resume_share_of_full": round(resumed / full, 3),
            }
        )
    )
    if not options.keep:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
