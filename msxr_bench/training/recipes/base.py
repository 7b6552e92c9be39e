"""What a training recipe is: hyper-parameters (`RecipeSettings`) plus four behaviours the loop calls
(`Recipe`): make the tokenizer, build the trainable module, collate captions into tensors, and export the
trained module as the adapter's checkpoint directory.

A trainable module's `forward(batch)` returns a dict of scalar losses whose "loss" entry is optimised;
`batch` holds "images" [B, 3, crop, crop] in [0, 1] plus whatever the recipe's `collate` made.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable, Literal, get_args

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset
from transformers import PreTrainedTokenizerBase

from msxr_bench.geometry.types import Geometry
from msxr_bench.data.mimic import find_mimic_dicom_root, find_mimic_roots, load_mimic_pairs
from msxr_bench.data.types import ImageReportPair, SkipReport
from msxr_bench.training.augment import Augmentation, augment_batch, centre_view
from msxr_bench.training.data import PairDataset, TextPolicy
from msxr_bench.training.vocab import build_vocab, load_tokenizer, write_tokenizer

ConfigName = Literal["tiny", "paper"]
TokenizerOrNone = PreTrainedTokenizerBase | None
CONFIGS = ("tiny", "paper")
Batching = Literal["random", "progression-contrast"]
BATCHINGS: tuple[str, ...] = get_args(Batching)


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
    # random: shuffled batches; progression-contrast: captions of one finding that differ in their stated change
    # share a batch (training/progression_batches.py)
    batching: Batching = "random"
    # the recipe's contrastive temperature where it offers one (accepts_temperature); None = its own constant
    temperature: float | None = None
    lock_text: bool = False  # LiT: the text tower (--text-model) is not trained
    notes: tuple[str, ...] = field(default_factory=tuple)

    def canvas_geometry(self) -> Geometry:
        return Geometry(self.canvas_kind, resize=self.canvas, crop=self.canvas, grid=(1, 1))

    def to_dict(self) -> dict:
        return asdict(self)


class Recipe(ABC):
    """One model's training recipe for a config ("tiny" or "paper")."""

    name: str
    uses_images: bool = True  # False: text-only pretraining (no image is decoded)
    tiny_inits: tuple[str, ...] = ()  # "text_model" / "image_init": starting points the tiny config accepts too
    accepts_temperature: bool = False  # its loss reads RecipeSettings.temperature (--temperature)

    def __init__(self, config: ConfigName, text_model: str | None = None, image_init: str | None = None) -> None:
        if config not in CONFIGS:
            raise ValueError(f"config must be one of {CONFIGS}, got {config!r}")
        self.config, self.text_model, self.image_init = config, text_model, image_init
        refused = [flag for flag, value, name in (("--text-model", text_model, "text_model"),
                                                  ("--image-init", image_init, "image_init"))
                   if value and name not in self.tiny_inits]
        if config == "tiny" and refused:
            raise ValueError(f"{' / '.join(refused)} initialise the paper config of {self.name}; "
                             "its tiny config trains from scratch")
        self.settings = self.make_settings()

    @abstractmethod
    def make_settings(self) -> RecipeSettings: ...

    def make_tokenizer(self, corpus: list[str], directory: Path) -> PreTrainedTokenizerBase:
        """Tiny: a WordPiece vocabulary of the training corpus, saved in `directory` (unless --text-model gives a
        pretrained text model: then its own). Paper: the pretrained one."""
        if self.config == "tiny" and not self.text_model:
            return write_tokenizer(build_vocab(corpus), directory)
        return self.pretrained_tokenizer(directory)

    def load_tokenizer(self, directory: Path) -> PreTrainedTokenizerBase:
        return load_tokenizer(directory)

    def pretrained_tokenizer(self, directory: Path) -> PreTrainedTokenizerBase:
        raise NotImplementedError

    def training_sets(self, data_root: Path, seed: int, max_train_pairs: int | None = None,
                      image_format: str = "jpg") -> tuple[Dataset, Dataset | None, tuple[SkipReport, ...]]:
        """(train set, validation set or None, what was skipped): frontal MIMIC-CXR pairs of the official train and
        validate splits (JPG, or the DICOM release with image_format="dicom") with the recipe's report sections, as
        `select_pairs` keeps them (a recipe on other data overrides this)."""
        s = self.settings
        jpg_root, reports_root = find_mimic_roots(data_root)
        pairs_of = partial(load_mimic_pairs, jpg_root, reports_root, frontal_only=True, section=s.text.loader_section,
                           check_images=self.uses_images, image_format=image_format,
                           dicom_root=find_mimic_dicom_root(data_root) if image_format == "dicom" else None)
        train_pairs, skips = pairs_of("train")
        train_pairs, selection_skips = self.select_pairs(train_pairs)
        val_pairs = self.select_pairs(pairs_of("validate")[0])[0]
        if max_train_pairs:
            train_pairs = train_pairs[:max_train_pairs]
        datasets = partial(PairDataset, canvas=s.canvas_geometry(), text=s.text, seed=seed,
                           cache_images=s.cache_images, load_images=self.uses_images)
        return datasets(train_pairs), datasets(val_pairs) if val_pairs else None, (skips, selection_skips)

    @abstractmethod
    def build(self, tokenizer: PreTrainedTokenizerBase) -> nn.Module: ...

    @abstractmethod
    def collate(self, samples: list[dict], tokenizer: PreTrainedTokenizerBase, seed: int) -> dict: ...

    @abstractmethod
    def export(self, module: nn.Module, tokenizer: PreTrainedTokenizerBase, directory: Path,
               training_data: tuple[str, ...], description: str) -> Path: ...

    # ---- hooks with defaults (image-text recipes need none of them) -------------------------------------
    def batching_text(self, dataset: Dataset) -> Callable[[int, int], str]:
        """What progression-contrast batching groups a dataset position by in an epoch: its caption."""
        return dataset.caption_at

    def select_pairs(self, pairs: list[ImageReportPair]) -> tuple[list[ImageReportPair], SkipReport]:
        """The pairs this recipe trains on (default: all), and what it left out."""
        return pairs, SkipReport(source=f"{self.name} pair selection")

    def augment(self, batch: dict, generator: Callable[[int], torch.Generator]) -> None:
        """Training views of the batch's canvases (uint8 [B, R, R]), in place: "images" -> [B, 3, crop, crop] by
        default. `generator(k)` is the step's k-th random stream (one per image entry augmented independently)."""
        if "images" in batch:
            batch["images"] = augment_batch(batch["images"], self.settings.crop, self.settings.augmentation,
                                            generator(0))

    def validation_view(self, batch: dict) -> None:
        """The deterministic views of validation, in place (default: the centre crop of "images")."""
        if "images" in batch:
            batch["images"] = centre_view(batch["images"], self.settings.crop)

    def describe(self) -> dict:
        return {"model": self.name, "config": self.config, "text_model": self.text_model,
                "image_init": self.image_init, "settings": self.settings.to_dict()}


def stack_images(samples: list[dict]) -> torch.Tensor:
    return torch.stack([s["image"] for s in samples])


def mask_rng(seed: int, sample: dict) -> np.random.Generator:
    """The generator of a sample's MLM mask (a stream apart from its caption's)."""
    return np.random.default_rng([seed, sample["epoch"], sample["index"], 1])
