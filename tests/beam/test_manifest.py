"""--input_manifest: the files a text, CSV or Parquet manifest (or an inventory report) names,
keyed against --input exactly as a listing would key them, every line accounted for."""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from blur_augment.pipeline.run import run
from blur_augment.transforms.manifests import ManifestError, kind_of, uri_of


def log_rows(out: Path) -> list[dict]:
    table = pq.read_table(out / "_blur_log").drop_columns(["source_uri", "output_uri"])
    return sorted(table.to_pylist(), key=lambda r: (r["key"], r["copy_index"]))


def errors(out: Path) -> list[dict]:
    table = pq.read_table(out / "_blur_errors")
    return sorted(table.to_pylist(), key=lambda r: (r["key"], r["copy_index"]))


def blur(dataset: Path, out: Path, *extra: str) -> None:
    argv = ["--input", str(dataset), "--output", str(out), "--seed", "3", "--max_sigma", "2",
            "--copies", "2", *extra]  # fmt: skip
    assert run(argv) == 0


def test_text_manifest_matches_a_listing_and_accounts_for_every_line(
    dataset: Path, tmp_path: Path, capsys
):
    """The same files through a manifest and through a listing: the same keys, sigmas and
    bytes. A missing file is a read error row per copy, a line given twice is made once and
    counted, a URI outside --input is an error row, blank and '#' lines are skipped."""
    blur(dataset, tmp_path / "listed")
    files = sorted(str(p) for p in dataset.rglob("*") if p.is_file())
    manifest = tmp_path / "manifest.txt"
    lines = ["# the training images", *files, "", files[0], str(dataset / "gone.jpg"),
             str(tmp_path / "elsewhere.jpg")]  # fmt: skip
    manifest.write_text("\n".join(lines) + "\n")
    capsys.readouterr()
    blur(dataset, tmp_path / "manifest", "--input_manifest", str(manifest))
    summary = capsys.readouterr().err
    assert f"manifest {manifest}: {len(files) + 3} lines, 1 naming a file already named" in summary
    assert "WARNING" not in summary  # every output accounted for
    assert log_rows(tmp_path / "manifest") == log_rows(tmp_path / "listed")
    listed_errors = errors(tmp_path / "listed")
    got = errors(tmp_path / "manifest")
    assert [e for e in got if e["key"] == "broken.jpg"] == listed_errors
    gone = [e for e in got if e["key"] == "gone.jpg"]
    assert [(e["stage"], e["copy_index"]) for e in gone] == [("read", 0), ("read", 1)]
    outside = [e for e in got if e["key"] == str(tmp_path / "elsewhere.jpg")]
    assert [e["stage"] for e in outside] == ["read", "read"]
    assert "not under --input" in outside[0]["message"]


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_csv_and_parquet_manifests_with_a_named_column(dataset: Path, tmp_path: Path, kind):
    images = ["cats/a.jpg", "gray.png", "alpha/c.PNG"]
    uris = [str(dataset / key) for key in images]
    if kind == "csv":
        manifest = tmp_path / "m.csv"
        with manifest.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["label", "path"])
            writer.writerows([["cat, tabby", uris[0]], ["", uris[1]], ["x", uris[2]]])
    else:
        manifest = tmp_path / "m.parquet"
        pq.write_table(pa.table({"path": uris, "label": ["a", "b", "c"]}), manifest)
    out = tmp_path / "out"
    blur(dataset, out, "--input_manifest", str(manifest), "--manifest_column", "path")
    assert sorted({r["key"] for r in log_rows(out)}) == sorted(images)


def test_inventory_report_columns_and_a_missing_column():
    """A Storage Insights inventory row names its object by bucket and name."""
    assert uri_of({"bucket": "b", "name": "train/x.jpg", "size": 3}, "uri") == "gs://b/train/x.jpg"
    assert uri_of({"uri": " gs://b/y.png "}, "uri") == "gs://b/y.png"
    with pytest.raises(ManifestError, match="no column 'path'"):
        uri_of({"file": "x"}, "path")
    assert [kind_of(p) for p in ("a.PARQUET", "b.csv", "c.txt", "d")] == [
        "parquet", "csv", "text", "text"
    ]  # fmt: skip
