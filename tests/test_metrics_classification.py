"""Classification metrics against scikit-learn and hand computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_curve, roc_auc_score

from msxr_bench.metrics.classification import auroc, average_ranks, binary_metrics_at, f1_max_threshold


def test_auroc_ties_get_half_credit():
    # the partial-tie example of the harness notes: sklearn, torchmetrics and MONAI all give 0.875
    assert auroc(torch.tensor([0.1, 0.4, 0.4, 0.8]), torch.tensor([0, 0, 1, 1])).item() == 0.875
    assert auroc(torch.zeros(6), torch.tensor([0, 1, 0, 1, 1, 0])).item() == 0.5


def test_auroc_with_one_class_is_nan_with_a_warning():
    with pytest.warns(RuntimeWarning, match="one class"):
        out = auroc(torch.tensor([0.2, 0.5, 0.9]), torch.tensor([1, 1, 1]))
    assert math.isnan(out.item())


@pytest.mark.parametrize("seed", range(5))
def test_auroc_equals_sklearn_on_random_scores_with_ties(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 400))
    scores = np.round(rng.normal(size=n), 1)  # rounding makes many ties
    labels = (rng.random(n) < 0.3).astype(int)
    ref = roc_auc_score(labels, scores)
    assert auroc(torch.from_numpy(scores), torch.from_numpy(labels)).item() == pytest.approx(ref, abs=1e-12)
    # batched rows give the same as one at a time
    batch = torch.from_numpy(np.stack([scores, -scores, scores ** 2]))
    out = auroc(batch, torch.from_numpy(labels))
    refs = [ref, roc_auc_score(labels, -scores), roc_auc_score(labels, scores ** 2)]
    np.testing.assert_allclose(out.numpy(), refs, atol=1e-12)


def test_average_ranks_match_the_textbook_definition():
    assert average_ranks(torch.tensor([3.0, 1.0, 3.0, 2.0, 3.0])).tolist() == [4.0, 1.0, 4.0, 2.0, 4.0]


def test_binary_metrics_at_a_threshold_by_hand_and_sklearn():
    scores = torch.tensor([-0.3, 0.0, 0.2, 0.5, -0.1, 0.7])
    labels = torch.tensor([0, 1, 1, 0, 0, 1])
    m = binary_metrics_at(scores, labels, 0.0)  # predict positive iff score >= 0: [0, 1, 1, 1, 0, 1]
    assert (m.tp.item(), m.fp.item(), m.tn.item(), m.fn.item()) == (3, 1, 2, 0)
    assert m.accuracy.item() == pytest.approx(5 / 6) and m.precision.item() == pytest.approx(3 / 4)
    assert m.sensitivity.item() == 1.0 and m.specificity.item() == pytest.approx(2 / 3)
    assert m.f1.item() == pytest.approx(f1_score(labels.numpy(), (scores >= 0).numpy()))
    rng = np.random.default_rng(3)
    s, y = rng.normal(size=300), (rng.random(300) < 0.4).astype(int)
    m = binary_metrics_at(torch.from_numpy(s), torch.from_numpy(y), 0.25)
    tn, fp, fn, tp = confusion_matrix(y, s >= 0.25).ravel()
    assert (m.tp.item(), m.fp.item(), m.tn.item(), m.fn.item()) == (tp, fp, tn, fn)


def test_undefined_ratios_are_nan():
    m = binary_metrics_at(torch.tensor([0.1, 0.2]), torch.tensor([0, 0]), 0.5)  # nothing predicted, no positive
    assert math.isnan(m.precision.item()) and math.isnan(m.sensitivity.item()) and math.isnan(m.f1.item())
    assert m.specificity.item() == 1.0 and m.accuracy.item() == 1.0


@pytest.mark.parametrize("seed", range(6))
def test_f1_max_equals_sklearn_precision_recall_curve(seed):
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(30, 500))
    labels = (rng.random(n) < rng.uniform(0.1, 0.6)).astype(int)
    scores = rng.normal(size=n) + labels * rng.uniform(0, 2)
    if seed % 2:
        scores = np.round(scores, 1)  # ties
    precision, recall, thresholds = precision_recall_curve(labels, scores)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(denom), where=denom > 0)[:-1]
    best = f1.max()
    m = f1_max_threshold(torch.from_numpy(scores), torch.from_numpy(labels))
    assert m.f1.item() == pytest.approx(best, abs=1e-12)
    smallest_best = thresholds[np.isclose(f1, best, rtol=0, atol=1e-12)].min()
    assert m.threshold.item() == smallest_best
    again = binary_metrics_at(torch.from_numpy(scores), torch.from_numpy(labels), m.threshold.item())
    assert again.f1.item() == m.f1.item() and again.accuracy.item() == m.accuracy.item()


def test_f1_max_ties_go_to_the_smallest_threshold():
    # thresholds 0.9 -> F1 2/3 (tp1, fp0, P2); 0.5 -> tp1 fp1 -> 2/4; 0.2 -> tp2 fp1 -> 4/5; 0.1 -> tp2 fp2 -> 4/6
    m = f1_max_threshold(torch.tensor([0.9, 0.5, 0.2, 0.1]), torch.tensor([1, 0, 1, 0]))
    assert m.threshold.item() == pytest.approx(0.2) and m.f1.item() == pytest.approx(0.8)
    # equal F1 at 0.8 (tp1 fp0 P2 -> 2/3) and 0.3 (tp2 fp2 -> 4/6): the smaller threshold wins
    m = f1_max_threshold(torch.tensor([0.8, 0.6, 0.5, 0.3]), torch.tensor([1, 0, 0, 1]))
    assert m.threshold.item() == pytest.approx(0.3) and m.f1.item() == pytest.approx(2 / 3)
