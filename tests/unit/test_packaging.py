"""One namespace: the wheel installs `blur_augment` and nothing else at top level, holds every
module of the layout's folders, and the public API and the command's help stay light."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = {"blur_augment": "blur_augment", "pipeline": "blur_augment/pipeline",
           "transforms": "blur_augment/transforms"}  # fmt: skip


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    """Built from a copy of the tree (a build writes build/ beside its sources)."""
    out, tree = tmp_path_factory.mktemp("wheel"), tmp_path_factory.mktemp("tree")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tree / name)
    for folder in FOLDERS:
        shutil.copytree(ROOT / folder, tree / folder, ignore=shutil.ignore_patterns("__pycache__"))
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(tree)]
    subprocess.run(command, check=True, capture_output=True, timeout=300)
    (path,) = out.glob("blur_augment-*.whl")
    return zipfile.ZipFile(path)


def test_the_wheel_installs_blur_augment_alone(wheel: zipfile.ZipFile):
    tops = {name.split("/")[0] for name in wheel.namelist() if ".dist-info" not in name}
    assert tops == {"blur_augment"}
    entry = wheel.read(next(n for n in wheel.namelist() if n.endswith("entry_points.txt")))
    assert "blur-augment = blur_augment.pipeline.cli:entry_point" in entry.decode()


def test_the_wheel_holds_every_module(wheel: zipfile.ZipFile):
    """pyproject.toml names the packages one by one: a new sub-package must be listed."""
    names = set(wheel.namelist())
    expected = {f"{target}/{path.relative_to(ROOT / folder).as_posix()}"
                for folder, target in FOLDERS.items()
                for path in (ROOT / folder).rglob("*.py")}  # fmt: skip
    assert expected - names == set()


def _modules_after(code: str) -> set[str]:
    """The top-level modules a fresh interpreter holds after `code`, run outside the checkout
    (so only the installed package is found)."""
    probe = f"{code}\nimport sys\nprint(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          cwd="/", timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


def test_import_blur_augment_is_light():
    """What a training loop imports: the sampler, the spec, Augmenter and LogWriter, with no
    Beam and no pyarrow (the writer loads pyarrow when it writes)."""
    loaded = _modules_after(
        "import blur_augment\nfrom blur_augment import Augmenter, LogWriter, sample\n"
        "assert blur_augment.__version__\n"
        "aug = Augmenter(seed=1, blur='motion')\nLogWriter('/nonexistent', aug)"
    )
    assert {"apache_beam", "pyarrow", "duckdb", "matplotlib", "torch"} & loaded == set()


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["summary", "--help"],
                                  ["evaluate", "--help"], ["preview", "--help"]])  # fmt: skip
def test_help_loads_no_heavy_library(args: list[str]):
    """--help and --version answer without Beam, DuckDB, pyarrow or matplotlib (each of them
    costs seconds to import): only the command that runs loads what it needs."""
    code = (
        "from blur_augment.pipeline.cli import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit:\n    pass"
    )
    loaded = _modules_after(code)
    assert {"apache_beam", "pyarrow", "duckdb", "matplotlib", "cv2"} & loaded == set()


def test_each_kind_parameter_is_named_in_at_most_three_modules():
    """A kind is described once (sampling.BLUR_KINDS): its parameter names appear in the
    descriptor's module, its filter's and at most one more, never in the options, the schema,
    the analysis or the CLI."""
    from blur_augment.transforms.sampling import PARAMETERS

    sources = {path: path.read_text() for folder in FOLDERS
               for path in (ROOT / folder).rglob("*.py")}  # fmt: skip
    spread = {name: sorted(str(p.relative_to(ROOT)) for p, text in sources.items()
                           if re.search(rf"\b{name}\b", text))
              for name in PARAMETERS}  # fmt: skip
    assert {name: where for name, where in spread.items() if len(where) > 3} == {}
