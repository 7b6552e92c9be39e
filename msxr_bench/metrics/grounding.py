"""Phrase-grounding metrics (CNR, IoU, Dice) on full-resolution maps: the reference definitions.

The fast cell-weighted path (`grounding_cells.py`) must give the same numbers; both share the rules here:
- Box -> pixels (`BOX_RULE`): pixel (i, j) is inside box (x, y, w, h) iff its centre (j + .5, i + .5) lies in
  [x, x + w) x [y, y + h); for integer boxes that is exactly mask[y:y+h, x:x+w]. Boxes are clipped to the image.
- NaN pixels (outside the model's view) are removed from the prediction AND the ground truth (`NAN_POLICY`).
- CNR = |mean_in - mean_out| / sqrt(var_in + var_out) (population variances, float64); in = valid pixels
  of the box union, out = the other valid pixels. Signed CNR drops the absolute value. A region whose
  values are all equal has exactly that mean and variance 0 (no summation rounding).
- IoU, Dice of (map > t) vs the valid box pixels, t compared in the map's own dtype (as numpy/torch do with
  a Python float), for t in the thresholds (MS-CXR: 0.1 ... 0.5); mIoU / mDice = their mean.
- Degenerate cases (flags in `status`, see STATUS_FLAGS): no valid box pixel -> CNR, IoU, Dice NaN; no valid
  background pixel -> CNR NaN; constant map (max == min over valid pixels) -> CNR 0 (no contrast);
  var_in + var_out == 0 with different means -> CNR NaN. An empty prediction with a non-empty ground
  truth scores IoU 0 and Dice 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch

__all__ = [
    "BOX_RULE",
    "DEFINITIONS",
    "NAN_POLICY",
    "STATUS_FLAGS",
    "GroundingScores",
    "box_pixel_ranges",
    "box_pixel_ranges_batched",
    "box_union_mask",
    "cnr",
    "grounding_scores_full",
    "iou_dice",
    "status_counts",
]

BOX_RULE = "pixel centre inside [x, x+w) x [y, y+h) (integer boxes: mask[y:y+h, x:x+w]); clipped to the image"
NAN_POLICY = "exclude: NaN pixels are removed from the prediction and from the ground truth"
# Bit flags of GroundingScores.status.
STATUS_FLAGS: dict[str, int] = {
    "empty_ground_truth": 1,  # no valid pixel inside the boxes: CNR, IoU, Dice are NaN
    "empty_background": 2,  # no valid pixel outside the boxes: CNR is NaN
    "constant_map": 4,  # max == min over valid pixels: CNR is 0
    "zero_variance": 8,  # var_in + var_out == 0 but means differ: CNR is NaN
}

DEFINITIONS: dict[str, str] = {  # recorded verbatim in results JSON
    "cnr": "|mean_in - mean_out| / sqrt(var_in + var_out), population variances, float64; in = valid pixels of "
    "the box union, out = other valid pixels; signed CNR without the absolute value",
    "iou_dice": "(map > t) vs valid box pixels, t compared in the map's dtype; mIoU/mDice = mean over thresholds",
    "box_rule": BOX_RULE,
    "nan_policy": NAN_POLICY,
    "empty_ground_truth": "CNR, IoU, Dice NaN (flagged, left out of means)",
    "empty_background": "CNR NaN (flagged)",
    "constant_map": "CNR 0 (flagged)",
    "zero_variance": "CNR NaN when var_in + var_out == 0 and the means differ (flagged)",
    "empty_prediction": "IoU 0 and Dice 0 when the ground truth is not empty",
    "upsampling": "nearest; metrics computed exactly as cell-weighted statistics (equal to full resolution)",
}

BoxesLike = Sequence | torch.Tensor  # a sequence of objects with x, y, w, h (data.types.Box) or [K, 4] xywh


@dataclass
class GroundingScores:
    """Per-sample grounding metrics ([N] or [N, T] float64 tensors) and the degenerate-case flags."""

    cnr: torch.Tensor
    cnr_signed: torch.Tensor
    iou: torch.Tensor  # [N, T]
    dice: torch.Tensor  # [N, T]
    status: torch.Tensor  # [N] int64 bit flags (STATUS_FLAGS)
    thresholds: tuple[float, ...]

    @property
    def miou(self) -> torch.Tensor:
        return self.iou.mean(dim=-1)

    @property
    def mdice(self) -> torch.Tensor:
        return self.dice.mean(dim=-1)


def status_counts(status: torch.Tensor) -> dict[str, int]:
    """How many samples carry each degenerate-case flag (for the results' skip/report section)."""
    return {name: int(((status & bit) != 0).sum()) for name, bit in STATUS_FLAGS.items()}


def _xywh_rows(boxes: BoxesLike) -> list[list[float]]:
    if isinstance(boxes, torch.Tensor):
        return boxes.detach().to("cpu", torch.float64).reshape(-1, 4).tolist()
    return [[float(b.x), float(b.y), float(b.w), float(b.h)] for b in boxes]


def _ranges_from_xywh(t: torch.Tensor, height: torch.Tensor | int, width: torch.Tensor | int) -> torch.Tensor:
    """BOX_RULE on xywh [..., 4] (float64) with broadcastable image sizes -> int64 (row0, row1, col0, col1)."""
    if not torch.isfinite(t).all():
        raise ValueError(f"box coordinates must be finite, got {t.reshape(-1, 4).tolist()}")
    height = torch.as_tensor(height, dtype=torch.float64)
    width = torch.as_tensor(width, dtype=torch.float64)
    x, y, w, h = t.unbind(-1)
    w, h = w.clamp(min=0), h.clamp(min=0)
    r0 = torch.minimum(torch.ceil(y - 0.5).clamp(min=0), height)
    r1 = torch.maximum(torch.minimum(torch.ceil(y + h - 0.5).clamp(min=0), height), r0)
    c0 = torch.minimum(torch.ceil(x - 0.5).clamp(min=0), width)
    c1 = torch.maximum(torch.minimum(torch.ceil(x + w - 0.5).clamp(min=0), width), c0)
    return torch.stack([r0, r1, c0, c1], dim=-1).to(torch.int64)


def box_pixel_ranges(boxes: BoxesLike, height: int, width: int) -> torch.Tensor:
    """[K, 4] int64 half-open pixel ranges (row0, row1, col0, col1) of each box under BOX_RULE, clipped."""
    t = torch.tensor(_xywh_rows(boxes), dtype=torch.float64).reshape(-1, 4)
    return _ranges_from_xywh(t, height, width)


def box_pixel_ranges_batched(boxes: Sequence[BoxesLike], sizes: Sequence[tuple[int, int]]) -> torch.Tensor:
    """[N, K, 4] ranges for N box lists (padded with empty boxes (0, 0, 0, 0)) on images of `sizes` (H, W)."""
    rows = [_xywh_rows(b) for b in boxes]
    k = max(1, max((len(r) for r in rows), default=0))
    t = torch.zeros(len(rows), k, 4, dtype=torch.float64)
    if rows:
        flat = [r + [[0.0, 0.0, 0.0, 0.0]] * (k - len(r)) for r in rows]
        t = torch.tensor(flat, dtype=torch.float64).reshape(len(rows), k, 4)
    hw = torch.tensor(list(sizes), dtype=torch.float64).reshape(-1, 2)
    return _ranges_from_xywh(t, hw[:, 0, None], hw[:, 1, None])


def box_union_mask(boxes: BoxesLike, height: int, width: int, device: torch.device | str | None = None) -> torch.Tensor:
    """Bool [H, W] mask of the union of the boxes under BOX_RULE."""
    mask = torch.zeros(height, width, dtype=torch.bool, device=device)
    for r0, r1, c0, c1 in box_pixel_ranges(boxes, height, width).tolist():
        mask[r0:r1, c0:c1] = True
    return mask


def _batched(maps: torch.Tensor, masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, bool]:
    if maps.shape != masks.shape:
        raise ValueError(f"map shape {tuple(maps.shape)} and mask shape {tuple(masks.shape)} differ")
    single = maps.dim() == 2
    if maps.dim() not in (2, 3):
        raise ValueError(f"maps must be [H, W] or [B, H, W], got {tuple(maps.shape)}")
    return (maps[None], masks[None].bool(), single) if single else (maps, masks.bool(), single)


def _masked_mean_var(v: torch.Tensor, keep: torch.Tensor) -> tuple[int, float, float]:
    """Count, mean and population variance of v over `keep` (two passes, float64, no gather).

    A constant region gets its value as mean and variance 0 exactly (summation rounding would
    otherwise leave a tiny variance that turns a step map into a huge CNR).
    """
    n = int(keep.sum())
    if n == 0:
        return 0, math.nan, math.nan
    lo, hi = v.masked_fill(~keep, math.inf).min(), v.masked_fill(~keep, -math.inf).max()
    if bool(lo == hi):
        return n, float(lo), 0.0
    mean = torch.where(keep, v, 0.0).sum() / n
    var = torch.where(keep, (v - mean) ** 2, 0.0).sum() / n
    return n, float(mean), float(var)


def _cnr_one(m: torch.Tensor, mask: torch.Tensor) -> tuple[float, float, int]:
    valid = ~torch.isnan(m)
    v = m.to(torch.float64)
    n_in, mean_in, var_in = _masked_mean_var(v, valid & mask)
    n_out, mean_out, var_out = _masked_mean_var(v, valid & ~mask)
    status = 0
    if n_in == 0:
        status |= STATUS_FLAGS["empty_ground_truth"]
    if n_out == 0:
        status |= STATUS_FLAGS["empty_background"]
    if status:
        return math.nan, math.nan, status
    if bool(v.masked_fill(~valid, -math.inf).max() == v.masked_fill(~valid, math.inf).min()):
        return 0.0, 0.0, STATUS_FLAGS["constant_map"]
    diff = mean_in - mean_out
    denom = math.sqrt(var_in + var_out)
    if denom == 0.0:
        return math.nan, math.nan, STATUS_FLAGS["zero_variance"]
    return abs(diff) / denom, diff / denom, 0


def cnr(maps: torch.Tensor, masks: torch.Tensor, signed: bool = False) -> torch.Tensor:
    """CNR of map(s) [H, W] or [B, H, W] against box mask(s) of the same shape; float64 [] or [B]."""
    maps_b, masks_b, single = _batched(maps, masks)
    vals = [_cnr_one(m, k)[1 if signed else 0] for m, k in zip(maps_b, masks_b)]
    out = torch.tensor(vals, dtype=torch.float64, device=maps.device)
    return out[0] if single else out


def iou_dice(
    maps: torch.Tensor, masks: torch.Tensor, thresholds: Sequence[float]
) -> tuple[torch.Tensor, torch.Tensor]:
    """IoU and Dice of (map > t) vs the valid box pixels, [..., T] float64 each; NaN if no valid box pixel."""
    maps_b, masks_b, single = _batched(maps, masks)
    t = torch.tensor(list(thresholds), dtype=maps_b.dtype, device=maps_b.device)
    valid = ~torch.isnan(maps_b)
    gt = masks_b & valid
    tp_cols, p_cols = [], []
    for k in range(t.numel()):  # one threshold at a time keeps memory at one [B, H, W] mask
        pred = (maps_b > t[k]) & valid
        tp_cols.append((pred & gt).sum(dim=(1, 2)))
        p_cols.append(pred.sum(dim=(1, 2)))
    tp = torch.stack(tp_cols, dim=-1).to(torch.float64)
    p = torch.stack(p_cols, dim=-1).to(torch.float64)
    g = gt.sum(dim=(1, 2))[:, None].to(torch.float64)
    iou = tp / (p + g - tp)
    dice = 2 * tp / (p + g)
    empty = (g == 0).expand_as(iou)
    iou, dice = iou.masked_fill(empty, math.nan), dice.masked_fill(empty, math.nan)
    return (iou[0], dice[0]) if single else (iou, dice)


def grounding_scores_full(
    maps: torch.Tensor, masks: torch.Tensor, thresholds: Sequence[float]
) -> GroundingScores:
    """All grounding metrics of full-resolution maps [B, H, W] (NaN outside) against masks [B, H, W]."""
    maps_b, masks_b, _ = _batched(maps, masks)
    rows = [_cnr_one(m, k) for m, k in zip(maps_b, masks_b)]
    iou, dice = iou_dice(maps_b, masks_b, thresholds)
    dev = maps.device
    return GroundingScores(
        cnr=torch.tensor([r[0] for r in rows], dtype=torch.float64, device=dev),
        cnr_signed=torch.tensor([r[1] for r in rows], dtype=torch.float64, device=dev),
        iou=iou,
        dice=dice,
        status=torch.tensor([r[2] for r in rows], dtype=torch.int64, device=dev),
        thresholds=tuple(float(x) for x in thresholds),
    )
