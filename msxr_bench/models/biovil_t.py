"""BioViL-T's multi-image encoder (Bannur et al., CVPR 2023): ResNet layer4 -> 1x1 conv to 256 channels,
fused with either a learnt "missing previous image" embedding or the output of a small ViT pooler that
attends over the current and prior images' patches. Module names follow hi-ml-multimodal's
`MultiImageEncoder` / `VisionTransformerPooler`, so the released state_dict loads strictly.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from msxr_bench.models.resnet import ResNet


def sine_position_embedding(grid: tuple[int, int], embedding_dim: int, temperature: float = 10000.0,
                            scale: float = 2 * math.pi) -> torch.Tensor:
    """DETR's normalised sine embedding on an all-ones mask: [1, H*W, 2*embedding_dim] (y half, then x)."""
    mask = torch.ones(1, grid[0], grid[1])
    y_embed = mask.cumsum(1, dtype=torch.float32)
    x_embed = mask.cumsum(2, dtype=torch.float32)
    y_embed = y_embed / (y_embed[:, -1:, :] + 1e-6) * scale
    x_embed = x_embed / (x_embed[:, :, -1:] + 1e-6) * scale
    dim_t = torch.arange(embedding_dim, dtype=torch.float32)
    dim_t = temperature ** (2 * torch.div(dim_t, 2, rounding_mode="floor") / embedding_dim)
    pos_x = x_embed[:, :, :, None] / dim_t
    pos_y = y_embed[:, :, :, None] / dim_t
    pos_x = torch.stack((pos_x[:, :, :, 0::2].sin(), pos_x[:, :, :, 1::2].cos()), dim=4).flatten(3)
    pos_y = torch.stack((pos_y[:, :, :, 0::2].sin(), pos_y[:, :, :, 1::2].cos()), dim=4).flatten(3)
    return torch.cat((pos_y, pos_x), dim=3).view(1, grid[0] * grid[1], embedding_dim * 2)


