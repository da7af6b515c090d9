"""summary, query, report and preview on the log of a real small run."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from blur_augment.pipeline.analysis.query import query
from blur_augment.pipeline.analysis.report import report
from blur_augment.pipeline.analysis.stats import confidence_interval
from blur_augment.pipeline.cli import main
from blur_augment.pipeline.run import run
from blur_augment.pipeline.schema import LOG_SCHEMA
from tests.support.command import cli
from tests.support.helpers import textured, write_image

MIN_SIGMA, MAX_SIGMA = 0.0, 4.0


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A real run over 40 small images, a fifth of them left unblurred, one broken file."""
    root = tmp_path_factory.mktemp("analysis")
    data = root / "data"
    for i in range(40):
        write_image(data / f"set{i % 3}" / f"img{i:02d}.png", textured(12, 16, 3, seed=i))
    (data / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    argv = [
        "--input",
        str(data),
        "--output",
        str(root / "out"),
        "--seed",
        "5",
        "--min_sigma",
        str(MIN_SIGMA),
        "--max_sigma",
        str(MAX_SIGMA),
        "--probability",
        "0.8",
    ]
    assert run(argv) == 0
    return root / "out"


@pytest.fixture(scope="module")
def log(run_dir: Path) -> pa.Table:
    return pq.read_table(run_dir / "_blur_log")


def test_query_matches_pyarrow(run_dir: Path, log: pa.Table):
    got = query(str(run_dir / "_blur_log"), "SELECT key, sigma_x FROM blur_log ORDER BY key")
    expected = log.select(["key", "sigma_x"]).sort_by("key")
    assert got.to_pylist() == expected.to_pylist()
    errors = query(str(run_dir / "_blur_log"), "SELECT key, stage FROM blur_errors")
    assert errors.to_pylist() == [{"key": "broken.png", "stage": "decode"}]


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_query_formats_for_machines(capsys, run_dir: Path, log: pa.Table, tmp_path: Path, fmt):
    out = tmp_path / f"result.{fmt}"
    sql = "SELECT applied, count(*) AS n FROM blur_log GROUP BY applied ORDER BY applied"
    code, _, err = cli(
        capsys, "query", str(run_dir / "_blur_log"), sql, "--format", fmt, "--out", str(out)
    )
    assert code == 0, err
    applied = int(np.sum(log.column("applied").to_numpy(zero_copy_only=False)))
    expected = [{"applied": False, "n": log.num_rows - applied}, {"applied": True, "n": applied}]
    if fmt == "csv":
        rows = list(csv.DictReader(out.open()))
        got = [{"applied": r["applied"] == "true", "n": int(r["n"])} for r in rows]
    elif fmt == "json":
        got = json.loads(out.read_text())
    else:
        got = pq.read_table(out).to_pylist()
    assert got == expected


def test_query_table_output(capsys, run_dir: Path):
    code, out, _ = cli(
        capsys, "query", str(run_dir / "_blur_log"), "SELECT count(*) AS n FROM blur_log"
    )
    assert code == 0
    assert out.splitlines()[0].strip() == "n" and "(1 row)" in out


def write_results(path: Path, log: pa.Table) -> dict:
    """Results for all but four logged keys, plus two keys the log does not have. The metric
    is deterministic so the test can recompute every bin by hand."""
    rows = []
    for i, key in enumerate(sorted(log.column("key").to_pylist())):
        if i % 13 == 0:
            continue  # four log rows without a result (i = 0, 13, 26, 39)
        rows.append({"key": key, "correct": int((i * 7) % 5 != 0), "loss": i / 10})
    rows += [
        {"key": "ghost/a.png", "correct": 1, "loss": 0.1},
        {"key": "ghost/b.png", "correct": 0, "loss": 0.2},
    ]
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["key", "correct", "loss"])
        writer.writeheader()
        writer.writerows(rows)
    return {r["key"]: r for r in rows}


