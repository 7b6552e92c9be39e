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
_CELL_BUDGET = 1 << 22  # box-cell pairs per union-area block (bounds memory for many boxes per sample)


@dataclass(frozen=True)
class PaddedBoxes:
    """Boxes of N samples padded to K: boxes [N, K, 4] float64 (x1, y1, x2, y2), mask [N, K], scores [N, K]."""

    boxes: torch.Tensor
    mask: torch.Tensor
    scores: torch.Tensor

    @property
    def count(self) -> torch.Tensor:
        return self.mask.sum(dim=1)


def pad_boxes(per_sample: Sequence[torch.Tensor | Sequence[Sequence[float]]],
              device: torch.device | str = "cpu") -> PaddedBoxes:
    """Per-sample boxes, each [k, 4] (xyxy) or [k, 5] (xyxy + score; no score = 1), tensors or lists, padded into one
    `PaddedBoxes` (one tensor built from all of them: no per-sample tensor work)."""
    flat: list[list[float]] = []
    counts: list[int] = []
    for b in per_sample:
        rows = b.tolist() if isinstance(b, torch.Tensor) else [list(r) for r in b]
        counts.append(len(rows))
        flat.extend(r if len(r) == 5 else [*r, 1.0] for r in rows)
    n = len(counts)
    k = max(counts + [1])
    values = torch.tensor(flat, dtype=torch.float64).reshape(-1, 5)
    count = torch.tensor(counts, dtype=torch.int64)
    row = torch.repeat_interleave(torch.arange(n), count)
    col = torch.arange(values.shape[0]) - torch.repeat_interleave(torch.cumsum(count, 0) - count, count)
    boxes = torch.zeros(n, k, 4, dtype=torch.float64)
    scores = torch.full((n, k), -torch.inf, dtype=torch.float64)
    mask = torch.zeros(n, k, dtype=torch.bool)
    boxes[row, col] = values[:, :4]
    scores[row, col] = values[:, 4]
    mask[row, col] = True
    return PaddedBoxes(boxes.to(device), mask.to(device), scores.to(device))


def _box_cover(boxes: torch.Tensor, mask: torch.Tensor, cx: torch.Tensor, cy: torch.Tensor) -> torch.Tensor:
    """[n, K, X, Y]: whether each compressed cell (centres cx [n, X], cy [n, Y]) lies inside each valid box."""
    inx = (boxes[..., 0, None] <= cx[:, None, :]) & (cx[:, None, :] < boxes[..., 2, None]) & mask[..., None]
    iny = (boxes[..., 1, None] <= cy[:, None, :]) & (cy[:, None, :] < boxes[..., 3, None])
    return inx[:, :, :, None] & iny[:, :, None, :]


def union_parts(a: torch.Tensor, a_masks: Sequence[torch.Tensor], b: torch.Tensor,
                b_mask: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """For each of `a_masks` (which of a's boxes count): (area of the union of a's boxes, of b's, of the two
    unions' intersection), each [N], exact. The boxes' edges cut the plane once for all masks."""
    valid = torch.stack(list(a_masks)).any(0)
    cells = 2 * (a.shape[1] + b.shape[1]) - 1
    chunk = max(1, _CELL_BUDGET // max(1, (a.shape[1] + b.shape[1]) * cells * cells))
    outs: list[list[torch.Tensor]] = [[] for _ in a_masks]
    for s in range(0, a.shape[0], chunk):
        aa = torch.where(valid[s:s + chunk, :, None], a[s:s + chunk], 0.0)
        bm = b_mask[s:s + chunk]
        bb = torch.where(bm[..., None], b[s:s + chunk], 0.0)
        xs = torch.cat([aa[..., 0], aa[..., 2], bb[..., 0], bb[..., 2]], dim=1).sort(dim=1).values
        ys = torch.cat([aa[..., 1], aa[..., 3], bb[..., 1], bb[..., 3]], dim=1).sort(dim=1).values
        cx, cy = (xs[:, 1:] + xs[:, :-1]) / 2, (ys[:, 1:] + ys[:, :-1]) / 2
        cell = xs.diff(dim=1)[:, :, None] * ys.diff(dim=1)[:, None, :]
        cover_a = _box_cover(aa, valid[s:s + chunk], cx, cy)
        in_b = _box_cover(bb, bm, cx, cy).any(1)
        area_b = torch.where(in_b, cell, 0.0).sum((1, 2))
        for out, m in zip(outs, a_masks):
            in_a = (cover_a & m[s:s + chunk, :, None, None]).any(1)
            out.append(torch.stack([torch.where(in_a, cell, 0.0).sum((1, 2)), area_b,
                                    torch.where(in_a & in_b, cell, 0.0).sum((1, 2))]))
    empty = torch.zeros(3, 0, dtype=a.dtype)
    return [tuple(torch.cat(out, dim=1) if out else empty) for out in outs]  # type: ignore[misc]


def union_areas(a: torch.Tensor, a_mask: torch.Tensor, b: torch.Tensor,
                b_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(area of the union of a's boxes, of b's, of the two unions' intersection), each [N], exact."""
    return union_parts(a, [a_mask], b, b_mask)[0]


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
    keeps = [pred.mask] + [pred.mask & (pred.scores > t) for t in object_thresholds]
    inters, unions = [], []
    for a_p, a_t, i in union_parts(grid_p, keeps, grid_t, truth.mask):
        inters.append(i)
        unions.append(a_p + a_t - i)
    return BoxScores(truth.count, pred.count, torch.where(has_truth, union_iou, nan), torch.where(has_truth, best, nan),
                     torch.stack(inters, 1), torch.stack(unions, 1))
