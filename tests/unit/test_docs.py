"""The README's `run` option table and `blur-augment run --help` describe the same options, and
the kind options' defaults are their descriptors'."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from blur_augment.pipeline.options import BlurAugmentOptions
from blur_augment.transforms.sampling import PARAMETERS

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_table() -> dict[str, str]:
    """Option -> its default cell, from the table under "### `run` options"."""
    text = README.read_text()
    section = text[text.index("### `run` options") :]
    section = section[: section.index("\n## ")]
    cells = {}
    for line in section.splitlines():
        if not line.startswith("| `--"):
            continue
        names, default = (cell.strip() for cell in line.split("|")[1:3])
        for name in re.findall(r"`(--[a-z_]+)`", names):
            cells[name] = default
    return cells


def help_options() -> dict[str, argparse.Action]:
    parser = argparse.ArgumentParser()
    BlurAugmentOptions._add_argparse_args(parser)
    return {o: a for a in parser._actions for o in a.option_strings if o.startswith("--")
            and o != "--help"}  # fmt: skip


def test_the_readme_table_and_help_name_the_same_options():
    assert sorted(readme_table()) == sorted(help_options())


def test_every_option_has_help():
    assert [name for name, action in help_options().items() if not action.help] == []


def test_the_kind_options_defaults_are_their_descriptors():
    table = readme_table()
    for name, parameter in PARAMETERS.items():
        shown = (",".join(f"{v:g}" for v in parameter.default) if parameter.uniform
                 else str(parameter.default))  # fmt: skip
        assert shown in table[f"--{name}"], (name, shown, table[f"--{name}"])
        assert shown in help_options()[f"--{name}"].help, name
