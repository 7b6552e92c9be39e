"""ConVIRT (Zhang et al. 2020; MLHC 2022), the paper's recipe (specs: gloria-convirt-reference.md Part B):
ResNet trunk -> global average pool -> MLP (Linear-ReLU-Linear) to the joint space; BERT -> pooling over the
output tokens (max per the paper; mean or [CLS] as options) -> MLP to the joint space. The embeddings and the
first `frozen_layers` BERT layers are frozen for training (6 in the paper).

ConVIRT has no local head. For grounding this toolkit applies the image MLP point-wise to the layer4 grid
(the usual workaround, documented in the adapter). State-dict keys: `image_encoder.*` (torchvision ResNet
names), `image_projection.{0,2}.*`, `text_encoder.*` (transformers `BertModel`), `text_projection.{0,2}.*`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Literal

import torch
from torch import nn
from transformers import BertConfig, BertModel

from msxr_bench.models.resnet import resnet

Pooling = Literal["max", "mean", "cls"]
POOLINGS = ("max", "mean", "cls")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ConvirtConfig:
    """Architecture and input geometry. Defaults = the paper (ResNet-50 at 224 px, d = 512, max pooling)."""

    resnet_depth: int = 50
    resnet_width: int = 64
    dilate_layer4: bool = False  # stride 16 instead of 32 (finer grounding grid for tiny models)
    embedding_dim: int = 512
    pooling: Pooling = "max"
    frozen_layers: int = 6  # BERT layers frozen (with the embeddings) during training; 0 = none
    max_text_tokens: int = 128
    resize: int = 256  # short side before the centre crop (evaluation geometry)
    crop: int = 224
    image_mean: tuple[float, float, float] = IMAGENET_MEAN  # ImageNet statistics (ImageNet-initialised trunk)
    image_std: tuple[float, float, float] = IMAGENET_STD

    def __post_init__(self) -> None:
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {self.pooling!r}")
        if not 0 < self.crop <= self.resize:
            raise ValueError(f"need 0 < crop <= resize, got crop {self.crop}, resize {self.resize}")
        if self.frozen_layers < 0:
            raise ValueError(f"frozen_layers must be >= 0, got {self.frozen_layers}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["image_mean"], d["image_std"] = list(self.image_mean), list(self.image_std)
        return d

    @classmethod
    def from_dict(cls, d: dict, source: str = "config") -> ConvirtConfig:
        unknown = sorted(set(d) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"{source}: unknown ConVIRT config fields {unknown}")
        d = dict(d)
        for key in ("image_mean", "image_std"):
            if key in d:
                d[key] = tuple(float(v) for v in d[key])
        try:
            return cls(**d)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{source}: {exc}") from exc


def projection_mlp(in_dim: int, out_dim: int) -> nn.Sequential:
    """g_v / g_u: Linear(in, in) -> ReLU -> Linear(in, out) (one hidden layer of the input's width)."""
    return nn.Sequential(nn.Linear(in_dim, in_dim), nn.ReLU(inplace=True), nn.Linear(in_dim, out_dim))


def pool_tokens(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: Pooling) -> torch.Tensor:
    """[N, L, H] token states -> [N, H]: max or mean over the real tokens ([CLS]/[SEP] included), or [CLS]."""
    if pooling == "cls":
        return hidden[:, 0]
    mask = attention_mask.to(torch.bool).unsqueeze(-1)
    if pooling == "max":
        return hidden.masked_fill(~mask, torch.finfo(hidden.dtype).min).amax(dim=1)
    if pooling == "mean":
        return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)
    raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")


class ConvirtModel(nn.Module):
    """Image and text encoders with their projection heads; embeddings come out unnormalised."""

    def __init__(self, config: ConvirtConfig, bert_config: BertConfig) -> None:
        super().__init__()
        self.config, self.bert_config = config, bert_config
        self.image_encoder = resnet(config.resnet_depth, config.resnet_width, num_classes=None,
                                    dilate=(False, False, config.dilate_layer4))
        self.image_projection = projection_mlp(self.image_encoder.out_channels["layer4"], config.embedding_dim)
        self.text_encoder = BertModel(bert_config, add_pooling_layer=False)
        self.text_projection = projection_mlp(bert_config.hidden_size, config.embedding_dim)

    def grid_size(self, crop: int | None = None) -> tuple[int, int]:
        side = self.image_encoder.output_size(crop or self.config.crop, "layer4")
        return side, side

    def normalize_intensity(self, images: torch.Tensor) -> torch.Tensor:
        """[B, 3, H, W] in [0, 1] -> ImageNet-normalised network input."""
        mean = torch.tensor(self.config.image_mean, device=images.device, dtype=images.dtype)[None, :, None, None]
        std = torch.tensor(self.config.image_std, device=images.device, dtype=images.dtype)[None, :, None, None]
        return (images - mean) / std

    def image_features(self, images: torch.Tensor) -> torch.Tensor:
        """layer4 map [B, C, h, w] of [0, 1] images."""
        return self.image_encoder(self.normalize_intensity(images)).layer4

    def image_embeddings(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(global [B, D] = g_v(avgpool(layer4)), patches [B, h, w, D] = g_v applied to every layer4 cell)."""
        layer4 = self.image_features(images)
        global_ = self.image_projection(self.image_encoder.pool(layer4))
        patches = self.image_projection(layer4.permute(0, 2, 3, 1))
        return global_, patches

    def image_global(self, images: torch.Tensor) -> torch.Tensor:
        return self.image_projection(self.image_encoder.pool(self.image_features(images)))

    def text_embeddings(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """[N, D] = g_u(pool(BERT last layer))."""
        hidden = self.text_encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.text_projection(pool_tokens(hidden, attention_mask, self.config.pooling))

    def forward(self, images: torch.Tensor, input_ids: torch.Tensor,
                attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.image_global(images), self.text_embeddings(input_ids, attention_mask)

    def freeze_text_layers(self) -> list[str]:
        """Freeze BERT's embeddings and its first `config.frozen_layers` layers (paper); returns their names."""
        n = self.config.frozen_layers
        if n == 0:
            return []
        if n > len(self.text_encoder.encoder.layer):
            raise ValueError(f"frozen_layers={n} but BERT has {len(self.text_encoder.encoder.layer)} layers")
        frozen = [self.text_encoder.embeddings, *self.text_encoder.encoder.layer[:n]]
        names = []
        for module in frozen:
            for name, param in module.named_parameters():
                param.requires_grad_(False)
                names.append(name)
        return names
