"""Every blur kind through the whole tool: runs on loose images of every depth and channel
count, on YOLO, COCO and VOC sets (labels kept), on JPEG planes, shards, resumed and on every
runner mode; the corruption ladder as a COCO-C-style benchmark against its reference, read by
`evaluate` per severity; report and evaluate per kind; summary and preview; usage errors."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest
import supervision as sv

from blur_augment.transforms import codec, jpeg_planes
from blur_augment.transforms.imaging import blur_with
from blur_augment.transforms.sampling import BlurParams, KindRanges
from tests.e2e.test_datasets import same_detections
from tests.e2e.test_evaluate import coco_results, detections, evaluate_json, reference
from tests.support import datasets
from tests.support.command import blur_augment
from tests.support.detector import coco_shapes
from tests.support.helpers import textured, write_image
from tests.support.requires import module as requires_module
from tests.support.requires import requires
from tests.support.shards import read_webdataset, webdataset_samples, write_webdataset

ALL_KINDS = "gaussian,motion,defocus,zoom,glass"
DEFAULTS = KindRanges()


def run(source: Path, out: Path, *extra: str) -> str:
    done = blur_augment("run", "--input", str(source), "--output", str(out), "--seed", "5",
                        *extra)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stderr


def log_rows(out: Path) -> list[dict]:
    return pq.read_table(out / "_blur_log").to_pylist()


def logged_params(row: dict):
    """The blur a row records, its glass displacements' seed derived as the sampler does."""
    return BlurParams.from_row(row)


def assert_in_ranges(row: dict) -> None:
    kind = row["blur_kind"]
    within = {
        "motion": [("motion_length", DEFAULTS.motion_length),
                   ("motion_angle", DEFAULTS.motion_angle)],
        "defocus": [("defocus_radius", DEFAULTS.defocus_radius)],
        "zoom": [("zoom_factor", DEFAULTS.zoom_factor)],
        "glass": [("glass_delta", DEFAULTS.glass_delta), ("glass_sigma", DEFAULTS.glass_sigma)],
        "gaussian": [("sigma_x", (0.0, 3.0))],
    }[kind]  # fmt: skip
    for column, (low, high) in within:
        assert low <= row[column] <= high, (column, row)
    others = {"motion_length", "defocus_radius", "zoom_factor", "glass_delta"} - {
        c for c, _ in within
    }
    assert all(row[c] == 0 for c in others), row


# -- loose images: every kind, every depth and channel count, exactly the pure functions --------


