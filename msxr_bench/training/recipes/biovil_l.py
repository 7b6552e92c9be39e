"""BioViL-L (Boecking et al., ECCV 2022, Tables 5 / A.4): BioViL plus GLoRIA's local loss between the projected
patch embeddings V and CXR-BERT's projected token embeddings, with the parity-tested upstream `local_loss`
(word->region attention, γ1 4, γ2 5, γ3 10, symmetric cross-entropy); L = L_GA + L_MLM + w_local (ℓ0 + ℓ1).

Token embeddings are the last layer's hidden states of [CLS] and the caption's word pieces ([SEP] and padding
left out), each through the [CLS] projection head (one shared projection into the joint space). Deviation from
GLoRIA: word pieces are not merged into words. Exported as a `biovil-l` checkpoint (the BioViL layout; its
adapter declares min-max rescaled maps, as the paper's Table A.4 treats BioViL-L).
"""

from __future__ import annotations

import torch

from msxr_bench.models.biovil import BioViLImageModel
from msxr_bench.models.cxrbert import CXRBertModel
from msxr_bench.models.gloria_attention import local_loss
from msxr_bench.training.losses import BIOVIL_LAMBDA_GA, BIOVIL_TAU, biovil_loss
from msxr_bench.training.recipes.biovil import BioViLRecipe, BioViLTrainModule

GLORIA_TEMPS = (4.0, 5.0, 10.0)
LOCAL_WEIGHT = 1.0


class BioViLLTrainModule(BioViLTrainModule):
    def __init__(self, image_model: BioViLImageModel, text_model: CXRBertModel, mlm_weight: float = 1.0,
                 local_weight: float = LOCAL_WEIGHT) -> None:
        super().__init__(image_model, text_model, mlm_weight)
        self.local_weight = local_weight

    def forward(self, batch: dict) -> dict[str, torch.Tensor]:
        patches = self.image_model(batch["images"])  # [B, D, h, w], unnormalised
        hidden = self.text_model.bert(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                                      return_dict=True).last_hidden_state
        tokens = self.text_model.cls_projection_head(hidden)  # [B, L, D]
        mlm_logits = None
        if self.mlm_weight:
            mlm_logits = self.text_model(input_ids=batch["mlm_input_ids"], attention_mask=batch["attention_mask"],
                                         return_dict=True).logits
        out = biovil_loss(patches.mean(dim=(2, 3)), tokens[:, 0], mlm_logits, batch.get("mlm_labels"), BIOVIL_TAU,
                          BIOVIL_LAMBDA_GA, self.mlm_weight)
        cap_lens = (batch["attention_mask"].sum(dim=1) - 1).clamp(min=1)  # [CLS] + word pieces, [SEP] left out
        l0, l1, _ = local_loss(patches, tokens.transpose(1, 2), cap_lens, *GLORIA_TEMPS, "sum")
        out.update(local_loss0=l0.detach(), local_loss1=l1.detach())
        out["loss"] = out["loss"] + self.local_weight * (l0 + l1)
        return out


class BioViLLRecipe(BioViLRecipe):
    name = "biovil-l"
    adapter_name = "biovil-l"

    def module(self, image_model: BioViLImageModel, text_model: CXRBertModel) -> BioViLLTrainModule:
        return BioViLLTrainModule(image_model, text_model, self.mlm_weight)

    def describe(self) -> dict:
        return {**super().describe(), "local_loss": {"temperatures": list(GLORIA_TEMPS), "weight": LOCAL_WEIGHT,
                                                     "words": "projected word-piece embeddings ([CLS] included)"}}
