"""The pure annotation layer: roles of files in each layout, and each format's rewrite."""

from __future__ import annotations

import io
import json

import pytest

from blur_augment.transforms.labels import coco, voc, yolo
from blur_augment.transforms.labels.errors import LabelError
from blur_augment.transforms.labels.layout import (
    IMAGE,
    INDEX,
    LABEL,
    MASK,
    OTHER,
    CocoIndex,
    Layout,
    Role,
    classify,
    yolo_label_key,
)
from tests.support.datasets import coco_json


@pytest.mark.parametrize(
    ("image", "label"),
    [
        ("images/train/a.jpg", "labels/train/a.txt"),
        ("train/images/sub/a.b.PNG", "train/labels/sub/a.b.txt"),
        ("images/x/images/a.jpg", "images/x/labels/a.txt"),  # the last /images/ (Ultralytics)
        ("photos/a.jpg", None),
    ],
)
def test_yolo_label_path_rule(image: str, label: str | None):
    assert yolo_label_key(image) == label


def test_roles_in_each_layout():
    ultra = Layout("yolo", "ultralytics", ("train", "val"), ("train",), yaml="data.yaml")
    assert classify("images/train/a.jpg", ultra) == Role(IMAGE, "labels/train/a.txt", "train")
    assert classify("labels/val/b.txt", ultra) == Role(LABEL, "labels/val/b.txt", "val")
    assert classify("data.yaml", ultra).kind == INDEX
    assert classify("classes.txt", ultra).kind == OTHER
    robo = Layout("yolo", "roboflow", ("train", "valid"), ("train",))
    assert classify("valid/images/a.jpg", robo) == Role(IMAGE, "valid/labels/a.txt", "valid")
    cocos = Layout(
        "coco",
        splits=("train2017",),
        coco=(
            CocoIndex("annotations/instances_train2017.json", "train2017", "train2017/"),
            CocoIndex(
                "annotations/panoptic_train2017.json",
                "train2017",
                "train2017/",
                "annotations/panoptic_train2017/",
            ),
        ),
    )
    assert classify("train2017/1.jpg", cocos) == Role(IMAGE, "train2017/1", "train2017")
    assert classify("annotations/panoptic_train2017/1.png", cocos) == Role(
        MASK, "train2017/1", "train2017"
    )
    devkit = Layout("voc", "devkit", lists=("ImageSets/Main/train.txt",))
    assert classify("JPEGImages/2008_1.jpg", devkit) == Role(IMAGE, "2008_1")
    assert classify("Annotations/2008_1.xml", devkit) == Role(LABEL, "2008_1")
    assert classify("SegmentationObject/2008_1.png", devkit) == Role(MASK, "2008_1")
    assert classify("ImageSets/Main/train.txt", devkit).kind == INDEX
    plain = Layout(masks=("masks/*",), exclude=("*.db",))
    assert classify("masks/a.png", plain) == Role(MASK, "a")
    assert classify("images/a.jpg", plain) == Role(IMAGE, "a")
    assert classify("images/Thumbs.db", plain).kind == "excluded"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("0 0.5 0.5 0.1\n", "has 4 fields"),
        ("cat 0.5 0.5 0.1 0.1\n", "not numeric"),
        ("-1 0.5 0.5 0.1 0.1\n", "negative class"),
        ("0 0.5 nan 0.1 0.1\n", "non-finite"),
    ],
)
def test_broken_yolo_labels_are_refused(text: str, reason: str):
    with pytest.raises(LabelError, match=reason):
        yolo.check_label(text.encode())


def test_yolo_labels_accept_boxes_polygons_and_blank_lines():
    assert yolo.check_label(b"0 0.5 0.5 0.1 0.1\n\n3 0.1 0.1 0.2 0.1 0.2 0.2\n") == 2
    assert yolo.check_label(b"") == 0


def test_voc_rename_keeps_every_object():
    xml = (
        b"<annotation><filename>a.jpg</filename><path>/x/a.jpg</path><object><name>cat</name>"
        b"<bndbox><xmin>1</xmin><ymin>2</ymin><xmax>3</xmax><ymax>4</ymax></bndbox></object>"
        b"</annotation>"
    )
    out = voc.rename_annotation(xml, "a_blur0.jpg", "/out/a_blur0.jpg")
    assert b"<filename>a_blur0.jpg</filename><path>/out/a_blur0.jpg</path>" in out
    assert out.replace(b"a_blur0.jpg", b"a.jpg").replace(b"/out/", b"/x/").strip() == xml
    with pytest.raises(LabelError, match="not well-formed"):
        voc.rename_annotation(b"<annotation>", "x", None)
    with pytest.raises(LabelError, match="non-numeric bndbox"):
        voc.rename_annotation(xml.replace(b"<xmin>1", b"<xmin>one"), "x", None)


