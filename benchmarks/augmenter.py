"""blur_augment.Augmenter in a training loop against albumentations, one core.

    python benchmarks/augmenter.py            # about a minute
    python benchmarks/augmenter.py --quick    # a few seconds

Per image of 224x224 and 640x480 (8-bit RGB arrays, as a data loader holds them), interleaved
in rounds over the same arrays, median microseconds per image:

- Gaussian: `Augmenter(blur="gaussian", min_sigma=S, max_sigma=S)` against
  `A.GaussianBlur(sigma_limit=(S, S), blur_limit=0, p=1)` (the kernel size from sigma, as ours);
- motion: `Augmenter(blur="motion", motion_length=(L, L))` against
  `A.MotionBlur(blur_limit=(K, K), p=1)` with K the odd size nearest L (albumentations draws
  its own line inside a KxK kernel, so the blur is alike, not equal);
- the draw alone (`Augmenter.draw`, sha256 of seed:copy:key).

Each call draws afresh (the key changes), as a data loader's calls do. Results go to stdout and
to benchmarks/results/augmenter.json; the ratio column is albumentations' time over ours (above
1: ours is faster). No assertion: people judge the figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.throughput import machine  # noqa: E402
from blur_augment import Augmenter  # noqa: E402

SIZES = {"224x224": (224, 224), "640x480": (640, 480)}
SIGMAS = (1.0, 3.0, 6.0)
LENGTHS = (7.0, 15.0, 25.0)


def arrays(size: tuple[int, int], count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    width, height = size
    base = cv2.GaussianBlur(rng.integers(0, 256, (height, width, 3), np.uint8), (0, 0), 2)
    return [np.ascontiguousarray(np.roll(base, i, axis=1)) for i in range(count)]


def timed(call: Callable[[np.ndarray, int], object], images: list[np.ndarray]) -> float:
    """Seconds per image over the list."""
    start = time.perf_counter()
    for index, image in enumerate(images):
        call(image, index)
    return (time.perf_counter() - start) / len(images)


def cases(albumentations) -> dict[str, tuple[Callable, Callable]]:
    """name -> (ours, albumentations'), each a call on (RGB image, index)."""
    found = {}
    for sigma in SIGMAS:
        ours = Augmenter(blur="gaussian", min_sigma=sigma, max_sigma=sigma)
        theirs = albumentations.GaussianBlur(sigma_limit=(sigma, sigma), blur_limit=0, p=1.0)
        found[f"gaussian sigma {sigma:g}"] = (
            lambda image, i, a=ours: a(image, key=f"k{i}", copy=0, rgb=True),
            lambda image, i, t=theirs: t(image=image),
        )
    for length in LENGTHS:
        ours = Augmenter(blur="motion", motion_length=(length, length))
        size = int(length) // 2 * 2 + 1
        theirs = albumentations.MotionBlur(blur_limit=(size, size), p=1.0)
        found[f"motion length {length:g}"] = (
            lambda image, i, a=ours: a(image, key=f"k{i}", copy=0, rgb=True),
            lambda image, i, t=theirs: t(image=image),
        )
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="one round, few images")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "augmenter.json"))
    args = parser.parse_args()
    import albumentations

    cv2.setNumThreads(1)  # one core, as a data-loader worker
    rounds, count = (1, 10) if args.quick else (5, 60)
    table = []
    print(f"{'size':8} {'case':22} {'ours us':>9} {'albu us':>9} {'albu/ours':>9}")
    for size_name, size in SIZES.items():
        images = arrays(size, count)
        for name, (ours, theirs) in cases(albumentations).items():
            ours(images[0], 0), theirs(images[0], 0)  # warm: kernels, compiled code
            mine, peer = [], []
            for _ in range(rounds):
                mine.append(timed(ours, images))
                peer.append(timed(theirs, images))
            ratio = statistics.median(p / m for p, m in zip(peer, mine, strict=True))
            row = {"size": size_name, "case": name, "ours_us": statistics.median(mine) * 1e6,
                   "albumentations_us": statistics.median(peer) * 1e6, "ratio": ratio}  # fmt: skip
            table.append(row)
            print(f"{size_name:8} {name:22} {row['ours_us']:9.0f} "
                  f"{row['albumentations_us']:9.0f} {ratio:9.2f}")  # fmt: skip
    augmenter = Augmenter(blur="gaussian,motion,defocus")
    start = time.perf_counter()
    draws = 2000 if args.quick else 20000
    for index in range(draws):
        augmenter.draw(f"train/{index}.jpg", index % 7)
    draw_us = (time.perf_counter() - start) / draws * 1e6
    print(f"the draw alone: {draw_us:.1f} us")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(
        {"machine": machine(), "albumentations": albumentations.__version__,
         "opencv": cv2.__version__, "rows": table, "draw_us": draw_us}, indent=1))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
