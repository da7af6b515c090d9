"""Blur kinds benchmark: each kind through blur-augment's whole per-image path against its
peers, on 1920x1080 JPEGs, one core.

    python benchmarks/kinds.py            # a few minutes on 2 cores
    python benchmarks/kinds.py --quick    # one round, two images
    python benchmarks/kinds.py --scenes   # only the scenes: 10 objects against the whole frame

For each kind (gaussian, motion, defocus, zoom, glass) at severities 3 and 5 of ImageNet-C /
COCO-C (`--severity N`, repeatable, for others), the kind's parameters are the severity's
(sigma 1-6, motion length 21-41 at a random angle, defocus radius 3-10, zoom to 1.11-1.31,
glass sigma/displacement/iterations). Measured, interleaved in rounds over the same files,
median seconds per image:

- `ours (kind, default ranges)`: `--blur KIND` at its default ranges (gaussian at
  `--max_sigma 6`), drawn by the sampler, 8 draws per image (the mean cost over the ranges, not
  one draw's): the figure compared with OpenCV's codecs;
- `ours (kind)`: decode -> the kind's blur (`--blur KIND`, JPEGs as planes where the kind
  allows) -> encode, the functions the pipeline's sample step calls;
- `ours (corruption)`: the same path with `--corruption NAME` (the reference's arithmetic);
- `ours (codecs only)`: the kind's decode and encode without the blur, the floor of the two
  above (against imagecorruptions, which is timed without codecs, it caps the ratio any blur
  could reach);
- `opencv codecs only`: OpenCV's decode and encode of the same files, no blur (the plain
  loop a kind's cost is compared with);
- `albumentations`: OpenCV decode -> the corresponding transform, same parameters -> OpenCV
  encode;
- `imagecorruptions`: `corrupt(pixels, severity, NAME)` on pixels decoded beforehand (its
  decode and encode are not counted: the ratios against it are conservative);
- `imagecorruptions loop`: the reference as people run it, a plain loop (OpenCV decode,
  `corrupt`, encode at quality 95).

Then the scenes: the same JPEGs with 10 labelled objects each, through the sample step's own
`make_copies`: `--blur none --object_blur motion` and `--blur shake --object_blur motion`
against `--blur motion` on the whole frame (an object costs the blur of its own box plus the
kernel's reach, not a full-frame filter).

Results go to stdout, ending with the markdown tables docs/performance.md shows, and to
benchmarks/results/kinds.json. No assertion: people judge the figures.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.throughput import encoded_set, machine  # noqa: E402
from blur_augment.transforms import imaging  # noqa: E402
from blur_augment.transforms.blur import kernel_size  # noqa: E402
from blur_augment.transforms.copies import unchanged  # noqa: E402
from blur_augment.transforms.imaging import blur_with  # noqa: E402
from blur_augment.transforms.sampling import (  # noqa: E402
    CORRUPTIONS,
    BlurParams,
    BlurSpec,
    KindRanges,
    corruption_params,
    sample,
)
from blur_augment.transforms.tuning import tune_worker_process  # noqa: E402

KINDS = {"gaussian": "gaussian_blur", "motion": "motion_blur", "defocus": "defocus_blur",
         "zoom": "zoom_blur", "glass": "glass_blur"}  # fmt: skip
SIZE = (1920, 1080)
DRAWS_PER_IMAGE = 8


def kind_params(kind: str, severity: int, angle: float, seed: int) -> BlurParams:
    """The kind at a severity's parameters (`--blur KIND` with ranges pinned to them)."""
    c = CORRUPTIONS[KINDS[kind]][severity - 1]
    if kind == "gaussian":
        return BlurParams(True, float(c), float(c))
    if kind == "motion":
        return BlurParams(True, 0, 0, kind, motion_length=2 * c[0] + 1, motion_angle=angle)
    if kind == "defocus":
        return BlurParams(True, 0, 0, kind, defocus_radius=float(c[0]))
    if kind == "zoom":
        top = float(np.arange(*c)[-1])  # the reference's largest zoom
        return BlurParams(True, 0, 0, kind, zoom_factor=top)
    return BlurParams(True, 0, 0, kind, glass_delta=c[1], glass_sigma=c[0], glass_iterations=c[2],
                      field_seed=seed)  # fmt: skip