def test_report_bins_match_a_hand_computation(log: pa.Table, run_dir: Path, tmp_path: Path):
    results = write_results(tmp_path / "results.csv", log)
    bins = 4
    got = report(str(run_dir / "_blur_log"), str(tmp_path / "results.csv"), bins=bins)

    by_key = {r["key"]: r for r in log.to_pylist()}
    matched = {k: v for k, v in results.items() if k in by_key}
    assert (got.matched, got.results_not_in_log, got.log_not_in_results) == (
        len(matched),
        2,
        log.num_rows - len(matched),
    )
    assert got.log_not_in_results == 4

    edges = np.linspace(MIN_SIGMA, MAX_SIGMA, bins + 1)
    expected: dict[str, list[float]] = {"unblurred": []}
    for key, result in matched.items():
        row = by_key[key]
        if not row["applied"]:
            expected["unblurred"].append(result["correct"])
            continue
        b = min(int(np.searchsorted(edges, row["sigma_x"], side="right")) - 1, bins - 1)
        expected.setdefault(str(b), []).append(result["correct"])
    assert got.bins[0].label == "unblurred"
    assert got.bins[0].count == len(expected["unblurred"])
    assert got.bins[0].mean == pytest.approx(np.mean(expected["unblurred"]))
    for b, row in enumerate(got.bins[1:]):
        values = expected.get(str(b), [])
        assert row.count == len(values)
        assert row.low == pytest.approx(edges[b]) and row.high == pytest.approx(edges[b + 1])
        if values:
            assert row.mean == pytest.approx(np.mean(values))
            assert row.ci_low <= row.mean <= row.ci_high
    scored = [r for r in got.bins if r.mean is not None]
    assert got.worst == min(scored, key=lambda r: r.mean).label


def test_report_loss_is_lower_is_better(log, run_dir: Path, tmp_path: Path):
    write_results(tmp_path / "results.csv", log)
    got = report(str(run_dir / "_blur_log"), str(tmp_path / "results.csv"), metric="loss")
    scored = [r for r in got.bins if r.mean is not None]
    assert got.lower_is_better and got.worst == max(scored, key=lambda r: r.mean).label
    assert got.interval == "Student's t"


def test_report_cli_text_json_and_plot(capsys, log, run_dir: Path, tmp_path: Path):
    write_results(tmp_path / "results.csv", log)
    code, out, err = cli(
        capsys,
        "report",
        str(run_dir / "_blur_log"),
        "--results",
        str(tmp_path / "results.csv"),
        "--plot",
        str(tmp_path / "chart.png"),
    )
    assert code == 0, err
    assert "worst bin:" in out and "results not in the log: 2" in out
    assert "log rows without a result: 4" in out
    chart = cv2.imread(str(tmp_path / "chart.png"))
    assert chart is not None and chart.shape[0] > 300 and chart.shape[1] > 500
    code, out, _ = cli(
        capsys,
        "report",
        str(run_dir / "_blur_log"),
        "--results",
        str(tmp_path / "results.csv"),
        "--format",
        "json",
        "--bins",
        "3",
    )
    table = json.loads(out)
    assert code == 0 and len(table) == 4 and sum(r["worst"] for r in table) == 1


def test_report_joins_on_output_paths(log, run_dir: Path, tmp_path: Path):
    path = tmp_path / "by_output.parquet"
    pq.write_table(pa.table({"file": log.column("output_uri"), "iou": [0.5] * log.num_rows}), path)
    got = report(str(run_dir / "_blur_log"), str(path), on="file", metric="iou")
    assert got.matched == log.num_rows and got.results_not_in_log == 0


def test_confidence_intervals():
    """From the aggregates DuckDB returns: count, mean, sample standard deviation."""
    low, high = confidence_interval(10, 0.8, None, binary=True)
    assert 0.44 < low < 0.5 and 0.94 < high < 0.98  # Wilson interval for 8 of 10
    values = np.array([1.0, 2.0, 3.0])
    low, high = confidence_interval(3, values.mean(), values.std(ddof=1), binary=False)
    assert (low, high) == pytest.approx((2 - 4.303 / np.sqrt(3), 2 + 4.303 / np.sqrt(3)))
    assert np.isnan(confidence_interval(1, 2.0, None, binary=False)[0])


def test_summary_plot(capsys, run_dir: Path, tmp_path: Path):
    code, out, _ = cli(
        capsys, "summary", str(run_dir / "_blur_log"), "--plot", str(tmp_path / "hist.png")
    )
    assert code == 0 and "rows: 40" in out and "decode: 1" in out
    image = cv2.imread(str(tmp_path / "hist.png"))
    assert image is not None and image.shape[0] > 300 and image.shape[1] > 500