def test_voc_list_rewrite_puts_copies_after_their_source():
    text = "a  1\nb -1\n"
    added = {0: ["a_blur0  1"], 1: ["b_blur0 -1"]}
    assert voc.rewrite_list(text, added, True) == "a  1\na_blur0  1\nb -1\nb_blur0 -1\n"
    assert voc.rewrite_list(text, {1: ["b_blur0 -1"]}, False) == "b_blur0 -1\n"
    assert voc.list_entries(text) == [(0, "a", "  1"), (1, "b", " -1")]


def test_coco_rewrite_streams_copies_with_new_ids():
    source = json.dumps(coco_json(["a.jpg", "b.jpg"])).encode()
    out = io.BytesIO()
    copies = [coco.CopyEntry(11, 1, "b_blur1.jpg"), coco.CopyEntry(1, 0, "a_blur0.jpg")]
    counts = coco.rewrite(lambda: io.BytesIO(source), out, copies, include_originals=True)
    data = json.loads(out.getvalue())
    assert counts == {"images": 4, "annotations": 4, "copied_annotations": 4}
    assert [(i["id"], i["file_name"]) for i in data["images"][2:]] == [
        (12, "a_blur0.jpg"),
        (13, "b_blur1.jpg"),
    ]
    ids = [a["id"] for a in data["annotations"]]
    assert len(set(ids)) == len(ids) and min(ids[2:]) > 0
    original = {a["id"]: a for a in coco_json(["a.jpg", "b.jpg"])["annotations"]}
    for annotation in data["annotations"]:
        if annotation["id"] not in original:
            source_id = 1 if annotation["image_id"] == 12 else 11
            twin = next(
                a
                for a in original.values()
                if a["image_id"] == source_id and a["category_id"] == annotation["category_id"]
            )
            assert {**annotation, "id": 0, "image_id": 0} == {**twin, "id": 0, "image_id": 0}
    assert data["categories"] == coco_json([])["categories"]


def test_coco_refuses_escaping_file_names_and_bad_json():
    with pytest.raises(LabelError, match="outside"):
        coco.checked_file_name({"id": 3, "file_name": "../../etc/passwd"})
    with pytest.raises(LabelError, match="not valid JSON"):
        list(coco.iter_images(io.BytesIO(b'{"images": [{"id": 1,')))


def test_one_yolo_row_parser_reads_boxes_polygons_and_pose_rows():
    """labels/yolo.rows is the one parser: the run checks label files with it and evaluate
    reads ground truth with it. A pose row (box, then keypoints) is a box where data.yaml
    gives kpt_shape; without it, more than four numbers are a polygon, as Ultralytics reads
    them."""
    from blur_augment.transforms.labels import yolo

    text = (b"0 0.5 0.5 0.2 0.4\n\n1 0.1 0.1 0.3 0.1 0.3 0.5\n"
            b"2 0.5 0.5 0.2 0.2 0.45 0.45 2 0.55 0.5 1\n")  # fmt: skip
    box, polygon, pose = yolo.rows(text)
    assert (box.line, box.cls, box.polygon(False), box.box(False)) == (
        1,
        0,
        (),
        (0.5, 0.5, 0.2, 0.4),
    )
    assert polygon.line == 3 and polygon.polygon(False) == (0.1, 0.1, 0.3, 0.1, 0.3, 0.5)
    assert polygon.box(False) == pytest.approx((0.2, 0.3, 0.2, 0.4))
    assert pose.polygon(True) == () and pose.box(True) == (0.5, 0.5, 0.2, 0.2)
    assert yolo.check_label(text) == 3
    with pytest.raises(LabelError, match="line 2 has 3 fields"):
        yolo.rows(b"0 0.5 0.5 0.1 0.1\n0 1 2\n")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('names: !!python/object/apply:os.system ["echo"]\n', "python/object/apply:os.system"),
        ("names: [a, b\n", "expected ',' or ']'"),
        ("train: x\n val: y\n", "mapping values are not allowed here (line 2, column 5)"),
    ],
)  # fmt: skip
def test_a_refused_data_yaml_is_one_line(text: str, problem: str):
    """A Python tag is refused (safe_load) in one line: YAML's problem and where, without its
    excerpt of the file."""
    from blur_augment.transforms.labels.yolo import load_yaml

    with pytest.raises(LabelError) as refused:
        load_yaml(text)
    message = str(refused.value)
    assert "\n" not in message and problem in message
    assert message.startswith("data.yaml is not valid YAML: ")
