"""The house rules, enforced: the pure layer imports neither Beam nor storage, storage never
imports the DoFns, the DoFns never import `pipeline`, analysis never imports the DoFn layer,
and no modules import each other. (docs/architecture.md, "The rooms".)"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# folder -> the name it installs under (the layout's folders, one namespace)
PACKAGES = {
    "blur_augment": "blur_augment",
    "transforms": "blur_augment.transforms",
    "pipeline": "blur_augment.pipeline",
}

# layer -> the first-party layers it may import
ALLOWED = {
    "pure": {"pure"},
    # blur_augment/: what a training loop imports (analysis and io only inside functions, for
    # the log; tests/unit/test_packaging.py checks the import stays light)
    "api": {"pure", "io", "analysis", "contract", "api"},
    "io": {"pure", "io"},
    "beam": {"pure", "io", "beam"},
    "analysis": {"pure", "io", "analysis", "contract"},
    "contract": {"pure", "contract"},  # CONTRACT below: plain definitions
    "pipeline": {"pure", "io", "beam", "analysis", "contract", "pipeline"},
}
NO_BEAM = {"pure", "contract", "analysis", "api"}  # layers that must not import apache_beam itself


# Plain definitions below the pipeline, which the API and analysis may read: no Beam.
CONTRACT = {f"blur_augment.pipeline.{name}" for name in ("usage", "schema", "blur_options")}


def layer_of(module: str) -> str:
    if module.startswith("blur_augment.transforms.io"):
        return "io"
    if module.startswith("blur_augment.transforms.beam"):
        return "beam"
    if module.startswith("blur_augment.transforms"):
        return "pure"
    if module.startswith("blur_augment.pipeline.analysis"):
        return "analysis"
    if module in CONTRACT:
        return "contract"
    if module.startswith("blur_augment.pipeline") or module == "blur_augment.__main__":
        return "pipeline"  # `python -m blur_augment` is the command
    return "api"


def module_name(path: Path) -> str:
    folder, *parts = path.relative_to(ROOT).with_suffix("").parts
    parts = parts[:-1] if parts[-1] == "__init__" else parts
    return ".".join([PACKAGES[folder], *parts])


def imports_of(source: str, module: str) -> set[str]:
    """Every module `source` imports (at the top or inside a function), absolute names."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module
            if node.level:  # relative: from the importing package
                package = module.split(".")[: -node.level or None]
                base = ".".join([*package, node.module])
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def violations(module: str, source: str, known: set[str]) -> list[str]:
    """The wrong-way imports of one module (`known`: every first-party module)."""
    layer = layer_of(module)
    wrong = []
    for name in sorted(imports_of(source, module)):
        top = name.split(".")[0]
        if top == "apache_beam" and layer in NO_BEAM:
            wrong.append(f"{module} ({layer}) imports {name}")
        if top in ("pipeline", "transforms"):  # a user's own module of that name would win
            wrong.append(f"{module} imports {name} outside the blur_augment namespace")
        if top == "blur_augment" and name in known and layer_of(name) not in ALLOWED[layer]:
            wrong.append(f"{module} ({layer}) imports {name} ({layer_of(name)})")
    return wrong


def first_party() -> dict[str, str]:
    return {
        module_name(path): path.read_text()
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
    }


def test_imports_point_one_way():
    modules = first_party()
    known = set(modules)
    wrong = [v for module, source in modules.items() for v in violations(module, source, known)]
    assert wrong == []


def test_no_two_modules_import_each_other():
    modules = first_party()
    graph = {m: {i for i in imports_of(s, m) if i in modules and i != m} for m, s in
             modules.items()}  # fmt: skip
    cycles = []

    def visit(node: str, path: list[str], state: dict[str, int]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1 and not _package_of(node, nxt):
                cycles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt], state)
        state[node] = 2

    state: dict[str, int] = {}
    for module in sorted(graph):
        if module not in state:
            visit(module, [module], state)
    assert cycles == []


def _package_of(module: str, other: str) -> bool:
    """A package's __init__ naming its own modules is not a cycle."""
    return module.startswith(other + ".") or other.startswith(module + ".")


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("transforms.sampling", "import apache_beam as beam"),
        ("transforms.blur", "from blur_augment.transforms.io import storage"),
        ("transforms.io.listing", "from blur_augment.transforms.beam.sample import BlurSample"),
        ("transforms.beam.sample", "from blur_augment.pipeline.options import RunConfig"),
        ("pipeline.analysis.page", "from blur_augment.transforms.beam import counters"),
        ("transforms.keys", "from transforms.sampling import sample"),
        ("", "from blur_augment.transforms.beam.graph import BlurDataset"),
        ("", "import apache_beam"),
    ],
)
def test_a_wrong_way_import_is_caught(module: str, source: str):
    """The check itself: each of these would fail test_imports_point_one_way."""
    name = f"blur_augment.{module}" if module else "blur_augment"
    assert violations(name, source, set(first_party())) != []
