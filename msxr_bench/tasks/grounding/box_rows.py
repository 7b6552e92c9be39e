"""Per-sample rows of the box tasks: numbers only (no true box, no phrase), enough for `box_metrics` to compute
every box metric from the rows alone (so `leaderboard validate` and `compare` recompute them).

A row: n_true_boxes, n_boxes; union_iou and best_box_iou (null when the phrase has no true box); ChEX's pooled
parts `pooled_inter`/`pooled_union` (all boxes) and `@t` for the object-score thresholds; the `RANKED_BOXES`
highest-scoring boxes as `box{k}_score` and `box{k}_tp` (bit j set = a true positive at AP IoU threshold j under
soft matching); cnr and signed_cnr of the model's map (null for box-only models).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch

from msxr_bench.data.types import GroundingSample
from msxr_bench.metrics.box_ap import AP_IOU_THRESHOLDS, soft_match
from msxr_bench.metrics.boxes import OBJECT_THRESHOLDS, box_scores, pad_boxes

RANKED_BOXES = 10  # boxes per phrase kept for AP (highest scores); the rest are dropped from the ranking
POOLED_SUFFIXES = ("",) + tuple(f"@{t:g}" for t in OBJECT_THRESHOLDS)


def truth_boxes(sample: GroundingSample) -> list[list[float]]:
    return [[b.x, b.y, b.x2, b.y2] for b in sample.boxes]


def _number(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def box_rows(samples: Sequence[GroundingSample], boxes: dict[str, torch.Tensor], id_field: str,
             cnr: dict[str, tuple[float, float]] | None = None) -> list[dict[str, Any]]:
    """One row per sample that has predictions (its image decoded), in sample order."""
    scored = [s for s in samples if s.sample_id in boxes]
    if not scored:
        return []
    pred = pad_boxes([boxes[s.sample_id] for s in scored])
    truth = pad_boxes([truth_boxes(s) for s in scored])
    scores = box_scores(pred, truth, torch.tensor([s.image_size for s in scored]))
    ranked, tp = soft_match(pred, truth)
    bits = (tp.to(torch.int64) * (2 ** torch.arange(len(AP_IOU_THRESHOLDS)))).sum(-1).tolist()
    ranked_scores = ranked.tolist()
    n_true, n_pred = scores.n_true.tolist(), scores.n_pred.tolist()
    union_iou, best = scores.union_iou.tolist(), scores.best_box_iou.tolist()
    inter, union = scores.pooled_inter.tolist(), scores.pooled_union.tolist()
    rows = []
    for i, s in enumerate(scored):
        groundable = n_true[i] > 0
        row: dict[str, Any] = {"sample_id": s.sample_id, id_field: s.dicom_id, "category": s.category,
                               "n_true_boxes": int(n_true[i]), "n_boxes": int(n_pred[i]),
                               "union_iou": _number(union_iou[i]), "best_box_iou": _number(best[i])}
        for j, suffix in enumerate(POOLED_SUFFIXES):
            row[f"pooled_inter{suffix}"] = inter[i][j] if groundable else None
            row[f"pooled_union{suffix}"] = union[i][j] if groundable else None
        for k in range(RANKED_BOXES):
            present = k < len(ranked_scores[i]) and math.isfinite(ranked_scores[i][k])
            row[f"box{k + 1}_score"] = ranked_scores[i][k] if present else None
            row[f"box{k + 1}_tp"] = int(bits[i][k]) if present else None
        c = (cnr or {}).get(s.sample_id)
        row["cnr"] = _number(c[0]) if c else None
        row["signed_cnr"] = _number(c[1]) if c else None
        rows.append(row)
    return rows
