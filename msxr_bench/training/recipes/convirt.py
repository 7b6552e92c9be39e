"""ConVIRT (Zhang et al. 2020): asymmetric InfoNCE (τ 0.1, λ 0.75) between g_v(avgpool(ResNet)) and
g_u(maxpool(BERT)); captions = one random sentence of findings + impression.

paper (specs Part B2): ResNet-50 (ImageNet init with --image-init), Bio_ClinicalBERT (--text-model, default
the hub repo) with its embeddings and first 6 layers frozen, d = 512; random crop of area [0.6, 1] resized to
224, horizontal flip 0.5, affine ±20° / translate 0.1 / scale [0.95, 1.05], brightness and contrast
[0.6, 1.4], Gaussian blur σ [0.1, 3]; Adam lr 1e-4 wd 1e-6, batch 32, lr halved on a validation plateau.
Evaluation geometry: resize 256, centre crop 224 (as vilmedic/BenchX).
tiny: ResNet-10 of width 16 with a dilated layer4 at 128 px (8x8 grid), 2-layer BERT of width 128 with the
corpus vocabulary (nothing frozen: it starts from scratch), d = 64, Adam lr 1e-3 with warm-up and cosine decay.
Tuned to learn the toy world in minutes: captions are one sentence of the impression (findings when there is
none) — the toy findings sections are mostly boilerplate ("Osseous structures are intact."), which left the
paper's pooled sampling at macro CNR 0.64 after 1,500 steps against 1.00 — no flip (the toy world's findings
have sides) and milder crop/rotation/blur.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from transformers import BertConfig, PreTrainedTokenizerBase

from msxr_bench.adapters.convirt_checkpoint import save_convirt_checkpoint
from msxr_bench.adapters.gloria_weights import TEXT_REPO, load_bert_config, load_tokenizer
from msxr_bench.models.convirt import ConvirtConfig, ConvirtModel
from msxr_bench.training.augment import Augmentation
from msxr_bench.training.data import TextPolicy
from msxr_bench.training.losses import CONVIRT_LAMBDA, CONVIRT_TAU, convirt_loss
from msxr_bench.training.pretrained import load_bert_encoder, load_imagenet_trunk, resolve_text_init
from msxr_bench.training.recipes.base import Recipe, RecipeSettings, stack_images

TINY_CONFIG = ConvirtConfig(resnet_depth=10, resnet_width=16, dilate_layer4=True, embedding_dim=64, pooling="max",
                            frozen_layers=0, max_text_tokens=64, resize=128, crop=128)
PAPER_CONFIG = ConvirtConfig()


class ConvirtTrainModule(nn.Module):
    def __init__(self, model: ConvirtModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: dict) -> dict[str, torch.Tensor]:
        image_emb, text_emb = self.model(batch["images"], batch["input_ids"], batch["attention_mask"])
        return convirt_loss(image_emb, text_emb, CONVIRT_TAU, CONVIRT_LAMBDA)


class ConvirtRecipe(Recipe):
    name = "convirt"

    @property
    def model_config(self) -> ConvirtConfig:
        return TINY_CONFIG if self.config == "tiny" else PAPER_CONFIG

    def make_settings(self) -> RecipeSettings:
        text = TextPolicy(sections=("findings", "impression"), pool_sections=True, mode="one_sentence")
        c = self.model_config
        if self.config == "tiny":
            text = TextPolicy(sections=("impression", "findings"), mode="one_sentence")
            aug = Augmentation(crop_area=(0.9, 1.0), random_crop=True, rotation=5.0, translate=0.04,
                               scale=(0.95, 1.05), brightness=(0.8, 1.2), contrast=(0.8, 1.2), blur_sigma=(0.1, 1.0),
                               blur_probability=0.25)
            return RecipeSettings(crop=c.crop, canvas=c.crop, canvas_kind="resize_crop", augmentation=aug, text=text,
                                  optimizer="adam", lr=1e-3, weight_decay=1e-6, batch_size=32, max_steps=1500,
                                  warmup_steps=50, schedule="cosine", grad_clip=1.0, val_every=250, save_every=500,
                                  cache_images=True)
        aug = Augmentation(crop_area=(0.6, 1.0), random_crop=True, rotation=20.0, translate=0.1, scale=(0.95, 1.05),
                           hflip=0.5, brightness=(0.6, 1.4), contrast=(0.6, 1.4), blur_sigma=(0.1, 3.0),
                           blur_probability=1.0)
        return RecipeSettings(crop=c.crop, canvas=c.crop, canvas_kind="resize_crop", augmentation=aug, text=text,
                              optimizer="adam", lr=1e-4, weight_decay=1e-6, batch_size=32, epochs=50,
                              schedule="plateau", plateau_patience=5, grad_clip=1.0,
                              notes=("epochs and gradient clipping are this toolkit's choice (not in the paper)",))

    def pretrained_tokenizer(self, directory: Path) -> PreTrainedTokenizerBase:
        files = resolve_text_init(self.text_model, TEXT_REPO, None)
        tokenizer = load_tokenizer(files.directory)
        tokenizer.save_pretrained(str(directory))
        return tokenizer

    def collate(self, samples: list[dict], tokenizer: PreTrainedTokenizerBase, seed: int) -> dict:
        enc = tokenizer([s["caption"] for s in samples], padding="longest", truncation=True,
                        max_length=self.model_config.max_text_tokens, return_tensors="pt")
        return {"images": stack_images(samples), "input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}

    def build(self, tokenizer: PreTrainedTokenizerBase) -> ConvirtTrainModule:
        c = self.model_config
        if self.config == "tiny":
            bert_config = BertConfig(vocab_size=len(tokenizer), hidden_size=128, num_hidden_layers=2,
                                     num_attention_heads=4, intermediate_size=256,
                                     max_position_embeddings=c.max_text_tokens, pad_token_id=tokenizer.pad_token_id)
            return ConvirtTrainModule(ConvirtModel(c, bert_config))
        files = resolve_text_init(self.text_model, TEXT_REPO, None)
        model = ConvirtModel(c, load_bert_config(files.directory))
        load_bert_encoder(model.text_encoder, files)
        if self.image_init:
            load_imagenet_trunk(model.image_encoder, self.image_init)
        model.freeze_text_layers()
        return ConvirtTrainModule(model)

    def export(self, module: ConvirtTrainModule, tokenizer: PreTrainedTokenizerBase, directory: Path,
               training_data: tuple[str, ...], description: str) -> Path:
        return save_convirt_checkpoint(directory, module.model, tokenizer, training_data, description)