@pytest.fixture(scope="module")
def loose(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("kinds") / "in"
    write_image(root / "rgb.png", textured(48, 64, 3, seed=1))
    write_image(root / "gray.png", textured(40, 36, 1, seed=2))
    write_image(root / "bgra.png", textured(30, 44, 4, seed=3))
    write_image(root / "deep16.png", textured(33, 41, 3, "uint16", seed=4))
    write_image(root / "gray16.tif", textured(25, 30, 1, "uint16", seed=5))
    return root


def test_every_kind_on_every_depth_and_channel_count(loose: Path, tmp_path: Path):
    out = tmp_path / "out"
    run(loose, out, "--blur", ALL_KINDS, "--copies", "12")
    rows = log_rows(out)
    assert len(rows) == 5 * 12
    assert {r["blur_kind"] for r in rows} == set(ALL_KINDS.split(","))
    for row in rows:
        assert_in_ranges(row)
        source = codec.decode(Path(row["source_uri"]).read_bytes())
        written = codec.decode(Path(row["output_uri"]).read_bytes()).pixels
        assert written.dtype == source.pixels.dtype and written.shape == source.pixels.shape
        expected = blur_with(source, logged_params(row)).pixels  # lossless: exactly
        np.testing.assert_array_equal(written, expected, err_msg=row["output_uri"])
        assert not np.array_equal(written, source.pixels), row["output_uri"]
        method = {"gaussian": ("exact", "pyramid2", "pyramid4"), "motion": ("kernel",),
                  "defocus": ("kernel", "pyramid2"), "zoom": ("layers",),
                  "glass": ("glass",)}  # fmt: skip
        assert row["blur_method"] in method[row["blur_kind"]]
    verified = blur_augment("verify", str(out / "_blur_log"), "--recompute", "all")
    assert verified.returncode == 0, verified.stderr


def test_kinds_are_drawn_by_weight(tmp_path: Path):
    source = tmp_path / "in"
    for i in range(40):
        write_image(source / f"x{i:02d}.png", textured(12, 12, 3, seed=i))
    out = tmp_path / "out"
    run(source, out, "--blur", "gaussian=3,motion=1", "--copies", "5", "--motion_length", "4,6",
        "--motion_angle", "10,20")  # fmt: skip
    rows = log_rows(out)
    motion = [r for r in rows if r["blur_kind"] == "motion"]
    assert 0.15 < len(motion) / len(rows) < 0.35  # 1 in 4
    assert all(4 <= r["motion_length"] <= 6 and 10 <= r["motion_angle"] <= 20 for r in motion)
    metadata = json.loads(pq.read_schema(next((out / "_blur_log").glob("*.parquet"))).metadata[
        b"blur_augment"])  # fmt: skip
    assert metadata["blur"] == [["gaussian", 3.0], ["motion", 1.0]]
    assert metadata["motion_length"] == [4.0, 6.0]


def test_same_bytes_on_every_runner_mode_and_a_second_run(loose: Path, tmp_path: Path):
    def files(out: Path) -> dict[str, str]:
        return {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in out.glob("*.*")}  # fmt: skip

    options = ("--blur", ALL_KINDS, "--copies", "3", "--probability", "0.8")
    run(loose, tmp_path / "a", *options, "--direct_running_mode", "in_memory")
    run(loose, tmp_path / "b", *options, "--direct_running_mode", "multi_processing",
        "--direct_num_workers", "2")  # fmt: skip
    run(loose, tmp_path / "c", *options)
    assert files(tmp_path / "a") == files(tmp_path / "b") == files(tmp_path / "c")

    def rows(out: Path) -> list[dict]:
        found = [{k: v for k, v in r.items() if k not in ("source_uri", "output_uri")}
                 for r in log_rows(out)]  # fmt: skip
        return sorted(found, key=lambda r: (r["key"], r["copy_index"]))

    assert rows(tmp_path / "a") == rows(tmp_path / "b")


def test_a_resumed_run_makes_only_the_missing_copies(loose: Path, tmp_path: Path):
    out = tmp_path / "out"
    argv = ("--blur", "motion,glass,zoom", "--copies", "3")
    run(loose, out, *argv)
    expected = sorted(log_rows(out), key=lambda r: r["output_uri"])
    kept, lost = out / "rgb_blur0.png", out / "rgb_blur2.png"
    mtime, lost_bytes = kept.stat().st_mtime_ns, lost.read_bytes()
    lost.unlink()
    (out / "_blur_log" / "_SUCCESS").unlink()
    run(loose, out, *argv, "--resume")
    assert kept.stat().st_mtime_ns == mtime and lost.read_bytes() == lost_bytes
    assert sorted(log_rows(out), key=lambda r: r["output_uri"]) == expected


# -- datasets: labels kept -------------------------------------------------------------------


def test_yolo_coco_and_voc_keep_their_labels_under_motion_and_defocus(tmp_path: Path):
    from pycocotools.coco import COCO

    options = ("--blur", "motion,defocus", "--copies", "2", "--include_originals")
    yolo = datasets.yolo(tmp_path / "yolo")
    run(yolo, tmp_path / "yolo_out", *options)
    out = tmp_path / "yolo_out"
    loaded = sv.DetectionDataset.from_yolo(
        str(out / "images" / "train"), str(out / "labels" / "train"), str(out / "data.yaml")
    )
    by_name = {Path(p).name: d for p, d in loaded.annotations.items()}
    for stem in "abc":
        for k in (0, 1):
            same_detections(by_name[f"{stem}_blur{k}.jpg"], by_name[f"{stem}.jpg"])

    coco = datasets.coco(tmp_path / "coco")
    run(coco, tmp_path / "coco_out", *options)
    api = COCO(str(tmp_path / "coco_out" / "annotations" / "instances_train2017.json"))
    names = {img["file_name"]: img["id"] for img in api.dataset["images"]}
    for stem in "abc":
        original = api.loadAnns(api.getAnnIds(imgIds=names[f"{stem}.jpg"]))
        for k in (0, 1):
            copied = api.loadAnns(api.getAnnIds(imgIds=names[f"{stem}_blur{k}.jpg"]))
            assert [a["bbox"] for a in copied] == [a["bbox"] for a in original]
            assert [a["segmentation"] for a in copied] == [a["segmentation"] for a in original]

    voc = datasets.voc(tmp_path / "voc")
    run(voc, tmp_path / "voc_out", *options)
    out = tmp_path / "voc_out"
    loaded = sv.DetectionDataset.from_pascal_voc(str(out / "JPEGImages"), str(out / "Annotations"))
    by_name = {Path(p).name: d for p, d in loaded.annotations.items()}
    for k in (0, 1):
        same_detections(by_name[f"2008_000001_blur{k}.jpg"], by_name["2008_000001.jpg"])
    masks = out / "SegmentationClass"
    assert (masks / "2008_000001_blur0.png").read_bytes() == (
        voc / "SegmentationClass" / "2008_000001.png"
    ).read_bytes()

    for folder in ("yolo_out", "coco_out", "voc_out"):
        rows = [r for r in log_rows(tmp_path / folder) if r["copy_index"] >= 0]
        assert rows and {r["blur_kind"] for r in rows} <= {"motion", "defocus"}
        for row in rows:
            assert_in_ranges(row)
        originals = [r for r in log_rows(tmp_path / folder) if r["copy_index"] < 0]
        assert all(r["blur_kind"] == "none" for r in originals)


# -- JPEG planes -----------------------------------------------------------------------------

needs_planes = requires(jpeg_planes.missing_reason(), "planar path")


@needs_planes
@pytest.mark.parametrize("subsampling", ["4:2:0", "4:2:2", "4:4:4"])
def test_jpeg_planes_take_every_kind_but_glass(tmp_path: Path, subsampling: str):
    from PIL import Image

    factor = {"4:4:4": 0, "4:2:2": 1, "4:2:0": 2}[subsampling]
    source = tmp_path / "in"
    source.mkdir()
    for i in range(20):  # seed 5: these 20 draw every kind
        pixels = cv2.GaussianBlur(textured(97, 131, 3, seed=i), (0, 0), 1.0)
        Image.fromarray(pixels[:, :, ::-1]).save(source / f"p{i}.jpg", quality=92,
                                                 subsampling=factor)  # fmt: skip
    planes, pixels = tmp_path / "planes", tmp_path / "pixels"
    # one copy each: an image decodes once for all its copies, as planes unless one of them is
    # glass-blurred (its displacements are per pixel)
    options = ("--blur", "motion,defocus,zoom,glass", "--copies", "1")
    run(source, planes, *options)
    run(source, pixels, *options, "--codec_path", "pixels")
    by_uri = {Path(r["output_uri"]).name: r for r in log_rows(planes)}
    assert {r["blur_kind"] for r in by_uri.values()} == {"motion", "defocus", "zoom", "glass"}
    planar_errors, pixel_errors = [], []
    for name, row in by_uri.items():
        if row["blur_kind"] == "glass":  # the pixel path in both runs: the same bytes
            assert row["codec_path"] == "pixels"
            assert (planes / name).read_bytes() == (pixels / name).read_bytes()
            continue
        assert row["codec_path"] == "yuv_planes", row
        # both paths against the kind's own function on the decoded source, as the Gaussian's
        # planes are bounded: the planes as close as the pixel path (which re-encodes every
        # source as 4:2:0) on average, within 0.75 of it on any one image
        source = codec.decode((tmp_path / "in" / row["key"]).read_bytes())
        reference = blur_with(source, logged_params(row)).pixels.astype(float)
        planar = np.abs(cv2.imread(str(planes / name)) - reference).mean()
        pixel = np.abs(cv2.imread(str(pixels / name)) - reference).mean()
        assert planar <= pixel + 0.75, (name, row["blur_kind"], planar, pixel)
        planar_errors.append(planar)
        pixel_errors.append(pixel)
    assert np.mean(planar_errors) <= np.mean(pixel_errors) + 0.1


@needs_planes
def test_corruptions_take_jpeg_planes_and_verify_byte_for_byte(tmp_path: Path):
    """A defocus ladder on JPEGs runs on their planes (logged), `verify --recompute` remakes
    it byte for byte, and as written it is as close to the reference as the pixel path's."""
    for i in range(3):
        pixels = cv2.GaussianBlur(textured(97, 131, 3, seed=i), (0, 0), 1.0)
        write_image(tmp_path / "in" / f"p{i}.jpg", pixels)
    ladder = ("--corruption", "defocus_blur", "--severities", "1,5")  # 5's disk sums to 1.01
    run(tmp_path / "in", tmp_path / "planes", *ladder)
    run(tmp_path / "in", tmp_path / "pixels", *ladder, "--codec_path", "pixels")
    rows = log_rows(tmp_path / "planes")
    assert len(rows) == 6 and {r["codec_path"] for r in rows} == {"yuv_planes"}
    assert {r["blur_method"] for r in rows} == {"reference"}
    assert {r["codec_path"] for r in log_rows(tmp_path / "pixels")} == {"pixels"}
    verified = blur_augment("verify", str(tmp_path / "planes" / "_blur_log"), "--recompute",
                            "all")  # fmt: skip
    assert verified.returncode == 0, verified.stderr
    for row in rows:
        name = Path(row["output_uri"]).name
        source = codec.decode((tmp_path / "in" / row["key"]).read_bytes()).pixels
        expected = blur_with(codec.Decoded(source, "png"), logged_params(row)).pixels
        planar, pixel = (np.abs(cv2.imread(str(tmp_path / d / name)).astype(float) - expected)
                         for d in ("planes", "pixels"))  # fmt: skip
        assert planar.mean() <= pixel.mean() + 0.25, (name, planar.mean(), pixel.mean())


def test_yuv_planes_refuse_glass_blur_alone(tmp_path: Path):
    write_image(tmp_path / "in" / "x.png", textured(8, 8, 3))
    for extra in (("--blur", "glass"), ("--corruption", "glass_blur")):
        done = blur_augment("run", "--input", str(tmp_path / "in"), "--output",
                            str(tmp_path / "o"), "--codec_path", "yuv_planes", *extra)  # fmt: skip
        assert done.returncode == 2
        [line] = done.stderr.strip().splitlines()
        assert line == ("blur-augment: error: --codec_path yuv_planes: glass blur shuffles "
                        "pixels, not JPEG planes")  # fmt: skip


# -- shards ----------------------------------------------------------------------------------


def test_webdataset_shards_with_kinds(tmp_path: Path):
    shard = write_webdataset(tmp_path / "in" / "train-000000.tar", webdataset_samples(0, 4))
    out = tmp_path / "out"
    run(shard.parent, out, "--blur", "motion,glass", "--copies", "2")
    rows = log_rows(out)
    assert len(rows) == 8 and {r["blur_kind"] for r in rows} <= {"motion", "glass"}
    samples = read_webdataset(sorted(out.glob("*.tar")))
    assert len(samples) == 8
    verified = blur_augment("verify", str(out / "_blur_log"), "--recompute", "all")
    assert verified.returncode == 0, verified.stderr


# -- the corruption ladder: a COCO-C-style benchmark -----------------------------------------


def referenced_motion_blur(pixels_rgb: np.ndarray, severity: int, angle: float) -> np.ndarray:
    imagecorruptions = requires_module("imagecorruptions")
    saved = np.random.uniform
    np.random.uniform = lambda low, high: angle
    try:
        return imagecorruptions.corrupt(pixels_rgb, severity, "motion_blur")
    finally:
        np.random.uniform = saved


def test_a_motion_blur_benchmark_matches_the_reference_and_evaluates_per_severity(tmp_path):
    root = coco_shapes(tmp_path / "ds", 10)
    out = tmp_path / "bench"
    run(root, out, "--corruption", "motion_blur", "--severities", "1,2,3,4,5", "--splits",
        "val2017")  # fmt: skip
    rows = log_rows(out)
    assert len(rows) == 10 * 5
    radius = {1: 10, 2: 15, 3: 15, 4: 15, 5: 20}
    for row in rows:
        severity = row["copy_index"] + 1
        assert (row["corruption"], row["severity"], row["blur_kind"]) == (
            "motion_blur", severity, "motion"
        )  # fmt: skip
        assert row["motion_length"] == 2 * radius[severity] + 1
        assert -45 <= row["motion_angle"] < 45 and row["blur_method"] == "reference"
        source = cv2.imread(row["source_uri"])[:, :, ::-1].copy()
        written = cv2.imread(row["output_uri"])[:, :, ::-1]
        expected = referenced_motion_blur(source, severity, row["motion_angle"])
        difference = np.abs(written.astype(int) - expected.astype(int))
        assert difference.mean() <= 0.05 and difference.max() <= 1  # the README's bound
    results = coco_results(out, detections(out))
    (tmp_path / "results.json").write_text(json.dumps(results))
    got = evaluate_json(out, tmp_path / "results.json", "--bootstrap", "0")
    assert [r["level"] for r in got["rows"]] == [f"motion_blur {s}" for s in range(1, 6)]
    assert got["clean"] is None  # a corruption ladder has no unblurred copy
    truth_path = out / "annotations" / "instances_val2017.json"
    truth = json.loads(truth_path.read_text())
    ids = {f"val2017/{i['file_name']}": i["id"] for i in truth["images"]}
    for row in got["rows"]:
        severity = int(row["level"].split()[-1])
        level_ids = [ids[r["output_uri"][len(str(out)) + 1 :]] for r in rows
                     if r["severity"] == severity]  # fmt: skip
        expected = reference(truth_path, results, level_ids)
        assert abs(row["AP"] - expected["AP"]) <= 1e-9
        assert (row["kind"], row["parameter"], row["low"]) == (None, "severity", severity)
    aps = [r["AP"] for r in got["rows"]]
    assert aps[0] > aps[-1]  # the detector degrades along the ladder


# -- report, evaluate, summary and preview on mixed runs -------------------------------------


def test_report_and_evaluate_by_kind_and_by_column(tmp_path: Path):
    root = coco_shapes(tmp_path / "ds", 12)
    out = tmp_path / "mixed"
    run(root, out, "--blur", "gaussian,motion,defocus", "--copies", "4", "--splits", "val2017",
        "--include_originals")  # fmt: skip
    rows = log_rows(out)
    results = tmp_path / "results.csv"
    with results.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["key", "output", "correct"])
        for r in rows:
            writer.writerow([r["key"], r["output_uri"], int(r["copy_index"] < 2)])
    done = blur_augment("report", str(out / "_blur_log"), "--results", str(results), "--on",
                        "output", "--bins", "2", "--format", "json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    table = json.loads(done.stdout)
    labels = [r["bin"] for r in table]
    assert labels[0] == "unblurred"
    kinds = [r["kind"] for r in table[1:]]
    assert kinds == ["gaussian"] * 2 + ["motion"] * 2 + ["defocus"] * 2
    assert [r["parameter"] for r in table[1:]] == ["sigma_x"] * 2 + ["motion_length"] * 2 + [
        "defocus_radius"
    ] * 2
    for r in table[1:]:
        members = [
            x
            for x in rows
            if x["blur_kind"] == r["kind"]
            and x["applied"]
            and (
                r["low"] <= x[r["parameter"]] < r["high"]
                or (r["bin"].endswith("]") and x[r["parameter"]] == r["high"])
            )
        ]
        assert r["images"] == len(members), r  # fmt: skip
    by_column = blur_augment("report", str(out / "_blur_log"), "--results", str(results),
                             "--on", "output", "--by", "output_bytes", "--bins", "3")  # fmt: skip
    assert by_column.returncode == 0, by_column.stderr
    assert "by output_bytes" in by_column.stdout
    chart = tmp_path / "chart.png"
    done = blur_augment("report", str(out / "_blur_log"), "--results", str(results), "--on",
                        "output", "--plot", str(chart))  # fmt: skip
    assert done.returncode == 0 and cv2.imread(str(chart)).shape[1] > 1000  # three panels

    found = {p: d for p, d in detections(out).items() if p.startswith("val2017/")}
    predictions = coco_results(out, found)
    (tmp_path / "pred.json").write_text(json.dumps(predictions))
    got = evaluate_json(out, tmp_path / "pred.json", "--bootstrap", "0", "--bins", "2")
    assert [r["kind"] for r in got["rows"]] == kinds
    assert got["clean"]["images"] == 12
    evaluated = sum(r["images"] for r in got["rows"])
    assert evaluated == sum(1 for r in rows if r["applied"])
    bad = blur_augment("evaluate", str(out / "_blur_log"), "--predictions",
                       str(tmp_path / "pred.json"), "--by", "key")  # fmt: skip
    assert bad.returncode == 2 and "--by must be a numeric log column" in bad.stderr

    summary = blur_augment("summary", str(out / "_blur_log"))
    assert summary.returncode == 0, summary.stderr
    assert "kinds of blurred rows: " in summary.stdout
    assert "motion motion_length: min" in summary.stdout
    assert "defocus defocus_radius: min" in summary.stdout


def test_old_logs_without_kind_columns_still_load(tmp_path: Path):
    source = tmp_path / "in"
    for i in range(6):
        write_image(source / f"x{i}.png", textured(10, 10, 3, seed=i))
    out = tmp_path / "out"
    run(source, out, "--copies", "2")
    log = out / "_blur_log"
    new = ["blur_kind", "motion_length", "motion_angle", "defocus_radius", "zoom_factor",
           "glass_delta", "glass_sigma", "glass_iterations", "corruption", "severity"]  # fmt: skip
    for shard in log.glob("*.parquet"):
        table = pq.read_table(shard)
        metadata = dict(table.schema.metadata)
        parameters = json.loads(metadata[b"blur_augment"])
        for name in ("blur", "corruption", "severities", "motion_length"):
            parameters.pop(name, None)
        metadata[b"blur_augment"] = json.dumps(parameters).encode()
        pq.write_table(table.drop_columns(new).replace_schema_metadata(metadata), shard)
    results = tmp_path / "r.csv"
    results.write_text("key,correct\n" + "".join(f"x{i}.png,1\n" for i in range(6)))
    for command in (("summary",), ("report", "--results", str(results))):
        done = blur_augment(command[0], str(log), *command[1:])
        assert done.returncode == 0, done.stderr
    assert "sigma_low" in blur_augment("report", str(log), "--results", str(results),
                                       "--format", "csv").stdout  # fmt: skip


@pytest.mark.parametrize(
    ("options", "caption"),
    [(("--blur", "motion", "--values", "0,9,30", "--motion_angle", "45"), 3),
     (("--blur", "zoom",), 6), (("--corruption", "glass_blur", "--values", "1,5"), 2)],
)  # fmt: skip
def test_preview_shows_one_kind_over_its_parameter(tmp_path: Path, options, caption):
    image = write_image(tmp_path / "x.png", textured(60, 80, 3))
    sheet = tmp_path / "sheet.png"
    done = blur_augment("preview", str(image), *options, "--out", str(sheet))
    assert done.returncode == 0, done.stderr
    grid = cv2.imread(str(sheet))
    tiles = min(caption, 3)
    assert grid.shape[1] == tiles * (80 + 8)
    assert grid.shape[0] == -(-caption // 3) * (60 + 28 + 8)


# -- usage errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (("--blur", "blurry"), "unknown kind 'blurry'"),
        (("--blur", "motion=0"), "must be > 0"),
        (("--blur", "motion=x"), "must be a number"),
        (("--blur", "motion,motion"), "each kind once"),
        (("--blur", "motion", "--motion_length", "a,b"), "--motion_length"),
        (("--blur", "motion", "--motion_length", "9,3"), "--motion_length"),
        (("--blur", "zoom", "--zoom_factor", "0.5,1.1"), "--zoom_factor"),
        (("--blur", "glass", "--glass_delta", "0,2"), "--glass_delta"),
        (("--motion_length", "5,9"), "--motion_length is a parameter of motion blur"),
        (("--blur", "motion", "--max_sigma", "2"), "--max_sigma is a parameter of gaussian"),
        (("--sigmas", "1,2", "--defocus_radius", "2,3"), "--defocus_radius"),
        (("--corruption", "snow"), "--corruption"),
        (("--corruption", "zoom_blur", "--severities", "0,6"), "--severities"),
        (("--corruption", "zoom_blur", "--max_sigma", "2"), "--max_sigma"),
        (("--corruption", "zoom_blur", "--blur", "motion"), "--blur"),
        (("--corruption", "zoom_blur", "--copies", "2"), "--copies"),
        (("--corruption", "zoom_blur", "--sigmas", "1,2"), "--sigmas"),
    ],
)
def test_kind_mistakes_end_in_one_line(tmp_path: Path, options, named):
    write_image(tmp_path / "in" / "x.png", textured(8, 8, 3))
    done = blur_augment("run", "--input", str(tmp_path / "in"), "--output", str(tmp_path / "o"),
                        *options)  # fmt: skip
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert named in line, line
