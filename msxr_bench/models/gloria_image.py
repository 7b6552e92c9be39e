"""GLoRIA's image encoder (marshuang80/gloria @ 416466a, `ImageEncoder`): ResNet trunk on a bilinear
(align_corners) upsample to 299 px, layer3 -> 1x1 conv (no bias) = local regions, pooled layer4 -> linear =
global vector. No L2 normalisation. Intensity normalisation (x - 0.5) / 0.5 is `normalize_intensity`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from msxr_bench.models.resnet import resnet

GLORIA_MEAN, GLORIA_STD = 0.5, 0.5  # torchvision Normalize((0.5,)*3, (0.5,)*3), `transforms.norm: half`


def normalize_intensity(images: torch.Tensor) -> torch.Tensor:
    """[B, 3, H, W] in [0, 1] -> upstream's network input range [-1, 1]."""
    return (images - GLORIA_MEAN) / GLORIA_STD


class GloriaImageEncoder(nn.Module):
    """`model` (a torchvision-named ResNet without fc), `global_embedder`, `local_embedder` as upstream."""

    def __init__(self, depth: int = 50, width: int = 64, embedding_dim: int = 768, input_size: int = 299):
        super().__init__()
        self.model = resnet(depth, width, num_classes=None)
        channels = self.model.out_channels
        self.feature_dim, self.interm_feature_dim = channels["layer4"], channels["layer3"]
        self.global_embedder = nn.Linear(self.feature_dim, embedding_dim)
        self.local_embedder = nn.Conv2d(self.interm_feature_dim, embedding_dim, kernel_size=1, bias=False)
        self.input_size = input_size

    @property
    def grid_size(self) -> tuple[int, int]:
        """(h, w) of the local region grid: 19 x 19 for a ResNet-50 at 299 px."""
        side = self.model.output_size(self.input_size, "layer3")
        return side, side

    def features(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Upstream `resnet_forward`: (pooled layer4 [B, 2048], layer3 map [B, 1024, 19, 19]) of
        intensity-normalised images of any size (resized to `input_size` first)."""
        x = F.interpolate(images, size=(self.input_size, self.input_size), mode="bilinear", align_corners=True)
        maps = self.model(x)
        return self.model.pool(maps.layer4), maps.layer3

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(local embeddings [B, D, h, w], global embeddings [B, D]), both unnormalised."""
        global_ft, local_ft = self.features(images)
        return self.local_embedder(local_ft), self.global_embedder(global_ft)
