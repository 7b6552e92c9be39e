"""Per-sample rows of a results file -> the task's reported metrics, computed again.

Mirrors the glue of `tasks/grounding.py`, `rsna_cls.py`, `rsna_seg.py`, `nli.py` and `radnli.py` (which row
column feeds which statistic, which `n`, note and CI strata a metric carries); the statistics themselves are
imported from `metrics/`, `tasks/aggregate.py` and `tasks/radnli_protocol.py`, never re-derived. Each metric
is a `RowStatistic`: columns [N, k] taken from the rows and a `statistic(x, idx) -> [B]` over resampled row
indices, so one object serves re-aggregation and CI checks (`leaderboard validate`) and the paired bootstrap
(`compare`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Callable, Sequence

import torch

from msxr_bench.data.types import MS_CXR_CATEGORIES
from msxr_bench.leaderboard import reaggregate_radnli as rn
from msxr_bench.metrics.aggregation import group_index, macro_mean, micro_mean
from msxr_bench.metrics.bootstrap import Statistic
from msxr_bench.metrics.classification import auroc, binary_metrics_at, f1_max_threshold
from msxr_bench.results import CategoryRow, Metric, TaskResult
from msxr_bench.tasks import TASKS
from msxr_bench.tasks.aggregate import bootstrap_metric, category_table, group_mean

__all__ = ["RowError", "RowStatistic", "row_statistics", "per_category_rows", "sample_order"]

# metrics whose direction is not "higher is better" (controls and raw similarities: no regression verdict)
NO_DIRECTION = {"signed_cnr_wrong_macro", "signed_cnr_wrong_micro", "synonym_similarity",
                "contradiction_similarity", "neutral_similarity", "accuracy_sd", "majority_baseline_accuracy"}


class RowError(ValueError):
    """A per-sample row lacks a field the task's metrics are computed from, or holds a value of the wrong type."""


@dataclass(frozen=True)
class RowStatistic:
    """One reported metric as a function of the rows."""

    data: torch.Tensor  # [N, k] float64 columns from the rows (NaN where the row holds null)
    statistic: Statistic  # (data, idx [B, N]) -> [B]
    n: int  # the `n` the task records with this metric
    strata: torch.Tensor | None = None  # CI resampling strata (MS-CXR: category), as the task uses them
    with_ci: bool = True  # whether the task gives this metric a bootstrap CI
    note: str | None = None
    check_note: bool = True  # False when the note depends on something the rows do not hold

    def value(self) -> float:
        return float(self.statistic(self.data, torch.arange(self.data.shape[0])[None])[0])

    def metric(self, n_bootstrap: int, seed: int) -> Metric:
        """The `Metric` record exactly as the task writes it (value, CI from the same seeded resamples, n, note)."""
        ctx = SimpleNamespace(n_bootstrap=n_bootstrap if self.with_ci else 0, seed=seed)  # what bootstrap_metric reads
        return bootstrap_metric(lambda idx: self.statistic(self.data, idx), self.data.shape[0],
                                ctx, n=self.n, note=self.note, strata=self.strata)  # type: ignore[arg-type]


def _column(rows: Sequence[dict], field: str, *, allow_null: bool = True) -> torch.Tensor:
    out = []
    for i, row in enumerate(rows):
        if field not in row:
            raise RowError(f"samples[{i}] ({row.get('sample_id')!r}): missing field {field!r}")
        v = row[field]
        if v is None and allow_null:
            out.append(math.nan)
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out.append(float(v))
        else:
            raise RowError(f"samples[{i}] ({row.get('sample_id')!r}).{field}: expected a number, got {v!r}")
    return torch.tensor(out, dtype=torch.float64)


def _text_column(rows: Sequence[dict], field: str, allowed: Sequence[str] | None = None) -> list[str]:
    out = []
    for i, row in enumerate(rows):
        v = row.get(field)
        if not isinstance(v, str) or (allowed is not None and v not in allowed):
            want = f"one of {', '.join(allowed)}" if allowed is not None else "a string"
            raise RowError(f"samples[{i}] ({row.get('sample_id')!r}).{field}: expected {want}, got {v!r}")
        out.append(v)
    return out


def _n_finite(values: torch.Tensor) -> int:
    return int(torch.isfinite(values).sum())


