"""Same inputs, options and seed: byte-identical images and identical log rows on every
DirectRunner mode and worker count, and on a second run. Property tests for the sampler and
the key rules."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blur_augment.pipeline.run import run
from blur_augment.transforms import keys
from blur_augment.transforms.sampling import BlurSpec, sample, uniforms
from tests.support.helpers import textured, write_image

MODES = [
    ("in_memory", 1),
    ("multi_threading", 1),
    ("multi_threading", 2),
    ("multi_processing", 1),
    ("multi_processing", 2),
]


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("repro") / "in"
    for i in range(6):
        write_image(root / f"d{i % 2}" / f"img{i}.jpg", textured(30, 40, 3, seed=i))
    write_image(root / "deep" / "x16.png", textured(25, 30, 3, "uint16", seed=9))
    write_image(root / "alpha.webp", textured(20, 20, 4, seed=10))
    write_image(root / "gray.png", textured(20, 24, 1, seed=11))
    return root


def run_once(dataset: Path, out: Path, mode: str, workers: int) -> tuple[list[dict], dict]:
    argv = ["--input", str(dataset), "--output", str(out), "--seed", "123", "--copies", "2",
            "--probability", "0.7", "--max_sigma", "4", "--sigma_y", "independent",
            "--direct_running_mode", mode, "--direct_num_workers", str(workers)]  # fmt: skip
    assert run(argv) == 0
    log = pq.read_table(out / "_blur_log").drop_columns(["source_uri", "output_uri"])
    rows = sorted(log.to_pylist(), key=lambda r: (r["key"], r["copy_index"]))
    files = {
        p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in out.rglob("*")
        if p.is_file() and not p.relative_to(out).as_posix().startswith("_blur_")
    }
    return rows, files


def test_same_bytes_and_rows_on_every_mode(small_dataset: Path, tmp_path: Path):
    reference_rows, reference_files = run_once(small_dataset, tmp_path / "ref", "in_memory", 1)
    assert len(reference_rows) == 18 and len(reference_files) == 18
    assert {r["output_sha256"] for r in reference_rows} == set(reference_files.values())
    for mode, workers in [*MODES[1:], ("in_memory", 1)]:  # the last one is a second run
        rows, files = run_once(small_dataset, tmp_path / f"{mode}-{workers}", mode, workers)
        assert rows == reference_rows, (mode, workers)
        assert files == reference_files, (mode, workers)


keys_strategy = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    min_size=1,
    max_size=80,
)


@settings(max_examples=300, deadline=None)
@given(
    seed=st.integers(min_value=-(2**63), max_value=2**63 - 1),
    copy=st.integers(min_value=0, max_value=1000),
    key=keys_strategy,
    low=st.floats(min_value=0, max_value=50, allow_nan=False),
    span=st.floats(min_value=0, max_value=50, allow_nan=False),
    probability=st.floats(min_value=0, max_value=1, allow_nan=False),
    mode=st.sampled_from(["same", "independent"]),
)
def test_sampler_properties(seed, copy, key, low, span, probability, mode):
    spec = BlurSpec(low, low + span, probability, mode)
    drawn = sample(seed, copy, key, spec)
    assert drawn == sample(seed, copy, key, spec)  # a function of (seed, copy, key) alone
    u0, _, _ = uniforms(seed, copy, key)
    assert drawn.applied == (u0 < probability)
    if drawn.applied:
        assert low <= drawn.sigma_x <= low + span and low <= drawn.sigma_y <= low + span
        assert mode == "independent" or drawn.sigma_x == drawn.sigma_y
    else:
        assert drawn.sigma_x == drawn.sigma_y == 0.0
    assert all(0.0 <= u < 1.0 for u in uniforms(seed, copy, key))


segment = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="/\\\x00"),
    min_size=1,
    max_size=20,
).filter(lambda s: s not in (".", ".."))


@settings(max_examples=300, deadline=None)
@given(
    base=st.sampled_from(["/data/imgs/", "gs://bucket/train/", "/tmp/x y/"]),
    parts=st.lists(segment, min_size=1, max_size=8),
)
def test_keys_are_relative_paths_that_stay_inside_output(base, parts):
    relative = "/".join(parts)
    key = keys.key_for(base + relative, base)
    assert key == relative
    for copy_index, numbered in ((-1, True), (0, False), (3, True)):
        out = keys.join("gs://out/prefix", keys.output_key(key, copy_index, numbered))
        assert keys.is_inside(out, "gs://out/prefix/")
        assert ".." not in out[len("gs://out/prefix/") :].split("/")


@settings(max_examples=200, deadline=None)
@given(parts=st.lists(st.one_of(segment, st.sampled_from(["..", ".", ""])), min_size=1))
def test_keys_with_dot_segments_are_refused(parts):
    key = "/".join(parts)
    if any(p in ("..", ".", "") for p in parts):
        with pytest.raises(keys.UnsafeKeyError):
            keys.check_key(key)
    else:
        keys.check_key(key)
