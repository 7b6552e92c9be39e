"""CXR-BERT text-only pretraining (BioViL paper §2.2 and Appendix E, phases II-III): one sample per MIMIC-CXR study
with both a FINDINGS and an IMPRESSION section (no image is read); each section's sentences shuffled with
probability 0.5 (sentence shuffling); loss = MLM (15% whole-word masking) on both sections + radiology section
matching (RSM: symmetric InfoNCE between the projected [CLS] embeddings of a report's findings and its impression,
τ 0.5, the other reports of the batch as negatives), which trains the projection into the joint space; attention
dropout 0.25.

paper (phase III): from a phase-II model (--text-model; default microsoft/BiomedVLP-CXR-BERT-general, whose
vocabulary is the paper's phase-I WordPiece), AdamW lr 2e-5, batch 256, 100 epochs, 3% warm-up (a cosine decay here,
the paper's is linear). Phase II itself (MLM from scratch on PubMed + MIMIC-III + MIMIC-CXR, 250k steps) is what the
tiny config does on the toy reports: the vocabulary built by the WordPiece tool (`training/vocab.py`) from the
training reports, a 2-layer BERT of width 128, AdamW lr 2e-3 over 1,200 steps of 32 reports (measured on the small
world: MLM alone leaves its unigram plateau of ~3.9 nats after ~300 steps; with RSM beside it, later), projection
64 (the tiny BioViL's joint size, so joint training can
start from it: `train --model biovil --config tiny --text-model RUN/checkpoint`). Exported as a text model folder
(save_pretrained + tokenizer): the `cxr-bert` adapter loads it, and so does any `--text-model`.
`--batching progression-contrast` puts reports whose impressions state one finding's different changes in one batch,
so RSM must match them by their change words: on the toy temporal world ms-cxr-t-sim ROC-AUC 0.80 vs 0.48 with random
batches (benchmarks/results/temporal_text_init.md); with `--temperature 0.1` (RSM tau) too, 1.000, and the three
progression prompts of a finding come apart (BioViL-T's tiny text start). Not the default (the paper describes random
batches and tau 0.5).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn
from transformers import PreTrainedTokenizerBase

from msxr_bench.data.types import ImageReportPair, SkipReport
from msxr_bench.models.cxrbert import CXRBertConfig, CXRBertModel
from msxr_bench.training.augment import Augmentation
from msxr_bench.training.data import PairDataset, TextPolicy
from msxr_bench.training.losses import contrastive_loss, mlm_loss
from msxr_bench.training.recipes.base import Recipe, RecipeSettings
from msxr_bench.training.recipes.biovil import TINY_IMAGE, pretrained_text_model
from msxr_bench.training.text import sample_caption, split_sentences, whole_word_mask

GENERAL_REPO = "microsoft/BiomedVLP-CXR-BERT-general"
SECTIONS = ("findings", "impression")
MLM_PROBABILITY, SHUFFLE_PROBABILITY, RSM_TAU, ATTENTION_DROPOUT = 0.15, 0.5, 0.5, 0.25
MAX_TOKENS = 128
EXPORT_NOTE = "msxr-cxr-bert.json"


class CXRBertTrainModule(nn.Module):
    def __init__(self, text_model: CXRBertModel, rsm_tau: float = RSM_TAU) -> None:
        super().__init__()
        self.text_model, self.rsm_tau = text_model, rsm_tau

    def forward(self, batch: dict) -> dict[str, torch.Tensor]:
        out, total = {}, 0.0
        projected = []
        for part in SECTIONS:
            mask = batch[f"{part}_attention_mask"]
            logits = self.text_model(input_ids=batch[f"{part}_mlm_input_ids"], attention_mask=mask,
                                     return_dict=True).logits
            out[f"mlm_{part}"] = mlm_loss(logits, batch[f"{part}_mlm_labels"])
            projected.append(self.text_model.get_projected_text_embeddings(batch[f"{part}_input_ids"], mask,
                                                                           normalize_embeddings=False))
            total = total + out[f"mlm_{part}"]
        rsm = contrastive_loss(projected[0], projected[1], self.rsm_tau, 0.5)["loss"]
        out = {k: v.detach() for k, v in out.items()}
        out["rsm"] = rsm.detach()
        out["loss"] = total + rsm
        return out


class CXRBertRecipe(Recipe):
    name = "cxr-bert"
    uses_images = False
    tiny_inits = ("text_model",)
    accepts_temperature = True  # RSM's tau

    def make_settings(self) -> RecipeSettings:
        text = TextPolicy(sections=SECTIONS, pool_sections=True, mode="shuffled_section")
        common = dict(crop=8, canvas=8, canvas_kind="resize_crop", augmentation=Augmentation(), text=text,
                      optimizer="adamw", schedule="cosine", grad_clip=1.0)  # crop/canvas unused: no image is read
        if self.config == "tiny":
            return RecipeSettings(**common, lr=2e-3, weight_decay=1e-4, batch_size=32, max_steps=1200, warmup_steps=20,
                                  val_every=200, save_every=600)
        return RecipeSettings(**common, lr=2e-5, weight_decay=0.01, batch_size=256, epochs=100, warmup_steps=300,
                              notes=("phase III of the paper; the paper's schedule is linear, this one cosine",))

    def select_pairs(self, pairs: list[ImageReportPair]) -> tuple[list[ImageReportPair], SkipReport]:
        """One pair per study (the report), only reports with both sections."""
        skips, seen, kept = SkipReport(source="cxr-bert reports"), set(), []
        for pair in pairs:
            if pair.study_id in seen:
                continue
            seen.add(pair.study_id)
            if all(split_sentences(pair.sections.get(name, "") or "") for name in SECTIONS):
                kept.append(pair)
            else:
                skips.add("report without findings or impression", f"s{pair.study_id}")
        return kept, skips

    def pretrained_tokenizer(self, directory: Path) -> PreTrainedTokenizerBase:
        from msxr_bench.training.pretrained import copy_pretrained_tokenizer

        return copy_pretrained_tokenizer(self.text_model, GENERAL_REPO, directory)

    @property
    def rsm_tau(self) -> float:
        return self.settings.temperature if self.settings.temperature is not None else RSM_TAU

    def batching_text(self, dataset: PairDataset) -> Callable[[int, int], str]:
        """A report's impression: reports whose impressions state one finding's different changes share a batch."""
        return lambda epoch, position: dataset.pairs[position].sections.get("impression") or ""

    def collate(self, samples: list[dict], tokenizer: PreTrainedTokenizerBase, seed: int) -> dict:
        out = {}
        for stream, part in enumerate(SECTIONS):
            texts = [sample_caption(split_sentences(s["sections"][part]), "shuffled_section",
                                    np.random.default_rng([seed, s["epoch"], s["index"], 10 + stream]),
                                    SHUFFLE_PROBABILITY) for s in samples]
            enc = tokenizer(texts, padding="longest", truncation=True, max_length=MAX_TOKENS, return_tensors="pt")
            masked, labels = [], []
            for i, s in enumerate(samples):
                ids, lab = whole_word_mask(enc["input_ids"][i:i + 1], [enc.word_ids(i)],
                                           np.random.default_rng([seed, s["epoch"], s["index"], 20 + stream]),
                                           tokenizer.mask_token_id, len(tokenizer), MLM_PROBABILITY,
                                           tokenizer.all_special_ids)
                masked.append(ids)
                labels.append(lab)
            out.update({f"{part}_input_ids": enc["input_ids"], f"{part}_attention_mask": enc["attention_mask"],
                        f"{part}_mlm_input_ids": torch.cat(masked), f"{part}_mlm_labels": torch.cat(labels)})
        return out

    def build(self, tokenizer: PreTrainedTokenizerBase) -> CXRBertTrainModule:
        if self.config == "tiny" and not self.text_model:
            config = CXRBertConfig(vocab_size=len(tokenizer), hidden_size=128, num_hidden_layers=2,
                                   num_attention_heads=4, intermediate_size=256, max_position_embeddings=MAX_TOKENS,
                                   projection_size=TINY_IMAGE.joint_feature_size, pad_token_id=tokenizer.pad_token_id,
                                   attention_probs_dropout_prob=ATTENTION_DROPOUT)
            return CXRBertTrainModule(CXRBertModel(config), self.rsm_tau)
        joint = TINY_IMAGE.joint_feature_size if self.config == "tiny" else 128
        model = pretrained_text_model(self.text_model or GENERAL_REPO, joint)
        model.config.attention_probs_dropout_prob = ATTENTION_DROPOUT
        for layer in model.bert.encoder.layer:
            layer.attention.self.dropout.p = ATTENTION_DROPOUT
        return CXRBertTrainModule(model, self.rsm_tau)

    def export(self, module: CXRBertTrainModule, tokenizer: PreTrainedTokenizerBase, directory: Path,
               training_data: tuple[str, ...], description: str) -> Path:
        directory = Path(directory)
        module.text_model.save_pretrained(str(directory), safe_serialization=True)
        tokenizer.save_pretrained(str(directory))
        (directory / EXPORT_NOTE).write_text(json.dumps({"format": "msxr-bench-cxr-bert", "format_version": 1,
                                                         "training_data": list(training_data),
                                                         "description": description}, indent=2) + "\n")
        return directory
