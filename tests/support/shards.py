"""Sharded datasets as their own libraries write them: WebDataset tars by `webdataset`'s
TarWriter, Parquet by Hugging Face `datasets` (an Image feature) and by pyarrow (a plain binary
column); and the check that a copy inside a shard is its source blurred with the logged sigma."""

from __future__ import annotations

import io
import json
from pathlib import Path

import cv2
import numpy as np

from blur_augment.transforms import imaging
from tests.support.helpers import textured


def encoded(extension: str, image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(extension, image)
    assert ok
    return buf.tobytes()


def webdataset_samples(shard: int, count: int) -> list[dict]:
    """Samples as a captioning/classification set holds them: an image, a class, a JSON, and
    for every other sample a segmentation mask (`seg.png`, which must not be blurred)."""
    samples = []
    for i in range(count):
        image = textured(36 + i, 44, 3, seed=100 * shard + i)
        sample = {
            "__key__": f"{shard:02d}/s{i:04d}",
            "jpg" if i % 3 else "png": encoded(".jpg" if i % 3 else ".png", image),
            "cls": str(i % 5).encode(),
            "json": json.dumps({"caption": f"sample {i}", "shard": shard}).encode(),
        }
        if i % 2 == 0:
            sample["seg.png"] = encoded(".png", (image[:, :, 0] > 128).astype(np.uint8))
        samples.append(sample)
    return samples


def write_webdataset(path: Path, samples: list[dict]) -> Path:
    import webdataset as wds

    path.parent.mkdir(parents=True, exist_ok=True)
    with wds.TarWriter(str(path)) as writer:
        for sample in samples:
            writer.write(sample)
    return path


def read_webdataset(paths: list[Path]) -> list[dict]:
    """Every sample of the shards, in order, as webdataset's own loader yields them."""
    import webdataset as wds

    urls = [str(p) for p in paths]
    return list(wds.WebDataset(urls, shardshuffle=False, empty_check=False))


def write_hf_parquet(path: Path, rows: int, seed: int = 0, broken: int | None = None) -> Path:
    """A Parquet file as `datasets` writes one: an Image column (PNG bytes, a path) and a label
    and a text column; row `broken` holds bytes that are no image."""
    import datasets

    images = [
        {"bytes": encoded(".png", textured(30, 34 + r, 3, seed=seed + r)), "path": f"img{r}.png"}
        for r in range(rows)
    ]
    if broken is not None:
        images[broken] = {"bytes": b"not an image at all", "path": f"img{broken}.png"}
    table = datasets.Dataset.from_dict(
        {
            "image": images,
            "label": [r % 3 for r in range(rows)],
            "text": [f"row {r}" for r in range(rows)],
        },
        features=datasets.Features(
            {
                "image": datasets.Image(),
                "label": datasets.ClassLabel(names=["a", "b", "c"]),
                "text": datasets.Value("string"),
            }
        ),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_parquet(str(path))
    return path


def write_binary_parquet(path: Path, rows: int) -> Path:
    """A plain Parquet table with JPEG bytes in a binary column and an id beside them."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "id": pa.array(range(rows), pa.int64()),
            "jpeg": pa.array(
                [encoded(".jpg", textured(40, 30, 3, seed=r)) for r in range(rows)], pa.binary()
            ),
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path


def blurred_as_logged(source: bytes, row: dict) -> bytes:
    """The copy the pure path makes of `source` with the row's logged sigmas, in its format and
    on its codec path: what the output member or cell must be, byte for byte."""
    if row["blur_method"] == "none":
        return source
    codec_path = "pixels" if row["codec_path"] == "pixels" else "auto"
    decoded = imaging.decode(source, row["format"], codec_path)
    blurred = imaging.blur(decoded, row["sigma_x"], row["sigma_y"])
    return imaging.encode(blurred, row["format"])


def decodes_like(data: bytes, source: bytes) -> bool:
    """Both decode (cv2) to images of one shape."""
    out = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    src = cv2.imdecode(np.frombuffer(source, np.uint8), cv2.IMREAD_UNCHANGED)
    return out is not None and src is not None and out.shape == src.shape


def parquet_bytes(data: bytes):
    import pyarrow.parquet as pq

    return pq.read_table(io.BytesIO(data))
