from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import textured, write_image


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    """A small nested dataset: 8-bit BGR JPEG and PNG, gray, 16-bit, BGRA, a broken file and a
    non-image."""
    root = tmp_path / "data"
    write_image(root / "cats" / "a.jpg", textured(40, 48, 3, seed=1))
    write_image(root / "cats" / "deep" / "b.png", textured(33, 41, 3, seed=2))
    write_image(root / "gray.png", textured(30, 30, 1, seed=3))
    write_image(root / "wide16.png", textured(20, 50, 3, "uint16", seed=4))
    write_image(root / "alpha" / "c.PNG", textured(25, 35, 4, seed=5))
    (root / "broken.jpg").write_bytes(b"this is not a jpeg at all")
    (root / "notes.txt").write_text("not an image, skipped")
    return root
