"""`rsna-cls` with a prompt sweep: per-pair scores in the rows (`score[<pair>]`), per-pair AUROC and F1 at the
F1-maximising threshold, and the AUROC change of each pair against its reference pair with the paired bootstrap of
`metrics.bootstrap.paired_bootstrap` (the driver's CI of `delta_auroc[<pair>]` resamples the same images for both
pairs: the same interval; `paired_bootstrap` also gives the one-sided p-value recorded in the scoring)."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch

from msxr_bench.metrics.bootstrap import paired_bootstrap
from msxr_bench.metrics.classification import auroc, f1_max_threshold
from msxr_bench.tasks.base import CI_ALPHA, RowError, RowStatistic, number_column
from msxr_bench.tasks.rsna.sweep import PromptPair

OPTIMISTIC = "threshold chosen on the evaluated split itself (F1-max): optimistic, as in the paper"


def score_field(name: str) -> str:
    return f"score[{name}]"


def sweep_pairs(scoring: Mapping[str, Any]) -> list[dict]:
    sweep = scoring.get("prompt_sweep")
    if not isinstance(sweep, dict) or not isinstance(sweep.get("pairs"), list):
        return []
    return [p for p in sweep["pairs"] if isinstance(p, dict) and isinstance(p.get("name"), str)]


def _auroc_of(column: int):
    return lambda x, idx: auroc(x[:, column][idx], x[:, 0][idx], warn=False)


def _f1_of(column: int):
    return lambda x, idx: f1_max_threshold(x[:, column][idx], x[:, 0][idx]).f1


def _delta_of(column: int, reference: int):
    return lambda x, idx: (auroc(x[:, column][idx], x[:, 0][idx], warn=False)
                           - auroc(x[:, reference][idx], x[:, 0][idx], warn=False))


def sweep_data(rows: Sequence[Mapping[str, Any]], labels: torch.Tensor, pairs: list[dict]) -> torch.Tensor:
    """[N, 1 + P]: label, then each pair's score (RowError when a row lacks one)."""
    return torch.stack([labels] + [number_column(rows, score_field(p["name"]), allow_null=False) for p in pairs], 1)


def sweep_metrics(rows: Sequence[Mapping[str, Any]], labels: torch.Tensor,
                  scoring: Mapping[str, Any]) -> dict[str, RowStatistic]:
    pairs = sweep_pairs(scoring)
    if not pairs:
        return {}
    data = sweep_data(rows, labels, pairs)
    column = {p["name"]: 1 + i for i, p in enumerate(pairs)}
    n = data.shape[0]
    out = {}
    for p in pairs:
        name = p["name"]
        out[f"auroc[{name}]"] = RowStatistic(data, _auroc_of(column[name]), n)
        out[f"f1@f1max[{name}]"] = RowStatistic(data, _f1_of(column[name]), n, note=OPTIMISTIC)
        ref = p.get("reference")
        if ref is not None:
            if ref not in column:
                raise RowError(f"scoring.prompt_sweep: pair {name!r} names an unknown reference {ref!r}")
            out[f"delta_auroc[{name}]"] = RowStatistic(
                data, _delta_of(column[name], column[ref]), n,
                note=f"AUROC of {name} minus AUROC of {ref} on the same images (paired bootstrap CI)")
            delta = _delta_of(column[name], column[ref])
            out[f"abs_delta_auroc[{name}]"] = RowStatistic(
                data, lambda x, idx, delta=delta: delta(x, idx).abs(), n,
                note=f"|AUROC of {name} - AUROC of {ref}| (the paper's |dAUC|; paired bootstrap CI)")
    return out


def paired_deltas(rows: Sequence[Mapping[str, Any]], labels: torch.Tensor, pairs: Sequence[PromptPair],
                  n_resamples: int, seed: int) -> dict[str, dict]:
    """`paired_bootstrap` of each pair with a reference against it: diff, CI, one-sided p-value (for the record)."""
    if n_resamples < 1:
        return {}
    records = [p.record() for p in pairs]
    data = sweep_data(rows, labels, records)
    column = {p.name: 1 + i for i, p in enumerate(pairs)}
    out = {}
    for p in pairs:
        if p.reference is None:
            continue
        got = paired_bootstrap(data[:, [0, column[p.name]]], data[:, [0, column[p.reference]]], _auroc_of(1),
                               n_resamples=n_resamples, seed=seed, alpha=CI_ALPHA)
        out[p.name] = {"reference": p.reference, **got.to_dict()}
    return out
