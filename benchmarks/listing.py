"""Listing a big input: Beam's single whole match against the split listing (the first level,
then one match per sub-directory, as ListInput and MatchInputs do), on a local tree of 200,000
files and on the GCS emulator with 20,000 objects. Each way runs in a fresh process: its wall
time and peak memory (VmHWM) are those of the process that lists (`held_mb`: above the peak of
the same process listing nothing); with the split listing that
process is one worker doing every element in turn, so the peak is what one element costs and
the elements are what a runner spreads over workers.

    python benchmarks/listing.py [--files 200000] [--objects 20000]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import functools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.emulator import start_emulator  # noqa: E402

_MEASURED = """
import re, sys, time
sys.path.insert(0, sys.argv[3])
from apache_beam.io.filesystems import FileSystems
# storage: the anonymous client against an emulator
from blur_augment.transforms.io import listing, storage
from blur_augment.transforms.beam.matching import ListInput
way, spec = sys.argv[1], sys.argv[2]
started = time.perf_counter()
count = elements = 0
if way == "none":  # the process's own peak, imports and all, listing nothing
    pass
elif way == "whole":
    pattern = spec.rstrip("/") + "/**"
    count = sum(1 for _ in FileSystems.match([pattern])[0].metadata_list)
    elements = 1
else:
    for kind, path, _ in ListInput().process(spec):
        elements += 1
        if kind == listing.FILE:
            count += 1
        else:
            pattern = path + "**" if kind == listing.PREFIX else path
            count += len(FileSystems.match([pattern])[0].metadata_list)
seconds = time.perf_counter() - started
peak = re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1)
print(f"RESULT {count} {elements} {seconds} {int(peak) // 1024}")
"""


def measure(way: str, spec: str, env: dict[str, str] | None = None) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _MEASURED, way, spec, str(ROOT)],
        capture_output=True, text=True, env={**os.environ, **(env or {})},
    )  # fmt: skip
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT")), None)
    if line is None:
        raise RuntimeError(done.stderr[-2000:])
    _, count, elements, seconds, peak = line.split()
    return {"files": int(count), "elements": int(elements), "seconds": round(float(seconds), 2),
            "peak_mb": int(peak), "held_mb": int(peak) - baseline_mb()}  # fmt: skip


@functools.cache
def baseline_mb() -> int:
    """The peak of the measuring process when it lists nothing: what `held_mb` leaves out."""
    done = subprocess.run([sys.executable, "-c", _MEASURED, "none", "", str(ROOT)],
                          capture_output=True, text=True)  # fmt: skip
    return int(done.stdout.split()[-1])


def local_tree(root: Path, files: int) -> None:
    """files spread over 20 top directories of 25 sub-directories each."""
    per_leaf = max(files // 500, 1)
    for top in range(20):
        for sub in range(25):
            leaf = root / f"t{top:02d}" / f"s{sub:02d}"
            leaf.mkdir(parents=True, exist_ok=True)
            for i in range(per_leaf):
                (leaf / f"img{i:05d}.jpg").touch()


def emulator_bucket(objects: int) -> tuple[object, str]:
    """The emulator (benchmarks/emulator.py) with `objects` tiny objects under train/ (20
    prefixes of 25 sub-prefixes)."""
    from google.cloud import storage

    server, url = start_emulator()
    os.environ["STORAGE_EMULATOR_HOST"] = url
    bucket = storage.Client.create_anonymous_client().create_bucket("listing")
    names = [f"train/t{i % 20:02d}/s{(i // 20) % 25:02d}/img{i:06d}.jpg" for i in range(objects)]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: bucket.blob(n).upload_from_string(b"x"), names))
    return server, url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=200_000)
    parser.add_argument("--objects", type=int, default=20_000)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "listing.json"))
    args = parser.parse_args()
    report = {}
    with tempfile.TemporaryDirectory() as scratch:
        started = time.perf_counter()
        local_tree(Path(scratch) / "tree", args.files)
        print(f"local tree of {args.files:,} files made in {time.perf_counter() - started:.0f} s")
        for way in ("whole", "split"):
            report[f"local {way}"] = measure(way, str(Path(scratch) / "tree"))
            print(f"  {way:<6} {report[f'local {way}']}", flush=True)
    started = time.perf_counter()
    server, url = emulator_bucket(args.objects)
    print(f"emulator with {args.objects:,} objects in {time.perf_counter() - started:.0f} s")
    try:
        for way in ("whole", "split"):
            report[f"gcs {way}"] = measure(way, "gs://listing/train",
                                           {"STORAGE_EMULATOR_HOST": url})  # fmt: skip
            print(f"  {way:<6} {report[f'gcs {way}']}", flush=True)
    finally:
        server.stop()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
