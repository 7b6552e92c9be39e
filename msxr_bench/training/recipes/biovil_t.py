"""BioViL-T (Bannur et al., CVPR 2023), temporal recipe: (current image, prior image, report) triples of the MIMIC
`train` split, the prior being the subject's previous frontal study by StudyDate/StudyTime in the metadata table
(`data.mimic_priors`; none for a first study: the model's absent-prior path). The image model is BioViL-T's
multi-image encoder (ResNet + temporal ViT pooler); text, losses and captions are BioViL's recipe (global InfoNCE
tau 0.5 + MLM). Current and prior are augmented independently (priors are not registered to the current image).

paper: ResNet-50 + 3-block ViT (dim 256) at 512 -> 448 px (BioViL-T's grid of 14x14), CXR-BERT init; optimiser and
augmentation as BioViL's paper recipe (recalled, not verified: there is no released training code).
tiny: ResNet-10 of width 16 + a 2-block ViT of width 64 on 128 px (4x4 grid: a quarter of BioViL's tiny cost per
image, and each step encodes two), 2-layer BERT of width 128, joint dim 64, captions = one sentence of the impression
(a change sentence), AdamW 1e-3 with warm-up and cosine decay. Three choices serve progression:
- the training rows that have a prior are shown TINY_PRIOR_REPEATS times per epoch (in the toy world's temporal scale
  1,515 of the 4,391 MIMIC `train` rows carry a change caption; repeating the 2,390 rows with a prior raises their
  share of a batch from ~11 to ~16 of 32; repeats keep their caption draw of the epoch);
- progression-contrast batches (`training/progression_batches.py`): captions of one finding and place that differ in
  their stated change share a batch; in random batches the finding and its place already tell captions apart;
- geometric augmentation only: a supervised check of the image model alone (told the progression) reaches held-out
  accuracy 0.86 after 500 steps with it, 0.62 with BioViL's brightness/contrast jitter added and 0.52 with the jitter
  alone (benchmarks/results/temporal_augmentation_probe.md): the jitter hides the change of a finding's density.
Measured (benchmarks/results/proof_of_temporal_learning.md): trained jointly, the text side collapses a finding's
three progression prompts into one embedding (benchmarks/results/temporal_text_init.md), so the tiny recipe is two
stages. First a tiny CXR-BERT: `train --model cxr-bert --batching progression-contrast --temperature 0.1`. Then this
recipe with `--text-model` that CXR-BERT and `--lock-text` (LiT). After 1,200 steps it reaches ms-cxr-t-cls zero-shot
macro accuracy 0.478 [0.421, 0.535] with the pair, vs 0.321 on the current image alone and <= 0.355 at init.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Callable

import torch
from transformers import PreTrainedTokenizerBase

from msxr_bench.adapters.biovil_checkpoint import BioViLCheckpointConfig, save_biovil_checkpoint
from msxr_bench.data.mimic import find_mimic_roots
from msxr_bench.data.mimic_priors import prior_images
from msxr_bench.data.types import SkipReport
from msxr_bench.models.biovil import BIOVIL_T_IMAGE_CONFIG, BioViLImageConfig, BioViLImageModel
from msxr_bench.training.augment import augment_batch, centre_view
from msxr_bench.training.data import PairDataset
from msxr_bench.training.pretrained import load_imagenet_trunk
from msxr_bench.training.recipes.base import RecipeSettings
from msxr_bench.training.recipes.biovil import (
    SMOOTHING_SIGMA, BioViLRecipe, BioViLTrainModule,
)
from msxr_bench.training.temporal_data import TemporalPairDataset

TINY_CROP_T = 128
TINY_IMAGE_T = BioViLImageConfig(depth=10, width=16, joint_feature_size=64, imagenet_fc=False, multi_image=True,
                                 vit_dim=64, vit_heads=4, vit_blocks=2, vit_grid=(TINY_CROP_T // 32, TINY_CROP_T // 32))
PAPER_CROP = 448
TINY_PRIOR_REPEATS = 3
log = logging.getLogger(__name__)


class BioViLTTrainModule(BioViLTrainModule):
    """BioViL's training module whose image embedding fuses the prior of the rows that have one."""

    def image_embedding(self, batch: dict) -> torch.Tensor:
        return self.image_model(batch["images"], batch["previous_images"], batch["has_previous"]).mean(dim=(2, 3))


