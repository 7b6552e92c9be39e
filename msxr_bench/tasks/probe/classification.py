"""`rsna-cls-probe`: linear probing on RSNA Pneumonia (BioViL paper Tables 6 / A.2).

The train, val and test images are embedded once (the engine, with the eval cache when the run has one); then per
(label fraction, seed): a stratified subset of train, one probe per (lr, weight decay) of the grid (`fit.py`), the
grid point with the best val AUROC kept, its F1-max threshold on val kept, and its positive-class probability
written for every test image. Rows are keyed (sample_id, fraction, seed); `metrics` re-derives everything per
fraction (mean over seeds, sd over seeds, CIs resampling test images).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch

from msxr_bench.adapters.base import GLOBAL, TEXT
from msxr_bench.data.types import RsnaSample
from msxr_bench.engine.images import image_failure_report
from msxr_bench.metrics.classification import auroc, binary_metrics_at, f1_max_threshold
from msxr_bench.tasks.base import Loaded, RowError, RowStatistic, Scored, Task
from msxr_bench.tasks.context import RunContext
from msxr_bench.tasks.driver import apply_limit
from msxr_bench.tasks.probe.features import FEATURE_KINDS, PreProjectionView, SplitFeatures, pooled_features, require
from msxr_bench.tasks.probe.fit import (
    OPTIMISER, balanced_weights, fit_linear_probe, positive_probability, random_init, select_on_val,
)
from msxr_bench.tasks.probe.seeds import fractions_of, pivot, sample_sd, seed_columns
from msxr_bench.tasks.probe.spec import PROBE_KINDS, RsnaClsProbeParams, fraction_label
from msxr_bench.tasks.probe.subsets import stratified_subset
from msxr_bench.tasks.rsna.classification import prompt_direction
from msxr_bench.tasks.rsna.selection import select_rsna
from msxr_bench.tasks.spec import ProtocolSpec

RATES = ("accuracy", "f1", "sensitivity", "specificity", "precision")
OPTIMISTIC = "threshold chosen on the test set itself (F1-max): optimistic, the paper's choice"
VAL_NOTE = "threshold chosen on the validation set (F1-max), before looking at test"


def probe_inputs(run: RunContext, params: RsnaClsProbeParams) -> tuple[Any, torch.Tensor | None]:
    """(the adapter whose global_ the probe reads, the prompt-initialised map [D, 2] or None for random init)."""
    if params.probe == "classic":
        return PreProjectionView(run.adapter), None
    require(run.adapter, (GLOBAL, TEXT), "the prompt-initialised probe")
    direction = prompt_direction(run, params.positive_prompts, params.negative_prompts)  # [2, D]: pos, neg
    return run.adapter, torch.stack([direction[1], direction[0]], dim=1).float().cpu()  # columns: neg, pos


def standardiser(x: torch.Tensor):
    """The classic probe's input map: (x - mean) / sd with the training subset's statistics (sd 0 -> 1)."""
    mean, sd = x.mean(0), x.std(0, unbiased=False)
    sd = torch.where(sd > 0, sd, torch.ones_like(sd))
    return lambda v: (v - mean) / sd


class RsnaClsProbeTask(Task):
    def load(self, params: RsnaClsProbeParams, protocol: ProtocolSpec, split: str, data_root: Path) -> Loaded:
        loaded = select_rsna(data_root, protocol, split)
        loaded.context = {part: select_rsna(data_root, protocol, part) for part in ("train", "val")}
        return loaded

    def score(self, samples: Sequence[RsnaSample], loaded: Loaded, params: RsnaClsProbeParams,
              run: RunContext) -> Scored:
        encoder, init_map = probe_inputs(run, params)
        parts = {name: apply_limit(loaded.context[name].samples, run.limit, f"RSNA {name}") for name in ("train", "val")}
        feats = {name: pooled_features(run, encoder, s) for name, s in parts.items()}
        feats["test"] = pooled_features(run, encoder, samples)
        for name in ("train", "val"):
            if len(set(feats[name].labels.tolist())) < 2:
                raise ValueError(f"the {name} images that decoded hold one class only: a probe cannot be trained "
                                 "or selected")
        rows, runs, memo = [], [], {}
        for fraction in params.fractions:
            for seed in params.seeds:
                subset = stratified_subset(feats["train"].labels.tolist(), fraction, seed)
                key = (subset.indices.tobytes(), None if init_map is not None else seed)
                if key not in memo:
                    memo[key] = self._fit(feats, subset.indices, init_map, seed, params)
                got = memo[key]
                runs.append({**subset.record(feats["train"].ids), **got["record"]})
                for s, p in zip(feats["test"].samples, got["test_scores"]):
                    rows.append({"sample_id": s.patient_id, "fraction": fraction, "seed": seed, "label": s.label,
                                 "score": p, "val_threshold": got["record"]["val_threshold"]})
        scoring = self._scoring(params, loaded, feats, runs, encoder is not run.adapter, run)
        skips = [image_failure_report(feats[name].failures, {s.patient_id: [f"{s.patient_id} ({name})"]
                                                             for s in (parts[name] if name != "test" else samples)})
                 for name in ("train", "val", "test")]
        notes = [f"{len(feats['test'].samples)} test images scored; probes trained on "
                 f"{len(feats['train'].samples)} train images (fractions {', '.join(map(fraction_label, params.fractions))}"
                 f", seeds {list(params.seeds)}), selected on {len(feats['val'].samples)} val images"]
        return Scored(rows, scoring, skips, notes)

    def _fit(self, feats: dict[str, SplitFeatures], indices, init_map: torch.Tensor | None, seed: int,
             params: RsnaClsProbeParams) -> dict:
        t0 = time.perf_counter()
        x, y = feats["train"].x[indices], feats["train"].labels[indices]
        if init_map is None:  # classic: standardised features, seeded random init
            prep = standardiser(x)
            weight, bias = random_init(x.shape[1], 2, seed)
        else:
            prep, weight, bias = (lambda v: v), init_map, torch.zeros(2)
        class_w = balanced_weights(y, 2) if params.class_weighting == "balanced" else None
        fit = fit_linear_probe(prep(x), y, weight, bias, params.lrs, params.weight_decays, params.epochs, class_w)
        val_scores = positive_probability(prep(feats["val"].x), fit)
        best, areas = select_on_val(val_scores, feats["val"].labels)
        threshold = float(f1_max_threshold(val_scores[best].double(), feats["val"].labels.double()).threshold)
        test_scores = positive_probability(prep(feats["test"].x), fit)[best]
        lr, wd = fit.grid[best]
        record = {"selected_lr": lr, "selected_weight_decay": wd, "val_auroc": float(areas[best]),
                  "val_auroc_grid": [float(a) for a in areas], "train_loss": fit.final_loss[best],
                  "val_threshold": threshold, "fit_seconds": round(time.perf_counter() - t0, 4)}
        return {"record": record, "test_scores": test_scores.double().tolist()}

    def _scoring(self, params, loaded, feats, runs, classic: bool, run: RunContext) -> dict:
        return {
            "probe": params.probe, "probe_definition": PROBE_KINDS[params.probe],
            "features": FEATURE_KINDS["pre-projection" if classic else "projected"],
            "input_map": "standardised with the training subset's mean and sd" if classic else "none (as zero-shot)",
            "init": "uniform +-1/sqrt(D), seeded with the probe seed (nn.Linear's default)" if classic else
                    "beta = [t_negative, t_positive] (L2-normalised prompt-list embeddings), bias 0",
            "positive_prompts": list(params.positive_prompts), "negative_prompts": list(params.negative_prompts),
            "classes": ["negative (0)", "positive (1)"], "score": "softmax probability of the positive class",
            "optimiser": OPTIMISER, "lr_grid": list(params.lrs), "weight_decay_grid": list(params.weight_decays),
            "epochs": params.epochs, "class_weighting": params.class_weighting,
            "select_on_val": "per (fraction, seed): the (lr, weight decay) with the highest val AUROC (first in "
                             "grid order on ties); then the F1-max threshold of its val scores (@val metrics)",
            "subsets": "stratified per class: round(fraction * n_class) images (at least 1), drawn with "
                       "numpy default_rng([seed, round(fraction * 1e6)]); fraction 1 = all",
            "identical_fits": "fits with the same subset and initial map (the prompt probe at fraction 1) are "
                              "computed once and shared by their seeds",
            "train": loaded.context["train"].split_record | {"n_embedded": len(feats["train"].samples)},
            "val": loaded.context["val"].split_record | {"n_embedded": len(feats["val"].samples)},
            "split": loaded.split_record, "runs": runs,
            "auroc": "exact Mann-Whitney, ties count half", "f1max_note": OPTIMISTIC, "val_threshold_note": VAL_NOTE,
            "ci": f"percentile bootstrap over test images (all seeds of an image together), {run.n_bootstrap} "
                  f"resamples, seed {run.seed}; the statistic is the mean over seeds",
        }

    def metrics(self, rows: Sequence[Mapping[str, Any]], scoring: Mapping[str, Any]) -> dict[str, RowStatistic]:
        out: dict[str, RowStatistic] = {}
        for fraction in fractions_of(rows):
            ids, seeds, cols = pivot(rows, fraction, ("score", "val_threshold", "label"), shared=("label",))
            label = cols["label"][:, :1]
            if not bool(((label == 0) | (label == 1)).all()):
                raise RowError("samples[*].label: RSNA labels must be 0 or 1")
            data = torch.cat([label, cols["score"], cols["val_threshold"]], dim=1)
            out.update(_fraction_metrics(fraction_label(fraction), data, len(seeds), len(ids)))
        return out

    def no_direction(self) -> frozenset[str]:
        return SPREADS


class _Spreads(frozenset):
    """Every `<metric>_sd[<fraction>]` name (whatever the fractions): a spread over seeds has no direction."""

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and "_sd[" in name


SPREADS = _Spreads()


def _fraction_metrics(tag: str, data: torch.Tensor, n_seeds: int, n: int) -> dict[str, RowStatistic]:
    """Metrics of one fraction from data [N, 1 + 2S]: label, S scores, S val thresholds."""
    def scores(x, idx):
        return seed_columns(x, idx, 1, n_seeds), x[:, 0][idx].expand(n_seeds, -1, -1)

    def mean_auroc(x, idx):
        s, y = scores(x, idx)
        return auroc(s, y, warn=False).mean(0)

    def sd_auroc(x, idx):
        s, y = scores(x, idx)
        return sample_sd(auroc(s, y, warn=False))

    out = {f"auroc[{tag}]": RowStatistic(data, mean_auroc, n, note=f"mean over {n_seeds} seed(s)"),
           f"auroc_sd[{tag}]": RowStatistic(data, sd_auroc, n, with_ci=False, note=f"sd over {n_seeds} seed(s)")}
    for rate in RATES:
        def at_f1max(x, idx, r=rate):
            s, y = scores(x, idx)
            return getattr(f1_max_threshold(s, y), r).mean(0)

        def at_val(x, idx, r=rate):
            s, y = scores(x, idx)
            t = x[0, 1 + n_seeds:1 + 2 * n_seeds][:, None].expand(-1, s.shape[1])  # [S, B]
            return getattr(binary_metrics_at(s, y, t), r).mean(0)

        out[f"{rate}@f1max[{tag}]"] = RowStatistic(data, at_f1max, n, note=OPTIMISTIC)
        out[f"{rate}@val[{tag}]"] = RowStatistic(data, at_val, n, note=VAL_NOTE)
    return out
