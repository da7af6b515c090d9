"""A stand-in for a model evaluation, so the README's report example runs anywhere.

For every blurred output it scores how much of the original's fine detail survives (the
correlation of the Laplacians of input and output) and calls the image "recognised" when
the score is above 0.5. Swap in your model: all `report` needs is a key and a number per image.

    python examples/toy_eval.py OUTPUT_DIR RESULTS.csv
"""

from __future__ import annotations

import csv
import sys

import cv2
import numpy as np
import pyarrow.parquet as pq


def detail_score(original: np.ndarray, blurred: np.ndarray) -> float:
    a = cv2.Laplacian(cv2.cvtColor(original, cv2.COLOR_BGR2GRAY), cv2.CV_32F).ravel()
    b = cv2.Laplacian(cv2.cvtColor(blurred, cv2.COLOR_BGR2GRAY), cv2.CV_32F).ravel()
    return float(np.corrcoef(a, b)[0, 1])


def main(output_dir: str, results_csv: str) -> None:
    log = pq.read_table(f"{output_dir}/_blur_log").to_pylist()
    with open(results_csv, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["key", "detail", "correct"])
        for row in log:
            original = cv2.imread(row["source_uri"], cv2.IMREAD_COLOR)
            blurred = cv2.imread(row["output_uri"], cv2.IMREAD_COLOR)
            score = detail_score(original, blurred)
            relative = row["output_uri"][len(output_dir.rstrip("/")) + 1 :]
            writer.writerow([relative, f"{score:.4f}", int(score > 0.5)])


if __name__ == "__main__":
    main(*sys.argv[1:3])
