"""The box tasks' numbers as functions of their rows (`box_rows.py`), with bootstrap CIs: the one definition.

Localisation is measured on groundable phrases (at least one true box); groundability (boxes predicted or not)
is measured on every phrase. Per-sample means come per category, macro (mean of category means) and micro;
pooled IoU and AP pool over the dataset (ChEX), with resampled samples counted as often as they are drawn.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import torch

from msxr_bench.metrics.aggregation import aggregate, group_index, macro_mean, micro_mean
from msxr_bench.metrics.box_ap import AP_IOU_THRESHOLDS, average_precision
from msxr_bench.metrics.boxes import ACC_THRESHOLDS
from msxr_bench.results import CategoryRow
from msxr_bench.tasks.base import RowStatistic, finite_count, label_column, number_column
from msxr_bench.tasks.grounding.box_rows import POOLED_SUFFIXES, RANKED_BOXES
from msxr_bench.tasks.grounding.box_spec import MAP_COLUMNS

CATEGORY_COLUMNS = ("acc@0.5", "best_box_iou", "union_iou", "cnr")


def _sample_columns(rows: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
    best = number_column(rows, "best_box_iou")
    out = {"best_box_iou": best, "union_iou": number_column(rows, "union_iou")}
    for t in ACC_THRESHOLDS:  # MedRPG's Acc@t: best-box IoU >= t (NaN stays NaN: not groundable)
        out[f"acc@{t:g}"] = torch.where(torch.isnan(best), math.nan, (best >= t).to(torch.float64))
    return out


def _ratio(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """sum over resampled rows of column 0 / of column 1 ... averaged over column pairs (NaN rows skipped)."""
    parts = x[idx]  # [B, N, 2p]
    inter, union = parts[..., 0::2].nansum(1), parts[..., 1::2].nansum(1)
    return torch.where(union > 0, inter / union.clamp(min=1e-300), math.nan).mean(-1)


def _ap_data(rows: Sequence[Mapping[str, Any]]) -> torch.Tensor:
    """[N, 1 + 2K]: true boxes of groundable rows (0 otherwise), then (score, tp bits) of the ranked boxes."""
    groundable = number_column(rows, "n_true_boxes", allow_null=False) > 0
    cols = [torch.where(groundable, number_column(rows, "n_true_boxes", allow_null=False), 0.0)]
    for k in range(1, RANKED_BOXES + 1):
        cols.append(torch.where(groundable, number_column(rows, f"box{k}_score"), math.nan))
        cols.append(number_column(rows, f"box{k}_tp"))
    return torch.stack(cols, dim=1)


def _ap_statistic(which: Sequence[int]):
    def statistic(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        weights = torch.zeros(idx.shape[0], n, dtype=torch.float64).scatter_add_(
            1, idx, torch.ones(idx.shape, dtype=torch.float64))
        bits = torch.nan_to_num(x[:, 2::2], nan=0.0).to(torch.int64)
        tp = (bits[..., None] >> torch.arange(len(AP_IOU_THRESHOLDS))) & 1
        ap = average_precision(x[:, 1::2], tp.bool(), x[:, 0], weights)
        return ap[:, list(which)].mean(-1)
    return statistic


def box_statistics(rows: Sequence[Mapping[str, Any]], scoring: Mapping[str, Any],
                   categories: Sequence[str]) -> dict[str, RowStatistic]:
    groups, names = group_index(label_column(rows, "category"), categories)
    g = groups.to(torch.float64)
    out: dict[str, RowStatistic] = {}
    columns = {**_sample_columns(rows), **{c: number_column(rows, c) for c in MAP_COLUMNS}}
    source = scoring.get("box_source") if isinstance(scoring.get("box_source"), Mapping) else {}
    for name, values in columns.items():
        data = torch.stack([values, g], dim=1)
        note = None
        if name in MAP_COLUMNS and source.get("kind") == "model" and finite_count(values) == 0:
            note = str(source.get("cnr"))

        def macro(x: torch.Tensor, idx: torch.Tensor, k: int = len(names)) -> torch.Tensor:
            return macro_mean(x[:, 0][idx], x[:, 1].long()[idx], k)

        out[f"{name}_macro"] = RowStatistic(data, macro, finite_count(values), groups, note=note)
        out[f"{name}_micro"] = RowStatistic(data, lambda x, idx: micro_mean(x[:, 0][idx]), finite_count(values),
                                            groups, note=note)
    n_true = number_column(rows, "n_true_boxes", allow_null=False)
    n_pred = number_column(rows, "n_boxes", allow_null=False)
    truth, said = (n_true > 0).to(torch.float64), (n_pred > 0).to(torch.float64)
    found = torch.stack([truth, said], dim=1)
    n_groundable = int(truth.sum())
    out["no_box_rate"] = RowStatistic(torch.where(truth > 0, 1.0 - said, math.nan)[:, None],
                                      lambda x, idx: micro_mean(x[:, 0][idx]), n_groundable, groups)
    out["groundability_precision"] = RowStatistic(found, lambda x, idx: _share(x[idx], 1, 0), int(said.sum()), groups)
    out["groundability_recall"] = RowStatistic(found, lambda x, idx: _share(x[idx], 0, 1), n_groundable, groups)
    pooled = torch.stack([number_column(rows, f"pooled_{part}{s}") for s in POOLED_SUFFIXES
                          for part in ("inter", "union")], dim=1)
    out["pooled_iou"] = RowStatistic(pooled[:, :2], _ratio, n_groundable, groups)
    out["pooled_miou"] = RowStatistic(pooled[:, 2:], _ratio, n_groundable, groups)
    ap = _ap_data(rows)
    thresholds = list(AP_IOU_THRESHOLDS)
    out["map"] = RowStatistic(ap, _ap_statistic(range(len(thresholds))), n_groundable, groups)
    out["ap50"] = RowStatistic(ap, _ap_statistic([thresholds.index(0.5)]), n_groundable, groups)
    out["ap75"] = RowStatistic(ap, _ap_statistic([thresholds.index(0.75)]), n_groundable, groups)
    return out


def _share(x: torch.Tensor, given: int, hit: int) -> torch.Tensor:
    """Among resampled rows with x[..., given] = 1, the share with x[..., hit] = 1 (NaN if none)."""
    base = x[..., given]
    n = base.sum(-1)
    return torch.where(n > 0, (base * x[..., hit]).sum(-1) / n.clamp(min=1), math.nan)


def box_per_category(rows: Sequence[Mapping[str, Any]], categories: Sequence[str]) -> list[CategoryRow]:
    labels = label_column(rows, "category")
    columns = {**_sample_columns(rows), "cnr": number_column(rows, "cnr")}
    summaries = {c: aggregate(columns[c], labels, categories) for c in CATEGORY_COLUMNS}
    present = [c for c in categories if c in set(labels)] + sorted(set(labels) - set(categories))
    return [CategoryRow(category=c, n=labels.count(c), metrics={k: s.per_group[c].mean for k, s in summaries.items()})
            for c in present]

