"""Training triples of BioViL-T's temporal recipe: (current image, prior image, report caption). The prior is the
metadata's previous frontal study of the subject (`data.mimic_priors`); without one (a first study, or a prior
file that is missing, counted) the item carries a blank prior and `has_prior` False, and the model takes its
absent-prior path for that row. `prior_repeats` > 1 shows each row that has a prior that many times per epoch
(BioViL-T's temporal recipe: the rows whose caption can state a change, oversampled; see recipes/biovil_t.py).
"""

from __future__ import annotations

from typing import Sequence

import torch

from msxr_bench.data.mimic_priors import PriorImage
from msxr_bench.data.types import ImageReportPair
from msxr_bench.geometry.types import Geometry
from msxr_bench.training.data import PairDataset, TextPolicy, training_image


class TemporalPairDataset(PairDataset):
    """`dataset[(epoch, index)]` -> PairDataset's item + "prior_image" (uint8 [R, R]) and "has_prior" (bool)."""

    def __init__(self, pairs: Sequence[ImageReportPair], canvas: Geometry, text: TextPolicy, seed: int,
                 priors: dict[str, PriorImage], cache_images: bool = True, prior_repeats: int = 1) -> None:
        if prior_repeats < 1:
            raise ValueError(f"prior_repeats must be >= 1, got {prior_repeats}")
        super().__init__(pairs, canvas, text, seed, cache_images)
        self.priors: list[PriorImage | None] = []
        for pair in self.pairs:
            prior = priors.get(pair.dicom_id)
            if prior is not None and not prior.path.is_file():
                self.skips.add("prior image missing (trained without a prior)", str(prior.path))
                prior = None
            self.priors.append(prior)
        self._prior_cache: dict[int, torch.Tensor] = {}
        # slot -> row: every row once, then the rows with a prior (prior_repeats - 1) more times
        with_prior = [i for i, p in enumerate(self.priors) if p is not None]
        self.slots = list(range(len(self.pairs))) + with_prior * (prior_repeats - 1)

    def __len__(self) -> int:
        return len(self.slots)

    @property
    def n_with_prior(self) -> int:
        return sum(p is not None for p in self.priors)

    def prior_image(self, index: int) -> torch.Tensor:
        if index in self._prior_cache:
            return self._prior_cache[index]
        prior = self.priors[index]
        if prior is None:
            return torch.zeros(self.canvas.crop, self.canvas.crop, dtype=torch.uint8)
        image = training_image(prior.path, self.canvas)
        if self.cache_images:
            self._prior_cache[index] = image
        return image

    def caption_at(self, epoch: int, position: int) -> str:
        return self.caption(epoch, self.slots[position])

    def __getitem__(self, key: tuple[int, int]) -> dict:
        """`key` = (epoch, slot); a repeated row's copies share its caption draw of the epoch."""
        index = self.slots[key[1]]
        item = super().__getitem__((key[0], index))
        item["prior_image"] = self.prior_image(index)
        item["has_prior"] = self.priors[index] is not None
        return item

