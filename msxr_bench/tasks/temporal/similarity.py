"""`ms-cxr-t-sim`: MS-CXR-T temporal sentence similarity (text only). cos(sentence_1, sentence_2) of L2-normalised
text embeddings; ROC-AUC of paraphrase vs contradiction; accuracy of "paraphrase iff cosine >= threshold", where
each pair's threshold is chosen on the other folds of a seeded, category-stratified k-fold, never on the pairs it
scores (each fold's threshold is recorded in its rows, so the accuracy is recomputed from the rows).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from msxr_bench.data.mscxr_t import DATASET_VERSION, SENTENCE_CATEGORIES, SENTENCE_FILE, SentencePair
from msxr_bench.data.mscxr_t import find_mscxrt_file, load_sentence_pairs
from msxr_bench.metrics.classification import auroc
from msxr_bench.tasks.base import (
    Loaded, RowError, RowStatistic, Scored, Task, file_record, group_mean, label_column, number_column,
)
from msxr_bench.tasks.context import RunContext
from msxr_bench.tasks.spec import ProtocolSpec
from msxr_bench.tasks.temporal.spec import MsCxrTSimParams

THRESHOLD_RULE = ("candidates: every midpoint between consecutive distinct training-fold cosines, and one below / "
                  "above them all; the one maximising training-fold accuracy (exact ties: the lower median of the "
                  "tied candidates)")


def stratified_folds(categories: Sequence[str], k: int, seed: int) -> list[int]:
    """The fold of each pair: per category (in SENTENCE_CATEGORIES order) the pairs in file order are permuted with one
    numpy RandomState(seed) and dealt round-robin over the k folds."""
    rs = np.random.RandomState(seed)
    fold = [0] * len(categories)
    for category in SENTENCE_CATEGORIES:
        members = [i for i, c in enumerate(categories) if c == category]
        for rank, j in enumerate(rs.permutation(len(members))):
            fold[members[j]] = rank % k
    return fold


def best_threshold(scores: torch.Tensor, positive: torch.Tensor) -> float:
    """The accuracy-maximising threshold of "positive iff score >= threshold" on these scores (THRESHOLD_RULE)."""
    values = torch.unique(scores.to(torch.float64))
    candidates = torch.cat([values[:1] - 1.0, (values[1:] + values[:-1]) / 2, values[-1:] + 1.0])
    accuracy = ((scores[None, :] >= candidates[:, None]) == positive.bool()[None, :]).double().mean(dim=1)
    tied = candidates[accuracy == accuracy.max()]
    return float(tied[(len(tied) - 1) // 2])


def cross_fitted_thresholds(scores: torch.Tensor, positive: torch.Tensor, fold: list[int], k: int) -> list[float]:
    """The threshold of each pair: the best one on the pairs of the other folds."""
    fold_t = torch.tensor(fold)
    per_fold = {}
    for f in range(k):
        train = fold_t != f
        if not train.any():
            raise ValueError("a threshold fold holds every pair")
        per_fold[f] = best_threshold(scores[train], positive[train])
    return [per_fold[f] for f in fold]


class MsCxrTSimTask(Task):
    def load(self, params: MsCxrTSimParams, protocol: ProtocolSpec, split: str, data_root: Path) -> Loaded:
        path = find_mscxrt_file(data_root, SENTENCE_FILE)
        pairs, skips = load_sentence_pairs(path)
        return Loaded(pairs, [p.pair_id for p in pairs], DATASET_VERSION, split,
                      [file_record("sentence_similarity", path)], [skips])

    def score(self, samples: Sequence[SentencePair], loaded: Loaded, params: MsCxrTSimParams,
              run: RunContext) -> Scored:
        policy = run.text_policy(run.adapter)
        memo = run.text_memo(run.adapter, policy, batch_size=max(run.batch_size, 32))
        first, second = memo.embed([p.sentence_1 for p in samples]), memo.embed([p.sentence_2 for p in samples])
        cosine = (first * second).sum(-1).double().cpu()
        categories = [p.category for p in samples]
        positive = torch.tensor([c == "paraphrase" for c in categories])
        k = min(params.threshold_folds, len(samples))
        fold = stratified_folds(categories, k, params.fold_seed)
        thresholds = cross_fitted_thresholds(cosine, positive, fold, k)
        rows = [{"sample_id": p.pair_id, "label": p.category, "cosine": float(c), "fold": f, "threshold": t,
                 "predicted": "paraphrase" if float(c) >= t else "contradiction",
                 "sentence_1": p.sentence_1, "sentence_2": p.sentence_2}
                for p, c, f, t in zip(samples, cosine, fold, thresholds)]
        scoring = {
            "similarity": "cosine of L2-normalised text embeddings (adapter.encode_texts), sentence_1 vs sentence_2",
            "positive_class": "paraphrase", "decision_rule": "paraphrase iff cosine >= threshold",
            "threshold_folds": k, "fold_seed": params.fold_seed,
            "folds": "category-stratified: per category, pairs permuted with numpy RandomState(fold_seed) and dealt "
                     "round-robin", "threshold_rule": THRESHOLD_RULE,
            "thresholds": sorted(set(thresholds)),
            "ci": f"percentile bootstrap over pairs stratified by category, thresholds fixed as cross-fitted, "
                  f"{run.n_bootstrap} resamples, seed {run.seed}",
            "truncated_texts": policy.record(keep_text=run.keep_text),
        }
        return Scored(rows, scoring)

    def metrics(self, rows: Sequence[Mapping[str, Any]], scoring: Mapping[str, Any]) -> dict[str, RowStatistic]:
        positive = torch.tensor([c == "paraphrase" for c in label_column(rows, "label", SENTENCE_CATEGORIES)])
        cosine = number_column(rows, "cosine", allow_null=False)
        threshold = number_column(rows, "threshold", allow_null=False)
        predicted = torch.tensor([c == "paraphrase" for c in label_column(rows, "predicted", SENTENCE_CATEGORIES)])
        wrong = (predicted != (cosine >= threshold)).nonzero().flatten().tolist()
        if wrong:
            raise RowError(f"samples[{wrong[0]}]: predicted does not follow cosine >= threshold")
        data = torch.stack([cosine, positive.double(), (predicted == positive).double()], dim=1)
        strata = positive.long()
        n_pos, n_neg = int(positive.sum()), int((~positive).sum())

        def mean_of(member: bool):
            return lambda x, idx: group_mean(x[:, 0], x[:, 1].bool() == member, idx)

        def gap(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
            return mean_of(True)(x, idx) - mean_of(False)(x, idx)

        return {
            "roc_auc": RowStatistic(data, lambda x, idx: auroc(x[:, 0][idx], x[:, 1][idx], warn=False), len(rows),
                                    strata),
            "accuracy": RowStatistic(data, lambda x, idx: x[:, 2][idx].mean(-1), len(rows), strata),
            "paraphrase_similarity": RowStatistic(data, mean_of(True), n_pos, strata),
            "contradiction_similarity": RowStatistic(data, mean_of(False), n_neg, strata),
            "similarity_gap": RowStatistic(data, gap, n_pos + n_neg, strata),
        }

    def no_direction(self) -> frozenset[str]:
        return frozenset({"paraphrase_similarity", "contradiction_similarity"})
