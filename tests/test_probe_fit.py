"""The probes' fitting blocks against independent computations: the batched closed-form AdamW against
torch.optim.AdamW + autograd (2 and 3 classes, class weights), class weights against scikit-learn, stratified
subsets by hand, selection on validation AUROC against scikit-learn, and the grid store's file round trip."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score
from sklearn.utils.class_weight import compute_class_weight

from msxr_bench.tasks.probe.fit import balanced_weights, fit_linear_probe, positive_probability, select_on_val
from msxr_bench.tasks.probe.subsets import stratified_subset


def _reference(x, y, w0, b0, lr, wd, epochs, class_weights=None):
    """torch.optim.AdamW on an nn.Linear-like map with autograd (what the batched code claims to equal)."""
    w, b = w0.clone().double().requires_grad_(True), b0.clone().double().requires_grad_(True)
    opt = torch.optim.AdamW([{"params": [w], "weight_decay": wd}, {"params": [b], "weight_decay": 0.0}], lr=lr)
    for _ in range(epochs):
        loss = F.cross_entropy(x.double() @ w + b, y, weight=None if class_weights is None else class_weights.double())
        opt.zero_grad()
        loss.backward()
        opt.step()
    return w.detach(), b.detach()


@pytest.mark.parametrize("n_classes,weighted", [(2, False), (2, True), (3, False)])
def test_batched_adamw_grid_equals_torch_adamw_with_autograd(n_classes: int, weighted: bool) -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 16, generator=g)
    y = torch.randint(0, n_classes, (200,), generator=g)
    w0, b0 = torch.randn(16, n_classes, generator=g) * 0.1, torch.randn(n_classes, generator=g) * 0.1
    cw = balanced_weights(y, n_classes) if weighted else None
    fit = fit_linear_probe(x, y, w0, b0, lrs=(1e-2, 1e-1), weight_decays=(0.0, 0.1), epochs=25, class_weights=cw)
    assert fit.grid == [(0.01, 0.0), (0.01, 0.1), (0.1, 0.0), (0.1, 0.1)]
    for k, (lr, wd) in enumerate(fit.grid):
        w_ref, b_ref = _reference(x, y, w0, b0, lr, wd, 25, cw)
        assert torch.allclose(fit.weight[k].double(), w_ref, atol=2e-5), (lr, wd)
        assert torch.allclose(fit.bias[k].double(), b_ref, atol=2e-5), (lr, wd)
        loss = F.cross_entropy(x.double() @ w_ref + b_ref, y, weight=None if cw is None else cw.double())
        assert fit.final_loss[k] == pytest.approx(float(loss), abs=1e-5)


def test_positive_probability_is_the_softmax_of_the_map() -> None:
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(50, 8, generator=g), torch.randint(0, 2, (50,), generator=g)
    fit = fit_linear_probe(x, y, torch.zeros(8, 2), torch.zeros(2), (0.1,), (0.0,), 5)
    expected = torch.softmax(x @ fit.weight[0] + fit.bias[0], dim=-1)[:, 1]
    assert torch.allclose(positive_probability(x, fit)[0], expected, atol=1e-6)


def test_balanced_weights_equal_scikit_learn() -> None:
    y = torch.tensor([0] * 70 + [1] * 30)
    assert np.allclose(balanced_weights(y, 2).numpy(), compute_class_weight("balanced", classes=np.array([0, 1]),
                                                                            y=y.numpy()))


def test_selection_takes_the_best_validation_auroc_first_on_ties() -> None:
    labels = torch.tensor([0, 0, 1, 1, 0, 1])
    scores = torch.tensor([[0.1, 0.2, 0.3, 0.4, 0.5, 0.6],   # AUROC 7/9
                           [0.1, 0.2, 0.8, 0.9, 0.3, 0.7],   # 1.0
                           [0.1, 0.2, 0.8, 0.9, 0.3, 0.7]])  # 1.0 again: the first wins
    best, areas = select_on_val(scores, labels)
    assert best == 1
    assert areas.tolist() == pytest.approx([roc_auc_score(labels, s) for s in scores.numpy()])


def test_stratified_subsets_keep_each_class_and_are_seeded() -> None:
    labels = [1] * 30 + [0] * 970
    one = stratified_subset(labels, 0.01, seed=0)
    assert one.per_class == {0: 10, 1: 1}  # round(0.3) = 0 -> at least one positive
    assert sorted(np.asarray(labels)[one.indices].tolist()).count(1) == 1
    assert np.array_equal(one.indices, stratified_subset(labels, 0.01, seed=0).indices)
    assert not np.array_equal(one.indices, stratified_subset(labels, 0.01, seed=1).indices)
    ten = stratified_subset(labels, 0.1, seed=0)
    assert ten.per_class == {0: 97, 1: 3} and np.all(np.diff(ten.indices) > 0)
    full = stratified_subset(labels, 1.0, seed=5)
    assert np.array_equal(full.indices, np.arange(1000))
    with pytest.raises(ValueError, match="fraction"):
        stratified_subset(labels, 0.0, seed=0)
