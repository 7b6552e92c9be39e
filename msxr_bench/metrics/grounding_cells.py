"""Exact grounding metrics without building full-resolution maps (the path the tasks use).

With nearest upsampling each grid cell paints a rectangle of original pixels, so every statistic of
`grounding.py` is a weighted statistic over cells: w_all[h, w] = valid pixels of the cell, w_in[h, w] =
those inside the box union. w_in of a union of boxes is built without an H x W mask: the box edges cut
the image into elementary rectangles (coordinate compression); each covered one contributes
outer(row-cell counts over its rows, column-cell counts over its columns), the counts read off the
AxisMap's per-cell pixel spans. Batched over samples, float64, any device; equal to the full-resolution
computation up to float64 summation order (tested <= 1e-9 relative).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

from msxr_bench.geometry import AxisMap
from msxr_bench.metrics.grounding import (
    STATUS_FLAGS,
    BoxesLike,
    GroundingScores,
    box_pixel_ranges_batched,
)

__all__ = ["cell_weights", "cnr_from_cells", "grounding_scores", "iou_dice_from_cells", "stack_spans"]


def stack_spans(amaps: Sequence[AxisMap], device: torch.device | str | None = None) -> tuple[torch.Tensor, ...]:
    """Per-sample cell spans (row_lo, row_hi [N, h], col_lo, col_hi [N, w]); shared AxisMaps computed once."""
    cache: dict[int, tuple[torch.Tensor, ...]] = {}
    parts = []
    for amap in amaps:
        if id(amap) not in cache:
            cache[id(amap)] = amap.cell_spans()
        parts.append(cache[id(amap)])
    if not parts:
        raise ValueError("stack_spans needs at least one AxisMap")
    return tuple(torch.stack([p[i] for p in parts]).to(device) for i in range(4))


def _overlap(edges: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """Pixels of each cell inside each elementary interval: [N, A, cells] from edges [N, A+1], spans [N, cells]."""
    a0, a1 = edges[:, :-1, None], edges[:, 1:, None]
    return (torch.minimum(a1, hi[:, None, :]) - torch.maximum(a0, lo[:, None, :])).clamp(min=0)


def _coverage(edges: torch.Tensor, start: torch.Tensor, stop: torch.Tensor) -> torch.Tensor:
    """[N, K, A]: box k covers elementary interval a (which is non-empty)."""
    a0, a1 = edges[:, None, :-1], edges[:, None, 1:]
    return (start[..., None] <= a0) & (a1 <= stop[..., None]) & (a0 < a1)


def cell_weights(
    amaps: Sequence[AxisMap], boxes: Sequence[BoxesLike], device: torch.device | str | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(w_in, w_all), float64 [N, h, w]: pixels of each cell inside the box union, and valid pixels per cell."""
    if len(amaps) != len(boxes):
        raise ValueError(f"{len(amaps)} AxisMaps but {len(boxes)} box lists")
    padded = box_pixel_ranges_batched(boxes, [a.image_size for a in amaps]).to(device)  # [N, K, 4]
    r_lo, r_hi, c_lo, c_hi = stack_spans(amaps, device)
    r0, r1, c0, c1 = padded.unbind(-1)
    row_edges = torch.sort(torch.cat([r0, r1], dim=1), dim=1).values  # [N, 2K]
    col_edges = torch.sort(torch.cat([c0, c1], dim=1), dim=1).values
    covered = (_coverage(row_edges, r0, r1)[..., :, None] & _coverage(col_edges, c0, c1)[..., None, :]).any(1)
    row_hist = _overlap(row_edges, r_lo, r_hi).to(torch.float64)  # [N, A, h]
    col_hist = _overlap(col_edges, c_lo, c_hi).to(torch.float64)  # [N, A, w]
    w_in = torch.einsum("nab,nah,nbw->nhw", covered.to(torch.float64), row_hist, col_hist)
    w_all = torch.einsum("nh,nw->nhw", (r_hi - r_lo).to(torch.float64), (c_hi - c_lo).to(torch.float64))
    return w_in, w_all