def test_preview_contact_sheet(capsys, tmp_path: Path):
    source = write_image(tmp_path / "x.png", textured(120, 160, 4, seed=1))
    code, _, err = cli(
        capsys, "preview", str(source), "--sigmas", "0,1,4,9", "--out", str(tmp_path / "grid.png")
    )
    assert code == 0, err
    grid = cv2.imread(str(tmp_path / "grid.png"))
    # 3 columns x 2 rows of 160x(120+28) tiles with 4 px gaps around each.
    assert grid.shape == (2 * (120 + 28 + 8), 3 * (160 + 8), 3)
    tiles = [grid[4 + 28 : 4 + 28 + 120, 4 + c * 168 : 4 + c * 168 + 160] for c in range(3)]
    sharpness = [cv2.Laplacian(t, cv2.CV_64F).var() for t in tiles]
    assert sharpness[0] > sharpness[1] > sharpness[2]  # more sigma, less detail


def empty_log(tmp_path: Path) -> Path:
    directory = tmp_path / "empty_log"
    directory.mkdir()
    pq.write_table(LOG_SCHEMA.empty_table(), directory / "part-00000-of-00001.parquet")
    return directory


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "no Parquet shards"),
        ("empty", "has no rows"),
        ("no_join_column", "no join column 'key'"),
        ("non_numeric", "not numeric"),
        ("bad_sql", "SQL error"),
        ("bad_image", "cannot preview"),
    ],
)
def test_bad_input_exits_2_with_a_message(capsys, run_dir: Path, tmp_path: Path, case, message):
    log_dir = str(run_dir / "_blur_log")
    results = tmp_path / "r.csv"
    if case == "no_join_column":
        results.write_text("image,correct\na.png,1\n")
    else:
        results.write_text("key,correct\nset0/img00.png,maybe\n")
    args = {
        "missing": ["report", str(tmp_path / "nowhere"), "--results", str(results)],
        "empty": ["report", str(empty_log(tmp_path)), "--results", str(results)],
        "no_join_column": ["report", log_dir, "--results", str(results)],
        "non_numeric": ["report", log_dir, "--results", str(results)],
        "bad_sql": ["query", log_dir, "SELEC nothing FROM blur_log"],
        "bad_image": ["preview", str(results)],
    }[case]
    code, _, err = cli(capsys, *args)
    assert code == 2 and message in err and "Traceback" not in err


def test_old_logs_without_dataset_columns_still_load(run_dir: Path, tmp_path: Path, capsys):
    """A log written before the split and label_uris columns: summary, query and report."""
    old = tmp_path / "old_log"
    old.mkdir()
    table = pq.read_table(run_dir / "_blur_log").drop_columns(["split", "label_uris"])
    pq.write_table(table, old / "part-00000-of-00001.parquet")
    (old / "_SUCCESS").write_text(
        json.dumps(
            {"log_rows": table.num_rows, "error_rows": 0, "log_shards": [], "error_shards": []}
        )
    )
    code, out, _ = cli(capsys, "summary", str(old))
    assert code == 0 and f"rows: {table.num_rows}" in out
    code, out, _ = cli(
        capsys, "query", str(old), "SELECT count(*) AS n FROM blur_log", "--format", "csv"
    )
    assert code == 0 and out.splitlines()[1] == str(table.num_rows)
    results = tmp_path / "results.csv"
    with results.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["key", "correct"])
        for key in table.column("key").to_pylist():
            writer.writerow([key, 1])
    code, out, _ = cli(capsys, "report", str(old), "--results", str(results), "--bins", "2")
    assert code == 0 and "worst" in out.lower()


def test_summary_counts_rows_per_split(tmp_path: Path, capsys):
    from tests.support import datasets

    source = datasets.yolo(tmp_path / "ds")
    out = tmp_path / "out"
    assert main(["run", "--input", str(source), "--output", str(out), "--copies", "2",
                 "--include_originals"]) == 0  # fmt: skip
    code, text, _ = cli(capsys, "summary", str(out / "_blur_log"))
    assert code == 0
    assert "dataset: yolo (ultralytics), augmented splits: train" in text
    assert "rows per split: train 9, val 1" in text
