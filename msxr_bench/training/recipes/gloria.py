"""GLoRIA (Huang et al., ICCV 2021; marshuang80/gloria @ 416466a): the `GloriaModel` of models/ trained with
its own local (word-region attention, γ 4/5/10) + global losses (models/gloria_attention.py); captions = one
random sentence of the impression (findings when there is none), cleaned as upstream.

paper: upstream `chexpert_pretrain_config.yaml` — ResNet-50 (ImageNet init with --image-init),
Bio_ClinicalBERT (--text-model, default the hub repo), letterbox 256 -> random crop 224 (upsampled to 299),
Adam lr 5e-5 betas (0.5, 0.999) wd 1e-6, batch 48, 50 epochs, gradient clip 0.25, lr halved on a validation
plateau (patience 5). The BERT pooler, unused by GLoRIA, is left out (so DDP sees no unused parameters).
tiny: ResNet-10 of width 16 at 128 px (layer3 grid 8x8), 2-layer BERT of width 128 with the corpus
vocabulary, Adam lr 1e-3 with warm-up and cosine decay.
Deviation: one-word sentences are kept (upstream drops sentences of fewer than 2 words before sampling).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch
from torch import nn
from transformers import BertConfig, PreTrainedTokenizerBase

from msxr_bench.adapters.gloria_checkpoint_dir import save_gloria_checkpoint
from msxr_bench.adapters.gloria_weights import TEXT_REPO, load_bert_config, load_tokenizer
from msxr_bench.models.gloria_image import normalize_intensity
from msxr_bench.models.gloria_model import GloriaConfig, GloriaModel
from msxr_bench.models.gloria_text import clean_report_text
from msxr_bench.training.augment import Augmentation
from msxr_bench.training.data import TextPolicy
from msxr_bench.training.pretrained import load_bert_encoder, load_imagenet_trunk, resolve_text_init
from msxr_bench.training.recipes.base import Recipe, RecipeSettings, stack_images

TINY_CONFIG = GloriaConfig(resnet_depth=10, resnet_width=16, embedding_dim=128, input_size=128, resize=146, crop=128,
                           word_num=40, last_n_layers=2, bert_pooler=False)
PAPER_CONFIG = GloriaConfig(bert_pooler=False)
MIN_SENTENCE_TOKENS = 1


class GloriaTrainModule(nn.Module):
    def __init__(self, model: GloriaModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: dict) -> dict[str, torch.Tensor]:
        img_l, img_g = self.model.image_encoder_forward(normalize_intensity(batch["images"]))
        words, sent, sents = self.model.text_encoder_forward(batch["input_ids"], batch["attention_mask"],
                                                             batch["token_type_ids"])
        return self.model.calc_loss(img_l, img_g, words, sent, sents)


class GloriaRecipe(Recipe):
    name = "gloria"

    @property
    def model_config(self) -> GloriaConfig:
        return TINY_CONFIG if self.config == "tiny" else PAPER_CONFIG

    def make_settings(self) -> RecipeSettings:
        text = TextPolicy(sections=("impression", "findings"), mode="one_sentence")
        c = self.model_config
        if self.config == "tiny":
            return RecipeSettings(crop=c.crop, canvas=c.resize, canvas_kind="letterbox_crop",
                                  augmentation=Augmentation(random_crop=True), text=text, optimizer="adam", lr=1e-3,
                                  betas=(0.5, 0.999), weight_decay=1e-6, batch_size=32, max_steps=1500,
                                  warmup_steps=50, schedule="cosine", grad_clip=0.25, val_every=250, save_every=500,
                                  cache_images=True)
        return RecipeSettings(crop=c.crop, canvas=c.resize, canvas_kind="letterbox_crop",
                              augmentation=Augmentation(random_crop=True), text=text, optimizer="adam", lr=5e-5,
                              betas=(0.5, 0.999), weight_decay=1e-6, batch_size=48, epochs=50, schedule="plateau",
                              plateau_patience=5, grad_clip=0.25)

    def pretrained_tokenizer(self, directory: Path) -> PreTrainedTokenizerBase:
        files = resolve_text_init(self.text_model, TEXT_REPO, None)
        tokenizer = load_tokenizer(files.directory)
        tokenizer.save_pretrained(str(directory))
        return tokenizer

    def collate(self, samples: list[dict], tokenizer: PreTrainedTokenizerBase, seed: int) -> dict:
        cleaned = [clean_report_text(s["caption"], MIN_SENTENCE_TOKENS) for s in samples]
        enc = tokenizer(cleaned, truncation=True, padding="max_length", max_length=self.model_config.word_num,
                        return_tensors="pt", return_token_type_ids=True)
        return {"images": stack_images(samples), "input_ids": enc["input_ids"],
                "attention_mask": enc["attention_mask"], "token_type_ids": enc["token_type_ids"]}

    def build(self, tokenizer: PreTrainedTokenizerBase) -> GloriaTrainModule:
        c = self.model_config
        if self.config == "tiny":
            bert_config = BertConfig(vocab_size=len(tokenizer), hidden_size=c.embedding_dim, num_hidden_layers=2,
                                     num_attention_heads=4, intermediate_size=256, max_position_embeddings=64,
                                     pad_token_id=tokenizer.pad_token_id)
            return GloriaTrainModule(GloriaModel(c, bert_config, tokenizer))
        files = resolve_text_init(self.text_model, TEXT_REPO, None)
        bert_config = load_bert_config(files.directory)
        # no text projection in GLoRIA: the joint space is the BERT's width (768 for Bio_ClinicalBERT)
        model = GloriaModel(replace(c, embedding_dim=bert_config.hidden_size), bert_config, tokenizer)
        load_bert_encoder(model.text_encoder.model, files)
        if self.image_init:
            load_imagenet_trunk(model.img_encoder.model, self.image_init)
        return GloriaTrainModule(model)

    def export(self, module: GloriaTrainModule, tokenizer: PreTrainedTokenizerBase, directory: Path,
               training_data: tuple[str, ...], description: str) -> Path:
        return save_gloria_checkpoint(directory, module.model, training_data, description)
