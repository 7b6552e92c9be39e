"""What a training recipe is: hyper-parameters (`RecipeSettings`) plus four behaviours the loop calls
(`Recipe`): make the tokenizer, build the trainable module, collate captions into tensors, and export the
trained module as the adapter's checkpoint directory.

A trainable module's `forward(batch)` returns a dict of scalar losses whose "loss" entry is optimised;
`batch` holds "images" [B, 3, crop, crop] in [0, 1] plus whatever the recipe's `collate` made.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset
from transformers import PreTrainedTokenizerBase

from msxr_bench.geometry.types import Geometry
from msxr_bench.training.augment import Augmentation
from msxr_bench.data.mimic import find_mimic_roots, load_mimic_pairs
from msxr_bench.data.types import SkipReport
from msxr_bench.training.data import PairDataset, TextPolicy
from msxr_bench.training.vocab import build_vocab, load_tokenizer, write_tokenizer

ConfigName = Literal["tiny", "paper"]
CONFIGS = ("tiny", "paper")


@dataclass(frozen=True)
class RecipeSettings:
    """Hyper-parameters of one (model, config). `canvas` = square training image side before augmentation."""

    crop: int
    canvas: int
    canvas_kind: Literal["resize_crop", "letterbox_crop"]
    augmentation: Augmentation
    text: TextPolicy
    optimizer: Literal["adam", "adamw"]
    lr: float
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    batch_size: int = 32  # per process
    max_steps: int | None = None  # None: `epochs` epochs
    epochs: int = 1
    warmup_steps: int = 0
    schedule: Literal["constant", "cosine", "plateau"] = "constant"
    plateau_patience: int = 5  # validations without improvement before the lr is halved (schedule="plateau")
    grad_clip: float | None = 1.0
    val_every: int | None = None  # steps; None = once per epoch
    save_every: int | None = None  # steps; None = once per epoch
    cache_images: bool = False  # keep decoded training canvases in memory (tiny worlds only)
    notes: tuple[str, ...] = field(default_factory=tuple)

    def canvas_geometry(self) -> Geometry:
        return Geometry(self.canvas_kind, resize=self.canvas, crop=self.canvas, grid=(1, 1))

    def to_dict(self) -> dict:
        return asdict(self)


class Recipe(ABC):
    """One model's training recipe for a config ("tiny" or "paper")."""

    name: str
    image_keys: tuple[str, ...] = ("images",)  # batch entries the loop augments (and centre-crops to validate)

    def __init__(self, config: ConfigName, text_model: str | None = None, image_init: str | None = None) -> None:
        if config not in CONFIGS:
            raise ValueError(f"config must be one of {CONFIGS}, got {config!r}")
        self.config, self.text_model, self.image_init = config, text_model, image_init
        if config == "tiny" and (text_model or image_init):
            raise ValueError("--text-model / --image-init initialise the paper config; "
                             "the tiny config trains from scratch")
        self.settings = self.make_settings()

    @abstractmethod
    def make_settings(self) -> RecipeSettings: ...

    def make_tokenizer(self, corpus: list[str], directory: Path) -> PreTrainedTokenizerBase:
        """Tiny: a WordPiece vocabulary of the training corpus, saved in `directory`. Paper: the pretrained one."""
        if self.config == "tiny":
            return write_tokenizer(build_vocab(corpus), directory)
        return self.pretrained_tokenizer(directory)

    def load_tokenizer(self, directory: Path) -> PreTrainedTokenizerBase:
        return load_tokenizer(directory)

    def pretrained_tokenizer(self, directory: Path) -> PreTrainedTokenizerBase:
        raise NotImplementedError

    def training_sets(self, data_root: Path, seed: int, max_train_pairs: int | None = None
                      ) -> tuple[Dataset, Dataset | None, SkipReport]:
        """(train set, validation set or None, what was skipped): frontal MIMIC-CXR pairs of the official train and
        validate splits with the recipe's report sections (a recipe on other data overrides this)."""
        s = self.settings
        jpg_root, reports_root = find_mimic_roots(data_root)
        train_pairs, skips = load_mimic_pairs(jpg_root, reports_root, "train", True, s.text.loader_section)
        val_pairs, _ = load_mimic_pairs(jpg_root, reports_root, "validate", True, s.text.loader_section)
        if max_train_pairs:
            train_pairs = train_pairs[:max_train_pairs]
        train_set = PairDataset(train_pairs, s.canvas_geometry(), s.text, seed, s.cache_images)
        val_set = PairDataset(val_pairs, s.canvas_geometry(), s.text, seed, s.cache_images) if val_pairs else None
        return train_set, val_set, skips

    @abstractmethod
    def build(self, tokenizer: PreTrainedTokenizerBase) -> nn.Module: ...

    @abstractmethod
    def collate(self, samples: list[dict], tokenizer: PreTrainedTokenizerBase, seed: int) -> dict: ...

    @abstractmethod
    def export(self, module: nn.Module, tokenizer: PreTrainedTokenizerBase, directory: Path,
               training_data: tuple[str, ...], description: str) -> Path: ...

    def describe(self) -> dict:
        return {"model": self.name, "config": self.config, "text_model": self.text_model,
                "image_init": self.image_init, "settings": self.settings.to_dict()}


def stack_images(samples: list[dict]) -> torch.Tensor:
    return torch.stack([s["image"] for s in samples])


def mask_rng(seed: int, sample: dict) -> np.random.Generator:
    """The generator of a sample's MLM mask (a stream apart from its caption's)."""
    return np.random.default_rng([seed, sample["epoch"], sample["index"], 1])
