"""SimCLR (Chen et al. 2020) image-only pretraining of BioViL's image encoder (BioViL paper Appendix E: "pretrained
with SimCLR on MIMIC-CXR images"): the ResNet + 1x1-conv projector, v = mean of the projected patches; NT-Xent
between two augmented views of each frontal training image (its report is not read).

Views: Table E.1's image-only column — affine rotation ±180°, shear ±40°, brightness and contrast 0.2, horizontal
flip 0.5, random crop of area (0.75, 1.0), occlusion of area (0.15, 0.4) with aspect ratio between 0.3 and 0.33 (as
printed: "(0.33, 0.3)"), elastic (σ 4, α 34) with probability 0.4, Gaussian noise 0.05. The occlusion probability
is not printed: 0.5 (torchvision's RandomErasing default). τ is not printed: 0.1 (paper config) / 0.2 (tiny).
paper: ResNet-50, 512 -> 480 px, batch 256, 100 epochs, lr 1e-3 with 3% warm-up; the paper's LARS-wrapped Adam
is replaced by AdamW (no LARS here) with a cosine decay instead of the linear one.
tiny: ResNet-10 of width 16 (the tiny BioViL's image model, so a BioViL tiny run can start from it), 128 px, batch
64, AdamW lr 1e-3, 20 warm-up steps, cosine decay; validation views are drawn with a fixed generator.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch
from torch import nn

from msxr_bench.adapters.simclr_checkpoint import SimCLRCheckpointConfig, save_simclr_checkpoint
from msxr_bench.models.biovil import BioViLImageConfig, BioViLImageModel
from msxr_bench.training.augment import Augmentation, augment_batch
from msxr_bench.training.data import TextPolicy
from msxr_bench.training.losses import nt_xent_loss
from msxr_bench.training.pretrained import load_image_init
from msxr_bench.training.recipes.base import Recipe, RecipeSettings, stack_images
from msxr_bench.training.recipes.biovil import TINY_IMAGE

SIMCLR_VIEWS = Augmentation(crop_area=(0.75, 1.0), random_crop=True, rotation=180.0, shear=40.0, hflip=0.5,
                            brightness=(0.8, 1.2), contrast=(0.8, 1.2), elastic=(4.0, 34.0), elastic_probability=0.4,
                            noise_std=0.05, occlusion_scale=(0.15, 0.4), occlusion_ratio=(0.33, 0.3),
                            occlusion_probability=0.5)
TINY_CROP = 128
TEMPERATURE = {"tiny": 0.2, "paper": 0.1}


class SimCLRTrainModule(nn.Module):
    def __init__(self, image_model: BioViLImageModel, temperature: float) -> None:
        super().__init__()
        self.image_model, self.temperature = image_model, temperature

    def forward(self, batch: dict) -> dict[str, torch.Tensor]:
        n = batch["images"].shape[0]
        pooled = self.image_model(torch.cat([batch["images"], batch["images_b"]])).mean(dim=(2, 3))  # one BN batch
        return nt_xent_loss(pooled[:n], pooled[n:], self.temperature)


class SimCLRRecipe(Recipe):
    name = "simclr"
    tiny_inits = ("image_init",)

    def make_settings(self) -> RecipeSettings:
        text = TextPolicy(sections=())  # image-only: reports are not read
        if self.config == "tiny":
            return RecipeSettings(crop=TINY_CROP, canvas=TINY_CROP, canvas_kind="resize_crop", augmentation=SIMCLR_VIEWS,
                                  text=text, optimizer="adamw", lr=1e-3, weight_decay=1e-4, batch_size=64,
                                  max_steps=600, warmup_steps=20, schedule="cosine", grad_clip=1.0, val_every=200,
                                  save_every=300, cache_images=True)
        return RecipeSettings(crop=480, canvas=512, canvas_kind="resize_crop", augmentation=SIMCLR_VIEWS, text=text,
                              optimizer="adamw", lr=1e-3, weight_decay=1e-6, batch_size=256, epochs=100,
                              warmup_steps=500, schedule="cosine", grad_clip=None,
                              notes=("LARS on Adam (paper) replaced by AdamW; cosine instead of linear decay",))

    def make_tokenizer(self, corpus: list[str], directory: Path) -> None:
        return None

    def load_tokenizer(self, directory: Path) -> None:
        return None

    def augment(self, batch: dict, generator: Callable[[int], torch.Generator]) -> None:
        """Two views of each canvas ("images", "images_b"), drawn one after the other from one stream."""
        s, images, g = self.settings, batch.pop("images"), generator(0)
        batch["images"] = augment_batch(images, s.crop, s.augmentation, g)
        batch["images_b"] = augment_batch(images, s.crop, s.augmentation, g)

    def validation_view(self, batch: dict) -> None:
        self.augment(batch, lambda k: torch.Generator().manual_seed(0))

    def collate(self, samples: list[dict], tokenizer: None, seed: int) -> dict:
        return {"images": stack_images(samples)}

    def build(self, tokenizer: None) -> SimCLRTrainModule:
        image_model = BioViLImageModel(TINY_IMAGE if self.config == "tiny" else BioViLImageConfig())
        if self.image_init:
            load_image_init(image_model, self.image_init)
        return SimCLRTrainModule(image_model, TEMPERATURE[self.config])

    def export(self, module: SimCLRTrainModule, tokenizer: None, directory: Path, training_data: tuple[str, ...],
               description: str) -> Path:
        s = self.settings
        config = SimCLRCheckpointConfig(image=module.image_model.config, resize=s.canvas if self.config == "tiny" else 512,
                                        crop=s.crop, temperature=module.temperature, training_data=training_data,
                                        description=description)
        return save_simclr_checkpoint(directory, module.image_model, config)
