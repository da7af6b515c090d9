"""Storage latency: a gs:// to gs:// run on one worker with every request delayed, as Cloud
Storage delays them (20-50 ms each), against the same run with no delay.

    python benchmarks/storage_latency.py [--images 240] [--size 1920x1080] [--latency 0.04]

The GCS emulator (gcp-storage-emulator, in memory) runs in this process behind a recording
proxy (tests/faults.py) that adds `--latency` seconds to every request; `blur-augment run` runs
in a fresh process with the in-process runner (one worker). Each setting runs on all the images
and on a quarter of them, so that the marginal rate (images/s once Beam has started) leaves out
the fixed start-up; the rounds are interleaved and the best of them is kept. The proxy counts
the requests by kind, so the requests per image come from the same runs (the difference
between the two sizes, so fixed requests such as the listing and the log's shards drop out).
No assertion: people judge the figures.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.emulator import start_emulator  # noqa: E402
from benchmarks.throughput import encoded_set  # noqa: E402
from tests.support.faults import FaultyProxy  # noqa: E402


def upload(url: str, bucket_name: str, count: int, size: tuple[int, int]) -> None:
    from google.cloud import storage

    os.environ["STORAGE_EMULATOR_HOST"] = url
    client = storage.Client.create_anonymous_client()
    bucket = client.create_bucket(bucket_name)
    images = encoded_set(size, "jpeg", min(count, 16))

    def put(i: int) -> None:
        bucket.blob(f"in/d{i % 8}/img{i:05d}.jpg").upload_from_string(images[i % len(images)])

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(put, range(count)))


# The command, optionally with the sample step's storage overlap turned off (no read ahead, each
# write awaited): the serial reference, as the DoFn worked before it overlapped storage.
_COMMAND = """
import sys
import blur_augment.transforms.beam.sample as step
if sys.argv[1] == "serial":
    step.READ_AHEAD = step.WRITE_BEHIND = 0
from blur_augment.pipeline.cli import main
sys.exit(main(sys.argv[2:]))
"""


def run(proxy_url: str, bucket_name: str, mode: str = "overlapped") -> float:
    """One `blur-augment run` gs:// to gs://, in a fresh process; its wall time."""
    env = {**os.environ, "STORAGE_EMULATOR_HOST": proxy_url}
    args = ["run", "--input", f"gs://{bucket_name}/in", "--output", f"gs://{bucket_name}/out",
            "--overwrite", "--max_sigma", "10"]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _COMMAND, mode, *args], capture_output=True, text=True, env=env,
        cwd=ROOT,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=240)
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--latency", type=float, default=0.04, help="seconds per request")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "latency.json"))
    args = parser.parse_args()
    size = tuple(int(x) for x in args.size.split("x"))
    small = max(args.images // 4, 1)
    server, url = start_emulator()
    try:
        for count in (small, args.images):
            upload(url, f"images-{count}", count, size)
        settings = [("overlapped", 0.0), ("overlapped", args.latency), ("serial", args.latency)]
        best: dict[tuple[str, float, int], float] = {}
        requests: dict[tuple[str, float, int], dict[str, int]] = {}
        for _ in range(args.rounds):
            for mode, latency in settings:
                for count in (small, args.images):
                    with FaultyProxy(url, latency=latency) as proxy:
                        seconds = run(proxy.url, f"images-{count}", mode)
                    key = (mode, latency, count)
                    best[key] = min(best.get(key, seconds), seconds)
                    requests[key] = dict(proxy.kinds)
                    print(f"{mode:<10} latency {latency * 1000:3.0f} ms, {count:4d} images: "
                          f"{seconds:6.2f} s (peak {proxy.peak} requests in flight)",
                          flush=True)  # fmt: skip
    finally:
        server.stop()
    report: dict[str, object] = {"images": args.images, "size": args.size, "cv2": cv2.__version__}
    for mode, latency in settings:
        extra = best[(mode, latency, args.images)] - best[(mode, latency, small)]
        big, little = requests[(mode, latency, args.images)], requests[(mode, latency, small)]
        per_image = {k: round((big.get(k, 0) - little.get(k, 0)) / (args.images - small), 3)
                     for k in sorted(set(big) | set(little))}  # fmt: skip
        report[f"{mode}, {latency * 1000:.0f} ms"] = {
            "marginal_images_per_s": round((args.images - small) / extra, 1),
            "wall_s": round(best[(mode, latency, args.images)], 2),
            "requests_per_image": {k: v for k, v in per_image.items() if v},
            "requests_total": sum(big.values()),
        }
    rates = [report[f"{m}, {lat * 1000:.0f} ms"]["marginal_images_per_s"]  # type: ignore[index]
             for m, lat in settings]  # fmt: skip
    report["latency_vs_none"] = round(rates[1] / rates[0], 3)
    report["serial_latency_vs_none"] = round(rates[2] / rates[0], 3)
    print(json.dumps(report, indent=1))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
