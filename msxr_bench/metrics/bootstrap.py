"""Seeded bootstrap confidence intervals and paired bootstrap comparisons over samples.

Indices are drawn on the CPU from `torch.Generator().manual_seed(seed)` in chunks whose size depends only
on N, so a seed gives the same resamples on every device and machine; statistics run on the data's device.
A statistic is `statistic(x, idx) -> [B]` for a data tensor x [N, ...] and resampled indices idx [B, N]
(default: NaN-aware mean of x[idx]); ratio metrics (AUROC, F1, macro means) pass their own function.
`strata` resamples within groups (e.g. MS-CXR categories), keeping each group's size. Percentile CIs.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable, Iterator

import torch

from msxr_bench.metrics.aggregation import micro_mean

__all__ = ["BootstrapCI", "PairedBootstrap", "bootstrap_ci", "mean_statistic", "paired_bootstrap", "resample_indices"]

Statistic = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
_CHUNK_ELEMENTS = 1 << 22  # indices per chunk (32 MiB of int64)


def mean_statistic(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """NaN-aware mean of x[idx] per resample ([B])."""
    return micro_mean(x[idx])


def resample_indices(
    n: int, n_resamples: int, seed: int, strata: torch.Tensor | None = None
) -> Iterator[torch.Tensor]:
    """Chunks of resampled indices [b, n] (CPU LongTensors), deterministic for (n, n_resamples, seed, strata)."""
    if n < 1:
        raise ValueError("cannot bootstrap zero samples")
    gen = torch.Generator().manual_seed(int(seed))
    chunk = max(1, _CHUNK_ELEMENTS // n)
    members = None
    if strata is not None:
        strata = torch.as_tensor(strata).cpu()
        if strata.shape != (n,):
            raise ValueError(f"strata must be [N] = [{n}], got {tuple(strata.shape)}")
        members = [torch.nonzero(strata == s).flatten() for s in torch.unique(strata)]
    done = 0
    while done < n_resamples:
        b = min(chunk, n_resamples - done)
        if members is None:
            yield torch.randint(0, n, (b, n), generator=gen)
        else:
            yield torch.cat([m[torch.randint(0, m.numel(), (b, m.numel()), generator=gen)] for m in members], dim=1)
        done += b


@dataclass
class BootstrapCI:
    estimate: float  # the statistic on the full sample
    low: float
    high: float
    alpha: float
    n_resamples: int
    n_valid: int  # resamples whose statistic was finite (the CI uses these)
    seed: int
    method: str = "percentile"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class PairedBootstrap:
    diff: float  # statistic(candidate) - statistic(baseline) on the full sample
    low: float
    high: float
    p_value_worse: float  # one-sided: small when the candidate is significantly worse
    alpha: float
    n_resamples: int
    n_valid: int
    seed: int
    higher_is_better: bool = True
    method: str = "paired percentile bootstrap"

    def to_dict(self) -> dict:
        return asdict(self)


def _full(x: torch.Tensor, statistic: Statistic) -> float:
    idx = torch.arange(x.shape[0], device=x.device)[None]
    return float(statistic(x, idx)[0])


def _percentiles(stats: torch.Tensor, alpha: float) -> tuple[float, float, torch.Tensor]:
    ok = stats[torch.isfinite(stats)]
    if ok.numel() == 0:
        return math.nan, math.nan, ok
    q = torch.quantile(ok, torch.tensor([alpha / 2, 1 - alpha / 2], dtype=ok.dtype, device=ok.device))
    return float(q[0]), float(q[1]), ok


def _check_alpha(alpha: float, n_resamples: int) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be positive, got {n_resamples}")


def bootstrap_ci(
    values: torch.Tensor,
    statistic: Statistic | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    strata: torch.Tensor | None = None,
) -> BootstrapCI:
    """Percentile (1 - alpha) CI of `statistic` over resampled samples (rows of `values`)."""
    _check_alpha(alpha, n_resamples)
    stat = statistic or mean_statistic
    x = torch.as_tensor(values)
    parts = [stat(x, idx.to(x.device)).to(torch.float64) for idx in resample_indices(x.shape[0], n_resamples, seed, strata)]
    low, high, ok = _percentiles(torch.cat(parts), alpha)
    return BootstrapCI(_full(x, stat), low, high, alpha, n_resamples, int(ok.numel()), seed)


def paired_bootstrap(
    candidate: torch.Tensor,
    baseline: torch.Tensor,
    statistic: Statistic | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    higher_is_better: bool = True,
    strata: torch.Tensor | None = None,
) -> PairedBootstrap:
    """Candidate minus baseline on the same resampled samples: CI and a one-sided p-value for 'worse'.

    p_value_worse = (1 + #{resampled diff >= 0}) / (1 + n_valid) when higher is better (<= 0 otherwise):
    the bootstrap evidence against "the candidate is not worse". Identical runs give p = 1.
    """
    _check_alpha(alpha, n_resamples)
    a, b = torch.as_tensor(candidate), torch.as_tensor(baseline)
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"paired samples must align: {a.shape[0]} candidate vs {b.shape[0]} baseline rows")
    stat = statistic or mean_statistic
    parts = []
    for idx in resample_indices(a.shape[0], n_resamples, seed, strata):
        parts.append(stat(a, idx.to(a.device)).to(torch.float64) - stat(b, idx.to(b.device)).to(torch.float64).to(a.device))
    low, high, ok = _percentiles(torch.cat(parts), alpha)
    not_worse = (ok >= 0) if higher_is_better else (ok <= 0)
    p = (1 + int(not_worse.sum())) / (1 + ok.numel())
    diff = _full(a, stat) - _full(b, stat)
    return PairedBootstrap(diff, low, high, p, alpha, n_resamples, int(ok.numel()), seed, higher_is_better)
