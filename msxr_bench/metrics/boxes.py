"""Box grounding metrics, batched in torch over samples (each a phrase with 0..n true and 0..m predicted boxes):

- union IoU: area(union of predicted boxes ∩ union of true boxes) / area(union of either), exact for any
  number of overlapping boxes (coordinate compression: the boxes' edges cut the plane into cells);
- best-box IoU (MedRPG/TransVG): IoU of the highest-scoring predicted box with the box enclosing all true
  boxes (the union box when several); Acc@t = share of samples with best-box IoU >= t (`utils/eval_utils.py`);
- ChEX's dataset-pooled IoU: per sample, intersection and union of the box masks on a 1024 x 1024 grid in
  normalised image coordinates (ChEX `bboxes_to_mask`: normalised centre/size in float32 times 1024, corners
  truncated towards zero, clamped to 1024), predicted boxes kept when their score is > t; pooled = sum of
  intersections / sum of unions over the dataset;
- matching and average precision (ChEX's mAP): `box_ap.py`.
No predicted box on a phrase with true boxes counts as IoU 0 (never the previous sample's box, as CheXagent's
script does). Boxes are (x1, y1, x2, y2), pixel edges at integers; a box with x2 <= x1 or y2 <= y1 is empty.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

__all__ = ["ACC_THRESHOLDS", "OBJECT_THRESHOLDS", "POOLED_GRID", "BoxScores", "PaddedBoxes", "box_scores",
           "chex_grid_boxes", "enclosing_box", "pad_boxes", "pairwise_iou", "union_areas"]

ACC_THRESHOLDS = (0.3, 0.5, 0.7)
OBJECT_THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5)  # ChEX's mIoU: pooled IoU averaged over these score thresholds
POOLED_GRID = 1024
_CHUNK = 512  # samples per union-area block (memory ~ chunk * boxes * cells^2)


@dataclass(frozen=True)
class PaddedBoxes:
    """Boxes of N samples padded to K: boxes [N, K, 4] float64 (x1, y1, x2, y2), mask [N, K], scores [N, K]."""

    boxes: torch.Tensor
    mask: torch.Tensor
    scores: torch.Tensor

    @property
    def count(self) -> torch.Tensor:
        return self.mask.sum(dim=1)


def pad_boxes(per_sample: Sequence[torch.Tensor], device: torch.device | str = "cpu") -> PaddedBoxes:
    """Per-sample [k, 4] (xyxy) or [k, 5] (xyxy + score; no score = 1) tensors padded into one `PaddedBoxes`."""
    k = max([len(b) for b in per_sample] + [1])
    n = len(per_sample)
    boxes = torch.zeros(n, k, 4, dtype=torch.float64)
    scores = torch.full((n, k), -torch.inf, dtype=torch.float64)
    mask = torch.zeros(n, k, dtype=torch.bool)
    for i, b in enumerate(per_sample):
        b = torch.as_tensor(b, dtype=torch.float64).reshape(-1, torch.as_tensor(b).shape[-1] if len(b) else 4)
        m = b.shape[0]
        if m:
            boxes[i, :m] = b[:, :4]
            scores[i, :m] = b[:, 4] if b.shape[1] > 4 else 1.0
            mask[i, :m] = True
    return PaddedBoxes(boxes.to(device), mask.to(device), scores.to(device))


def _cover(boxes: torch.Tensor, mask: torch.Tensor, cx: torch.Tensor, cy: torch.Tensor) -> torch.Tensor:
    """[n, X, Y]: whether each compressed cell (centres cx [n, X], cy [n, Y]) lies inside any valid box."""
    inx = (boxes[..., 0, None] <= cx[:, None, :]) & (cx[:, None, :] < boxes[..., 2, None]) & mask[..., None]
    iny = (boxes[..., 1, None] <= cy[:, None, :]) & (cy[:, None, :] < boxes[..., 3, None])
    return (inx[:, :, :, None] & iny[:, :, None, :]).any(dim=1)


def union_areas(a: torch.Tensor, a_mask: torch.Tensor, b: torch.Tensor,
                b_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(area of the union of a's boxes, of b's, of the two unions' intersection), each [N], exact."""
    outs = []
    for s in range(0, a.shape[0], _CHUNK):
        aa, am, bb, bm = a[s:s + _CHUNK], a_mask[s:s + _CHUNK], b[s:s + _CHUNK], b_mask[s:s + _CHUNK]
        aa = torch.where(am[..., None], aa, 0.0)
        bb = torch.where(bm[..., None], bb, 0.0)
        xs = torch.cat([aa[..., 0], aa[..., 2], bb[..., 0], bb[..., 2]], dim=1).sort(dim=1).values
        ys = torch.cat([aa[..., 1], aa[..., 3], bb[..., 1], bb[..., 3]], dim=1).sort(dim=1).values
        cx, cy = (xs[:, 1:] + xs[:, :-1]) / 2, (ys[:, 1:] + ys[:, :-1]) / 2
        cell = xs.diff(dim=1)[:, :, None] * ys.diff(dim=1)[:, None, :]
        in_a, in_b = _cover(aa, am, cx, cy), _cover(bb, bm, cx, cy)
        outs.append(torch.stack([(cell * in_a).sum((1, 2)), (cell * in_b).sum((1, 2)),
                                 (cell * (in_a & in_b)).sum((1, 2))]))
    area_a, area_b, inter = torch.cat(outs, dim=1) if outs else torch.zeros(3, 0, dtype=a.dtype)
    return area_a, area_b, inter