class BioViLTRecipe(BioViLRecipe):
    name = "biovil-t"
    tiny_inits = ("text_model",)  # a BioViL (SimCLR) image init does not fit BioViL-T's image model

    def make_settings(self) -> RecipeSettings:
        s = super().make_settings()
        if self.config == "tiny":
            geometric_only = replace(s.augmentation, brightness=(1.0, 1.0), contrast=(1.0, 1.0))
            return replace(s, crop=TINY_CROP_T, canvas=TINY_CROP_T, batching="progression-contrast",
                           augmentation=geometric_only,
                           notes=("BioViL's tiny settings at 128 px, BioViL-T's two-image encoder",
                                  f"training rows with a prior shown {TINY_PRIOR_REPEATS}x per epoch",
                                  "progression-contrast batches",
                                  "geometric augmentation only (no brightness/contrast jitter)"))
        return replace(s, crop=PAPER_CROP, notes=s.notes + ("BioViL-T: 448 px crop (14x14 grid of the ViT pooler)",))

    def training_sets(self, data_root: Path, seed: int, max_train_pairs: int | None = None, image_format: str = "jpg",
                      ) -> tuple[TemporalPairDataset, TemporalPairDataset | None, tuple[SkipReport, ...]]:
        """BioViL's MIMIC pairs, each with the metadata's prior of its image (unusable metadata rows counted)."""
        if image_format != "jpg":
            raise ValueError("biovil-t reads priors from MIMIC-CXR-JPG's metadata table: --image-format dicom does "
                             "not apply")
        train_set, val_set, skips = super().training_sets(data_root, seed, max_train_pairs)
        jpg_root, _ = find_mimic_roots(data_root)
        priors, prior_skips = prior_images(jpg_root)
        if prior_skips.total:
            log.warning("metadata rows unusable for priors: %s", prior_skips.summary())
        s = self.settings

        def temporal(pairs: PairDataset, repeats: int = 1) -> TemporalPairDataset:
            out = TemporalPairDataset(pairs.pairs, s.canvas_geometry(), s.text, seed, priors, s.cache_images, repeats)
            out.skips.counts.update(pairs.skips.counts)  # the caption skips of the pairs it was made from
            return out

        repeats = TINY_PRIOR_REPEATS if self.config == "tiny" else 1
        return temporal(train_set, repeats), (temporal(val_set) if val_set is not None else None), skips

    def augment(self, batch: dict, generator: Callable[[int], torch.Generator]) -> None:
        """Current and prior images augmented independently (priors are not registered to the current image)."""
        super().augment(batch, generator)
        s = self.settings
        batch["previous_images"] = augment_batch(batch["previous_images"], s.crop, s.augmentation, generator(1))

    def validation_view(self, batch: dict) -> None:
        super().validation_view(batch)
        batch["previous_images"] = centre_view(batch["previous_images"], self.settings.crop)

    def collate(self, samples: list[dict], tokenizer: PreTrainedTokenizerBase, seed: int) -> dict:
        batch = super().collate(samples, tokenizer, seed)
        batch["previous_images"] = torch.stack([s["prior_image"] for s in samples])
        batch["has_previous"] = torch.tensor([s["has_prior"] for s in samples])
        return batch

    def build(self, tokenizer: PreTrainedTokenizerBase) -> BioViLTTrainModule:
        image_model = BioViLImageModel(TINY_IMAGE_T if self.config == "tiny" else BIOVIL_T_IMAGE_CONFIG)
        if self.config == "paper" and self.image_init:
            load_imagenet_trunk(image_model.trunk, self.image_init)
        return BioViLTTrainModule(image_model, self.build_text_model(tokenizer, image_model.config.joint_feature_size))

    def export(self, module: BioViLTTrainModule, tokenizer: PreTrainedTokenizerBase, directory: Path,
               training_data: tuple[str, ...], description: str) -> Path:
        crop = self.settings.crop
        resize = 512 if self.config == "paper" else crop
        config = BioViLCheckpointConfig(model="biovil-t", image=module.image_model.config, resize=resize, crop=crop,
                                        smoothing_sigma=SMOOTHING_SIGMA, training_data=training_data,
                                        description=description)
        return save_biovil_checkpoint(directory, module.image_model, module.text_model, tokenizer, config)
