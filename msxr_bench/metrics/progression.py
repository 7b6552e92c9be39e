"""Accuracy and macro (balanced) accuracy of multi-class labels grouped by finding, batched over bootstrap resamples.

Per finding: accuracy = correct / labels; macro accuracy = mean, over the classes present among that finding's
labels, of each class's recall (classes absent from the resample are left out, not counted as 0). A finding
without labels gives NaN; means over findings leave such findings out (`nanmean_findings`).
"""

from __future__ import annotations

import math

import torch

__all__ = ["finding_accuracies", "nanmean_findings"]


def finding_accuracies(finding: torch.Tensor, label: torch.Tensor, predicted: torch.Tensor, n_findings: int,
                       n_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(accuracy [..., F], macro accuracy [..., F]) from integer tensors [..., N] (leading dims: resamples)."""
    cell = finding.long() * n_classes + label.long()
    hit = (predicted.long() == label.long()).to(torch.float64)
    shape = (*cell.shape[:-1], n_findings * n_classes)
    counts = torch.zeros(shape, dtype=torch.float64, device=cell.device).scatter_add_(-1, cell, torch.ones_like(hit))
    correct = torch.zeros(shape, dtype=torch.float64, device=cell.device).scatter_add_(-1, cell, hit)
    counts = counts.unflatten(-1, (n_findings, n_classes))
    correct = correct.unflatten(-1, (n_findings, n_classes))
    labels = counts.sum(-1)
    accuracy = torch.where(labels > 0, correct.sum(-1) / labels.clamp(min=1), math.nan)
    present = counts > 0
    recall_sum = torch.where(present, correct / counts.clamp(min=1), 0.0).sum(-1)
    n_present = present.sum(-1)
    macro = torch.where(n_present > 0, recall_sum / n_present.clamp(min=1), math.nan)
    return accuracy, macro


def nanmean_findings(per_finding: torch.Tensor) -> torch.Tensor:
    """Mean over the last dim of the finite values (NaN when none)."""
    ok = torch.isfinite(per_finding)
    n = ok.sum(-1)
    return torch.where(n > 0, torch.where(ok, per_finding, 0.0).sum(-1) / n.clamp(min=1), math.nan)
