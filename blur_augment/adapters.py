"""The Augmenter where data loaders call a transform: a torchvision-style callable (PIL
images, arrays and tensors) and a Hugging Face `datasets` transform. Neither imports its
library: torch is imported only when a tensor is given, `datasets` never (it calls us).

The key is the sample's path or id, the copy the epoch: each epoch draws afresh, and every
draw is the one `blur-augment run` would make for that key and copy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from blur_augment.augment import Augmenter


class TorchBlur:
    """`blur(image, key)`: the image blurred with the draw for (key, the current epoch); PIL
    images and arrays as `Augmenter` takes them (arrays RGB, as torchvision has them), uint8
    tensors of shape (C, H, W) or (H, W), float tensors in [0, 1] (blurred at 16 bits). Call
    `set_epoch(epoch)` at each epoch (in every data-loader worker: see docs/training-loop.md);
    `last` is the last draw's log row."""

    def __init__(self, augmenter: Augmenter, epoch: int = 0) -> None:
        self.augmenter, self.epoch = augmenter, epoch
        self.last: dict[str, Any] = {}

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __call__(self, image: Any, key: str) -> Any:
        if type(image).__module__.split(".")[0] == "torch":
            return self._tensor(image, key)
        result = self.augmenter(image, key=key, copy=self.epoch, rgb=True)
        self.last = result.row
        return result.image

    def _tensor(self, tensor: Any, key: str) -> Any:
        import torch

        floating = tensor.is_floating_point()
        array = tensor.detach().cpu().numpy()
        if floating:
            array = np.round(np.clip(array, 0, 1) * 65535).astype(np.uint16)
        hwc = np.moveaxis(array, 0, -1) if array.ndim == 3 else array
        result = self.augmenter(np.ascontiguousarray(hwc), key=key, copy=self.epoch, rgb=True)
        self.last = result.row
        out = np.moveaxis(result.image, -1, 0) if array.ndim == 3 else result.image
        out = np.ascontiguousarray(out)
        if floating:
            return torch.from_numpy(out.astype(np.float32) / 65535).to(tensor.dtype)
        return torch.from_numpy(out).to(tensor.device)


def hf_transform(
    augmenter: Augmenter, image_column: str = "image", key_column: str = "key", epoch: int = 0,
    rows_column: str | None = None,
) -> Callable[[dict[str, list]], dict[str, list]]:  # fmt: skip
    """A batch transform for `Dataset.set_transform` or `Dataset.map(..., batched=True)`:
    each PIL image (or array) of `image_column` blurred with the draw for its row's
    `key_column` and `epoch`; with `rows_column`, each draw's log row is added there."""

    def transform(batch: dict[str, list]) -> dict[str, list]:
        if key_column not in batch:
            raise ValueError(f"the batch has no {key_column!r} column to key the draw on "
                             f"(columns: {', '.join(batch)})")  # fmt: skip
        pairs = zip(batch[image_column], batch[key_column], strict=True)
        results = [augmenter(image, key=str(key), copy=epoch, rgb=True) for image, key in pairs]
        out = {**batch, image_column: [r.image for r in results]}
        if rows_column:
            out[rows_column] = [r.row for r in results]
        return out

    return transform
