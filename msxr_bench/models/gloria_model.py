"""The GLoRIA model (image encoder + BERT text encoder) with upstream module names, its configuration, and
the reading of an upstream training config (`hyper_parameters` of the released checkpoint).

State-dict keys match the released checkpoint once its `gloria.` prefix is stripped:
`img_encoder.model.*`, `img_encoder.{global,local}_embedder.*`, `text_encoder.model.*` (HF BERT names).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields

import torch
from torch import nn
from transformers import BertConfig, BertModel

from msxr_bench.models.gloria_attention import gloria_loss
from msxr_bench.models.gloria_image import GloriaImageEncoder
from msxr_bench.models.gloria_text import GloriaTextEncoder

# Bio_ClinicalBERT's config.json (emilyalsentzer/Bio_ClinicalBERT), the architecture of the released model
BIO_CLINICAL_BERT = dict(vocab_size=28996, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                         intermediate_size=3072, hidden_act="gelu", hidden_dropout_prob=0.1,
                         attention_probs_dropout_prob=0.1, max_position_embeddings=512, type_vocab_size=2,
                         initializer_range=0.02, layer_norm_eps=1e-12)


@dataclass(frozen=True)
class GloriaConfig:
    """Everything but BERT's own config: trunk, input geometry, text read-out, loss temperatures."""

    resnet_depth: int = 50
    resnet_width: int = 64
    embedding_dim: int = 768  # = BERT hidden size (no text projection)
    input_size: int = 299  # the crop is upsampled to this before the CNN
    resize: int = 256  # longest side before the zero letterbox
    crop: int = 224
    word_num: int = 97
    last_n_layers: int = 4
    aggregate_method: str = "sum"
    text_norm: bool = False
    bert_pooler: bool = True  # the released BERT has a (never used) pooler in its state dict
    temp1: float = 4.0
    temp2: float = 5.0
    temp3: float = 10.0
    local_loss_weight: float = 1.0
    global_loss_weight: float = 1.0

    def __post_init__(self) -> None:
        if not 0 < self.crop <= self.resize:
            raise ValueError(f"need 0 < crop <= resize, got crop {self.crop}, resize {self.resize}")
        if self.aggregate_method not in ("sum", "mean"):
            raise ValueError(f"aggregate_method must be 'sum' or 'mean', got {self.aggregate_method!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict, source: str = "config") -> GloriaConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"{source}: unknown GLoRIA config fields {unknown}")
        try:
            return cls(**d)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{source}: {exc}") from exc

    @classmethod
    def from_upstream(cls, cfg: dict, source: str = "hyper_parameters") -> GloriaConfig:
        """The fields that matter from an upstream training config (configs/chexpert_pretrain_config.yaml)."""
        def get(path: str, default=None):
            node = cfg
            for part in path.split("."):
                if not isinstance(node, dict) or part not in node:
                    if default is None:
                        raise ValueError(f"{source}: the upstream config has no {path!r}")
                    return default
                node = node[part]
            return node

        name = str(get("model.vision.model_name"))
        match = re.fullmatch(r"resnet_?(\d+)", name)
        if not match:
            raise ValueError(f"{source}: model.vision.model_name={name!r} is not a ResNet (upstream only runs ResNets)")
        gloria = get("model.gloria", {})
        return cls(
            resnet_depth=int(match.group(1)), embedding_dim=int(get("model.text.embedding_dim")),
            resize=int(get("data.image.imsize", 256)), crop=int(get("transforms.random_crop.crop_size", 224)),
            word_num=int(get("data.text.word_num", 97)), last_n_layers=int(get("model.text.last_n_layers", 4)),
            aggregate_method=str(get("model.text.aggregate_method", "sum")),
            text_norm=bool(get("model.text.norm", False) is True),
            temp1=float(gloria.get("temp1", 4.0)), temp2=float(gloria.get("temp2", 5.0)),
            temp3=float(gloria.get("temp3", 10.0)), local_loss_weight=float(gloria.get("local_loss_weight", 1.0)),
            global_loss_weight=float(gloria.get("global_loss_weight", 1.0)),
        )


class GloriaModel(nn.Module):
    """Upstream `GLoRIA`: `img_encoder` + `text_encoder`; images go in intensity-normalised."""

    def __init__(self, config: GloriaConfig, bert_config: BertConfig, tokenizer):
        super().__init__()
        if bert_config.hidden_size != config.embedding_dim:
            raise ValueError(f"BERT hidden size {bert_config.hidden_size} != embedding_dim {config.embedding_dim}: "
                             "GLoRIA has no text projection, the two must agree")
        self.config, self.bert_config = config, bert_config
        self.img_encoder = GloriaImageEncoder(config.resnet_depth, config.resnet_width, config.embedding_dim,
                                              config.input_size)
        bert = BertModel(bert_config, add_pooling_layer=config.bert_pooler)
        self.text_encoder = GloriaTextEncoder(bert, tokenizer, config.word_num, config.last_n_layers,
                                              config.aggregate_method, config.text_norm)

    @property
    def tokenizer(self):
        return self.text_encoder.tokenizer

    def image_encoder_forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(local [B, D, h, w], global [B, D]) of intensity-normalised images."""
        return self.img_encoder(images)

    def text_encoder_forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                             token_type_ids: torch.Tensor | None = None):
        """(words [N, D, L], sentences [N, D], merged words per text)."""
        return self.text_encoder(input_ids, attention_mask, token_type_ids)

    def forward(self, images: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None):
        img_emb_l, img_emb_g = self.image_encoder_forward(images)
        text_emb_l, text_emb_g, sents = self.text_encoder_forward(input_ids, attention_mask, token_type_ids)
        return img_emb_l, img_emb_g, text_emb_l, text_emb_g, sents

    def calc_loss(self, img_emb_l, img_emb_g, text_emb_l, text_emb_g, sents) -> dict[str, torch.Tensor]:
        """Upstream `calc_loss` with this model's temperatures and weights (key "loss" = the total)."""
        c = self.config
        return gloria_loss(img_emb_l, img_emb_g, text_emb_l, text_emb_g, sents, (c.temp1, c.temp2, c.temp3),
                           c.local_loss_weight, c.global_loss_weight)
