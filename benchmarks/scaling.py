"""Scaling: the same 1080p run with one and with two worker processes (the local runner's
multi_processing mode), interleaved, round by round.

    python benchmarks/scaling.py [--images 1200] [--rounds 3]   # about 5 minutes on 2 cores

Each round runs both settings on all the images and on a quarter of them, so each round gives
its own marginal rate (images / the extra seconds of the larger run: Python, Beam and the
workers' start-up drop out) and its own ratio of two processes to one; and, from the larger
run alone, its steady rate (the middle half of its outputs over the time between their
writes), which does not take the difference of two noisy wall times. The runner process's
CPU time per image (it moves every element between the workers) says where the rest goes on a
machine with as many cores as workers. And each round measures the machine's own ceiling: the
same per-image work as a plain loop with no Beam (read, decode, sample, blur, encode, write) in
one process, then in two at once, each pinned to its own core; and a loop of pure Python
arithmetic (no memory traffic) the same way. Two processes can scale no better than those.
Results go to stdout and to benchmarks/results/scaling.json. No assertion: people judge the
figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.throughput import fresh, machine, pipeline_run, write_dataset  # noqa: E402

SIZE = (1920, 1080)
MODE = ("--direct_running_mode", "multi_processing", "--direct_num_workers")


def steady_rate(out: Path) -> float:
    """Images per second while the run is in full flow: the middle half of its outputs, by
    the time each was written (start-up, the last stragglers and the runner's finish drop
    out), from one run rather than the difference of two."""
    times = sorted(path.stat().st_mtime_ns for path in out.rglob("*.jpg"))
    low, high = len(times) // 4, 3 * len(times) // 4
    return (high - low) / ((times[high] - times[low]) / 1e9)


_PINNED = """
import os, shutil, sys
from pathlib import Path
core, kind, source, scratch = int(sys.argv[1]), sys.argv[2], sys.argv[3], Path(sys.argv[4])
os.sched_setaffinity(0, {core})
from blur_augment.transforms.tuning import tune_worker_process
tune_worker_process()
if kind == "images":
    from benchmarks.throughput import file_loop
    out = scratch / f"ceiling{core}"
    shutil.rmtree(out, ignore_errors=True)
    file_loop(Path(source), out)
else:
    total = 0
    for i in range(int(source)):
        total += i * i % 7
"""


def pinned(cores: list[int], kind: str, source: str, scratch: Path) -> float:
    """Wall seconds of `_PINNED` run once per core, all at once, each pinned to its core."""
    started = time.perf_counter()
    running = [subprocess.Popen([sys.executable, "-c", _PINNED, str(core), kind, source,
                                 str(scratch)], cwd=ROOT) for core in cores]  # fmt: skip
    if any(process.wait() for process in running):
        raise RuntimeError(f"a pinned {kind} loop failed")
    return time.perf_counter() - started


def machine_ceiling(directory: Path, scratch: Path) -> dict[str, float]:
    """Two processes against one where they share nothing but the machine: 2 x (one's wall
    time) / (two's), for the plain per-image loop over `directory` and for pure arithmetic."""
    found = {}
    for kind, source in (("images", str(directory)), ("arithmetic", "20000000")):
        one = pinned([0], kind, source, scratch)
        found[kind] = 2 * one / pinned([0, 1], kind, source, scratch)
    return found


def one_round(datasets: dict[int, Path], scratch: Path) -> dict[str, dict]:
    """Both settings on both sizes: per setting, the marginal rate and the runner's CPU."""
    (small, little), (count, big) = sorted(datasets.items())
    found = {}
    for workers in ("1", "2"):
        runs = {n: pipeline_run(d, fresh(scratch / f"out{workers}"), *MODE, workers)
                for n, d in ((small, little), (count, big))}  # fmt: skip
        extra = runs[count]["seconds"] - runs[small]["seconds"]
        runner = runs[count]["runner_cpu_s"] - runs[small]["runner_cpu_s"]
        workers_cpu = runs[count]["workers_cpu_s"] - runs[small]["workers_cpu_s"]
        found[workers] = {
            "steady_images_per_s": steady_rate(scratch / f"out{workers}"),
            "marginal_images_per_s": (count - small) / extra,
            "runner_cpu_ms_per_image": 1000 * runner / (count - small),
            "workers_cpu_ms_per_image": 1000 * workers_cpu / (count - small),
            "seconds": runs[count]["seconds"],
        }
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=1200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "scaling.json"))
    args = parser.parse_args()
    small = max(args.images // 4, 1)
    rounds = []
    with tempfile.TemporaryDirectory() as name:
        scratch = Path(name)
        datasets = {small: scratch / "quarter", args.images: scratch / "all"}
        for n, directory in datasets.items():
            write_dataset(directory, n, SIZE)
        for index in range(args.rounds):
            found = one_round(datasets, scratch)
            ratio = found["2"]["marginal_images_per_s"] / found["1"]["marginal_images_per_s"]
            steady = found["2"]["steady_images_per_s"] / found["1"]["steady_images_per_s"]
            ceiling = machine_ceiling(datasets[small], scratch)
            rounds.append({**found, "two_vs_one": ratio, "two_vs_one_steady": steady,
                           "ceiling": ceiling})  # fmt: skip
            print(f"round {index + 1}: marginal 1 process {found['1']['marginal_images_per_s']:.1f}"
                  f" img/s, 2 processes {found['2']['marginal_images_per_s']:.1f}: x{ratio:.2f};"
                  f" steady 1 process {found['1']['steady_images_per_s']:.1f} img/s, 2 processes"
                  f" {found['2']['steady_images_per_s']:.1f}: x{steady:.2f}; runner CPU "
                  f"{found['2']['runner_cpu_ms_per_image']:.1f} ms per image, workers' "
                  f"{found['2']['workers_cpu_ms_per_image']:.1f} ms; the machine's ceiling, two "
                  f"plain loops x{ceiling['images']:.2f}, arithmetic x{ceiling['arithmetic']:.2f}",
                  flush=True)  # fmt: skip
    ratios = [r["two_vs_one"] for r in rounds]
    steadies = [r["two_vs_one_steady"] for r in rounds]
    report = {"machine": machine(), "images": args.images, "size": list(SIZE),
              "rounds": rounds, "two_vs_one_median": statistics.median(ratios),
              "two_vs_one_min": min(ratios),
              "two_vs_one_steady_median": statistics.median(steadies),
              "two_vs_one_steady_min": min(steadies),
              "ceiling_images_median": statistics.median(r["ceiling"]["images"] for r in rounds),
              "ceiling_arithmetic_median": statistics.median(
                  r["ceiling"]["arithmetic"] for r in rounds)}  # fmt: skip
    print(f"two processes / one, marginal: median x{report['two_vs_one_median']:.2f}, lowest "
          f"x{report['two_vs_one_min']:.2f}; steady: median "
          f"x{report['two_vs_one_steady_median']:.2f}, lowest "
          f"x{report['two_vs_one_steady_min']:.2f}, over {args.rounds} rounds; the machine's "
          f"ceiling (median): plain loops x{report['ceiling_images_median']:.2f}, arithmetic "
          f"x{report['ceiling_arithmetic_median']:.2f}")  # fmt: skip
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
