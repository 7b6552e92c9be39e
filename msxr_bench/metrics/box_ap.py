"""ChEX's mAP, batched in torch: the `mean-average-precision` package (bes-dev, `MeanAveragePrecision2d`) with
ChEX's settings (`src/metrics/detection_metrics.py`: one class, every (image, phrase) an "image" of its own,
IoU thresholds 0.4, 0.45, ..., 0.75, `mpolicy="soft"`, 101 recall points `np.arange(0, 1.01, 0.01)`).

Its rules, reproduced: within a sample, predictions in descending score order each match the unmatched true box
of highest IoU with IoU > t (strictly; "soft" = a prediction may take its second-best box when the best is
taken), else count as false positives; over the dataset, predictions in descending score order give cumulative
precision tp / (tp + fp) and recall tp / max(#true boxes, 1); AP = mean over the recall points r of the highest
precision at recall >= r (0 if none reached). mAP = mean of AP over the thresholds; AP50/AP75 are two of them.
ChEX shifts corners by one "pixel" (coordinates x1000, x2 - 1) so that the package's +1 pixel convention gives
the continuous IoU: this module computes the continuous IoU directly (IoU is invariant to per-axis scaling, so
pixels or normalised coordinates give the same number).

Where other implementations differ: pycocotools and torchmetrics' `MeanAveragePrecision` match with IoU >= t,
interpolate over the 101 points from a precision envelope built per image-and-category pool with "crowd"
and area ranges, cap detections at 100 per image (maxDets), and average COCO's thresholds 0.5:0.95; VOC-style
(`mpolicy="greedy"`) lets a prediction whose best box is taken become a false positive. Ties in score are
broken here by sample then box order (a stable sort); the package's pandas quicksort leaves them unspecified.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from msxr_bench.metrics.boxes import PaddedBoxes, pairwise_iou

__all__ = ["AP_IOU_THRESHOLDS", "RECALL_POINTS", "average_precision", "soft_match"]

AP_IOU_THRESHOLDS = tuple(float(t) for t in np.round(np.arange(0.4, 0.751, 0.05), 2))  # 0.4 ... 0.75 (8)
RECALL_POINTS = torch.from_numpy(np.arange(0.0, 1.01, 0.01))  # ChEX's exact float64 values (101)
_RESAMPLE_CHUNK = 32


def soft_match(pred: PaddedBoxes, truth: PaddedBoxes,
               thresholds: Sequence[float] = AP_IOU_THRESHOLDS) -> tuple[torch.Tensor, torch.Tensor]:
    """(scores [N, K] in descending order per sample, -inf where no box; tp [N, K, T] bool) under soft matching."""
    scores, order = torch.sort(torch.where(pred.mask, pred.scores, -torch.inf), dim=1, descending=True, stable=True)
    boxes = torch.gather(pred.boxes, 1, order[..., None].expand(-1, -1, 4))
    valid = torch.gather(pred.mask, 1, order)
    iou = pairwise_iou(boxes, truth.boxes).masked_fill(~truth.mask[:, None, :], -1.0)  # [N, K, G]
    t = torch.tensor(thresholds, dtype=iou.dtype, device=iou.device)
    n, k, g = iou.shape
    matched = torch.zeros(n, len(thresholds), g, dtype=torch.bool, device=iou.device)
    tp = torch.zeros(n, k, len(thresholds), dtype=torch.bool, device=iou.device)
    for j in range(k):
        cand = (iou[:, j, None, :] > t[None, :, None]) & ~matched  # [N, T, G]
        hit = cand.any(-1) & valid[:, j, None]
        pick = torch.where(cand, iou[:, j, None, :], -2.0).argmax(-1)  # highest IoU among the candidates
        matched |= torch.nn.functional.one_hot(pick, g).bool() & hit[..., None]
        tp[:, j] = hit
    return scores, tp


def average_precision(scores: torch.Tensor, tp: torch.Tensor, n_true: torch.Tensor,
                      weights: torch.Tensor | None = None) -> torch.Tensor:
    """AP [B, T] of detections pooled over samples: scores [N, K] (-inf/NaN = no detection), tp [N, K, T],
    n_true [N] true boxes per sample; `weights` [B, N] = how often each sample is in each (re)sample
    (None: once each, B = 1). A sample drawn twice counts its detections and true boxes twice."""
    n, k, t_count = tp.shape
    if weights is None:
        weights = torch.ones(1, n, dtype=torch.float64, device=tp.device)
    weights = weights.to(torch.float64)
    flat_scores = torch.nan_to_num(scores.to(torch.float64).reshape(-1), nan=-torch.inf)
    real = torch.isfinite(flat_scores)
    order = torch.sort(torch.where(real, flat_scores, -torch.inf), descending=True, stable=True).indices
    order = order[real[order]]  # detections only, in descending score (then sample, then rank) order
    sample_of = torch.div(order, k, rounding_mode="floor")
    hits = tp.reshape(n * k, t_count)[order].to(torch.float64)  # [D, T]
    points = RECALL_POINTS.to(tp.device)
    out = []
    for s in range(0, weights.shape[0], _RESAMPLE_CHUNK):
        w = weights[s:s + _RESAMPLE_CHUNK]  # [b, N]
        positives = (w @ n_true.to(torch.float64)).clamp(min=1.0)  # [b]
        if order.numel() == 0:
            out.append(torch.zeros(w.shape[0], t_count, dtype=torch.float64, device=tp.device))
            continue
        wd = w[:, sample_of]  # [b, D]
        tp_cum = torch.cumsum(wd[:, None, :] * hits.T[None], dim=-1)  # [b, T, D]
        fp_cum = torch.cumsum(wd[:, None, :] * (1 - hits.T)[None], dim=-1)
        recall = tp_cum / positives[:, None, None]
        precision = tp_cum / torch.clamp(tp_cum + fp_cum, min=float(np.finfo(np.float64).eps))
        envelope = precision.flip(-1).cummax(-1).values.flip(-1)  # max precision at this point or later
        first = torch.searchsorted(recall.contiguous(), points.expand(*recall.shape[:2], -1).contiguous())
        reached = first < recall.shape[-1]
        best = torch.gather(envelope, -1, first.clamp(max=recall.shape[-1] - 1))
        out.append(torch.where(reached, best, 0.0).mean(-1))
    return torch.cat(out)
