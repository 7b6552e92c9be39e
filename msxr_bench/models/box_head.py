"""A small phrase-grounding box head on a frozen image-text backbone's patch grid, and its losses (L1 + GIoU).

Per (image, phrase): cell features = [patch ⊙ phrase, cos(patch, phrase)] -> MLP -> one logit per cell; the
softmax over cells is an attention map whose mean and spread give the box (centre = attention-weighted cell
centre, size = learned multiple of the spread plus a learned floor), refined by a zero-initialised MLP on the
attended patch feature and the phrase (offsets of the centre, log-scales of the size). Boxes are (x1, y1, x2, y2)
as fractions of the model input; the score is a sigmoid trained to predict the box's own IoU (so that it ranks
boxes for AP and passes ChEX's object-score thresholds when the box is good).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["BoxHeadConfig", "PhraseBoxHead", "box_losses", "generalized_iou"]

SQRT12 = math.sqrt(12.0)  # a uniform distribution over width w has standard deviation w / sqrt(12)


@dataclass(frozen=True)
class BoxHeadConfig:
    embedding_dim: int
    grid: tuple[int, int]
    hidden: int = 32

    def to_dict(self) -> dict:
        d = asdict(self)
        d["grid"] = list(self.grid)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "BoxHeadConfig":
        return cls(int(d["embedding_dim"]), (int(d["grid"][0]), int(d["grid"][1])), int(d.get("hidden", 32)))


def _inverse_softplus(y: float) -> float:
    return math.log(math.expm1(y))


class PhraseBoxHead(nn.Module):
    def __init__(self, config: BoxHeadConfig) -> None:
        super().__init__()
        self.config = config
        d, k = config.embedding_dim, config.hidden
        self.cell = nn.Sequential(nn.Linear(d + 1, k), nn.ReLU(), nn.Linear(k, 1))
        self.refine = nn.Sequential(nn.Linear(2 * d, k), nn.ReLU(), nn.Linear(k, 4))
        nn.init.zeros_(self.refine[2].weight)
        nn.init.zeros_(self.refine[2].bias)
        h, w = config.grid
        self.size_scale = nn.Parameter(torch.full((2,), _inverse_softplus(SQRT12)))
        self.size_floor = nn.Parameter(torch.tensor([_inverse_softplus(1.0 / w), _inverse_softplus(1.0 / h)]))
        self.score = nn.Linear(3, 1)
        ys, xs = (torch.arange(h) + 0.5) / h, (torch.arange(w) + 0.5) / w
        self.register_buffer("centres", torch.stack(torch.meshgrid(xs, ys, indexing="xy"), -1).reshape(-1, 2),
                             persistent=False)  # [h*w, 2] (x, y) in input fractions

    def forward(self, patches: torch.Tensor, phrases: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """patches [B, h, w, D], phrases [B, D] (both L2-normalised) -> boxes [B, 4] (x1, y1, x2, y2), scores [B]."""
        b = patches.shape[0]
        cells = patches.reshape(b, -1, patches.shape[-1])
        cos = (cells * phrases[:, None, :]).sum(-1, keepdim=True)
        logits = self.cell(torch.cat([cells * phrases[:, None, :], cos], -1))[..., 0]  # [B, hw]
        attention = logits.softmax(-1)
        centre = attention @ self.centres  # [B, 2]
        spread = (attention[..., None] * (self.centres[None] - centre[:, None]) ** 2).sum(1).clamp(min=1e-8).sqrt()
        size = F.softplus(self.size_scale) * spread + F.softplus(self.size_floor)
        pooled = (attention[..., None] * cells).sum(1)
        delta = self.refine(torch.cat([pooled, phrases], -1))
        centre = centre + 0.25 * torch.tanh(delta[:, :2])
        size = size * torch.exp(delta[:, 2:].clamp(-3, 3))
        boxes = torch.cat([centre - size / 2, centre + size / 2], -1).clamp(0.0, 1.0)
        stats = torch.stack([cos[..., 0].amax(-1), (attention * cos[..., 0]).sum(-1), attention.amax(-1)], -1)
        return boxes, torch.sigmoid(self.score(stats))[:, 0]


def generalized_iou(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(IoU, GIoU) [B] of paired boxes [B, 4] (x1, y1, x2, y2)."""
    area_a = (a[:, 2] - a[:, 0]).clamp(min=0) * (a[:, 3] - a[:, 1]).clamp(min=0)
    area_b = (b[:, 2] - b[:, 0]).clamp(min=0) * (b[:, 3] - b[:, 1]).clamp(min=0)
    wh = (torch.minimum(a[:, 2:], b[:, 2:]) - torch.maximum(a[:, :2], b[:, :2])).clamp(min=0)
    inter = wh[:, 0] * wh[:, 1]
    union = (area_a + area_b - inter).clamp(min=1e-9)
    iou = inter / union
    hull = (torch.maximum(a[:, 2:], b[:, 2:]) - torch.minimum(a[:, :2], b[:, :2])).clamp(min=0)
    hull_area = (hull[:, 0] * hull[:, 1]).clamp(min=1e-9)
    return iou, iou - (hull_area - union) / hull_area


def box_losses(boxes: torch.Tensor, scores: torch.Tensor, target: torch.Tensor, l1_weight: float = 5.0,
               giou_weight: float = 2.0) -> dict[str, torch.Tensor]:
    """DETR-style L1 (on centre and size) + GIoU, plus BCE of the score against the box's IoU (detached)."""
    def cxcywh(x: torch.Tensor) -> torch.Tensor:
        return torch.cat([(x[:, :2] + x[:, 2:]) / 2, x[:, 2:] - x[:, :2]], -1)

    l1 = F.l1_loss(cxcywh(boxes), cxcywh(target))
    iou, giou = generalized_iou(boxes, target)
    giou_loss = (1 - giou).mean()
    score_loss = F.binary_cross_entropy(scores.clamp(1e-6, 1 - 1e-6), iou.detach())
    loss = l1_weight * l1 + giou_weight * giou_loss + score_loss
    return {"loss": loss, "l1": l1.detach(), "giou": giou_loss.detach(), "score": score_loss.detach(),
            "iou": iou.detach().mean()}