def pairwise_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """[N, Ka, Kb] IoU of every box of a with every box of b, per sample (0 where both are empty)."""
    lt = torch.maximum(a[:, :, None, :2], b[:, None, :, :2])
    rb = torch.minimum(a[:, :, None, 2:], b[:, None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area_a = (a[..., 2:] - a[..., :2]).clamp(min=0).prod(-1)
    area_b = (b[..., 2:] - b[..., :2]).clamp(min=0).prod(-1)
    union = area_a[:, :, None] + area_b[:, None, :] - inter
    return torch.where(union > 0, inter / union.clamp(min=torch.finfo(union.dtype).tiny), 0.0)


def enclosing_box(boxes: PaddedBoxes) -> torch.Tensor:
    """[N, 4]: the box enclosing each sample's valid boxes (zeros for a sample without any)."""
    big = torch.finfo(boxes.boxes.dtype).max
    lo = torch.where(boxes.mask[..., None], boxes.boxes[..., :2], big).amin(1)
    hi = torch.where(boxes.mask[..., None], boxes.boxes[..., 2:], -big).amax(1)
    return torch.where(boxes.mask.any(1)[:, None], torch.cat([lo, hi], dim=1), 0.0)


def chex_grid_boxes(boxes: torch.Tensor, sizes: torch.Tensor, grid: int = POOLED_GRID) -> torch.Tensor:
    """Boxes [N, K, 4] in pixels of images of sizes [N, 2] (H, W) -> ChEX's integer mask corners on the grid."""
    hw = sizes.to(torch.float64)
    norm = boxes / torch.stack([hw[:, 1], hw[:, 0], hw[:, 1], hw[:, 0]], dim=1)[:, None, :]
    norm = norm.clamp(0.0, 1.0)
    centre = ((norm[..., :2] + norm[..., 2:]) / 2).to(torch.float32) * grid
    size = (norm[..., 2:] - norm[..., :2]).to(torch.float32) * grid
    lo = (centre - size / 2).to(torch.int32).clamp(max=grid)
    hi = (centre + size / 2).to(torch.int32).clamp(max=grid)
    return torch.cat([lo, hi], dim=-1).to(torch.float64)


@dataclass(frozen=True)
class BoxScores:
    """Per-sample quantities every box metric is computed from ([N] unless said)."""

    n_true: torch.Tensor
    n_pred: torch.Tensor
    union_iou: torch.Tensor  # NaN where the sample has no true box
    best_box_iou: torch.Tensor  # NaN where the sample has no true box
    pooled_inter: torch.Tensor  # [N, 1 + len(OBJECT_THRESHOLDS)]: all boxes, then score > t
    pooled_union: torch.Tensor


def box_scores(pred: PaddedBoxes, truth: PaddedBoxes, sizes: torch.Tensor,
               object_thresholds: Sequence[float] = OBJECT_THRESHOLDS) -> BoxScores:
    """Union IoU, best-box IoU and ChEX's pooled parts of every sample; `sizes` [N, 2] = (H, W) of the images."""
    has_truth = truth.mask.any(1)
    area_p, area_t, inter = union_areas(pred.boxes, pred.mask, truth.boxes, truth.mask)
    union = area_p + area_t - inter
    union_iou = torch.where(union > 0, inter / union.clamp(min=torch.finfo(union.dtype).tiny), 0.0)
    top = pred.scores.argmax(dim=1)
    top_box = pred.boxes[torch.arange(pred.boxes.shape[0]), top][:, None]
    best = pairwise_iou(top_box, enclosing_box(truth)[:, None])[:, 0, 0]
    best = torch.where(pred.mask.any(1), best, 0.0)
    nan = torch.full_like(best, torch.nan)
    grid_p, grid_t = chex_grid_boxes(pred.boxes, sizes), chex_grid_boxes(truth.boxes, sizes)
    inters, unions = [], []
    for t in (None, *object_thresholds):
        keep = pred.mask if t is None else pred.mask & (pred.scores > t)
        a_p, a_t, i = union_areas(grid_p, keep, grid_t, truth.mask)
        inters.append(i)
        unions.append(a_p + a_t - i)
    return BoxScores(truth.count, pred.count, torch.where(has_truth, union_iou, nan), torch.where(has_truth, best, nan),
                     torch.stack(inters, 1), torch.stack(unions, 1))
