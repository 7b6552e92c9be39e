"""BioViL / BioViL-T image models: ResNet trunk (+ BioViL-T's temporal fusion) and a 1x1-conv projector
applied per patch (Conv-BN-ReLU-Conv); the global embedding is the mean of the projected patches.

Module names mirror hi-ml-multimodal's `ImageModel` (`encoder.encoder.*`, `projector.model.{0,1,3}`), so
the released state_dicts load strictly. Sizes are configurable (`BioViLImageConfig`) for tiny training runs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
from torch import nn

from msxr_bench.models.biovil_t import MultiImageEncoder
from msxr_bench.models.resnet import ResNet, resnet


@dataclass(frozen=True)
class BioViLImageConfig:
    """Architecture hyper-parameters. Defaults = the released BioViL; `multi_image=True` = BioViL-T."""

    depth: int = 50
    width: int = 64
    joint_feature_size: int = 128
    multi_image: bool = False
    imagenet_fc: bool = True  # the released files carry torchvision's unused fc (2048 -> 1000)
    vit_dim: int = 256
    vit_heads: int = 8
    vit_blocks: int = 3
    vit_grid: tuple[int, int] = (14, 14)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["vit_grid"] = list(self.vit_grid)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> BioViLImageConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown BioViL image config fields: {sorted(unknown)} (known: {sorted(known)})")
        d = dict(d)
        if "vit_grid" in d:
            d["vit_grid"] = tuple(d["vit_grid"])
        return cls(**d)


BIOVIL_IMAGE_CONFIG = BioViLImageConfig()
BIOVIL_T_IMAGE_CONFIG = BioViLImageConfig(multi_image=True)


class ImageEncoder(nn.Module):
    """The single-image trunk: the layer4 map of a ResNet (stride 32, no dilation)."""

    def __init__(self, trunk: ResNet) -> None:
        super().__init__()
        self.encoder = trunk

    @property
    def out_channels(self) -> int:
        return self.encoder.out_channels["layer4"]

    def forward(self, current: torch.Tensor, previous: torch.Tensor | None = None) -> torch.Tensor:
        if previous is not None:
            raise ValueError("the single-image BioViL encoder takes no previous image (use BioViL-T)")
        return self.encoder(current).layer4


class ProjectionHead(nn.Module):
    """1x1 Conv (no bias) -> BatchNorm -> ReLU -> 1x1 Conv: per-patch projection to the joint space."""

    def __init__(self, input_dim: int, output_dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.model = nn.Sequential(
            nn.Conv2d(input_dim, hidden_dim, kernel_size=1, bias=False),
            nn.BatchNorm2d(hidden_dim),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden_dim, output_dim, kernel_size=1, bias=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class BioViLImageModel(nn.Module):
    """`forward(x) -> [B, D, h, w]` projected, unnormalised patch embeddings (in [0,1] images, no normalisation)."""

    def __init__(self, config: BioViLImageConfig = BIOVIL_IMAGE_CONFIG) -> None:
        super().__init__()
        self.config = config
        trunk = resnet(config.depth, config.width, num_classes=1000 if config.imagenet_fc else None)
        if config.multi_image:
            self.encoder: nn.Module = MultiImageEncoder(trunk, config.vit_dim, config.vit_grid,
                                                        num_heads=config.vit_heads, num_blocks=config.vit_blocks)
        else:
            self.encoder = ImageEncoder(trunk)
        d = config.joint_feature_size
        self.projector = ProjectionHead(self.encoder.out_channels, d, d)
        self.eval()  # unlike the official class, built in eval mode: inference is the common case

    @property
    def trunk(self) -> ResNet:
        return self.encoder.encoder

    def grid_size(self, crop: int) -> tuple[int, int]:
        """The patch grid of a square `crop` input."""
        side = self.trunk.output_size(crop, "layer4")
        return side, side

    def patch_features(self, x: torch.Tensor, previous: torch.Tensor | None = None,
                       has_previous: torch.Tensor | None = None) -> torch.Tensor:
        """The encoder map before projection ([B, 2048, h, w] BioViL; [B, 512, h, w] BioViL-T). `has_previous`
        (BioViL-T training batches): which rows have a prior."""
        if has_previous is None:
            return self.encoder(x, previous)
        return self.encoder(x, previous, has_previous)

    def forward(self, x: torch.Tensor, previous: torch.Tensor | None = None,
                has_previous: torch.Tensor | None = None) -> torch.Tensor:
        return self.projector(self.patch_features(x, previous, has_previous))

    @staticmethod
    def global_embedding(projected_patches: torch.Tensor) -> torch.Tensor:
        """Mean over patches of the unnormalised projected patches: [B, D] (normalise afterwards)."""
        return projected_patches.mean(dim=(2, 3))