def ours(
    datas: list[bytes], params: list[BlurParams], blur: bool = True, path: str = "auto"
) -> None:
    """decode -> blur -> encode, the sample step's functions (no Beam); without `blur`, the
    same decode and encode alone: the floor no blur can go below."""
    for data, p in zip(datas, params, strict=True):
        decoded = imaging.decode(data, "jpeg", path if imaging.takes_planes_for(p) else "pixels")
        blurred = decoded if not blur or unchanged(p, "uint8") else blur_with(decoded, p)
        imaging.encode(blurred, "jpeg")


def albumentations_transform(kind: str, severity: int, angle: float):
    import albumentations as A

    c = CORRUPTIONS[KINDS[kind]][severity - 1]
    if kind == "gaussian":
        size = kernel_size(float(c), np.dtype("uint8"))
        return A.GaussianBlur(blur_limit=(size, size), sigma_limit=(c, c), p=1.0)
    if kind == "motion":
        size = 2 * c[0] + 1
        # symmetric about the pixel (direction 0), as ours
        return A.MotionBlur(blur_limit=(size, size), allow_shifted=False,
                            angle_range=(angle % 360, angle % 360), direction_range=(0, 0),
                            p=1.0)  # fmt: skip
    if kind == "defocus":
        return A.Defocus(radius=(c[0], c[0]), alias_blur=(c[1], c[1]), p=1.0)
    if kind == "zoom":
        return A.ZoomBlur(max_factor=(c[1], c[1]), step_factor=(c[2], c[2]), p=1.0)
    return A.GlassBlur(sigma=c[0], max_delta=c[1], iterations=c[2], mode="exact", p=1.0)


def albumentations_loop(datas: list[bytes], transforms: list) -> None:
    for data, transform in zip(datas, transforms, strict=True):
        pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        cv2.imencode(".jpg", transform(image=pixels)["image"], [cv2.IMWRITE_JPEG_QUALITY, 95])


def imagecorruptions_loop(pixels: list[np.ndarray], name: str, severities: list[int]) -> None:
    from imagecorruptions import corrupt

    for image, severity in zip(pixels, severities, strict=True):
        corrupt(image, severity, name)


def reference_loop(datas: list[bytes], name: str, severities: list[int]) -> None:
    """The reference as a plain loop, as people build a benchmark set with it: decode with
    OpenCV, `imagecorruptions.corrupt` (on RGB), encode at quality 95."""
    from imagecorruptions import corrupt

    for data, severity in zip(datas, severities, strict=True):
        rgb = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1]
        out = np.ascontiguousarray(corrupt(rgb, severity, name)[:, :, ::-1])
        cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, 95])


def opencv_codec_loop(datas: list[bytes]) -> None:
    """The floor kinds are compared with: decode and encode with OpenCV, no blur."""
    for data in datas:
        pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, 95])


