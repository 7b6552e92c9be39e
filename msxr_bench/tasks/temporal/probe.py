"""The linear probe of `ms-cxr-t-cls`: per finding, a multinomial logistic regression on the frozen image embedding
(standardised with its training part's mean and sd), cross-fitted over subject-grouped folds, so that each label is
predicted by a probe that never saw its subject. Deterministic: float64, full-batch L-BFGS from zeros.

The objective is mean cross-entropy + l2 / 2 * ||W||^2 (intercept not penalised): scikit-learn's
LogisticRegression(C = 1 / (l2 * n_train)) minimises the same function (tests/test_tasks_temporal_probe.py).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def subject_folds(subjects: list[str], folds: int, seed: int) -> list[int]:
    """The fold of each row: subjects sorted by id, permuted with numpy RandomState(seed), dealt round-robin."""
    unique = sorted(set(subjects), key=lambda s: (len(s), s))
    order = np.random.RandomState(seed).permutation(len(unique))
    fold_of = {unique[j]: rank % folds for rank, j in enumerate(order)}
    return [fold_of[s] for s in subjects]


def fit_logistic(x: torch.Tensor, y: torch.Tensor, n_classes: int, l2: float, max_iter: int
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """(W [D, C], b [C]) minimising mean cross-entropy + l2 / 2 * ||W||^2."""
    x, y = x.to(torch.float64), y.long()
    weight = torch.zeros(x.shape[1], n_classes, dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(n_classes, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], lr=1.0, max_iter=max_iter, tolerance_grad=1e-9,
                                  tolerance_change=1e-12, history_size=50, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(x @ weight + bias, y) + 0.5 * l2 * (weight ** 2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    return weight.detach(), bias.detach()


def cross_fitted_probabilities(features: torch.Tensor, labels: torch.Tensor, subjects: list[str], n_classes: int,
                               folds: int, seed: int, l2: float, max_iter: int) -> tuple[torch.Tensor, list[int]]:
    """(class probabilities [N, C], fold of each row): rows of fold k are predicted by a probe fit on the others."""
    fold = subject_folds(subjects, folds, seed)
    fold_t = torch.tensor(fold)
    x = features.to(torch.float64)
    probs = torch.full((x.shape[0], n_classes), float("nan"), dtype=torch.float64)
    for k in range(folds):
        test, train = fold_t == k, fold_t != k
        if not test.any():
            continue
        if not train.any():
            raise ValueError(f"fold {k} holds every subject: the probe has nothing to learn from")
        mean, sd = x[train].mean(0), x[train].std(0, unbiased=False).clamp_min(1e-8)
        weight, bias = fit_logistic((x[train] - mean) / sd, labels[train], n_classes, l2, max_iter)
        probs[test] = torch.softmax(((x[test] - mean) / sd) @ weight + bias, dim=-1)
    return probs, fold
