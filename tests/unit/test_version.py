"""One version story: pyproject.toml's version is the installed one, what `--version` prints and
what logs record, and every "added in" note of the docs names a version the changelog has."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

from blur_augment.pipeline.usage import package_version
from tests.support.command import COMMAND

ROOT = Path(__file__).resolve().parents[2]


def project_version() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def test_the_installed_version_is_the_projects_and_the_commands():
    version = project_version()
    assert package_version() == version  # (reinstall with `pip install -e .` after a bump)
    done = subprocess.run([COMMAND, "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == f"blur-augment {version}"
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert re.search(rf"^## {re.escape(version)} ", changelog, re.M)


def test_every_added_in_note_names_a_released_version():
    version = tuple(int(p) for p in project_version().split("."))
    changelog = (ROOT / "CHANGELOG.md").read_text()
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    notes = [(page.name, found) for page in pages
             for found in re.findall(r"added in (\d+\.\d+)", page.read_text())]  # fmt: skip
    assert notes, "the log schema's notes say when each column came"
    for page, note in notes:
        assert tuple(int(p) for p in note.split(".")) <= version[:2], (page, note)
        assert f"## {note}.0 " in changelog, (page, note)


def test_logs_record_the_version(tmp_path: Path):
    from apache_beam.options.pipeline_options import PipelineOptions

    from blur_augment.pipeline.graph import run_metadata
    from blur_augment.pipeline.options import resolve

    config = resolve(
        PipelineOptions(["--input", str(tmp_path / "in"), "--output", str(tmp_path / "o")])
    )
    assert run_metadata(config)["blur_augment_version"] == project_version()
