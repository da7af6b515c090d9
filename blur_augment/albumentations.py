"""`BlurAugment`: the Augmenter as an albumentations transform.

    import albumentations as A
    from blur_augment import Augmenter
    from blur_augment.albumentations import BlurAugment

    transform = A.Compose([BlurAugment(Augmenter(seed=0, blur="gaussian,motion")), ...],
                          bbox_params=A.BboxParams(format="coco"))
    out = transform(image=rgb, bboxes=boxes, mask=mask, key="train/0001.jpg", epoch=epoch)

The sample's key and the epoch travel with the data (`key` and `epoch` by default); boxes,
masks and keypoints pass through untouched (blur moves no pixel's position, as COCO-C keeps
its labels). The draw is reported where albumentations reports applied parameters
(`get_applied_params()`, and Compose's `applied_transforms` with `save_applied_params=True`).
Images are RGB, as albumentations reads them. Imports albumentations: load it only to use it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from albumentations.core.transforms_interface import ImageOnlyTransform

from blur_augment.augment import Augmenter, to_opencv


class BlurAugment(ImageOnlyTransform):
    """The Augmenter's draw for (data[key_field], data[copy_field]), applied to the image."""

    def __init__(self, augmenter: Augmenter, key_field: str = "key", copy_field: str = "epoch",
                 rgb: bool = True) -> None:  # fmt: skip
        super().__init__(p=1.0)  # whether a copy is blurred is the augmenter's `probability`
        self.augmenter, self.key_field, self.copy_field, self.rgb = (
            augmenter, key_field, copy_field, rgb,
        )  # fmt: skip

    def get_params_dependent_on_data(self, params: dict, data: dict) -> dict[str, Any]:
        if self.key_field not in data:
            raise ValueError(f"BlurAugment needs the sample's key: pass {self.key_field}=... "
                             "with the image (its path or id)")  # fmt: skip
        key, copy = str(data[self.key_field]), int(data.get(self.copy_field, 0))
        drawn = self.augmenter.draw(key, copy)
        image = data.get("image")
        pixels = image if isinstance(image, np.ndarray) else np.zeros((1, 1, 3), np.uint8)
        return {"blur": drawn, "row": self.augmenter.row(drawn, pixels)}

    def apply(self, img: np.ndarray, blur=None, **params: Any) -> np.ndarray:
        pixels, back = to_opencv(img, self.rgb)  # the Augmenter's own channel handling
        return back(self.augmenter.blur_pixels(pixels, blur))

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("key_field", "copy_field", "rgb")
