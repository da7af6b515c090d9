"""A sample's plan, case by case, without Beam or storage: which copies an image gets, where
they and their label files go, what would stop them, and what the index files list."""

from __future__ import annotations

import numpy as np
import pytest

from blur_augment.transforms.copies import make_copies
from blur_augment.transforms.errors import StageError
from blur_augment.transforms.job import ORIGINAL_COPY, BlurJob
from blur_augment.transforms.labels.coco import CopyEntry
from blur_augment.transforms.labels.errors import LabelError
from blur_augment.transforms.labels.layout import IMAGE, LABEL, MASK, CocoIndex, Layout
from blur_augment.transforms.plan import (
    CLASH,
    ENTRY,
    Member,
    OutputClash,
    copy_label_files,
    label_problem,
    plan_sample,
    refusal,
)
from blur_augment.transforms.sampling import BlurSpec
from tests.support.corpus import encoded

YOLO = Layout("yolo", "ultralytics", ("train", "val"), ("train",))
VOC = Layout("voc", "devkit", ("train", "val"), ("train",),
             lists=("ImageSets/Main/train.txt", "ImageSets/Main/val.txt"))  # fmt: skip
COCO = Layout("coco", "", ("train2017",), ("train2017",),
              coco=(CocoIndex("annotations/instances_train2017.json", "train2017",
                              "train2017/"),))  # fmt: skip


PLAIN = Layout()


def job(layout: Layout = PLAIN, **options) -> BlurJob:
    return BlurJob(output="/out", layout=layout, **options)


def test_a_plain_image_gets_every_copy_numbered():
    plan = plan_sample(job(copies=2), [Member(IMAGE, "a/x.jpg", "/in/a/x.jpg")])
    [image] = plan.images
    assert (image.split, image.augmented, image.unlisted, image.problem) == ("", True, False, None)
    assert [(c.copy_index, c.output_uri, c.label_uris) for c in image.copies] == [
        (0, "/out/a/x_blur0.jpg", ()), (1, "/out/a/x_blur1.jpg", ()),
    ]  # fmt: skip


def test_label_files_go_under_each_copys_name_and_other_splits_keep_their_original():
    members = [Member(IMAGE, "images/train/x.jpg", split="train"),
               Member(LABEL, "labels/train/x.txt", split="train")]  # fmt: skip
    [image] = plan_sample(job(YOLO, include_originals=True), members).images
    assert [(c.copy_index, c.label_uris) for c in image.copies] == [
        (-1, ("/out/labels/train/x.txt",)), (0, ("/out/labels/train/x_blur0.txt",)),
    ]  # fmt: skip
    val = [Member(IMAGE, "images/val/y.jpg", split="val")]
    [kept] = plan_sample(job(YOLO, include_originals=True), val).images
    assert not kept.augmented and [c.copy_index for c in kept.copies] == [ORIGINAL_COPY]
    plan = plan_sample(job(YOLO), val)
    assert (plan.images, plan.left_out) == ((), 1)


def test_a_vocdevkit_image_takes_its_split_from_the_lists_and_lists_each_copy():
    members = [
        Member(IMAGE, "JPEGImages/x.jpg"),
        Member(ENTRY, "x", index="ImageSets/Main/train.txt", line=3, rest=" 1", split="train"),
    ]
    [image] = plan_sample(job(VOC, copies=2), members).images
    assert image.split == "train"
    assert [c.listings for c in image.copies] == [
        (("ImageSets/Main/train.txt", (3, 0, "x_blur0 1")),),
        (("ImageSets/Main/train.txt", (3, 1, "x_blur1 1")),),
    ]


