"""Binary classification metrics in torch (batched over leading dims, any device, float64 results).

Conventions (recorded in results):
- `auroc`: exact Mann-Whitney statistic with average ranks, so tied scores get half credit (= scikit-learn's
  roc_auc_score); only one class present -> NaN and a warning, never 0.
- Decision rule: predict positive iff score >= threshold (scikit-learn's precision_recall_curve rule), so a
  threshold taken from the scores includes that score. hi-ml's zero-shot `pos > neg` differs from
  `score >= 0` only for an exact tie.
- Undefined ratios are NaN: precision with no positive prediction, sensitivity with no positive label,
  specificity with no negative label, F1 = 2TP / (2TP + FP + FN) when that denominator is 0.
- `f1_max_threshold`: F1 over every distinct score as threshold; ties in F1 (compared exactly, as the
  rational 2TP / (TP + FP + P)) go to the SMALLEST threshold, which is what `np.argmax` over scikit-learn's
  increasing thresholds picks. Choosing the threshold on the test set is optimistic: the paper's choice.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import torch

DEFINITIONS: dict[str, str] = {  # recorded verbatim in results JSON
    "auroc": "exact Mann-Whitney with average ranks (ties count half); one class present -> NaN",
    "decision_rule": "positive iff score >= threshold",
    "undefined_ratios": "NaN (precision without positive predictions, sensitivity without positives, "
    "specificity without negatives, F1 when 2TP + FP + FN = 0)",
    "f1_max_threshold": "every distinct score tried; exact F1 ties -> smallest threshold; chosen on the "
    "evaluated set itself (optimistic)",
}

__all__ = ["DEFINITIONS", "BinaryMetrics", "auroc", "average_ranks", "binary_metrics_at", "f1_max_threshold"]


def _check(scores: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    scores = torch.as_tensor(scores)
    labels = torch.as_tensor(labels, device=scores.device)
    if scores.dim() == 0 or scores.shape[-1] == 0:
        raise ValueError("scores must have at least one sample along the last dimension")
    labels = labels.expand_as(scores) if labels.shape != scores.shape else labels
    if torch.isnan(scores.to(torch.float64)).any():
        raise ValueError("scores contain NaN: a metric over them would be meaningless")
    lab = labels.to(torch.float64)
    if not bool(((lab == 0) | (lab == 1)).all()):
        raise ValueError("labels must be 0/1 (or bool)")
    return scores.to(torch.float64), lab


def average_ranks(values: torch.Tensor) -> torch.Tensor:
    """1-based ranks along the last dim, ties sharing their average rank (scipy.stats.rankdata 'average')."""
    n = values.shape[-1]
    sorted_v, order = torch.sort(values, dim=-1, stable=True)
    pos = torch.arange(n, device=values.device).expand_as(sorted_v)
    new = torch.ones_like(sorted_v, dtype=torch.bool)
    new[..., 1:] = sorted_v[..., 1:] != sorted_v[..., :-1]
    last = torch.ones_like(new)
    last[..., :-1] = new[..., 1:]
    start = torch.cummax(torch.where(new, pos, torch.zeros_like(pos)), dim=-1).values
    end = torch.flip(torch.cummin(torch.flip(torch.where(last, pos, torch.full_like(pos, n)), [-1]), dim=-1).values, [-1])
    avg = (start + end).to(torch.float64) / 2 + 1
    return torch.empty_like(avg).scatter_(-1, order, avg)


def auroc(scores: torch.Tensor, labels: torch.Tensor, warn: bool = True) -> torch.Tensor:
    """Exact AUROC along the last dim ([..., N] -> [...]), ties half; NaN (+ warning) if one class is absent."""
    s, y = _check(scores, labels)
    n_pos = y.sum(-1)
    n_neg = y.shape[-1] - n_pos
    rank_sum = (average_ranks(s) * y).sum(-1)
    auc = (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    one_class = (n_pos == 0) | (n_neg == 0)
    if warn and bool(one_class.any()):
        warnings.warn(f"AUROC undefined: only one class present in {int(one_class.sum())} case(s); returning NaN",
                      RuntimeWarning, stacklevel=2)
    return auc.masked_fill(one_class, math.nan)


@dataclass
class BinaryMetrics:
    """Counts and rates at one threshold (tensors of the batch shape)."""

    threshold: torch.Tensor
    accuracy: torch.Tensor
    f1: torch.Tensor
    sensitivity: torch.Tensor
    specificity: torch.Tensor
    precision: torch.Tensor
    tp: torch.Tensor
    fp: torch.Tensor
    tn: torch.Tensor
    fn: torch.Tensor

    def to_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.__dict__.items()}


def _ratio(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    return torch.where(den > 0, num / den.clamp(min=1), torch.full_like(num, math.nan))


def _from_counts(threshold: torch.Tensor, tp, fp, tn, fn) -> BinaryMetrics:
    return BinaryMetrics(
        threshold=threshold,
        accuracy=(tp + tn) / (tp + fp + tn + fn),
        f1=_ratio(2 * tp, 2 * tp + fp + fn),
        sensitivity=_ratio(tp, tp + fn),
        specificity=_ratio(tn, tn + fp),
        precision=_ratio(tp, tp + fp),
        tp=tp, fp=fp, tn=tn, fn=fn,
    )


def binary_metrics_at(scores: torch.Tensor, labels: torch.Tensor, threshold: float | torch.Tensor) -> BinaryMetrics:
    """Accuracy, F1, sensitivity, specificity, precision of (score >= threshold) along the last dim."""
    s, y = _check(scores, labels)
    t = torch.as_tensor(threshold, dtype=torch.float64, device=s.device)
    pred = (s >= t.unsqueeze(-1) if t.dim() else s >= t).to(torch.float64)
    tp = (pred * y).sum(-1)
    fp = (pred * (1 - y)).sum(-1)
    fn = ((1 - pred) * y).sum(-1)
    tn = ((1 - pred) * (1 - y)).sum(-1)
    return _from_counts(t.expand_as(tp), tp, fp, tn, fn)


def f1_max_threshold(scores: torch.Tensor, labels: torch.Tensor) -> BinaryMetrics:
    """The metrics at the threshold (one of the scores) that maximises F1; ties -> the smallest threshold."""
    s, y = _check(scores, labels)
    desc, order = torch.sort(s, dim=-1, descending=True, stable=True)
    y_sorted = torch.gather(y, -1, order)
    tp = torch.cumsum(y_sorted, -1)  # predicting the first k+1 (score >= desc[k]) as positive
    fp = torch.cumsum(1 - y_sorted, -1)
    p = y.sum(-1, keepdim=True)
    is_cut = torch.ones_like(desc, dtype=torch.bool)
    is_cut[..., :-1] = desc[..., 1:] != desc[..., :-1]  # the last of each tie group
    f1 = _ratio(2 * tp, tp + fp + p)
    f1 = torch.where(is_cut & ~torch.isnan(f1), f1, torch.full_like(f1, -1.0))
    # the smallest threshold among the maxima = the last maximal position in descending order
    n = f1.shape[-1]
    best = n - 1 - torch.argmax(torch.flip(f1, [-1]), dim=-1, keepdim=True)
    tp_b, fp_b = tp.gather(-1, best).squeeze(-1), fp.gather(-1, best).squeeze(-1)
    p_b = p.squeeze(-1)
    n_neg = n - p_b
    return _from_counts(desc.gather(-1, best).squeeze(-1), tp_b, fp_b, n_neg - fp_b, p_b - tp_b)
