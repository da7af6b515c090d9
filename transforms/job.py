"""The job: everything a worker needs to turn one input into its outputs, as a plain picklable
value decided once at launch. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from blur_augment.transforms import codec, keys
from blur_augment.transforms.labels.layout import Layout
from blur_augment.transforms.sampling import UNBLURRED, BlurParams, BlurSpec, sample

ORIGINAL_COPY = -1  # copy_index of an unchanged original (--include_originals)
DEFAULT_MAX_BYTES = 1 << 30  # --max_bytes: the largest file read whole (1 GiB)


@dataclass(frozen=True)
class BlurJob:
    """What every worker carries: where outputs go, the distribution the blur is drawn from,
    the copies, the encoding, the dataset layout and the limits."""

    output: str
    spec: BlurSpec = field(default_factory=BlurSpec)
    seed: int = 0
    copies: int = 1
    include_originals: bool = False
    jpeg_quality: int = 95
    max_pixels: int = codec.DEFAULT_MAX_PIXELS
    blur_method: str = "auto"
    codec_path: str = "auto"  # --codec_path: JPEGs as planes where libturbojpeg is installed
    layout: Layout = field(default_factory=Layout)
    resume: bool = False  # --resume: copies already at their final path are not made again
    progress_dir: str = ""  # a local run on a terminal: where DoFns leave their counts
    image_column: str = ""  # --image_column of Parquet shards ("": found from their schema)
    max_bytes: int = DEFAULT_MAX_BYTES  # --max_bytes: the largest file read whole
    objects: tuple[tuple[str, float], ...] = ()  # --object_blur's kinds and weights
    object_probability: float = 1.0  # --object_probability: the share of objects that move

    @property
    def numbered(self) -> bool:
        """Blurred copies are named name_blur{k}.ext when there are several or originals."""
        return self.copies > 1 or self.include_originals

    def copy_indices(self) -> list[int]:
        """Every output one input may have: the original (--include_originals), then copies."""
        return ([ORIGINAL_COPY] if self.include_originals else []) + list(range(self.copies))

    def draw(self, key: str, copy_index: int) -> BlurParams:
        """The blur of a copy (its kind and parameters); an original is never blurred. Drawn
        once per copy, in its plan (or, for an image inside a shard, by make_copies)."""
        if copy_index == ORIGINAL_COPY:
            return UNBLURRED
        return sample(self.seed, copy_index, key, self.spec)

    def draws(self, key: str) -> dict[int, BlurParams]:
        """Every copy's blur, by copy index."""
        return {copy_index: self.draw(key, copy_index) for copy_index in self.copy_indices()}

    @property
    def object_spec(self) -> BlurSpec:
        """The distribution each object draws from: --object_blur's kinds and weights, the
        share of objects that move, and the ranges of the run's own kind options."""
        return replace(self.spec, probability=self.object_probability, sigmas=(),
                       corruption="", severities=(),
                       kinds=replace(self.spec.kinds, weights=self.objects))  # fmt: skip

    def object_draws(self, key: str, copy_index: int, count: int) -> list[BlurParams]:
        """The blur of each of an image's `count` objects in copy `copy_index`: the sampler's
        draw for (seed, copy, "KEY:object:INDEX"); an original's objects are never blurred."""
        if not self.objects or copy_index == ORIGINAL_COPY:
            return [UNBLURRED] * count
        spec = self.object_spec
        return [sample(self.seed, copy_index, f"{key}:object:{i}", spec) for i in range(count)]

    def copy_key(self, key: str, copy_index: int) -> str:
        """Where copy `copy_index` of the file at `key` (an image or one of its label files)
        goes, relative to --output."""
        return keys.output_key(key, copy_index, self.numbered)