def _clean(grids: torch.Tensor, w_in: torch.Tensor, w_all: torch.Tensor) -> tuple[torch.Tensor, ...]:
    if not (grids.shape == w_in.shape == w_all.shape) or grids.dim() != 3:
        raise ValueError(f"grids, w_in, w_all must all be [N, h, w]: {grids.shape}, {w_in.shape}, {w_all.shape}")
    valid = (w_all > 0) & ~torch.isnan(grids)
    w_in = torch.where(valid, w_in.to(torch.float64), 0.0)
    w_all = torch.where(valid, w_all.to(torch.float64), 0.0)
    return valid, w_in, w_all


def _weighted_mean_var(v: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Weighted count, mean, population variance per sample; a constant region is exact (mean = value, var 0)."""
    total = w.sum(dim=(1, 2))
    mean = (w * v).sum(dim=(1, 2)) / total
    var = (w * (v - mean[:, None, None]) ** 2).sum(dim=(1, 2)) / total
    lo, hi = _range(v, w > 0)
    flat = lo == hi
    return total, torch.where(flat, lo, mean), torch.where(flat, 0.0, var)


def _range(v: torch.Tensor, keep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    big = torch.finfo(torch.float64).max
    return v.masked_fill(~keep, big).amin(dim=(1, 2)), v.masked_fill(~keep, -big).amax(dim=(1, 2))


def cnr_from_cells(
    grids: torch.Tensor, w_in: torch.Tensor, w_all: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(cnr, cnr_signed, status) [N] from cell grids and weights, with grounding.py's degenerate cases."""
    valid, w_in, w_all = _clean(grids, w_in, w_all)
    v = torch.where(valid, grids.to(torch.float64), 0.0)
    n_in, mean_in, var_in = _weighted_mean_var(v, w_in)
    n_out, mean_out, var_out = _weighted_mean_var(v, w_all - w_in)
    vmin, vmax = _range(v, valid)
    diff = mean_in - mean_out
    denom = torch.sqrt(var_in + var_out)
    signed = diff / denom
    status = torch.zeros_like(n_in, dtype=torch.int64)
    empty_in, empty_out = n_in == 0, n_out == 0
    constant = (vmax == vmin) & ~empty_in & ~empty_out
    zero_var = (denom == 0) & ~constant & ~empty_in & ~empty_out
    status |= empty_in.long() * STATUS_FLAGS["empty_ground_truth"]
    status |= empty_out.long() * STATUS_FLAGS["empty_background"]
    status |= constant.long() * STATUS_FLAGS["constant_map"]
    status |= zero_var.long() * STATUS_FLAGS["zero_variance"]
    signed = torch.where(constant, 0.0, signed)
    signed = torch.where(empty_in | empty_out | zero_var, math.nan, signed)
    return signed.abs(), signed, status


def iou_dice_from_cells(
    grids: torch.Tensor, w_in: torch.Tensor, w_all: torch.Tensor, thresholds: Sequence[float]
) -> tuple[torch.Tensor, torch.Tensor]:
    """IoU and Dice [N, T] of (grid > t) (t in the grid's dtype) vs the box union, NaN if it has no valid pixel."""
    valid, w_in, w_all = _clean(grids, w_in, w_all)
    t = torch.tensor(list(thresholds), dtype=grids.dtype, device=grids.device)
    pred = ((grids[..., None] > t) & valid[..., None]).to(torch.float64)  # [N, h, w, T]
    tp = torch.einsum("nhwt,nhw->nt", pred, w_in)
    p = torch.einsum("nhwt,nhw->nt", pred, w_all)
    g = w_in.sum(dim=(1, 2))[:, None]
    iou = tp / (p + g - tp)
    dice = 2 * tp / (p + g)
    empty = (g == 0).expand_as(iou)
    return iou.masked_fill(empty, math.nan), dice.masked_fill(empty, math.nan)


def grounding_scores(
    grids: torch.Tensor,
    amaps: Sequence[AxisMap],
    boxes: Sequence[BoxesLike],
    thresholds: Sequence[float],
) -> GroundingScores:
    """All grounding metrics of N grids [N, h, w] (nearest upsampling by their AxisMaps) against N box lists."""
    w_in, w_all = cell_weights(amaps, boxes, device=grids.device)
    cnr_abs, cnr_signed, status = cnr_from_cells(grids, w_in, w_all)
    iou, dice = iou_dice_from_cells(grids, w_in, w_all, thresholds)
    return GroundingScores(cnr_abs, cnr_signed, iou, dice, status, tuple(float(x) for x in thresholds))
