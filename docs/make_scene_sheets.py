"""Makes the preview sheets of docs/scenes.md: a street drawn here (nothing downloaded), labelled
as a YOLO dataset, previewed with the commands the page shows. Run from the repository root:

    python docs/make_scene_sheets.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

W, H = 480, 270
CARS = [  # x, y, width, height (pixels), colour (BGR)
    (40, 150, 120, 60, (40, 40, 200)),
    (215, 160, 100, 50, (200, 120, 30)),
    (350, 140, 110, 64, (40, 170, 60)),
]


def street() -> tuple[np.ndarray, str]:
    """A street with three cars, and the cars' YOLO rows."""
    rng = np.random.default_rng(7)
    image = np.zeros((H, W, 3), np.float32)
    image[:120] = np.linspace(235, 170, 120)[:, None, None] * np.array([1.0, 0.95, 0.85])
    for x in range(0, W, 60):  # houses behind the road
        cv2.rectangle(image, (x + 5, 60), (x + 50, 125), (120, 140, 170), -1)
        for wx in range(x + 12, x + 45, 14):
            cv2.rectangle(image, (wx, 75), (wx + 7, 90), (70, 60, 50), -1)
    image[125:] = 95
    image = image.astype(np.uint8)
    for x in range(0, W, 50):  # lane markings
        cv2.rectangle(image, (x, 222), (x + 28, 227), (235, 235, 235), -1)
    rows = []
    for number, (x, y, w, h, colour) in enumerate(CARS):
        cv2.rectangle(image, (x, y), (x + w, y + h - 14), colour, -1)
        cv2.rectangle(image, (x + 15, y - 18), (x + w - 20, y), colour, -1)
        cv2.rectangle(image, (x + 22, y - 13), (x + w - 27, y - 2), (220, 200, 160), -1)
        for wheel in (x + 20, x + w - 20):
            cv2.circle(image, (wheel, y + h - 14), 12, (25, 25, 25), -1)
        cv2.putText(image, f"CAR {number + 1}", (x + 12, y + 25), cv2.FONT_HERSHEY_SIMPLEX,
                    0.6, (250, 250, 250), 2, cv2.LINE_AA)  # fmt: skip
        top = y - 18
        rows.append(f"0 {(x + w / 2) / W:.6f} {(top + (y + h - 2 - top) / 2) / H:.6f} "
                    f"{w / W:.6f} {(y + h - 2 - top) / H:.6f}")  # fmt: skip
    noisy = image + rng.normal(0, 4, image.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8), "\n".join(rows) + "\n"


def main() -> int:
    docs = Path(__file__).resolve().parent
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "images" / "train").mkdir(parents=True)
        (root / "labels" / "train").mkdir(parents=True)
        image, rows = street()
        cv2.imwrite(str(root / "images" / "train" / "street.png"), image)
        (root / "labels" / "train" / "street.txt").write_text(rows)
        picture = str(root / "images" / "train" / "street.png")
        sheets = {
            "scene_traffic.png": ["--object_blur", "motion", "--motion_angle", "0",
                                  "--values", "0,15,35"],
            "scene_shake.png": ["--blur", "shake", "--values", "0,15,35"],
            "scene_drone.png": ["--object_blur", "motion", "--motion_angle", "0",
                                "--frame", "shake=12", "--values", "0,15,35"],
        }  # fmt: skip
        for name, args in sheets.items():
            command = [sys.executable, "-m", "blur_augment", "preview", picture, *args,
                       "--out", str(docs / name)]  # fmt: skip
            subprocess.run(command, check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
