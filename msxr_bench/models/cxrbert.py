"""CXR-BERT (Boecking et al. 2022): transformers' `BertForMaskedLM` plus a projection head on the last
layer's [CLS] token (Linear -> exact GELU -> LayerNorm(eps 1e-12) -> Linear), L2-normalised for the joint
space. Parameter names match hi-ml-multimodal's `CXRBertModel`; BERT itself is transformers' own.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import BertConfig, BertForMaskedLM


class CXRBertConfig(BertConfig):
    """`BertConfig` + `projection_size` (the joint latent dimension)."""

    model_type = "cxr-bert"

    def __init__(self, projection_size: int = 128, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.projection_size = projection_size


class BertProjectionHead(nn.Module):
    """Projection of the [CLS] hidden state to the joint space."""

    def __init__(self, config: CXRBertConfig) -> None:
        super().__init__()
        self.dense_to_hidden = nn.Linear(config.hidden_size, config.projection_size)
        self.transform_act_fn = nn.functional.gelu
        self.LayerNorm = nn.LayerNorm(config.projection_size, eps=1e-12)
        self.dense_to_output = nn.Linear(config.projection_size, config.projection_size)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        x = self.transform_act_fn(self.dense_to_hidden(hidden_states))
        return self.dense_to_output(self.LayerNorm(x))


class CXRBertModel(BertForMaskedLM):
    """BERT for masked LM with a [CLS] projection head (`cls_projection_head`)."""

    config_class = CXRBertConfig

    def __init__(self, config: CXRBertConfig) -> None:
        super().__init__(config)
        self.cls_projection_head = BertProjectionHead(config)
        self.post_init()

    def cls_hidden_state(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Last layer's [CLS] state [B, hidden]; token_type_ids are never passed (as the official engine)."""
        out = self.bert(input_ids=input_ids, attention_mask=attention_mask, return_dict=True)
        return out.last_hidden_state[:, 0, :]

    def get_projected_text_embeddings(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                                      normalize_embeddings: bool = True) -> torch.Tensor:
        """[B, projection_size] projected [CLS] embeddings, L2-normalised unless told otherwise."""
        projected = self.cls_projection_head(self.cls_hidden_state(input_ids, attention_mask))
        return F.normalize(projected, dim=1) if normalize_embeddings else projected


def cxrbert_config_from_dict(d: dict) -> CXRBertConfig:
    """A `CXRBertConfig` from a hub/`save_pretrained` config.json dict (`model_type` cxr-bert or bert)."""
    model_type = d.get("model_type", "bert")
    if model_type not in ("cxr-bert", "bert"):
        raise ValueError(f"expected a CXR-BERT config (model_type 'cxr-bert' or 'bert'), got model_type {model_type!r}")
    d = {k: v for k, v in d.items() if k not in ("model_type", "auto_map", "architectures", "transformers_version")}
    if "projection_size" not in d:
        raise ValueError("the text model config has no 'projection_size': not a CXR-BERT checkpoint")
    return CXRBertConfig(**d)
