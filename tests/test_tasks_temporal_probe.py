"""The linear probe of ms-cxr-t-cls: its logistic regression is scikit-learn's (same objective, same optimum), its
folds group rows by subject, and a row is predicted by the probe fit without its fold."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from msxr_bench.tasks.temporal.probe import cross_fitted_probabilities, fit_logistic, subject_folds


def _data(n: int = 90, d: int = 12, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    x = torch.randn(n, d, generator=g, dtype=torch.float64) + 0.8 * torch.nn.functional.one_hot(y, d).double()
    return x, y


@pytest.mark.parametrize("l2", [1e-2, 1e-1])
def test_fit_is_scikit_learns_logistic_regression(l2: float) -> None:
    x, y = _data()
    weight, bias = fit_logistic(x, y, 3, l2, 500)
    ours = torch.softmax(x @ weight + bias, dim=-1).numpy()
    reference = LogisticRegression(C=1 / (l2 * len(y)), tol=1e-12, max_iter=10_000).fit(x.numpy(), y.numpy())
    assert np.abs(ours - reference.predict_proba(x.numpy())).max() < 1e-5


def test_folds_group_subjects_and_rows_are_predicted_without_their_fold() -> None:
    x, y = _data(60)
    subjects = [f"1{i // 3:07d}" for i in range(60)]  # 20 subjects, three rows each
    folds = subject_folds(subjects, 4, seed=0)
    assert all(folds[i] == folds[i - i % 3] for i in range(60)) and sorted(set(folds)) == [0, 1, 2, 3]
    assert sorted(np.bincount(folds).tolist()) == [15, 15, 15, 15]  # 5 subjects per fold
    probs, got = cross_fitted_probabilities(x, y, subjects, 3, 4, 0, 1e-2, 300)
    assert got == folds
    for k in range(4):
        train = torch.tensor(folds) != k
        mean, sd = x[train].mean(0), x[train].std(0, unbiased=False)
        weight, bias = fit_logistic((x[train] - mean) / sd, y[train], 3, 1e-2, 300)
        expected = torch.softmax(((x[~train] - mean) / sd) @ weight + bias, dim=-1)
        assert torch.allclose(probs[~train], expected, atol=1e-9)
    assert subject_folds(subjects, 4, seed=1) != folds  # the seed is a real choice
