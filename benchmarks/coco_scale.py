"""A COCO JSON the size of train2017 instances, read and rewritten with --copies 3.

Generates a synthetic file (118,287 images, 860,001 annotations with polygons, ~450 MB, the
shape of instances_train2017.json), then runs, each in a fresh process so that its peak memory
(ru_maxrss) is its own, what a worker does with it:
  index:   ReadIndex's pass over the images (every image entry, keyed by its sample)
  rewrite: RewriteIndex's output JSON with 3 copies of every image (--include_originals)
and checks the output with a streaming count. Prints one JSON line per step.

    python benchmarks/coco_scale.py [--images 118287 --annotations 860001] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def generate(path: Path, images: int, annotations: int) -> None:
    """train2017's shape: images then annotations (polygons of 8-34 points), 80 categories."""
    rng = random.Random(2017)
    with path.open("w") as f:
        f.write('{"info": {"description": "synthetic train2017", "year": 2017}, ')
        f.write('"licenses": [{"id": 1, "name": "Attribution License", "url": "x"}], "images": [')
        for i in range(1, images + 1):
            image = {
                "license": 1,
                "file_name": f"{i:012d}.jpg",
                "coco_url": f"http://images.cocodataset.org/train2017/{i:012d}.jpg",
                "height": 480,
                "width": 640,
                "date_captured": "2013-11-14 11:18:45",
                "flickr_url": f"http://farm4.staticflickr.com/{i}.jpg",
                "id": i,
            }
            f.write(("," if i > 1 else "") + json.dumps(image))
        f.write('], "annotations": [')
        for a in range(1, annotations + 1):
            points = [round(rng.uniform(0, 640), 2) for _ in range(2 * rng.randint(8, 34))]
            annotation = {
                "segmentation": [points],
                "area": round(rng.uniform(10, 90000), 4),
                "iscrowd": 0,
                "image_id": rng.randint(1, images),
                "bbox": [round(rng.uniform(0, 600), 2) for _ in range(4)],
                "category_id": rng.randint(1, 90),
                "id": a,
            }
            f.write(("," if a > 1 else "") + json.dumps(annotation))
        categories = [{"supercategory": "s", "id": c, "name": f"c{c}"} for c in range(1, 81)]
        f.write('], "categories": ' + json.dumps(categories) + "}")


def step_index(source: str) -> dict:
    from blur_augment.transforms.labels import coco

    with open(source, "rb") as stream:
        count = sum(1 for entry in coco.iter_images(stream) if coco.checked_file_name(entry))
    return {"images_read": count}


def step_rewrite(source: str, target: str, copies: int) -> dict:
    from blur_augment.transforms.labels import coco

    with open(source, "rb") as stream:
        ids = [entry["id"] for entry in coco.iter_images(stream)]
    listings = [coco.CopyEntry(i, k, f"{i:012d}_blur{k}.jpg") for i in ids for k in range(copies)]
    with open(target, "wb") as out:
        counts = coco.rewrite(partial(open, source, "rb"), out, listings, include_originals=True)
    return counts


def measured(step: str, *args: str) -> dict:
    """Run one step in a fresh interpreter; its wall time and peak RSS."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, __file__, "--step", step, *args],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=118_287)
    parser.add_argument("--annotations", type=int, default=860_001)
    parser.add_argument("--copies", type=int, default=3)
    parser.add_argument("--keep", help="a folder for the files (default: a temporary one)")
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.step:
        sys.path.insert(0, str(ROOT))
        if options.step == "index":
            result = step_index(*options.args)
        else:
            result = step_rewrite(options.args[0], options.args[1], int(options.args[2]))
        result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        print(json.dumps(result))
        return
    folder = Path(options.keep or tempfile.mkdtemp(prefix="coco-scale-"))
    folder.mkdir(parents=True, exist_ok=True)
    source, target = folder / "instances_train2017.json", folder / "out.json"
    if not source.exists():
        started = time.perf_counter()
        generate(source, options.images, options.annotations)
        print(f"generated {source} ({source.stat().st_size / 1e6:.0f} MB) in "
              f"{time.perf_counter() - started:.0f} s", file=sys.stderr)  # fmt: skip
    size_mb = round(source.stat().st_size / 1e6)
    index = measured("index", str(source))
    print(json.dumps({"step": "index", "json_mb": size_mb, **index}))
    rewrite = measured("rewrite", str(source), str(target), str(options.copies))
    rewrite["output_mb"] = round(target.stat().st_size / 1e6)
    print(json.dumps({"step": f"rewrite --copies {options.copies}", "json_mb": size_mb, **rewrite}))
    expected_images = options.images * (options.copies + 1)
    assert rewrite["images"] == expected_images, rewrite
    assert rewrite["annotations"] + rewrite["copied_annotations"] == options.annotations * (
        options.copies + 1
    ), rewrite
    if not options.keep:
        source.unlink()
        target.unlink()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
