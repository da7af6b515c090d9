"""Output names claimed once: every output an image may take is claimed by name, and a name
claimed twice (copy 0 of `x.jpg` is `x_blur0.jpg`, which may be another input) becomes a CLASH
member of each claimant's sample, so the sample step refuses both rather than overwrite one."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from blur_augment.transforms.job import ORIGINAL_COPY, BlurJob
from blur_augment.transforms.labels.layout import IMAGE
from blur_augment.transforms.plan import CLASH, Member


def claimed_outputs(
    element: tuple[str, Member], job: BlurJob
) -> Iterator[tuple[str, tuple[str, str, int]]]:
    """(output key, (sample, image key, copy index)) for every output an image may take: all
    its copies where its split is augmented (or, in a VOCdevkit, whose lists tell the split
    only later, anywhere), its original with --include_originals."""
    sample, member = element
    if member.kind != IMAGE:
        return
    layout = job.layout
    may_augment = layout.augments(member.split) or (layout.kind == "voc" and not member.split)
    copies = job.copy_indices() if may_augment else [ORIGINAL_COPY] if job.include_originals else []
    for copy_index in copies:
        yield job.copy_key(member.key, copy_index), (sample, member.key, copy_index)


def clashing_claims(element: tuple[str, Iterable[tuple[str, str, int]]]) -> Iterator[Any]:
    """For an output key claimed more than once, a CLASH member for each claimant's sample."""
    output_key, claims = element
    claimants = sorted(set(claims))
    if len(claimants) < 2:
        return
    for sample, image_key, copy_index in claimants:
        others = ", ".join(
            f"{key} ({'its original' if c == ORIGINAL_COPY else f'copy {c}'})"
            for _, key, c in claimants if (key, c) != (image_key, copy_index)
        )  # fmt: skip
        why = (f"its output {output_key} would also be the output of {others}: neither is "
               "written, so that none overwrites another")  # fmt: skip
        yield sample, Member(CLASH, image_key, problem=why, copy_index=copy_index)