class DropPath(nn.Module):
    """Stochastic depth per sample (identity in eval mode)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep


class MultiHeadAttentionLayer(nn.Module):
    """Multi-head attention with separate, bias-free q/k/v projections."""

    def __init__(self, dim: int, num_heads: int, attn_drop: float = 0.0, proj_drop: float = 0.0) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"embedding dim {dim} is not divisible by {num_heads} heads")
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.proj_q = nn.Linear(dim, dim, bias=False)
        self.proj_k = nn.Linear(dim, dim, bias=False)
        self.proj_v = nn.Linear(dim, dim, bias=False)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        heads = lambda t: t.reshape(b, n, self.num_heads, c // self.num_heads).permute(0, 2, 1, 3)  # noqa: E731
        q, k, v = heads(self.proj_q(x)), heads(self.proj_k(x)), heads(self.proj_v(x))
        attn = self.attn_drop(((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1))
        return self.proj_drop(self.proj((attn @ v).transpose(1, 2).reshape(b, n, c)))


class Mlp(nn.Module):
    """timm's Mlp: fc1 -> GELU -> dropout -> fc2 -> dropout."""

    def __init__(self, dim: int, hidden: int, drop: float = 0.0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.drop1 = nn.Dropout(drop)
        self.fc2 = nn.Linear(hidden, dim)
        self.drop2 = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop2(self.fc2(self.drop1(self.act(self.fc1(x)))))


class Block(nn.Module):
    """Pre-norm transformer block; position+type embeddings are added to norm1(x), used as q, k and v."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 1.0, drop: float = 0.1,
                 attn_drop: float = 0.1, drop_path: float = 0.25) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = MultiHeadAttentionLayer(dim, num_heads, attn_drop=attn_drop, proj_drop=drop)
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop=drop)

    def forward(self, x: torch.Tensor, pos_and_type_embed: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x) + pos_and_type_embed))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class VisionTransformerPooler(nn.Module):
    """Attends jointly over current and prior patch tokens; returns the current image's tokens [B,C,H,W]."""

    def __init__(self, input_dim: int, grid_shape: tuple[int, int], num_heads: int = 8, num_blocks: int = 3) -> None:
        super().__init__()
        self.blocks = nn.ModuleList([Block(input_dim, num_heads) for _ in range(num_blocks)])
        self.norm_post = nn.LayerNorm(input_dim, eps=1e-6)
        self.grid_shape = tuple(grid_shape)
        self.type_embed = nn.Parameter(torch.zeros(2, 1, input_dim))
        self.pos_drop = nn.Dropout(p=0.10)
        self.register_buffer("pos_embed", sine_position_embedding(self.grid_shape, input_dim // 2), persistent=False)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        nn.init.trunc_normal_(self.type_embed, std=0.02)

    def forward(self, current: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
        b, c, h, w = current.shape
        if (h, w) != self.grid_shape or previous.shape != current.shape:
            raise ValueError(f"the ViT pooler needs two {self.grid_shape} grids of the same shape; "
                             f"got {tuple(current.shape)} and {tuple(previous.shape)}")
        n = h * w
        tokens = lambda t: t.reshape(b, c, n).transpose(1, 2)  # noqa: E731  [B, C, H, W] -> [B, H*W, C]
        x = torch.cat((tokens(current), tokens(previous)), dim=1)
        pos = self.pos_embed.repeat(b, 1, 1)
        pos = torch.cat((pos, pos), dim=1)
        types = torch.cat((self.type_embed[0].expand(b, n, -1), self.type_embed[1].expand(b, n, -1)), dim=1)
        x = self.pos_drop(x)
        for block in self.blocks:
            x = block(x, pos + types)
        x = self.norm_post(x)
        return x[:, :n].transpose(1, 2).reshape(b, c, h, w)


class MultiImageEncoder(nn.Module):
    """ResNet trunk + `backbone_to_vit` + temporal fusion: output [B, 2*dim, h, w] = [static, difference]."""

    def __init__(self, trunk: ResNet, dim: int = 256, grid_shape: tuple[int, int] = (14, 14),
                 num_heads: int = 8, num_blocks: int = 3) -> None:
        super().__init__()
        self.encoder = trunk
        self.backbone_to_vit = nn.Conv2d(trunk.out_channels["layer4"], dim, kernel_size=1, bias=False)
        self.vit_pooler = VisionTransformerPooler(dim, grid_shape, num_heads=num_heads, num_blocks=num_blocks)
        self.missing_previous_emb = nn.Parameter(torch.zeros(1, dim, 1, 1))
        nn.init.trunc_normal_(self.missing_previous_emb, std=0.02)

    @property
    def out_channels(self) -> int:
        return 2 * self.backbone_to_vit.out_channels

    def forward(self, current: torch.Tensor, previous: torch.Tensor | None = None,
                has_previous: torch.Tensor | None = None) -> torch.Tensor:
        """`has_previous` (bool [B], training batches): rows without a prior take the absent-prior path and their
        `previous` rows are ignored; None = every row has one when `previous` is given."""
        b = current.shape[0]
        if previous is not None and has_previous is not None:
            has = has_previous.to(torch.bool)
            if not bool(has.any()):
                previous = None
            elif not bool(has.all()):
                return self._mixed(current, previous, has)
        if previous is None:
            patch_x = self.backbone_to_vit(self.encoder(current).layer4)
            diff_x = self.missing_previous_emb.expand(b, -1, patch_x.shape[2], patch_x.shape[3])
        else:
            if previous.shape != current.shape:
                raise ValueError(f"current {tuple(current.shape)} and previous {tuple(previous.shape)} differ")
            x = self.backbone_to_vit(self.encoder(torch.cat([current, previous], dim=0)).layer4)
            patch_x = x[:b]
            diff_x = self.vit_pooler(patch_x, x[b:])
        return torch.cat([patch_x, diff_x], dim=1)

    def _mixed(self, current: torch.Tensor, previous: torch.Tensor, has: torch.Tensor) -> torch.Tensor:
        """A batch where only the rows `has` have a prior: one trunk pass over current + the priors there are."""
        b = current.shape[0]
        x = self.backbone_to_vit(self.encoder(torch.cat([current, previous[has]], dim=0)).layer4)
        patch_x = x[:b]
        diff_x = self.missing_previous_emb.expand(b, -1, patch_x.shape[2], patch_x.shape[3]).clone()
        diff_x[has] = self.vit_pooler(patch_x[has], x[b:])
        return torch.cat([patch_x, diff_x], dim=1)
