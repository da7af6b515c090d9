"""One fixed job, its log rows, error rows and output hashes stored before a refactoring: the
refactored code must make them again exactly (tests/e2e/test_golden.py).

The job covers loose images (8- and 16-bit, gray, alpha, JPEG and PNG, a broken file), a YOLO
and a COCO dataset with copies and originals, and a WebDataset and a Parquet shard. JPEGs take
`--codec_path pixels`, so the bytes do not depend on whether this machine has libturbojpeg.
Paths are stored relative to the job's folder, so the record holds on any machine. Encoded
bytes depend on the encoders (an OpenCV wheel update may re-encode a JPEG differently), so the
record keeps the OpenCV version it was made with and, beside each image's byte hash, the hash of
its decoded pixels: pixels are checked always, bytes only under the recorded OpenCV.

Regenerate (only when a change of behaviour is intended, and say so in the commit):
    .venv/bin/python -m tests.support.golden --write
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import tarfile
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq

from tests.support.datasets import coco, yolo
from tests.support.helpers import textured, write_image
from tests.support.shards import webdataset_samples, write_hf_parquet, write_webdataset

RECORD = Path(__file__).with_name("golden_job.json")
# The log's columns when the record was made: later versions may add columns, never change these.
COLUMNS = (
    "key", "source_uri", "output_uri", "copy_index", "seed", "applied", "sigma_x", "sigma_y",
    "kernel_width", "kernel_height", "width", "height", "channels", "dtype", "format",
    "source_bytes", "output_bytes", "output_sha256", "exif_orientation", "blur_method", "split",
    "label_uris", "codec_path", "label_sha256",
)  # fmt: skip
RUNS = {  # input folder -> extra options
    "loose": ["--copies", "2", "--include_originals", "--max_sigma", "8", "--seed", "11"],
    "yolo": ["--copies", "2", "--include_originals", "--seed", "12"],
    "coco": ["--copies", "2", "--seed", "13"],
    "shards": ["--copies", "2", "--include_originals", "--seed", "14"],
}


def build_inputs(root: Path) -> None:
    loose = root / "loose"
    write_image(loose / "a.jpg", textured(40, 56, 3, seed=1))
    write_image(loose / "deep" / "b.png", textured(33, 41, 3, seed=2))
    write_image(loose / "gray.png", textured(30, 30, 1, seed=3))
    write_image(loose / "wide16.png", textured(20, 50, 3, "uint16", seed=4))
    write_image(loose / "alpha.png", textured(25, 35, 4, seed=5))
    write_image(loose / "big.png", textured(120, 160, 3, seed=6))  # sigma up to 8: pyramid
    (loose / "broken.jpg").write_bytes(b"not a jpeg")
    yolo(root / "yolo")
    coco(root / "coco")
    _fixed_times(write_webdataset(root / "shards" / "train-000000.tar", webdataset_samples(0, 4)))
    write_hf_parquet(root / "shards" / "train-000001.parquet", 3, seed=7)


def _fixed_times(shard: Path) -> None:
    """The tar as webdataset wrote it, but with every member's time fixed (it writes the time
    of writing, and the copies keep their source's headers)."""
    with tarfile.open(shard) as tar:
        members = [(info, tar.extractfile(info).read()) for info in tar.getmembers()]
    with tarfile.open(shard, "w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            info.mtime, info.pax_headers = 1_700_000_000, {}
            tar.addfile(info, io.BytesIO(data))


def _relative(value: object, root: str) -> object:
    if isinstance(value, str):
        return value.replace(root, "ROOT")
    if isinstance(value, list):
        return [_relative(v, root) for v in value]
    return value


def run_job(root: Path) -> dict:
    """Run the job over inputs built in `root`; what it made, paths relative to `root`."""
    from blur_augment.pipeline.cli import main

    build_inputs(root)
    made: dict[str, dict] = {}
    for name, options in RUNS.items():
        out = root / "out" / name
        argv = ["run", "--input", str(root / name), "--output", str(out), "--codec_path",
                "pixels", *options]  # fmt: skip
        assert main(argv) == 0, name
        rows = pq.read_table(out / "_blur_log").to_pylist()
        errors = pq.read_table(out / "_blur_errors").to_pylist()
        marker = json.loads((out / "_blur_log" / "_SUCCESS").read_text())
        made[name] = {
            "rows": sorted(
                ({c: _relative(r[c], str(root)) for c in COLUMNS} for r in rows),
                key=lambda r: (r["key"], r["copy_index"]),
            ),
            "errors": sorted(
                ({k: _relative(v, str(root)) for k, v in e.items()} for e in errors),
                key=lambda e: (e["key"], e["copy_index"]),
            ),
            "files": {
                p.relative_to(out).as_posix(): hashlib.sha256(
                    p.read_bytes().replace(str(root).encode(), b"ROOT")  # data.yaml names it
                ).hexdigest()
                for p in sorted(out.rglob("*"))
                if p.is_file() and not p.relative_to(out).as_posix().startswith("_blur_")
            },
            "dataset_files": sorted(_relative(k, str(root)) for k in marker["dataset_file_hashes"]),
            "pixels": _pixel_hashes(out),
        }
    made["opencv"] = cv2.__version__
    return made


LOSSLESS = (".png", ".tif", ".tiff", ".bmp")  # decoded pixels depend on our arithmetic alone


def _pixel_hashes(out: Path) -> dict[str, str]:
    """sha256 of the decoded pixels (shape, dtype and values) of each lossless image written."""
    hashes = {}
    for path in sorted(out.rglob("*")):
        name = path.relative_to(out).as_posix()
        if path.suffix.lower() in LOSSLESS and not name.startswith("_blur_"):
            pixels = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_UNCHANGED)
            header = f"{pixels.shape}{pixels.dtype}".encode()
            hashes[name] = hashlib.sha256(header + pixels.tobytes()).hexdigest()
    return hashes


def main() -> int:
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help=f"rewrite {RECORD.name}")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        made = run_job(Path(scratch))
    if args.write:
        RECORD.write_text(json.dumps(made, indent=1, sort_keys=True) + "\n")
        print(f"written {RECORD}")
        return 0
    same = made == json.loads(RECORD.read_text())
    print("the job reproduces the record" if same else "the job differs from the record")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
