"""`evaluate` at the size of COCO val2017 as a benchmark: 5,000 images x 6 levels (30,000
copies, ~220,000 boxes) and 100 predictions per copy (3 million), against pycocotools and
faster-coco-eval evaluating the same 30,000 images at once. Each is timed in a fresh process,
with its peak memory.

    python benchmarks/evaluate_scale.py [--images 5000] [--levels 6] [--skip_pycocotools]

The log, the COCO JSON and the predictions are generated (a log written directly, as a run
with `--sigmas` writes it), not blurred: what is measured is the evaluation.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from blur_augment.pipeline.schema import LOG_SCHEMA, with_run_metadata  # noqa: E402

CATEGORIES = 80


def generate(folder: Path, images: int, levels: int, seed: int = 0) -> tuple[Path, Path, Path]:
    """(log dir, ground truth JSON, predictions JSON) of a benchmark of `images` x `levels`."""
    rng = np.random.default_rng(seed)
    out = folder / "bench"
    sigmas = [0.0, 1.0, 2.0, 3.0, 4.0, 6.0][:levels]
    entries, annotations, rows, predictions = [], [], [], []
    for i in range(images):
        count = int(rng.poisson(7.3))
        w, h = rng.uniform(10, 200, (2, count))
        x, y = rng.uniform(0, 640 - w), rng.uniform(0, 480 - h)
        cls = rng.integers(1, CATEGORIES + 1, count)
        for k, sigma in enumerate(sigmas):
            image_id = i * levels + k + 1
            name = f"{i:06d}_blur{k}.jpg"
            entries.append({"id": image_id, "file_name": name, "width": 640, "height": 480})
            rows.append(_row(out, name, k, sigma))
            for j in range(count):
                box = [x[j], y[j], w[j], h[j]]
                annotations.append({"id": len(annotations) + 1, "image_id": image_id,
                                    "category_id": int(cls[j]), "iscrowd": 0, "bbox": box,
                                    "area": w[j] * h[j]})  # fmt: skip
            predictions.append(_predictions(rng, image_id, x, y, w, h, cls, sigma))
    (out / "annotations").mkdir(parents=True)
    truth = out / "annotations" / "instances_val2017.json"
    categories = [{"id": c, "name": f"class{c}"} for c in range(1, CATEGORIES + 1)]
    truth.write_text(json.dumps({"images": entries, "annotations": annotations,
                                 "categories": categories}))  # fmt: skip
    found = folder / "predictions.json"
    with found.open("w") as f:
        f.write("[" + ",".join(p for chunk in predictions for p in chunk) + "]")
    metadata = {"output": str(out), "sigmas": sigmas, "copies": levels, "min_sigma": 0.0,
                "max_sigma": 3.0, "dataset": {"kind": "coco", "index_files":
                                              ["annotations/instances_val2017.json"]}}  # fmt: skip
    (out / "_blur_log").mkdir()
    table = pa.Table.from_pylist(rows, schema=LOG_SCHEMA)
    pq.write_table(table.cast(with_run_metadata(LOG_SCHEMA, metadata)),
                   out / "_blur_log" / "part-00000-of-00001.parquet")  # fmt: skip
    (out / "_blur_log" / "_SUCCESS").write_text(json.dumps({"log_rows": len(rows)}))
    return out / "_blur_log", truth, found


def _row(out: Path, name: str, copy: int, sigma: float) -> dict:
    return {"key": name, "source_uri": "", "output_uri": f"{out}/val2017/{name}",
            "copy_index": copy, "seed": 0, "applied": sigma > 0, "sigma_x": sigma,
            "sigma_y": sigma, "kernel_width": 1, "kernel_height": 1, "width": 640, "height": 480,
            "channels": 3, "dtype": "uint8", "format": "jpeg", "source_bytes": 0,
            "output_bytes": 0, "output_sha256": "", "exif_orientation": 0,
            "blur_method": "exact", "split": "val2017", "label_uris": [], "codec_path": "pixels",
            "label_sha256": []}  # fmt: skip


def _predictions(rng, image_id, x, y, w, h, cls, sigma) -> list[str]:
    """100 detections: one near each box (worse with sigma), the rest anywhere."""
    noise = 2 + 3 * sigma
    count = len(x)
    found = []
    for j in range(count):
        box = (x[j] + rng.normal(0, noise), y[j] + rng.normal(0, noise), w[j], h[j])
        found.append((int(cls[j]), box, rng.uniform(0.4, 1.0) / (1 + 0.2 * sigma)))
    for _ in range(100 - count):
        bw, bh = rng.uniform(10, 200, 2)
        box = (rng.uniform(0, 440), rng.uniform(0, 280), bw, bh)
        found.append((int(rng.integers(1, CATEGORIES + 1)), box, rng.uniform(0, 0.6)))
    return [f'{{"image_id":{image_id},"category_id":{c},"bbox":[{b[0]:.2f},{b[1]:.2f},'
            f'{b[2]:.2f},{b[3]:.2f}],"score":{s:.4f}}}' for c, b, s in found]  # fmt: skip


_MEASURED = """
import contextlib, io, resource, sys, time, json
started = time.perf_counter()
which, truth, found = sys.argv[1], sys.argv[2], sys.argv[3]
if which == "blur-augment":
    from blur_augment.pipeline.cli import main
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(["evaluate", truth, "--predictions", found, *sys.argv[4:], "--format", "json"])
    assert code == 0
else:
    if which == "pycocotools":
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    else:
        from faster_coco_eval import COCO, COCOeval_faster as COCOeval
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(truth)
        dt = gt.loadRes(found)
        evaluation = COCOeval(gt, dt, "bbox")
        evaluation.evaluate(); evaluation.accumulate(); evaluation.summarize()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": time.perf_counter() - started, "peak_mb": peak}))
"""


def measure(which: str, log: Path, truth: Path, found: Path, *extra: str) -> dict:
    target = str(log) if which == "blur-augment" else str(truth)
    done = subprocess.run([sys.executable, "-c", _MEASURED, which, target, str(found), *extra],
                          capture_output=True, text=True, cwd=ROOT)  # fmt: skip
    if done.returncode:
        raise RuntimeError(done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--levels", type=int, default=6)
    parser.add_argument("--skip_pycocotools", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        started = time.perf_counter()
        log, truth, found = generate(Path(scratch), args.images, args.levels)
        print(f"generated {args.images * args.levels} copies, "
              f"{found.stat().st_size / 1e6:.0f} MB of predictions in "
              f"{time.perf_counter() - started:.0f} s", flush=True)  # fmt: skip
        results = {
            "blur-augment, no intervals": measure("blur-augment", log, truth, found,
                                                  "--bootstrap", "0"),
            "blur-augment, 100 resamples": measure("blur-augment", log, truth, found),
            "faster-coco-eval, all at once": measure("faster", log, truth, found),
        }  # fmt: skip
        if not args.skip_pycocotools:
            results["pycocotools, all at once"] = measure("pycocotools", log, truth, found)
    for name, result in results.items():
        print(f"{name:32} {result['seconds']:7.1f} s  {result['peak_mb']:7.0f} MB peak")


if __name__ == "__main__":
    main()