def test_coco_entries_give_copy_entries_and_their_problems_refuse_the_image():
    entry = Member(ENTRY, "train2017/x.jpg", index=COCO.coco[0].key, image_id=7)
    image = Member(IMAGE, "train2017/x.jpg", split="train2017")
    [planned] = plan_sample(job(COCO, copies=2), [image, entry]).images
    assert planned.copies[1].listings == ((COCO.coco[0].key, CopyEntry(7, 1, "x_blur1.jpg")),)
    [twice] = plan_sample(job(COCO), [image, entry, entry]).images
    assert "listed more than once" in str(twice.problem)
    broken = Member(ENTRY, "train2017/x.jpg", index=COCO.coco[0].key, problem="shares id 7")
    [shared] = plan_sample(job(COCO), [image, broken]).images
    assert str(shared.problem) == "shares id 7"
    [unlisted] = plan_sample(job(COCO), [image]).images
    assert unlisted.unlisted


def test_shared_label_files_orphans_clashes_and_unsafe_keys():
    label = Member(LABEL, "labels/train/x.txt", split="train")
    two = [Member(IMAGE, "images/train/x.jpg", split="train"),
           Member(IMAGE, "images/train/x.png", split="train"), label]  # fmt: skip
    assert "share the label files" in str(plan_sample(job(YOLO), two).shared_labels)
    assert plan_sample(job(YOLO), [label]).orphans == 1
    clash = Member(CLASH, "x.jpg", problem="x_blur0.jpg is also y's", copy_index=0)
    [image] = plan_sample(job(copies=2), [Member(IMAGE, "x.jpg"), clash]).images
    refused = refusal(image, image.copies[0], None, True)
    assert isinstance(refused, StageError) and refused.stage == "write"
    assert (
        isinstance(refused.cause, OutputClash)
        and refusal(image, image.copies[1], None, True) is None
    )
    [unsafe] = plan_sample(job(), [Member(IMAGE, "../x.jpg")]).images
    assert unsafe.unsafe is not None


def test_a_label_problem_refuses_the_copies_but_not_a_whole_original():
    [image] = plan_sample(job(include_originals=True), [Member(IMAGE, "x.jpg")]).images
    original, copy = image.copies
    problem = LabelError("x.txt: line 1 is not numeric")
    assert refusal(image, original, problem, labels_whole=True) is None
    assert refusal(image, original, problem, labels_whole=False).stage == "labels"
    assert refusal(image, copy, problem, labels_whole=True).stage == "labels"


def test_label_files_of_a_copy_a_voc_xml_renamed():
    xml = b"<annotation><filename>x.jpg</filename><object><name>cat</name></object></annotation>"
    members = [Member(IMAGE, "JPEGImages/x.jpg"), Member(LABEL, "Annotations/x.xml"),
               Member(MASK, "SegmentationClass/x.png")]  # fmt: skip
    plan = plan_sample(job(copies=2), members)
    contents = {"Annotations/x.xml": xml, "SegmentationClass/x.png": b"mask"}
    files = copy_label_files(plan.files, plan.images[0].copies[1], contents)
    assert [uri for uri, _ in files] == ["/out/Annotations/x_blur1.xml",
                                         "/out/SegmentationClass/x_blur1.png"]  # fmt: skip
    assert b"<filename>x_blur1.jpg</filename>" in files[0][1] and files[1][1] == b"mask"
    assert label_problem(Member(LABEL, "labels/x.txt"), b"0 0.5 0.5 0.1") is not None
    assert label_problem(Member(MASK, "m.png"), b"anything") is None


@pytest.mark.parametrize("data", [b"not an image", None])
def test_make_copies_keeps_a_failed_decode_for_every_copy(data):
    copies = make_copies(job(copies=2), "x.png", data, "png")
    assert copies.properties is None and copies.failure.stage == "decode"
    assert [type(made) for _, made in copies.each([0, 1])] == [StageError, StageError]


def test_make_copies_gives_the_source_bytes_when_nothing_changes():
    source = encoded(np.full((8, 8, 3), 90, np.uint8), ".png")
    copies = make_copies(job(spec=BlurSpec(0, 0)), "x.png", source, "png")
    assert copies.properties.width == 8 and copies.make(0) == source
