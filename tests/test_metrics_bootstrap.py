"""Bootstrap CIs, paired comparisons and category aggregation: determinism, numpy/sklearn cross-checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from msxr_bench.metrics.aggregation import aggregate, group_index, macro_mean
from msxr_bench.metrics.bootstrap import bootstrap_ci, paired_bootstrap, resample_indices
from msxr_bench.metrics.classification import auroc


def test_bootstrap_is_deterministic_for_a_seed():
    x = torch.randn(300, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    a, b = bootstrap_ci(x, seed=7), bootstrap_ci(x, seed=7)
    assert a == b
    assert bootstrap_ci(x, seed=8).low != a.low


def test_percentile_ci_equals_numpy_on_the_same_resamples():
    rng = np.random.default_rng(1)
    x = rng.normal(size=250)
    x[::17] = np.nan  # NaN samples are left out of each resample's mean
    idx = torch.cat(list(resample_indices(250, 500, seed=3))).numpy()
    means = np.nanmean(x[idx], axis=1)
    ci = bootstrap_ci(torch.from_numpy(x), n_resamples=500, seed=3, alpha=0.1)
    assert ci.estimate == pytest.approx(np.nanmean(x), rel=1e-12)
    assert ci.low == pytest.approx(np.percentile(means, 5), rel=1e-12)
    assert ci.high == pytest.approx(np.percentile(means, 95), rel=1e-12)
    assert ci.n_valid == 500 and ci.method == "percentile"


def test_ci_of_a_mean_has_the_textbook_width():
    x = torch.randn(2000, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    ci = bootstrap_ci(x, n_resamples=2000, seed=0)
    expected = 2 * 1.96 * float(x.std()) / math.sqrt(2000)
    assert ci.high - ci.low == pytest.approx(expected, rel=0.1)
    assert ci.low < ci.estimate < ci.high


def test_auroc_bootstrap_uses_a_statistic_of_the_indices():
    rng = np.random.default_rng(2)
    labels = (rng.random(200) < 0.3).astype(int)
    scores = rng.normal(size=200) + labels
    s, y = torch.from_numpy(scores), torch.from_numpy(labels)
    ci = bootstrap_ci(s, lambda v, idx: auroc(v[idx], y[idx], warn=False), n_resamples=200, seed=1)
    idx = next(resample_indices(200, 200, seed=1)).numpy()
    ref = [roc_auc_score(labels[i], scores[i]) for i in idx]
    assert ci.estimate == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert ci.low == pytest.approx(np.percentile(ref, 2.5), abs=1e-12)
    assert ci.high == pytest.approx(np.percentile(ref, 97.5), abs=1e-12)


def test_one_class_resamples_are_left_out_and_counted():
    y = torch.tensor([1] + [0] * 9)
    ci = bootstrap_ci(torch.arange(10.0), lambda v, idx: auroc(v[idx], y[idx], warn=False), n_resamples=300, seed=0)
    assert 0 < ci.n_valid < 300  # about (9/10)^10 = 35% of resamples have no positive


def test_paired_bootstrap_detects_a_drop_and_not_a_tie():
    gen = torch.Generator().manual_seed(4)
    base = torch.randn(400, generator=gen, dtype=torch.float64)
    same = paired_bootstrap(base.clone(), base, seed=0)
    assert same.diff == 0.0 and same.p_value_worse == 1.0 and same.low == same.high == 0.0
    worse = paired_bootstrap(base - 0.3 + 0.1 * torch.randn(400, generator=gen, dtype=torch.float64), base, seed=0)
    assert worse.diff < 0 and worse.high < 0 and worse.p_value_worse == pytest.approx(1 / 1001)
    better = paired_bootstrap(base + 0.3, base, seed=0)
    assert better.p_value_worse == 1.0
    lower_better = paired_bootstrap(base + 0.3, base, seed=0, higher_is_better=False)  # e.g. an error rate
    assert lower_better.p_value_worse == pytest.approx(1 / 1001)


def test_stratified_resamples_keep_each_group_size():
    strata = torch.tensor([0] * 5 + [1] * 3 + [2] * 12)
    for idx in resample_indices(20, 50, seed=0, strata=strata):
        counts = torch.stack([torch.bincount(strata[row], minlength=3) for row in idx])
        assert torch.equal(counts, torch.tensor([5, 3, 12]).expand(idx.shape[0], 3))


def test_aggregate_per_category_macro_and_micro_by_hand():
    values = torch.tensor([1.0, 3.0, float("nan"), 10.0, 2.0, float("nan")])
    groups = ["A", "A", "A", "B", "C", "D"]
    agg = aggregate(values, groups, order=["B", "A", "C", "D", "E"])
    assert agg.per_group["A"].mean == 2.0 and agg.per_group["A"].n == 2 and agg.per_group["A"].n_nan == 1
    assert math.isnan(agg.per_group["D"].mean) and agg.per_group["D"].n_nan == 1
    assert agg.per_group["E"].n == 0 and agg.groups_without_values == ["D", "E"]
    assert agg.macro == pytest.approx((2.0 + 10.0 + 2.0) / 3)  # over categories with values
    assert agg.micro == pytest.approx(16.0 / 4)
    assert (agg.n, agg.n_nan) == (4, 2)
    idx, names = group_index(groups)
    rows = torch.stack([values, values * 2])  # batched rows (as in a bootstrap)
    assert macro_mean(rows, idx, len(names)).tolist() == pytest.approx([14 / 3, 28 / 3])
