"""`radnli` (fine-tuned RadNLI accuracy) rows -> its reported metrics, with the task's own functions
(`tasks/radnli_protocol.py`: confusion matrix, class metrics, mean ± sd over seeds, majority baseline).

Rows hold the gold label and each seed's prediction; metrics are over seeds, so a statistic takes resampled
test pairs [B, N] and returns one value per resample (a loop over B where the task's functions are unbatched).
"""

from __future__ import annotations

from typing import Sequence

import torch

from msxr_bench.data.types import NLI_LABELS
from msxr_bench.results import CategoryRow
from msxr_bench.tasks.radnli_protocol import class_metrics, confusion_matrix, majority_baseline, mean_sd

PRED_PREFIX = "pred_seed"


def _label_index(rows: Sequence[dict], field: str, error: type[ValueError]) -> list[int]:
    out = []
    for i, row in enumerate(rows):
        if row.get(field) not in NLI_LABELS:
            raise error(f"samples[{i}] ({row.get('sample_id')!r}).{field}: expected one of {', '.join(NLI_LABELS)}, "
                        f"got {row.get(field)!r}")
        out.append(NLI_LABELS.index(row[field]))
    return out


def seeds_of(rows: Sequence[dict], error: type[ValueError]) -> list[int]:
    """Seeds of the `pred_seed<k>` columns (the same in every row)."""
    keys = sorted((k for k in rows[0] if k.startswith(PRED_PREFIX)), key=lambda k: int(k[len(PRED_PREFIX):]))
    if not keys or any(sorted(k for k in r if k.startswith(PRED_PREFIX)) != sorted(keys) for r in rows):
        raise error("samples: every row needs the same pred_seed<k> columns")
    return [int(k[len(PRED_PREFIX):]) for k in keys]


def radnli_columns(rows: Sequence[dict], error: type[ValueError]) -> tuple[torch.Tensor, list[int]]:
    """[N, 1 + S] float64: gold label index, then each seed's predicted index; and the seeds."""
    seeds = seeds_of(rows, error)
    cols = [_label_index(rows, "label", error)] + [_label_index(rows, f"{PRED_PREFIX}{s}", error) for s in seeds]
    data = torch.tensor(cols, dtype=torch.float64).T.contiguous()
    correct = (data[:, 1:] == data[:, :1]).double().mean(-1)
    for i, row in enumerate(rows):
        if row.get("correct_fraction") != float(correct[i]):
            raise error(f"samples[{i}] ({row.get('sample_id')!r}).correct_fraction: {row.get('correct_fraction')!r} "
                        f"but its predictions give {float(correct[i])!r}")
    return data, seeds


def correct_fraction(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """The task's accuracy statistic: mean over resampled pairs of the fraction of seeds that got each right."""
    return (x[:, 1:] == x[:, :1]).double().mean(-1)[idx].mean(-1)


def seed_accuracy(j: int):
    return lambda x, idx: (x[:, 1 + j][idx] == x[:, 0][idx]).double().mean(-1)


def _per_resample(x: torch.Tensor, idx: torch.Tensor, summary) -> torch.Tensor:
    """summary(list of per-seed class_metrics) -> float, for each resample of pairs."""
    out = []
    for row in idx:
        gold = x[row, 0]
        per_seed = [class_metrics(confusion_matrix(gold, x[row, 1 + j])) for j in range(x.shape[1] - 1)]
        value = summary(per_seed)
        out.append(float("nan") if value is None else value)
    return torch.tensor(out, dtype=torch.float64)


def seed_mean(metric: str):
    return lambda x, idx: _per_resample(x, idx, lambda runs: mean_sd([r[metric] for r in runs])["mean"])


def accuracy_sd(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    return _per_resample(x, idx, lambda runs: mean_sd([r["accuracy"] for r in runs])["sd"])


def majority_accuracy(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    return torch.tensor([majority_baseline(x[row, 0])["accuracy"] for row in idx], dtype=torch.float64)


def majority_label(data: torch.Tensor) -> str:
    return majority_baseline(data[:, 0])["label"]


def per_class_rows(data: torch.Tensor) -> list[CategoryRow]:
    """The task's per-class table: support, and mean and sd over seeds of precision, recall, F1."""
    runs = [class_metrics(confusion_matrix(data[:, 0], data[:, 1 + j])) for j in range(data.shape[1] - 1)]
    out = []
    for name in NLI_LABELS:
        stats = {m: mean_sd([r["per_class"][name][m] for r in runs]) for m in ("precision", "recall", "f1")}
        out.append(CategoryRow(category=name, n=runs[0]["per_class"][name]["support"],
                               metrics={f"{m}{suffix}": stats[m][key] for m in ("precision", "recall", "f1")
                                        for suffix, key in (("", "mean"), ("_sd", "sd"))}))
    return out


