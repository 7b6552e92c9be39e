"""BioViL (Boecking et al., ECCV 2022): ResNet + per-patch projector, CXR-BERT with MLM; loss = global
symmetric InfoNCE (τ 0.5, λ_GA 0.5) + MLM (15% whole-word masking); captions = the impression (findings
when there is none) with its sentences shuffled (CXR-BERT's sentence-shuffling augmentation).

paper: ResNet-50 (ImageNet init with --image-init), CXR-BERT-general init (--text-model, default the hub
repo), joint dim 128, 512 -> 480 px. The paper's optimiser and augmentation values are recalled, not
verified against released code (there is none): AdamW lr 2e-5, wd 0.01; affine ±30°/shear 15°, jitter 0.2.
tiny: ResNet-10 of width 16 at 256 px (8x8 grid: BioViL's layer4 has stride 32, so 128 px would give 4x4),
2-layer BERT of width 128 with the corpus vocabulary, joint dim 64, AdamW lr 1e-3 with warm-up and cosine decay
over 1,200 steps. Tuned to learn the toy world in minutes: captions are one sentence of the impression, not the
shuffled impression (single-phrase captions ground better; measured with width 8: whole impressions macro CNR
0.66 / signed 0.33 after 600 steps, one sentence 0.85 / 0.41 after 900; width 16 lifted signed CNR to 0.83).
Both configs may start from a text model folder (--text-model: e.g. a `cxr-bert` run's checkpoint, whose
pretrained projection is kept when its size fits) and from a SimCLR checkpoint of the same image model
(--image-init DIR; a torchvision ResNet file initialises the trunk only).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn
from transformers import PreTrainedTokenizerBase

from msxr_bench.adapters.biovil_checkpoint import BioViLCheckpointConfig, save_biovil_checkpoint
from msxr_bench.models.biovil import BioViLImageConfig, BioViLImageModel
from msxr_bench.models.cxrbert import CXRBertConfig, CXRBertModel, cxrbert_config_from_dict
from msxr_bench.training.augment import Augmentation
from msxr_bench.training.data import TextPolicy
from msxr_bench.training.losses import BIOVIL_LAMBDA_GA, BIOVIL_TAU, biovil_loss
from msxr_bench.training.pretrained import copy_pretrained_tokenizer, load_image_init, load_masked_lm, resolve_text_init
from msxr_bench.training.recipes.base import Recipe, RecipeSettings, mask_rng, stack_images
from msxr_bench.training.text import whole_word_mask

TEXT_INIT_REPO = "microsoft/BiomedVLP-CXR-BERT-general"
TINY_IMAGE = BioViLImageConfig(depth=10, width=16, joint_feature_size=64, imagenet_fc=False)
TINY_CROP = 256
MLM_PROBABILITY = 0.15
# A [CLS] read-out of a from-scratch BERT at the usual 0.02 init gives every caption the same embedding (mean
# cosine 0.9998), which stalls the contrastive loss for ~150 steps; at 0.1 captions start apart (cosine 0.76).
TINY_BERT_INIT_RANGE = 0.1
SMOOTHING_SIGMA = 1.5  # hi-ml's engine smooths every similarity grid with sigma 1.5 cells, whatever its size
MAX_TEXT_TOKENS = 128


class BioViLTrainModule(nn.Module):
    """Image model + CXR-BERT; forward = global alignment on clean captions + MLM on masked ones (mlm_weight 0:
    global alignment only, the MLM head frozen so that DDP sees no unused parameter)."""

    def __init__(self, image_model: BioViLImageModel, text_model: CXRBertModel, mlm_weight: float = 1.0) -> None:
        super().__init__()
        self.image_model, self.text_model, self.mlm_weight = image_model, text_model, mlm_weight
        if not mlm_weight:
            shared = {id(p) for p in text_model.bert.parameters()}  # the decoder is tied to the word embeddings
            for p in text_model.cls.parameters():
                if id(p) not in shared:
                    p.requires_grad_(False)

    def image_embedding(self, batch: dict) -> torch.Tensor:
        """[B, D] unnormalised global image embedding (mean of the projected patches)."""
        return self.image_model(batch["images"]).mean(dim=(2, 3))

    def forward(self, batch: dict) -> dict[str, torch.Tensor]:
        image_emb = self.image_embedding(batch)
        text_emb = self.text_model.get_projected_text_embeddings(batch["input_ids"], batch["attention_mask"],
                                                                 normalize_embeddings=False)
        mlm_logits = None
        if self.mlm_weight:
            mlm_logits = self.text_model(input_ids=batch["mlm_input_ids"], attention_mask=batch["attention_mask"],
                                         return_dict=True).logits
        return biovil_loss(image_emb, text_emb, mlm_logits, batch.get("mlm_labels"), BIOVIL_TAU, BIOVIL_LAMBDA_GA,
                           self.mlm_weight)


class BioViLRecipe(Recipe):
    name = "biovil"
    mlm_weight = 1.0
    # the tiny config may start from a text model folder (e.g. a `cxr-bert` run: "joint training can start from
    # it") and from a SimCLR checkpoint of the same tiny image model
    tiny_inits = ("text_model", "image_init")

    def make_settings(self) -> RecipeSettings:
        text = TextPolicy(sections=("impression", "findings"), mode="shuffled_section", shuffle_probability=0.5)
        if self.config == "tiny":
            text = TextPolicy(sections=("impression", "findings"), mode="one_sentence")
            aug = Augmentation(rotation=5.0, translate=0.04, scale=(0.95, 1.05), brightness=(0.8, 1.2),
                               contrast=(0.8, 1.2))
            return RecipeSettings(crop=TINY_CROP, canvas=TINY_CROP, canvas_kind="resize_crop", augmentation=aug,
                                  text=text, optimizer="adamw", lr=1e-3, weight_decay=1e-4, batch_size=32,
                                  max_steps=1200, warmup_steps=20, schedule="cosine", grad_clip=1.0,
                                  val_every=200, save_every=400, cache_images=True)
        aug = Augmentation(random_crop=True, rotation=30.0, shear=15.0, brightness=(0.8, 1.2), contrast=(0.8, 1.2))
        return RecipeSettings(crop=480, canvas=512, canvas_kind="resize_crop", augmentation=aug, text=text,
                              optimizer="adamw", lr=2e-5, weight_decay=0.01, batch_size=32, epochs=20,
                              warmup_steps=500, schedule="cosine", grad_clip=1.0,
                              notes=("optimiser and augmentation values recalled from the paper, not verified",))

    # ---- text ---------------------------------------------------------------------------------
    def pretrained_tokenizer(self, directory: Path) -> PreTrainedTokenizerBase:
        return copy_pretrained_tokenizer(self.text_model, TEXT_INIT_REPO, directory)

    def collate(self, samples: list[dict], tokenizer: PreTrainedTokenizerBase, seed: int) -> dict:
        enc = tokenizer([s["caption"] for s in samples], padding="longest", truncation=True,
                        max_length=MAX_TEXT_TOKENS, return_tensors="pt")
        masked = []
        labels = []
        for i, sample in enumerate(samples):
            ids, lab = whole_word_mask(enc["input_ids"][i:i + 1], [enc.word_ids(i)], mask_rng(seed, sample),
                                       tokenizer.mask_token_id, len(tokenizer), MLM_PROBABILITY,
                                       tokenizer.all_special_ids)
            masked.append(ids)
            labels.append(lab)
        return {"images": stack_images(samples), "input_ids": enc["input_ids"],
                "attention_mask": enc["attention_mask"], "mlm_input_ids": torch.cat(masked),
                "mlm_labels": torch.cat(labels)}

    # ---- model --------------------------------------------------------------------------------
    def build(self, tokenizer: PreTrainedTokenizerBase) -> BioViLTrainModule:
        image_model = BioViLImageModel(TINY_IMAGE if self.config == "tiny" else BioViLImageConfig())
        if self.image_init:
            load_image_init(image_model, self.image_init)
        return self.module(image_model, self.build_text_model(tokenizer, image_model.config.joint_feature_size))

    def build_text_model(self, tokenizer: PreTrainedTokenizerBase, projection_size: int) -> CXRBertModel:
        """Tiny without --text-model: a 2-layer BERT of width 128 from scratch; otherwise CXR-BERT (or any BERT MLM
        folder / hub id) from --text-model (default: the hub's CXR-BERT)."""
        if self.config == "tiny" and not self.text_model:
            return CXRBertModel(CXRBertConfig(vocab_size=len(tokenizer), hidden_size=128, num_hidden_layers=2,
                                              num_attention_heads=4, intermediate_size=256,
                                              max_position_embeddings=MAX_TEXT_TOKENS, projection_size=projection_size,
                                              pad_token_id=tokenizer.pad_token_id,
                                              initializer_range=TINY_BERT_INIT_RANGE))
        return pretrained_text_model(self.text_model, projection_size)

    def module(self, image_model: BioViLImageModel, text_model: CXRBertModel) -> BioViLTrainModule:
        return BioViLTrainModule(image_model, text_model, self.mlm_weight)

    def export(self, module: BioViLTrainModule, tokenizer: PreTrainedTokenizerBase, directory: Path,
               training_data: tuple[str, ...], description: str) -> Path:
        image = module.image_model
        crop = self.settings.crop
        resize = 512 if self.config == "paper" else crop
        config = BioViLCheckpointConfig(model=self.adapter_name, image=image.config, resize=resize, crop=crop,
                                        smoothing_sigma=SMOOTHING_SIGMA, training_data=training_data,
                                        description=description)
        return save_biovil_checkpoint(directory, image, module.text_model, tokenizer, config)

    adapter_name = "biovil"  # the adapter that loads the export


def pretrained_text_model(text_model: str | None, joint: int) -> CXRBertModel:
    """CXR-BERT (or any BERT MLM folder / hub id: --text-model) with a projection to `joint` dimensions; a CXR-BERT
    whose projection already has that size keeps it (`load_masked_lm`)."""
    files = resolve_text_init(text_model, TEXT_INIT_REPO, None)
    raw = json.loads((files.directory / "config.json").read_text())
    if raw.get("projection_size") not in (None, joint):
        raw["projection_size"] = joint  # a projection of another size cannot be kept: a new one is trained
    raw.setdefault("projection_size", joint)
    raw["model_type"] = "cxr-bert"
    model = CXRBertModel(cxrbert_config_from_dict(raw))
    load_masked_lm(model, files)
    return model
