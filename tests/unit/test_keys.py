"""Key derivation and output paths: pure string rules, including refusals of unsafe keys."""

from __future__ import annotations

import pytest

from blur_augment.transforms.keys import (
    MatchPlan,
    UnsafeKeyError,
    check_key,
    is_inside,
    key_for,
    match_plans,
    output_key,
)


@pytest.mark.parametrize(
    ("input_spec", "plans"),
    [
        ("/data/imgs/**", [MatchPlan("/data/imgs/**", "/data/imgs/")]),
        ("gs://b/train/*.jpg", [MatchPlan("gs://b/train/*.jpg", "gs://b/train/")]),
        ("gs://b/a*/x/*.png", [MatchPlan("gs://b/a*/x/*.png", "gs://b/")]),
        ("gs://b/train/", [MatchPlan("gs://b/train/**", "gs://b/train/")]),
        (
            "/data/imgs",
            [MatchPlan("/data/imgs/**", "/data/imgs/"), MatchPlan("/data/imgs", "/data/")],
        ),
    ],
)
def test_match_plans(input_spec, plans):
    assert match_plans(input_spec) == plans


@pytest.mark.parametrize(
    ("path", "base", "key"),
    [
        ("/data/imgs/a/b.jpg", "/data/imgs/", "a/b.jpg"),
        ("gs://b/train/x y/ü.png", "gs://b/train/", "x y/ü.png"),
        ("gs://b/one.jpg", "gs://b/", "one.jpg"),
    ],
)
def test_key_for(path, base, key):
    assert key_for(path, base) == key


@pytest.mark.parametrize(
    "key", ["../x.jpg", "a/../../x.jpg", "/etc/passwd.jpg", "a//b.jpg", "./a.jpg", "", "a\x00.jpg"]
)
def test_unsafe_keys_refused(key):
    with pytest.raises(UnsafeKeyError):
        check_key(key)


@pytest.mark.parametrize(
    ("key", "copy_index", "numbered", "expected"),
    [
        ("dir/name.jpg", 0, False, "dir/name.jpg"),
        ("dir/name.jpg", 0, True, "dir/name_blur0.jpg"),
        ("dir/name.tar.png", 3, True, "dir/name.tar_blur3.png"),
        ("name.PNG", 1, True, "name_blur1.PNG"),
        ("dir/name.jpg", -1, True, "dir/name.jpg"),
    ],
)
def test_output_key(key, copy_index, numbered, expected):
    assert output_key(key, copy_index, numbered) == expected


@pytest.mark.parametrize(
    ("path", "directory", "inside"),
    [
        ("/data/imgs/out", "/data/imgs/", True),
        ("/data/imgs", "/data/imgs/", True),
        ("/data/imgs2", "/data/imgs/", False),
        ("gs://b/out", "gs://b/train/", False),
    ],
)
def test_is_inside(path, directory, inside):
    assert is_inside(path, directory) is inside
