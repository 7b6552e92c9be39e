"""NLI classification statistics: confusion matrix, per-class and macro precision/recall/F1, mean ± sd over
seeds, the majority-class baseline (RadNLI, BioViL paper Table 3)."""

from __future__ import annotations

import statistics

import torch

from msxr_bench.data.types import NLI_LABELS


def confusion_matrix(gold: torch.Tensor, pred: torch.Tensor, n_classes: int = len(NLI_LABELS)) -> torch.Tensor:
    """[n, n] counts; rows are gold labels, columns predictions (scikit-learn's convention)."""
    gold, pred = gold.long().flatten(), pred.long().flatten()
    return torch.bincount(gold * n_classes + pred, minlength=n_classes * n_classes).view(n_classes, n_classes)


def class_metrics(cm: torch.Tensor, labels: tuple[str, ...] = NLI_LABELS) -> dict:
    """Accuracy, per-class precision/recall/F1/support and their macro means from a confusion matrix.
    An undefined precision or recall (no prediction / no gold of a class) counts as 0, as in
    scikit-learn with zero_division=0."""
    cm = cm.double()
    tp = cm.diag()
    predicted, actual = cm.sum(0), cm.sum(1)
    precision = torch.where(predicted > 0, tp / predicted.clamp(min=1), torch.zeros_like(tp))
    recall = torch.where(actual > 0, tp / actual.clamp(min=1), torch.zeros_like(tp))
    denom = precision + recall
    f1 = torch.where(denom > 0, 2 * precision * recall / denom.clamp(min=1e-300), torch.zeros_like(tp))
    per_class = {
        name: {"precision": precision[i].item(), "recall": recall[i].item(), "f1": f1[i].item(),
               "support": int(actual[i].item())}
        for i, name in enumerate(labels)
    }
    return {"accuracy": (tp.sum() / cm.sum()).item(), "precision_macro": precision.mean().item(),
            "recall_macro": recall.mean().item(), "f1_macro": f1.mean().item(), "per_class": per_class}


def mean_sd(values: list[float]) -> dict:
    """Mean and sample standard deviation (n - 1; None for a single value) with every value kept."""
    return {"mean": statistics.fmean(values), "sd": statistics.stdev(values) if len(values) > 1 else None,
            "per_seed": list(values)}


def majority_baseline(gold: torch.Tensor, labels: tuple[str, ...] = NLI_LABELS) -> dict:
    """The best constant predictor on this set: its most frequent gold label (ties: first in NLI_LABELS)."""
    counts = torch.bincount(gold.long(), minlength=len(labels))
    k = int(counts.argmax().item())
    return {"label": labels[k], "accuracy": counts[k].item() / counts.sum().item()}
