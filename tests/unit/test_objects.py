"""Blur per object, the pure parts (transforms/objects.py): objects from COCO, YOLO and VOC
labels, their masks from polygons, RLE and boxes (against pycocotools), each object's draw,
and the compositing of a moving object over what is behind it."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from blur_augment.transforms import objects
from blur_augment.transforms.job import ORIGINAL_COPY, BlurJob
from blur_augment.transforms.sampling import BlurParams, BlurSpec, KindRanges, sample
from tests.support.helpers import textured
from tests.support.requires import module

mask_api = module("pycocotools.mask")


def _blob(height: int, width: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    support = np.zeros((height, width), np.uint8)
    for _ in range(3):
        cy, cx = rng.integers(5, height - 5), rng.integers(5, width - 5)
        axes = (int(rng.integers(3, 12)), int(rng.integers(2, 9)))
        cv2.ellipse(support, (int(cx), int(cy)), axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    return support


@pytest.mark.parametrize("seed", range(5))
def test_rle_decodes_as_pycocotools_does(seed: int):
    support = _blob(37, 53, seed)
    encoded = mask_api.encode(np.asfortranarray(support))
    compressed = {"counts": encoded["counts"].decode(), "size": list(encoded["size"])}
    [obj] = objects.from_coco([{"bbox": [0, 0, 1, 1], "segmentation": compressed}])
    assert obj.origin == "mask"
    assert np.array_equal(objects.mask(obj, 53, 37), mask_api.decode(encoded))
    runs = objects.rle_runs(compressed["counts"])
    [plain] = objects.from_coco([{"bbox": [0, 0, 1, 1],
                                  "segmentation": {"counts": runs, "size": [37, 53]}}])  # fmt: skip
    assert np.array_equal(objects.mask(plain, 53, 37), support)


def test_a_polygon_mask_agrees_with_pycocotools():
    polygon = [10.5, 8.0, 60.2, 12.3, 52.0, 40.7, 18.4, 35.1]
    [obj] = objects.from_coco([{"bbox": [10, 8, 50, 33], "segmentation": [polygon], "id": 7,
                                "category_id": 3}])  # fmt: skip
    ours = objects.mask(obj, 80, 50)
    theirs = mask_api.decode(mask_api.frPyObjects([polygon], 50, 80)).max(axis=2)
    iou = (ours & theirs).sum() / (ours | theirs).sum()
    assert iou > 0.97 and obj.origin == "polygon" and obj.source_annotation_id == 7


def test_objects_from_yolo_and_voc_in_the_order_of_their_labels():
    yolo_rows = b"0 0.5 0.5 0.2 0.4\n1 0.1 0.1 0.3 0.1 0.3 0.5\n"
    box, polygon = objects.from_yolo(yolo_rows, 100, 50)
    assert (box.index, box.origin, box.category) == (0, "box", "0")
    assert box.box == pytest.approx((40, 15, 20, 20))
    assert polygon.origin == "polygon" and polygon.polygons[0] == pytest.approx(
        (10, 5, 30, 5, 30, 25))  # fmt: skip
    assert objects.mask(box, 100, 50)[15:35, 40:60].all()
    assert objects.mask(box, 100, 50).sum() == 400
    voc = (b"<annotation><object><name>cat</name><bndbox><xmin>11</xmin><ymin>6</ymin>"
           b"<xmax>30</xmax><ymax>20</ymax></bndbox></object><object><name>dog</name>"
           b"<bndbox><xmin>1</xmin><ymin>1</ymin><xmax>5</xmax><ymax>5</ymax></bndbox>"
           b"</object></annotation>")  # fmt: skip
    cat, dog = objects.from_voc(voc)
    assert (cat.category, cat.box, dog.index) == ("cat", (10.0, 5.0, 20.0, 15.0), 1)
    assert objects.mask(cat, 40, 30).sum() == 20 * 15


def test_each_object_draws_from_seed_copy_key_and_its_index():
    job = BlurJob("/out", BlurSpec(kinds=KindRanges(motion_length=(5.0, 9.0))), seed=4,
                  copies=3, objects=(("motion", 1.0),), object_probability=0.5)  # fmt: skip
    draws = job.object_draws("val/x.jpg", 1, 400)
    assert draws == job.object_draws("val/x.jpg", 1, 400)
    assert draws[7] == sample(4, 1, "val/x.jpg:object:7", job.object_spec)  # the formula
    moving = [d for d in draws if d.applied]
    assert 150 < len(moving) < 250  # --object_probability 0.5
    assert all(d.kind == "motion" and 5 <= d.motion_length <= 9 for d in moving)
    assert job.object_draws("val/x.jpg", 2, 5) != draws[:5]
    assert not any(d.applied for d in job.object_draws("val/x.jpg", ORIGINAL_COPY, 5))
    assert job.object_spec.kinds.motion_length == (5.0, 9.0)  # the run's own ranges


def _reference(pixels: np.ndarray, support: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """blur(F*M) + (1 - blur(M)) * F over the whole image, in float64."""
    frame = pixels.astype(np.float64)
    m = support.astype(np.float64)
    m3 = m[:, :, None] if frame.ndim == 3 else m
    moving = cv2.filter2D(frame * m3, -1, kernel.astype(np.float64),
                          borderType=cv2.BORDER_REFLECT_101).reshape(frame.shape)  # fmt: skip
    cover = cv2.filter2D(m, -1, kernel.astype(np.float64), borderType=cv2.BORDER_REFLECT_101)
    cover = cover[:, :, None] if frame.ndim == 3 else cover
    return moving + (1 - cover) * frame


@pytest.mark.parametrize(
    ("params", "dtype", "channels"),
    [
        (BlurParams(True, 0, 0, "motion", motion_length=15, motion_angle=20), "uint8", 3),
        (BlurParams(True, 2.5, 2.5), "uint8", 1),
        (BlurParams(True, 0, 0, "defocus", defocus_radius=4), "uint16", 3),
        (BlurParams(True, 0, 0, "shake", shake_length=12, field_seed=5), "uint8", 4),
    ],
)  # fmt: skip
def test_an_object_streaks_over_what_is_behind_it_and_nothing_else_changes(params, dtype,
                                                                           channels):  # fmt: skip
    pixels = textured(90, 120, channels, dtype, seed=2)
    support = np.zeros((90, 120), np.uint8)
    support[30:50, 40:75] = 1
    out, count = objects.composite(pixels, [_box(30, 50, 40, 75)], [params])
    kernel = objects.object_kernel(params, dtype)
    expected = _reference(pixels, support, kernel)
    assert count == 1 and out.dtype == pixels.dtype and out.shape == pixels.shape
    assert np.abs(out.astype(np.float64) - expected).max() <= 1.0
    reach = np.ones((kernel.shape[0] + 0, kernel.shape[1] + 0), np.uint8)
    near = cv2.dilate(support, reach, borderType=cv2.BORDER_CONSTANT, borderValue=0) > 0
    far = ~near if pixels.ndim == 2 else (~near)[:, :, None].repeat(channels, axis=2)
    assert np.array_equal(out[far], pixels[far])  # farther than the reach: the same values
    assert not np.array_equal(out[30:50, 40:75], pixels[30:50, 40:75])


def _box(y0: int, y1: int, x0: int, x1: int) -> objects.Support:
    return objects.Support(y0, x0, np.ones((y1 - y0, x1 - x0), np.uint8))


def test_objects_overlap_in_the_order_of_their_annotations():
    pixels = textured(60, 80, 3, seed=4)
    first, second = _box(10, 40, 10, 50), _box(20, 50, 30, 70)
    slow = BlurParams(True, 0, 0, "motion", motion_length=5, motion_angle=0)
    fast = BlurParams(True, 0, 0, "motion", motion_length=25, motion_angle=90)
    still = BlurParams(False, 0, 0)
    both, count = objects.composite(pixels, [first, second], [slow, fast])
    step, _ = objects.composite(pixels, [first], [slow])
    again, _ = objects.composite(step, [second], [fast])
    assert count == 2  # the second over the first's result (rounded once, not twice)
    assert np.abs(both.astype(int) - again.astype(int)).max() <= 1
    swapped, _ = objects.composite(pixels, [second, first], [fast, slow])
    assert np.abs(both.astype(int) - swapped.astype(int)).max() > 10  # the order matters
    kept, count = objects.composite(pixels, [first, second], [still, still])
    assert count == 0 and kept is pixels


def test_zoom_and_glass_cannot_blur_one_object():
    with pytest.raises(ValueError, match="cannot blur one object"):
        objects.object_kernel(BlurParams(True, 0, 0, "zoom", zoom_factor=1.2), "uint8")
    json.dumps(objects.OBJECT_KINDS)


def test_voc_instance_masks_are_the_objects_supports(tmp_path):
    """VOC's SegmentationObject PNG (palette indices, as Pillow writes VOC's): index k is the
    XML's k-th object, 255 the void border; an object the mask does not show keeps its box."""
    from PIL import Image

    indices = np.zeros((30, 40), np.uint8)
    indices[5:20, 10:25] = 1
    indices[4, 10:25] = 255  # the border VOC draws round an object
    image = Image.fromarray(indices, mode="P")
    image.putpalette([0, 0, 0, 128, 0, 0] + [224, 224, 192] * 254)
    image.save(tmp_path / "m.png")
    xml = (b"<annotation>" + b"".join(
        b"<object><name>" + name + b"</name><bndbox><xmin>11</xmin><ymin>6</ymin>"
        b"<xmax>25</xmax><ymax>20</ymax></bndbox></object>" for name in (b"cat", b"dog"))
        + b"</annotation>")  # fmt: skip
    labels = objects.Labels(
        (
            ("Annotations/a.xml", xml),
            ("SegmentationObject/a.png", (tmp_path / "m.png").read_bytes()),
        )
    )
    cat, dog = labels.objects(40, 30)
    assert (cat.origin, dog.origin) == ("mask", "box")
    assert np.array_equal(objects.mask(cat, 40, 30), (indices == 1).astype(np.uint8))
    assert objects.mask(dog, 40, 30).sum() == 15 * 15
    wrong_size = objects.Labels(labels.files).objects(41, 30)
    assert [o.origin for o in wrong_size] == ["box", "box"]


def test_hostile_annotations_stay_bounded():
    """An RLE whose runs add up to more than the image (or run backwards) is its box, not an
    allocation of their sum; a polygon far outside the image is clipped, not overflowed; a
    polygon with an odd coordinate is refused as the labels' problem."""
    bomb = {"bbox": [2, 3, 4, 5], "segmentation": {"size": [30, 40], "counts": [0, 2**40, 5]}}
    backwards = {"bbox": [2, 3, 4, 5], "segmentation": {"size": [30, 40], "counts": [5, -3, 10]}}
    far = {"bbox": [0, 0, 40, 30], "segmentation": [[-1e15, -1e15, 1e15, -1e15, 1e15, 1e15]]}
    for annotation in (bomb, backwards):
        [obj] = objects.from_coco([annotation])
        assert objects.mask(obj, 40, 30).sum() == 4 * 5
    [huge] = objects.from_coco([far])
    assert objects.mask(huge, 40, 30).sum() > 500  # the half of the image it covers
    with pytest.raises(ValueError):
        objects.from_coco([{"bbox": [0, 0, 1, 1], "segmentation": [[1, 2, "x", 4, 5, 6]]}])
