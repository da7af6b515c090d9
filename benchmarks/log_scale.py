"""The log at the size of real datasets: `summary`, a `query` and `report` on a synthetic blur log
of 2 and 20 million rows (2 and 20 million copies: 200,000 and 2 million images, 10 copies each)
and a matching results CSV, each command in a fresh process as a user runs it: wall time and
peak memory (targets: under 1 GB whatever the row count; `report` on 20 million rows under a
minute).

    python benchmarks/log_scale.py                 # 2 and 20 million rows (a few minutes)
    python benchmarks/log_scale.py --rows 2000000  # one size
    python benchmarks/log_scale.py --keep DIR      # keep (and reuse) the generated files
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from blur_augment.pipeline.schema import LOG_SCHEMA, MARKER, with_run_metadata  # noqa: E402
from blur_augment.transforms.blur import PYRAMID_STEPS  # noqa: E402

COPIES = 10
SHARD_ROWS = 500_000
OUTPUT = "/data/train-blurred"

# The command in a fresh process; its peak resident memory is VmHWM, which starts afresh with
# the process (ru_maxrss would carry over the high-water mark of the process that forked it).
_MEASURED = """
import re, sys
from blur_augment.pipeline.cli import main
code = main(sys.argv[1:])
peak = re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1)
print(f"RESULT {code} {int(peak) // 1024}", file=sys.stderr)
"""


def shard(start: int, rows: int, rng: np.random.Generator) -> tuple[pa.Table, pa.Table]:
    """Rows start..start+rows of the log (copy c of image i at row i * COPIES + c) and the
    matching results (one per copy, named by its path relative to --output)."""
    index = np.arange(start, start + rows)
    image, copy = index // COPIES, index % COPIES
    keys = np.char.add(np.char.add(np.char.add("d", (image % 100).astype(str)), "/img"),
                       np.char.zfill(image.astype(str), 8))  # fmt: skip
    relative = np.char.add(np.char.add(keys, "_blur"), np.char.add(copy.astype(str), ".jpg"))
    applied = rng.random(rows) < 0.9
    sigma = np.where(applied, rng.uniform(0, 10, rows), 0.0)
    kernel = np.where(applied, np.round(sigma * 6 + 1).astype(np.int32) | 1, 1)
    pyramid = sigma >= PYRAMID_STEPS[-1][0]  # where `auto` takes the pyramid (below factor 4's)
    given = {
        "key": np.char.add(keys, ".jpg"),
        "source_uri": np.char.add("/data/train/", np.char.add(keys, ".jpg")),
        "output_uri": np.char.add(OUTPUT + "/", relative),
        "copy_index": copy.astype(np.int32),
        "seed": np.full(rows, 7, np.int64),
        "applied": applied,
        "sigma_x": sigma,
        "sigma_y": sigma,
        "kernel_width": kernel.astype(np.int32),
        "kernel_height": kernel.astype(np.int32),
        "width": np.full(rows, 1920, np.int32),
        "height": np.full(rows, 1080, np.int32),
        "channels": np.full(rows, 3, np.int32),
        "dtype": np.full(rows, "uint8"),
        "format": np.full(rows, "jpeg"),
        "source_bytes": rng.integers(200_000, 900_000, rows),
        "output_bytes": rng.integers(200_000, 900_000, rows),
        "output_sha256": np.full(rows, "0" * 64),
        "exif_orientation": np.zeros(rows, np.int32),
        "blur_method": np.where(pyramid, "pyramid2", np.where(applied, "exact", "none")),
        "split": np.full(rows, "train"),
        "label_uris": pa.array([[]] * rows, pa.list_(pa.string())),
        "codec_path": np.where(applied, "yuv_planes", "none"),
    }
    # the columns a Gaussian run leaves empty (labels, the other kinds', the corruptions'): null
    columns = {f.name: given.get(f.name, pa.nulls(rows, f.type)) for f in LOG_SCHEMA}
    log = pa.table(columns, schema=LOG_SCHEMA)
    correct = rng.random(rows) < 0.95 - 0.04 * sigma  # accuracy falls with blur
    results = pa.table({"image": relative, "correct": correct.astype(np.int8)})
    return log, results


def generate(folder: Path, rows: int) -> tuple[Path, Path]:
    """The log directory (with its completion marker) and the results CSV, made once."""
    log_dir, results = folder / "_blur_log", folder / "results.csv"
    if (log_dir / MARKER).exists() and results.exists():
        return log_dir, results
    shutil.rmtree(folder, ignore_errors=True)
    log_dir.mkdir(parents=True)
    run = {"output": OUTPUT, "min_sigma": 0.0, "max_sigma": 10.0, "copies": COPIES, "seed": 7}
    schema = with_run_metadata(LOG_SCHEMA, run)
    rng = np.random.default_rng(0)
    writer = None
    for number, start in enumerate(range(0, rows, SHARD_ROWS)):
        log, result = shard(start, min(SHARD_ROWS, rows - start), rng)
        pq.write_table(log.replace_schema_metadata(schema.metadata),
                       log_dir / f"blur_log-{number:05d}.parquet")  # fmt: skip
        if writer is None:
            writer = pacsv.CSVWriter(results, result.schema)
        writer.write_table(result)
    writer.close()
    (log_dir / MARKER).write_text(json.dumps({"log_rows": rows}))
    return log_dir, results


def measured(*args: str) -> dict:
    """Wall time of the whole command (Python start-up included) and its peak memory."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _MEASURED, *args], capture_output=True, text=True, cwd=ROOT
    )
    seconds = time.perf_counter() - started
    line = next(x for x in done.stderr.splitlines() if x.startswith("RESULT"))
    _, code, peak = line.split()
    if code != "0":
        raise RuntimeError(done.stderr[-2000:])
    return {"seconds": round(float(seconds), 2), "peak_mb": int(peak)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, action="append", help="rows (repeatable)")
    parser.add_argument("--keep", help="folder to keep the generated logs in (and reuse)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "log_scale.json"))
    args = parser.parse_args()
    sizes = args.rows or [2_000_000, 20_000_000]
    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="log-scale-"))
    report = {}
    try:
        for rows in sizes:
            started = time.perf_counter()
            log_dir, results = generate(base / f"rows-{rows}", rows)
            print(f"{rows:,} rows: generated in {time.perf_counter() - started:.0f} s", flush=True)
            sql = "select round(sigma_x) as sigma, count(*) from blur_log group by 1 order by 1"
            joined = ("--results", str(results), "--on", "image", "--metric", "correct")
            commands = {
                "summary": ("summary", str(log_dir)),
                "query": ("query", str(log_dir), sql),
                "report": ("report", str(log_dir), *joined, "--bins", "10"),
            }
            report[rows] = {name: measured(*argv) for name, argv in commands.items()}
            for name, figures in report[rows].items():
                print(f"  {name:<8} {figures['seconds']:7.2f} s  peak {figures['peak_mb']:5d} MB",
                      flush=True)  # fmt: skip
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
