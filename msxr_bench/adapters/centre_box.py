"""`centre-box`: the fixed baseline of box grounding. Whatever the image and phrase, one box: the central `fraction`
(default half) of the model input in each dimension, score 1. The input is the image's short side resized to 512
and the central square cut (`resize_crop` 512/512), so on a non-square image the box is the central part of the
central square. No weights: anything that does not beat it does not localise.
"""

from __future__ import annotations

import torch

from msxr_bench.adapters.base import BOXES, AdapterMeta, EncoderAdapter, PredictedBox
from msxr_bench.adapters.catalog import BUILTIN
from msxr_bench.geometry.types import Geometry

SIDE = 512


class CentreBoxAdapter(EncoderAdapter):
    capabilities = frozenset({BOXES})

    def __init__(self, fraction: float = 0.5) -> None:
        super().__init__()
        if not 0.0 < fraction <= 1.0:
            raise ValueError(f"centre-box fraction must lie in (0, 1], got {fraction}")
        self.fraction = fraction
        self.geometry = Geometry("resize_crop", resize=SIDE, crop=SIDE, grid=(1, 1), channels=1)
        self.meta = AdapterMeta(name="centre-box", version="1.0",
                                description=f"fixed box: the central {fraction:g} of the {SIDE} px input per side",
                                weights_source="none (a fixed rule)", licence="MIT")

    def predict_boxes(self, images: torch.Tensor, phrases: list[str]) -> list[list[PredictedBox]]:
        side = self.fraction * SIDE
        start = (SIDE - side) / 2
        return [[PredictedBox(start, start, side, side, 1.0)] for _ in phrases]


def build_centre_box(**options: object) -> CentreBoxAdapter:
    parsed = BUILTIN["centre-box"].options.parse(options, "centre-box")  # type: ignore[union-attr]
    return CentreBoxAdapter(float(parsed["fraction"]))
