"""Image-report pairs for training: captions sampled per recipe, images decoded once, resized to the
recipe's square training canvas and kept as uint8 (augmentation happens batched on the device, `augment.py`).

Samples are addressed as (epoch, index) so that each caption and mask is a function of (seed, epoch, index)
alone: the same in every worker, after a resume, and on every number of processes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, DistributedSampler, Sampler

from msxr_bench.geometry.types import Geometry
from msxr_bench.geometry import preprocess
from msxr_bench.data.images import load_image
from msxr_bench.data.types import ImageReportPair, SkipReport
from msxr_bench.training.text import CaptionMode, pooled_sentences, sample_caption


def training_image(path: Path, canvas: Geometry) -> torch.Tensor:
    """One training image on the recipe's canvas as uint8 (C, H, W); a failure names the file and the cause."""
    try:
        pixels = preprocess(load_image(path), canvas)[0]
    except Exception as exc:  # noqa: BLE001 - name the file whatever went wrong
        raise RuntimeError(f"cannot load training image {path}: {type(exc).__name__}: {exc}") from exc
    return (pixels * 255).round_().to(torch.uint8)


@dataclass(frozen=True)
class TextPolicy:
    """Which report text a recipe trains on and how one caption is drawn from it."""

    sections: tuple[str, ...] = ("impression",)  # preference order (or pooled, see `pool_sections`)
    pool_sections: bool = False  # sentences of all `sections` together (ConVIRT: findings + impression)
    mode: CaptionMode = "one_sentence"
    shuffle_probability: float = 0.5  # for mode="shuffled_section"

    @property
    def loader_section(self) -> str | None:
        """`load_mimic_pairs(section=...)`: a pair needs at least one of the sections (none: image-only recipes)."""
        return "|".join(self.sections) or None


def sample_rng(seed: int, epoch: int, index: int, stream: int = 0) -> np.random.Generator:
    return np.random.default_rng([seed, epoch, index, stream])


class PairDataset(Dataset):
    """`dataset[(epoch, index)]` -> {"image": uint8 [R, R] (unless load_images=False), "caption": str (empty for
    image-only recipes), "sections": the report's sections, "epoch", "index"}.

    `canvas` is the geometry of the training canvas (kind and resize = crop = R): BioViL/ConVIRT resize
    the short side and centre-crop a square, GLoRIA letterboxes, exactly as `data.geometry.preprocess`.
    """

    def __init__(self, pairs: Sequence[ImageReportPair], canvas: Geometry, text: TextPolicy, seed: int,
                 cache_images: bool = True, load_images: bool = True) -> None:
        if canvas.resize != canvas.crop:
            raise ValueError(f"the training canvas is square: resize == crop, got {canvas.resize} / {canvas.crop}")
        self.canvas, self.text, self.seed, self.cache_images = canvas, text, seed, cache_images
        self.load_images = load_images  # False: text-only recipes (no image is decoded)
        self.skips = SkipReport(source="training captions")
        self.pairs: list[ImageReportPair] = []
        self.sentences: list[list[str]] = []
        for pair in pairs:
            sentences = pooled_sentences(pair.sections, text.sections, text.pool_sections)
            if not sentences and text.sections:
                self.skips.add("no sentence in the training sections", f"s{pair.study_id}")
                continue
            self.pairs.append(pair)
            self.sentences.append(sentences)
        if not self.pairs:
            raise ValueError(f"no training pairs{f' with text in sections {text.sections}' if text.sections else ''}")
        self._cache: dict[int, torch.Tensor] = {}

    def __len__(self) -> int:
        return len(self.pairs)

    def corpus(self) -> list[str]:
        """Every training sentence (for building a vocabulary)."""
        return [s for sentences in self.sentences for s in sentences]

    def image(self, index: int) -> torch.Tensor:
        if index in self._cache:
            return self._cache[index]
        image = training_image(self.pairs[index].image_path, self.canvas)
        if self.cache_images:
            self._cache[index] = image
        return image

    def caption(self, epoch: int, index: int) -> str:
        """The caption of pair `index` in `epoch` ('' for image-only recipes)."""
        return sample_caption(self.sentences[index], self.text.mode, sample_rng(self.seed, epoch, index),
                              self.text.shuffle_probability) if self.sentences[index] else ""

    def caption_at(self, epoch: int, position: int) -> str:
        """The caption of dataset position `position` (a row index here; a subclass may map positions to rows)."""
        return self.caption(epoch, position)

    def __getitem__(self, key: tuple[int, int]) -> dict:
        epoch, index = key
        caption = self.caption(epoch, index)
        sample = {"caption": caption, "epoch": epoch, "index": index, "sections": self.pairs[index].sections}
        if self.load_images:
            sample["image"] = self.image(index)
        return sample


class EpochBatchSampler(Sampler):
    """Batches of (epoch, index) keys: a `DistributedSampler` shard of the epoch (shuffled with seed + epoch,
    drop_last), cut into full batches, starting after `skip_batches` (for resuming mid-epoch)."""

    def __init__(self, n: int, batch_size: int, epoch: int, seed: int, rank: int = 0, world_size: int = 1,
                 shuffle: bool = True, skip_batches: int = 0) -> None:
        self.inner = DistributedSampler(range(n), num_replicas=world_size, rank=rank, shuffle=shuffle, seed=seed,
                                        drop_last=True)
        self.inner.set_epoch(epoch)
        self.batch_size, self.epoch, self.skip_batches = batch_size, epoch, skip_batches

    @staticmethod
    def batches_per_epoch(n: int, batch_size: int, world_size: int = 1) -> int:
        return (n // world_size) // batch_size

    def __len__(self) -> int:
        return max(0, len(self.inner) // self.batch_size - self.skip_batches)

    def order(self) -> list[int]:
        """The shard's positions in the epoch's order (a subclass may regroup them)."""
        return list(self.inner)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        indices = self.order()
        for b in range(self.skip_batches, len(indices) // self.batch_size):
            yield [(self.epoch, i) for i in indices[b * self.batch_size:(b + 1) * self.batch_size]]
