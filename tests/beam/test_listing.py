"""Listing --input one level at a time: the first level of a directory (local and gs://), then
each sub-directory matched whole; the same files as one whole match, hidden ones included."""

from __future__ import annotations

import os
from pathlib import Path

from apache_beam.io.filesystems import FileSystems

from blur_augment.transforms.beam.matching import ListInput
from blur_augment.transforms.io import listing


def whole_match(pattern: str) -> list[str]:
    return sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)


def split_match(input_spec: str) -> tuple[list[str], int]:
    """Every file ListInput and the per-element matches find, and how many elements there were."""
    elements = list(ListInput().process(input_spec))
    found = []
    for kind, path, _ in elements:
        found += (
            [path]
            if kind == listing.FILE
            else whole_match(path + "**" if kind == listing.PREFIX else path)
        )
    return sorted(found), len(elements)


def test_local_tree_lists_the_same_files_in_one_element_per_sub_directory(tmp_path: Path):
    root = tmp_path / "tree"
    for i in range(30):
        path = root / f"d{i % 5}" / f"e{i % 2}" / f"f{i}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    (root / "top.png").write_bytes(b"x")
    (root / ".hidden.jpg").write_bytes(b"x")
    (root / "d0" / ".also_hidden.png").write_bytes(b"x")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "o.jpg").write_bytes(b"x")
    os.symlink(tmp_path / "outside", root / "link")  # not followed, as by Beam's match
    found, elements = split_match(str(root))
    assert found == whole_match(str(root) + "/**")
    assert elements == 5 + 2  # five sub-directories, two files at the top
    assert str(root / ".hidden.jpg") in found and not [f for f in found if "o.jpg" in f]


def test_a_single_file_and_a_pattern_are_matched_whole(tmp_path: Path):
    (tmp_path / "a.jpg").write_bytes(b"x")
    (tmp_path / "b.png").write_bytes(b"x")
    assert list(ListInput().process(str(tmp_path / "a.jpg"))) == [
        (listing.PATTERN, str(tmp_path / "a.jpg"), str(tmp_path) + "/")
    ]
    [(kind, _, base)] = ListInput().process(str(tmp_path / "*.png"))
    assert (kind, base) == (listing.PATTERN, str(tmp_path) + "/")
    assert list(ListInput().process(str(tmp_path / "nothing"))) == []


def test_gcs_prefix_is_listed_by_delimiter(gcs_client, bucket_name):
    bucket = gcs_client.bucket(bucket_name)
    names = [f"train/c{i % 4}/x{i}.jpg" for i in range(12)] + ["train/top.jpg", "train/c1/"]
    for name in names:
        bucket.blob(name).upload_from_string(b"x")
    bucket.blob("other/y.jpg").upload_from_string(b"x")
    level = sorted(listing.first_level(f"gs://{bucket_name}/train/"))
    assert level == [(listing.FILE, f"gs://{bucket_name}/train/top.jpg")] + [
        (listing.PREFIX, f"gs://{bucket_name}/train/c{i}/") for i in range(4)
    ]  # the folder placeholder object train/c1/ is no file
    found, elements = split_match(f"gs://{bucket_name}/train")
    assert elements == 5
    assert found == whole_match(f"gs://{bucket_name}/train/**")  # the placeholder too, as before
    assert f"gs://{bucket_name}/train/c3/x11.jpg" in found
