"""The robustness loop on real data that ships inside a package: scikit-learn's digits.

1. the digits as PNG files, a training and a validation folder;
2. a benchmark from the validation folder (`run --sigmas`): every digit at sigma 0..4;
3. a classifier trained on the clean training digits, run on the benchmark, and its accuracy
   per sigma from `report`;
4. the training folder augmented with blur (`run --max_sigma 4 --copies 3 --include_originals`),
   a second classifier trained on it, run on the same benchmark, measured the same way.

    python examples/robustness_loop.py [WORK_DIR]

Prints the accuracy of both per sigma (the README's figures come from this) and exits 0 when
the blur-augmented model is the better one on the most blurred level.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
from sklearn.datasets import load_digits
from sklearn.svm import SVC

SIGMAS = "0,1,2,3,4"
SIZE = 32  # the 8x8 digits upscaled, so that a blur of a pixel or two means something
COMMAND = str(Path(sys.executable).parent / "blur-augment")


def write_digits(root: Path) -> None:
    """Two thirds of the digits for training, a third for validation, as 32x32 gray PNGs."""
    digits = load_digits()
    order = np.random.default_rng(0).permutation(len(digits.images))
    for rank, index in enumerate(order):
        split = "train" if rank % 3 else "val"
        pixels = (digits.images[index] * (255 / 16)).astype(np.uint8)
        image = cv2.resize(pixels, (SIZE, SIZE), interpolation=cv2.INTER_CUBIC)
        path = root / split / str(digits.target[index]) / f"{index:04d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), image)


def blur_augment(*args: str) -> None:
    done = subprocess.run([COMMAND, *args], capture_output=True, text=True)
    if done.returncode:
        sys.exit(done.stderr)


def features(path: str) -> np.ndarray:
    return cv2.imread(path, cv2.IMREAD_GRAYSCALE).astype(np.float32).ravel() / 255


def labelled(log_dir: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Every written image of a log, its digit (its folder's name) and its key."""
    rows = pq.read_table(log_dir).to_pylist()
    x = np.stack([features(r["output_uri"]) for r in rows])
    y = np.array([int(Path(r["output_uri"]).parent.name) for r in rows])
    return x, y, [r["key"] + f"#{r['copy_index']}" for r in rows]


def accuracy_per_sigma(model: SVC, work: Path, name: str) -> dict[str, float]:
    """The model on the benchmark, measured by `report` (correct: 0 or 1 per copy)."""
    rows = pq.read_table(work / "bench" / "_blur_log").to_pylist()
    x = np.stack([features(r["output_uri"]) for r in rows])
    truth = np.array([int(Path(r["output_uri"]).parent.name) for r in rows])
    correct = model.predict(x) == truth
    results = work / f"{name}.csv"
    with results.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["output_uri", "correct"])
        writer.writerows((r["output_uri"], int(c)) for r, c in zip(rows, correct, strict=True))
    done = subprocess.run([COMMAND, "report", str(work / "bench" / "_blur_log"), "--results",
                           str(results), "--on", "output_uri", "--format", "json"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    bins = json.loads(done.stdout)
    return {b["bin"]: b["mean_correct"] for b in bins if b["mean_correct"] is not None}


def main() -> int:
    work = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp())
    write_digits(work / "digits")
    blur_augment("run", "--input", str(work / "digits" / "val"), "--output", str(work / "bench"),
                 "--sigmas", SIGMAS)  # fmt: skip
    clean_x, clean_y, _ = labelled_folder(work / "digits" / "train")
    plain = SVC(gamma="scale").fit(clean_x, clean_y)
    blur_augment("run", "--input", str(work / "digits" / "train"), "--output",
                 str(work / "train_aug"), "--max_sigma", "4", "--copies", "3",
                 "--include_originals", "--seed", "1")  # fmt: skip
    aug_x, aug_y, _ = labelled(work / "train_aug" / "_blur_log")
    augmented = SVC(gamma="scale").fit(aug_x, aug_y)
    before = accuracy_per_sigma(plain, work, "plain")
    after = accuracy_per_sigma(augmented, work, "augmented")
    print(f"{'level':<12} {'trained clean':>14} {'trained blurred':>16}")
    for level in before:
        print(f"{level:<12} {before[level]:>14.3f} {after[level]:>16.3f}")
    worst = list(before)[-1]
    return 0 if after[worst] > before[worst] else 1


def labelled_folder(root: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    paths = sorted(root.rglob("*.png"))
    return (np.stack([features(str(p)) for p in paths]), np.array([int(p.parent.name)
            for p in paths]), [str(p) for p in paths])  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