def timed(function: Callable[[], None]) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def loops_for(kind: str, datas: list[bytes], severities: list[int]) -> dict[str, Callable]:
    angles = [-45 + 90 * ((i * 0.618034) % 1) for i in range(len(datas))]
    name = KINDS[kind]
    kind_list = [kind_params(kind, s, a, 1000 + i)
                 for i, (s, a) in enumerate(zip(severities, angles, strict=True))]  # fmt: skip
    corrupt_list = [corruption_params(name, s, (a + 45) / 90, 1000 + i)
                    for i, (s, a) in enumerate(zip(severities, angles, strict=True))]  # fmt: skip
    # the default ranges' cost is an expectation over the draws: DRAWS_PER_IMAGE draws on each
    # image, not one (three draws of sigma in [0, 6] are too few to average over the range)
    drawn = BlurSpec(max_sigma=6.0, kinds=KindRanges(weights=((kind, 1.0),)))
    default_list = [sample(5, 0, f"image{i}.jpg", drawn)
                    for i in range(len(datas) * DRAWS_PER_IMAGE)]  # fmt: skip
    loops = {
        "ours (kind)": functools.partial(ours, datas, kind_list),
        "ours (kind, default ranges)": functools.partial(
            ours, datas * DRAWS_PER_IMAGE, default_list
        ),
        "ours (corruption)": functools.partial(ours, datas, corrupt_list),
        "ours (codecs only)": functools.partial(ours, datas, kind_list, blur=False),
        "opencv codecs only": functools.partial(opencv_codec_loop, datas),
    }
    if importlib.util.find_spec("albumentations"):
        transforms = [albumentations_transform(kind, s, a)
                      for s, a in zip(severities, angles, strict=True)]  # fmt: skip
        loops["albumentations"] = functools.partial(albumentations_loop, datas, transforms)
    if importlib.util.find_spec("imagecorruptions"):
        rgb = [cv2.imdecode(np.frombuffer(d, np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1].copy()
               for d in datas]  # fmt: skip
        loops["imagecorruptions"] = functools.partial(imagecorruptions_loop, rgb, name,
                                                      severities)  # fmt: skip
        loops["imagecorruptions loop"] = functools.partial(reference_loop, datas, name,
                                                           severities)  # fmt: skip
    return loops


def per_image_medians(loops: dict[str, functools.partial], rounds: int) -> dict[str, float]:
    """Each loop's median seconds per image (per item of its first argument) over `rounds`
    interleaved rounds, after a warm-up on one image (imports, numba's compilation, first-call
    caches)."""
    for loop in loops.values():
        loop.func(*(a[:1] if isinstance(a, list) else a for a in loop.args), **loop.keywords)
    times: dict[str, list[float]] = {name: [] for name in loops}
    for _ in range(rounds):
        for name, loop in loops.items():
            times[name].append(timed(loop))
    return {name: statistics.median(t) / len(loops[name].args[0]) for name, t in times.items()}


def run_kind(kind: str, datas: list[bytes], severities: list[int], rounds: int) -> list[dict]:
    per_image = per_image_medians(loops_for(kind, datas, severities), rounds)
    kind_s, corruption_s = per_image["ours (kind)"], per_image["ours (corruption)"]
    return [
        {"kind": kind, "loop": name, "images": len(datas), "seconds_per_image": seconds,
         "ours_kind_speedup": seconds / kind_s, "ours_corruption_speedup": seconds / corruption_s}
        for name, seconds in per_image.items()
    ]  # fmt: skip


# -- scenes: blur per object (--object_blur) against the whole frame --------------------------

SCENE_OBJECTS = 10


def scene_labels(count: int = SCENE_OBJECTS) -> bytes:
    """A YOLO label file of `count` boxes of 8-12% of the frame's width, spread over it."""
    rng = np.random.default_rng(3)
    rows = [
        f"0 {rng.uniform(0.1, 0.9):.4f} {rng.uniform(0.15, 0.85):.4f} "
        f"{rng.uniform(0.08, 0.12):.4f} {rng.uniform(0.1, 0.2):.4f}"
        for _ in range(count)
    ]
    return ("\n".join(rows) + "\n").encode()  # fmt: skip


def scene_copies(datas: list[bytes], job, labels) -> None:
    """The sample step's own path: make_copies (decode, the frame's blur, each object's over
    it) and the copy's bytes (encode)."""
    from blur_augment.transforms.copies import make_copies

    for i, data in enumerate(datas):
        copies = make_copies(job, f"scene{i}.jpg", data, "jpeg", None, labels)
        copies.make(0)


def run_scenes(datas: list[bytes], rounds: int) -> list[dict]:
    """1080p with 10 objects: `--blur none --object_blur motion` (the traffic camera) and
    `--blur shake --object_blur motion` (the drone) against `--blur motion` on the whole
    frame, motion lengths 15-35 pixels, the same path the pipeline runs."""
    from blur_augment.transforms.job import BlurJob
    from blur_augment.transforms.objects import Labels
    from blur_augment.transforms.sampling import BlurSpec, KindRanges

    ranges = KindRanges(motion_length=(15.0, 35.0), shake_length=(10.0, 20.0))
    labels = Labels((("scene.txt", scene_labels()),))
    jobs = {
        "whole frame, --blur motion": BlurJob("", BlurSpec(kinds=replace(ranges, weights=(
            ("motion", 1.0),)))),
        "whole frame, --blur shake": BlurJob("", BlurSpec(kinds=replace(ranges, weights=(
            ("shake", 1.0),)))),
        "10 objects, --blur none": BlurJob("", BlurSpec(kinds=replace(ranges, weights=())),
                                           objects=(("motion", 1.0),)),
        "10 objects over --blur shake": BlurJob("", BlurSpec(kinds=replace(ranges, weights=(
            ("shake", 1.0),))), objects=(("motion", 1.0),)),
    }  # fmt: skip
    loops = {name: functools.partial(scene_copies, datas, job, labels)
             for name, job in jobs.items()}  # fmt: skip
    # the floor of the objects' path: decode to pixels and encode, nothing blurred
    still = BlurParams(False, 0.0, 0.0)
    loops["codecs only (pixels)"] = functools.partial(ours, datas, [still] * len(datas),
                                                      blur=False, path="pixels")  # fmt: skip
    per_image = per_image_medians(loops, rounds)
    whole = per_image["whole frame, --blur motion"]
    return [{"kind": "scenes", "loop": name, "images": len(datas), "seconds_per_image": seconds,
             "vs_whole_frame_motion": seconds / whole}
            for name, seconds in per_image.items()]  # fmt: skip


TABLE_COLUMNS = (
    ("ours, kind", "ours (kind)"),
    ("ours, corruption", "ours (corruption)"),
    ("ours, codecs alone", "ours (codecs only)"),
    ("OpenCV codecs alone", "opencv codecs only"),
    ("albumentations", "albumentations"),
    ("imagecorruptions", "imagecorruptions"),
    ("imagecorruptions loop", "imagecorruptions loop"),
)


def markdown_table(results: list[dict], severity: int) -> str:
    """The table docs/performance.md shows, for one severity: ms per image per loop, the
    corruption against the reference loop, and `--blur KIND` at its default ranges against
    OpenCV's codecs alone (the floor a kind is compared with)."""
    head = [f"severity {severity}", *(title for title, _ in TABLE_COLUMNS),
            "corruption vs loop", "kind (default ranges) vs OpenCV codecs"]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for kind in KINDS:
        ms = {r["loop"]: 1000 * r["seconds_per_image"] for r in results
              if r["kind"] == kind and r.get("severity") == severity}  # fmt: skip
        if not ms:
            continue
        cells = [f"{ms[loop]:.1f}" if loop in ms else "-" for _, loop in TABLE_COLUMNS]
        vs_loop = ms.get("imagecorruptions loop", float("nan")) / ms["ours (corruption)"]
        floor = ms["ours (kind, default ranges)"] / ms["opencv codecs only"]
        lines.append(f"| {kind} | " + " | ".join(cells) + f" | {vs_loop:.1f}x | {floor:.2f}x |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one image, one round, severity 3")
    parser.add_argument("--scenes", action="store_true", help="only the scenes (objects)")
    parser.add_argument("--images", type=int, help="images (3; --quick: 1)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (3; --quick: 1)")
    parser.add_argument("--severity", type=int, choices=range(1, 6), action="append",
                        help="every image at this severity, repeatable (default: 3 and "
                        "5)")  # fmt: skip
    parser.add_argument("--out", default=None, help="benchmarks/results/kinds.json (with "
                        "--scenes: scenes.json)")  # fmt: skip
    args = parser.parse_args()
    images, rounds = (1, 1) if args.quick else (3, 3)
    images, rounds = args.images or images, args.rounds or rounds
    levels = args.severity or ([3] if args.quick else [3, 5])
    tune_worker_process()
    missing = [m for m in ("albumentations", "imagecorruptions") if not importlib.util.find_spec(m)]
    if missing:
        print(f"(no {', '.join(missing)} rows: pip install -e '.[bench]')", flush=True)
    datas = encoded_set(SIZE, "jpeg", images)
    saved = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(saved)})
    results = []
    started = time.perf_counter()
    try:
        for severity in () if args.scenes else levels:
            print(f"1920x1080 JPEG, one core, severity {severity}, {images} images, median of "
                  f"{rounds} rounds:")  # fmt: skip
            for kind in KINDS:
                rows = run_kind(kind, datas, [severity] * images, rounds)
                results += [dict(r, severity=severity) for r in rows]
                for r in rows:
                    print(f"{kind:>9} {r['loop']:<28} {1000 * r['seconds_per_image']:9.1f} "
                          "ms/image", flush=True)  # fmt: skip
        for r in run_scenes(datas, rounds):
            results.append(r)
            print(f"{'scenes':>9} {r['loop']:<30} {1000 * r['seconds_per_image']:9.1f} "
                  f"ms/image  x{r['vs_whole_frame_motion']:.2f} of the whole frame's motion",
                  flush=True)  # fmt: skip
    finally:
        os.sched_setaffinity(0, saved)
    for severity in () if args.scenes else levels:
        print(f"\nms per image ({images} images, median of {rounds} rounds):\n")
        print(markdown_table(results, severity))
    report = {"machine": machine(), "size": list(SIZE), "severities": levels,
              "rounds": rounds, "results": results,
              "total_seconds": time.perf_counter() - started}  # fmt: skip
    out = Path(args.out or ROOT / "benchmarks" / "results" / (
        "scenes.json" if args.scenes else "kinds.json"))  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    print(f"\nwritten {out} in {report['total_seconds']:.0f} s")


if __name__ == "__main__":
    main()
