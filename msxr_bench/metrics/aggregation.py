"""Per-category, macro and micro means of per-sample metrics, NaN-aware, batched for bootstraps.

macro = mean over categories of the per-category means (categories with no finite value are left out and
counted); micro = mean over all samples with a finite value. NaN samples (degenerate cases) never count,
and how many there were is reported with every mean.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import torch

__all__ = ["Aggregate", "GroupStat", "aggregate", "group_index", "grouped_nanmean", "macro_mean", "micro_mean"]


@dataclass
class GroupStat:
    mean: float
    n: int  # samples with a finite value
    n_nan: int  # samples left out (NaN)


@dataclass
class Aggregate:
    per_group: dict[str, GroupStat]
    macro: float
    micro: float
    n: int
    n_nan: int
    groups_without_values: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "per_group": {k: vars(v) for k, v in self.per_group.items()},
            "macro": self.macro,
            "micro": self.micro,
            "n": self.n,
            "n_nan": self.n_nan,
            "groups_without_values": list(self.groups_without_values),
        }


def group_index(groups: Sequence[str], order: Sequence[str] | None = None) -> tuple[torch.Tensor, list[str]]:
    """LongTensor [N] of group numbers and the group names (`order` first, then unseen names sorted)."""
    names = list(order) if order is not None else []
    names += sorted(set(groups) - set(names))
    where = {name: i for i, name in enumerate(names)}
    return torch.tensor([where[g] for g in groups], dtype=torch.int64), names


def grouped_nanmean(values: torch.Tensor, groups: torch.Tensor, n_groups: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-group mean over finite values and the count of finite values: ([..., G], [..., G]).

    `groups` is [N] or, for resampled rows, the same shape as `values` [..., N]. Empty groups give NaN.
    """
    v = values.to(torch.float64)
    ok = torch.isfinite(v)
    g = groups.expand_as(v) if groups.shape != v.shape else groups
    shape = (*v.shape[:-1], n_groups)
    sums = torch.zeros(shape, dtype=torch.float64, device=v.device).scatter_add_(-1, g, torch.where(ok, v, 0.0))
    counts = torch.zeros(shape, dtype=torch.float64, device=v.device).scatter_add_(-1, g, ok.to(torch.float64))
    return torch.where(counts > 0, sums / counts.clamp(min=1), math.nan), counts


def macro_mean(values: torch.Tensor, groups: torch.Tensor, n_groups: int) -> torch.Tensor:
    """Mean over groups (with at least one finite value) of the per-group means: [...]."""
    means, counts = grouped_nanmean(values, groups, n_groups)
    has = counts > 0
    return torch.where(has, means, 0.0).sum(-1) / has.sum(-1).clamp(min=1) + torch.where(has.any(-1), 0.0, math.nan)


def micro_mean(values: torch.Tensor) -> torch.Tensor:
    """Mean over the finite values along the last dim (NaN if none)."""
    v = values.to(torch.float64)
    ok = torch.isfinite(v)
    n = ok.sum(-1)
    return torch.where(n > 0, torch.where(ok, v, 0.0).sum(-1) / n.clamp(min=1), math.nan)


def aggregate(values: torch.Tensor, groups: Sequence[str], order: Sequence[str] | None = None) -> Aggregate:
    """Per-group means with counts, macro and micro means of per-sample values [N] labelled by `groups`."""
    if values.dim() != 1 or values.numel() != len(groups):
        raise ValueError(f"aggregate needs values [N] and N group labels, got {tuple(values.shape)} and {len(groups)}")
    idx, names = group_index(groups, order)
    idx = idx.to(values.device)
    means, counts = grouped_nanmean(values, idx, len(names))
    totals = torch.bincount(idx, minlength=len(names)).cpu()
    per_group = {
        name: GroupStat(float(means[i]), int(counts[i]), int(totals[i]) - int(counts[i])) for i, name in enumerate(names)
    }
    n_ok = int(torch.isfinite(values.to(torch.float64)).sum())
    return Aggregate(
        per_group=per_group,
        macro=float(macro_mean(values, idx, len(names))),
        micro=float(micro_mean(values)),
        n=n_ok,
        n_nan=values.numel() - n_ok,
        groups_without_values=[n for n in names if per_group[n].n == 0],
    )