# ---- one builder per task (mirrors the task's runner) -----------------------------------------------------
def _ms_cxr(rows: Sequence[dict]) -> dict[str, RowStatistic]:
    from msxr_bench.tasks.grounding import CI_COLUMNS, COLUMNS

    groups, names = group_index(_text_column(rows, "category"), MS_CXR_CATEGORIES)
    g = groups.to(torch.float64)
    out: dict[str, RowStatistic] = {}
    for c in COLUMNS:
        values = _column(rows, c)
        data = torch.stack([values, g], dim=1)
        strata = groups if c in CI_COLUMNS else None
        n_ok = _n_finite(values)

        def macro(x: torch.Tensor, idx: torch.Tensor, k: int = len(names)) -> torch.Tensor:
            return macro_mean(x[:, 0][idx], x[:, 1].long()[idx], k)

        def micro(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
            return micro_mean(x[:, 0][idx])

        with_ci = c in CI_COLUMNS
        out[f"{c}_macro"] = RowStatistic(data, macro, n_ok, strata, with_ci)
        out[f"{c}_micro"] = RowStatistic(data, micro, n_ok, strata, with_ci)
    return out


def _rsna_cls(rows: Sequence[dict]) -> dict[str, RowStatistic]:
    from msxr_bench.tasks.rsna_cls import OPTIMISTIC, RATES

    spec = TASKS["rsna-cls"]
    labels = _column(rows, "label", allow_null=False)
    if not bool(((labels == 0) | (labels == 1)).all()):
        raise RowError("samples[*].label: RSNA labels must be 0 or 1")
    data = torch.stack([_column(rows, "score", allow_null=False), labels], dim=1)
    n = data.shape[0]

    def area(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        return auroc(x[:, 0][idx], x[:, 1][idx], warn=False)

    out = {"auroc": RowStatistic(data, area, n)}
    threshold = spec.defaults["natural_threshold"]
    for suffix, rule, note in (("f1max", None, OPTIMISTIC), ("0", threshold, None)):
        for rate in RATES:
            def rate_at(x: torch.Tensor, idx: torch.Tensor, r: str = rate, t=rule) -> torch.Tensor:
                s, y = x[:, 0][idx], x[:, 1][idx]
                return getattr(f1_max_threshold(s, y) if t is None else binary_metrics_at(s, y, t), r)

            out[f"{rate}@{suffix}"] = RowStatistic(data, rate_at, n, note=note)
    return out


def _rsna_seg(rows: Sequence[dict]) -> dict[str, RowStatistic]:
    out = {}
    for name in ("dice", "iou", "cnr"):
        values = _column(rows, name)
        out[name] = RowStatistic(values[:, None], lambda x, idx: micro_mean(x[:, 0][idx]), _n_finite(values))
    return out


def _radnli_zs(rows: Sequence[dict]) -> dict[str, RowStatistic]:
    labels = _text_column(rows, "label", ("entailment", "contradiction", "neutral"))
    member = {name: torch.tensor([lab == name for lab in labels], dtype=torch.float64)
              for name in ("entailment", "contradiction", "neutral")}
    data = torch.stack([_column(rows, "cosine", allow_null=False), member["entailment"], member["contradiction"],
                        member["neutral"]], dim=1)

    def mean_of(col: int) -> Statistic:
        return lambda x, idx: group_mean(x[:, 0], x[:, col].bool(), idx)

    def gap(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        return group_mean(x[:, 0], x[:, 1].bool(), idx) - group_mean(x[:, 0], x[:, 2].bool(), idx)

    count = {name: int(m.sum()) for name, m in member.items()}
    return {
        "synonym_similarity": RowStatistic(data, mean_of(1), count["entailment"]),
        "contradiction_gap": RowStatistic(data, gap, count["entailment"] + count["contradiction"]),
        "contradiction_similarity": RowStatistic(data, mean_of(2), count["contradiction"]),
        "neutral_similarity": RowStatistic(data, mean_of(3), count["neutral"]),
    }


def _radnli(rows: Sequence[dict], scoring: dict) -> dict[str, RowStatistic]:
    data, seeds = rn.radnli_columns(rows, RowError)
    n, k = data.shape[0], len(seeds)
    out = {
        "accuracy": RowStatistic(data, rn.correct_fraction, n,
                                 note=f"mean over {k} seeds of the test accuracy; CI resamples test pairs"),
        "accuracy_sd": RowStatistic(data, rn.accuracy_sd, n, with_ci=False, note=f"sample sd over {k} seeds"),
        **{m: RowStatistic(data, rn.seed_mean(m), n, with_ci=False, note=f"mean over {k} seeds")
           for m in ("precision_macro", "recall_macro", "f1_macro")},
        "majority_baseline_accuracy": RowStatistic(
            data, rn.majority_accuracy, n, with_ci=False,
            note=f"always '{rn.majority_label(data)}' (the most frequent RadNLI test label)"),
    }
    runs = scoring.get("runs") if isinstance(scoring.get("runs"), list) else []
    epochs = {r.get("seed"): r.get("best_epoch") for r in runs if isinstance(r, dict)}
    for j, seed in enumerate(seeds):
        out[f"accuracy_seed{seed}"] = RowStatistic(data, rn.seed_accuracy(j), n, with_ci=False,
                                                   note=f"best dev epoch {epochs.get(seed)}", check_note=seed in epochs)
    return out


BUILDERS: dict[str, Callable[[Sequence[dict]], dict[str, RowStatistic]]] = {
    "ms-cxr": _ms_cxr, "rsna-cls": _rsna_cls, "rsna-seg": _rsna_seg, "radnli-zs": _radnli_zs,
}


def row_statistics(task: str, rows: Sequence[dict], scoring: dict | None = None) -> dict[str, RowStatistic]:
    """Every metric the task reports, as a function of its per-sample rows (RowError on malformed rows).
    `scoring` (the results file's) supplies what only notes need (radnli: each seed's best epoch)."""
    if task not in BUILDERS and task != "radnli":
        raise KeyError(f"no re-aggregation for task {task!r} (known: {', '.join(BUILDERS)}, radnli)")
    if not rows:
        raise RowError("no per-sample rows: the metrics cannot be recomputed")
    if task == "radnli":
        return _radnli(rows, scoring or {})
    return BUILDERS[task](rows)


def per_category_rows(result: TaskResult) -> list[CategoryRow] | None:
    """The per-category table (ms-cxr: categories; radnli: classes) recomputed from the rows, else None."""
    if result.task.name == "radnli":
        return rn.per_class_rows(rn.radnli_columns(result.samples, RowError)[0])
    if result.task.name != "ms-cxr":
        return None
    from msxr_bench.tasks.grounding import COLUMNS

    cats = _text_column(result.samples, "category")
    rows, _ = category_table({c: _column(result.samples, c) for c in COLUMNS}, cats, MS_CXR_CATEGORIES)
    return rows


def sample_order(rows: Sequence[dict]) -> list[str]:
    return [str(r.get("sample_id")) for r in rows]


def has_direction(metric: str) -> bool:
    """Whether 'higher is better' holds for `metric` (controls and raw similarities have no direction)."""
    return metric not in NO_DIRECTION
