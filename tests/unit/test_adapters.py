"""The Augmenter inside the libraries data loaders use: albumentations (A.Compose with boxes
and masks), a torchvision-style callable (PIL images and arrays; torch only for tensors, so
these tests need none) and Hugging Face `datasets` (set_transform and map)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from PIL import Image

from blur_augment import Augmenter
from blur_augment.adapters import TorchBlur, hf_transform
from tests.support.helpers import textured
from tests.support.requires import module

AUGMENTER = Augmenter(seed=2, blur="gaussian,motion", max_sigma=4)


def rgb_image(seed: int = 0) -> np.ndarray:
    return np.ascontiguousarray(textured(40, 50, 3, seed=seed)[:, :, ::-1])


def test_albumentations_compose_blurs_and_passes_boxes_and_masks_through():
    A = module("albumentations")
    from blur_augment.albumentations import BlurAugment

    transform = A.Compose(
        [BlurAugment(AUGMENTER), A.HorizontalFlip(p=0.0)],
        bbox_params=A.BboxParams(format="pascal_voc", label_fields=["labels"]),
        save_applied_params=True,
    )
    image, mask = rgb_image(), np.zeros((40, 50), np.uint8)
    mask[5:12, 6:20] = 1
    boxes = [[1.0, 2.0, 10.0, 12.0], [20.0, 5.0, 45.0, 30.0]]
    for epoch in (0, 1):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = transform(image=image, bboxes=boxes, labels=[3, 4], mask=mask, key="a.jpg",
                            epoch=epoch)  # fmt: skip
        expected = AUGMENTER(image, key="a.jpg", copy=epoch, rgb=True)
        assert np.array_equal(out["image"], expected.image)
        assert np.allclose(out["bboxes"], boxes) and list(out["labels"]) == [3, 4]
        assert np.array_equal(out["mask"], mask)
        name, reported = out["applied_transforms"][0]
        assert name == "BlurAugment" and reported["blur"] == expected.params
        assert reported["row"] == expected.row  # the log's columns, as LogWriter writes them


def test_albumentations_says_when_the_key_is_missing():
    A = module("albumentations")
    from blur_augment.albumentations import BlurAugment

    with pytest.raises(ValueError, match="needs the sample's key"):
        A.Compose([BlurAugment(AUGMENTER)])(image=rgb_image())


def test_the_torchvision_style_callable_on_pil_images_and_arrays():
    blur = TorchBlur(AUGMENTER)
    image = Image.fromarray(rgb_image(1))
    first = blur(image, key="x.png")
    assert isinstance(first, Image.Image) and first.size == image.size
    assert np.array_equal(np.asarray(first),
                          AUGMENTER(image, key="x.png", copy=0).image)  # fmt: skip
    assert blur.last == AUGMENTER(image, key="x.png", copy=0).row
    blur.set_epoch(3)
    array = blur(rgb_image(1), key="x.png")
    assert np.array_equal(array, AUGMENTER(rgb_image(1), key="x.png", copy=3, rgb=True).image)
    assert blur.last["blur_kind"] == AUGMENTER.draw("x.png", 3).kind or not blur.last["applied"]


def test_hugging_face_datasets_set_transform_and_map():
    datasets = module("datasets")
    images = [Image.fromarray(rgb_image(i)) for i in range(3)]
    data = datasets.Dataset.from_dict({"image": images, "key": [f"k{i}.png" for i in range(3)]})
    data = data.cast_column("image", datasets.Image())
    expected = [np.asarray(AUGMENTER(images[i], key=f"k{i}.png", copy=2).image) for i in range(3)]

    on_the_fly = data.with_format(None)  # a copy to set the transform on
    on_the_fly.set_transform(hf_transform(AUGMENTER, epoch=2, rows_column="blur"))
    for i in range(3):
        assert np.array_equal(np.asarray(on_the_fly[i]["image"]), expected[i])
        assert on_the_fly[i]["blur"] == AUGMENTER(images[i], key=f"k{i}.png", copy=2).row
    mapped = data.map(hf_transform(AUGMENTER, epoch=2), batched=True, batch_size=2)
    for i in range(3):  # stored as PNG by the Image feature: lossless
        assert np.array_equal(np.asarray(mapped[i]["image"]), expected[i])
    with pytest.raises(ValueError, match="no 'path' column"):
        data.with_transform(hf_transform(AUGMENTER, key_column="path"))[0]
