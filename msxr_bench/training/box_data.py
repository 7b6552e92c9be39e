"""(image, phrase, box) samples for training a box head: MS-CXR pairs of one split, the image on the training canvas
(uint8, decoded once), the target = the box enclosing the phrase's true boxes (MedRPG's union box) mapped into the
model input through its geometry and given as fractions of the input (x1, y1, x2, y2), clipped to it.

Addressed as (epoch, index) like `PairDataset`, so the training loop's samplers work unchanged.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch.utils.data import Dataset

from msxr_bench.data.types import GroundingSample
from msxr_bench.geometry.boxes import boxes_to_input
from msxr_bench.geometry.types import Geometry
from msxr_bench.training.data import training_image


def input_target(sample: GroundingSample, model: Geometry) -> torch.Tensor:
    """[4] float32: the enclosing box of `sample`'s boxes in the model input, as fractions of the crop."""
    xyxy = torch.tensor([[min(b.x for b in sample.boxes), min(b.y for b in sample.boxes),
                          max(b.x2 for b in sample.boxes), max(b.y2 for b in sample.boxes)]], dtype=torch.float64)
    return (boxes_to_input(xyxy, model, *sample.image_size)[0] / model.crop).clamp(0.0, 1.0).to(torch.float32)


class BoxPhraseDataset(Dataset):
    """`dataset[(epoch, index)]` -> {"image": uint8 [R, R], "phrase": str, "box": float32 [4], "epoch", "index"}."""

    def __init__(self, samples: Sequence[GroundingSample], canvas: Geometry, model: Geometry,
                 cache_images: bool = True) -> None:
        self.samples = [s for s in samples if s.boxes]
        if not self.samples:
            raise ValueError("no (image, phrase) pair with a box to train on")
        self.canvas, self.cache_images = canvas, cache_images
        self.targets = [input_target(s, model) for s in self.samples]
        self._cache: dict[str, torch.Tensor] = {}

    def __len__(self) -> int:
        return len(self.samples)

    def corpus(self) -> list[str]:
        return [s.phrase for s in self.samples]

    def image(self, index: int) -> torch.Tensor:
        path = self.samples[index].image_path
        if str(path) in self._cache:
            return self._cache[str(path)]
        image = training_image(path, self.canvas)
        if self.cache_images:
            self._cache[str(path)] = image
        return image

    def __getitem__(self, key: tuple[int, int]) -> dict:
        epoch, index = key
        return {"image": self.image(index), "phrase": self.samples[index].phrase, "box": self.targets[index],
                "epoch": epoch, "index": index}
