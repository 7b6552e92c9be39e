"""From per-sample values to the reported metrics: bootstrap-wrapped statistics and per-category tables.

Thin glue over `metrics.bootstrap` and `metrics.aggregation` (which hold the definitions).
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch

from msxr_bench.metrics.aggregation import aggregate, micro_mean
from msxr_bench.metrics.bootstrap import bootstrap_ci
from msxr_bench.results import CategoryRow, ConfidenceInterval, Metric
from msxr_bench.tasks.spec import EvalContext

CI_ALPHA = 0.05
IndexStatistic = Callable[[torch.Tensor], torch.Tensor]  # resampled indices [B, N] -> statistic [B]


def bootstrap_metric(statistic: IndexStatistic, n_items: int, ctx: EvalContext, *, n: int | None = None,
                     note: str | None = None, strata: torch.Tensor | None = None) -> Metric:
    """The statistic on all items, with a seeded percentile 95% CI over resampled items (none if --bootstrap 0)."""
    items = torch.arange(n_items)
    value = float(statistic(items[None])[0])
    ci = None
    if ctx.n_bootstrap > 0:
        boot = bootstrap_ci(items, lambda _, idx: statistic(idx), n_resamples=ctx.n_bootstrap, seed=ctx.seed,
                            alpha=CI_ALPHA, strata=strata)
        method = "percentile bootstrap over samples" + (", stratified by category" if strata is not None else "")
        ci = ConfidenceInterval(low=boot.low, high=boot.high, level=1 - CI_ALPHA, n_resamples=boot.n_resamples,
                                seed=boot.seed, method=method)
    return Metric(value=value, ci=ci, n=n_items if n is None else n, note=note)


def group_mean(values: torch.Tensor, member: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """NaN-aware mean of values[idx] over the resampled items that are members of a group: [B]."""
    v = values[idx].to(torch.float64)
    return micro_mean(torch.where(member[idx], v, torch.nan))


def category_table(columns: dict[str, torch.Tensor], categories: Sequence[str],
                   order: Sequence[str]) -> tuple[list[CategoryRow], dict[str, dict]]:
    """Per-category means of each column (NaN samples left out) and, per column, the aggregate summary
    (macro, micro, n, n_nan, categories without values)."""
    summaries = {name: aggregate(values, list(categories), order) for name, values in columns.items()}
    present = [c for c in order if c in set(categories)] + sorted(set(categories) - set(order))
    totals = {c: 0 for c in present}
    for c in categories:
        totals[c] += 1
    rows = [
        CategoryRow(category=c, n=totals[c], metrics={name: s.per_group[c].mean for name, s in summaries.items()})
        for c in present
    ]
    return rows, {name: s.to_dict() for name, s in summaries.items()}
