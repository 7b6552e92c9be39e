"""RadNLI protocol: 3-class metrics against scikit-learn, aggregation over seeds, seeds independent."""

from __future__ import annotations

import statistics

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, confusion_matrix as sk_confusion, precision_recall_fscore_support

from msxr_bench.data.types import NLI_LABELS
from msxr_bench.metrics.nli import class_metrics, confusion_matrix, majority_baseline, mean_sd
from msxr_bench.training.nli_protocol import run_protocol
from msxr_bench.training.nli_config import NLIFinetuneConfig
from radnli_toy import ToyTextAdapter, toy_pairs


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_class_metrics_equal_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    gold = rng.integers(0, 3, 97)
    pred = np.where(rng.random(97) < 0.6, gold, rng.integers(0, 3, 97))
    if seed == 2:  # a class never predicted: its precision is undefined and counts as 0
        pred[pred == 1] = 0
    cm = confusion_matrix(torch.from_numpy(gold), torch.from_numpy(pred))
    assert cm.tolist() == sk_confusion(gold, pred, labels=[0, 1, 2]).tolist()
    m = class_metrics(cm)
    p, r, f, s = precision_recall_fscore_support(gold, pred, labels=[0, 1, 2], zero_division=0)
    assert m["accuracy"] == pytest.approx(accuracy_score(gold, pred), abs=1e-12)
    macro = (m["precision_macro"], m["recall_macro"], m["f1_macro"])
    assert macro == pytest.approx((p.mean(), r.mean(), f.mean()), abs=1e-12)
    for i, name in enumerate(NLI_LABELS):
        row = m["per_class"][name]
        assert (row["precision"], row["recall"], row["f1"]) == pytest.approx((p[i], r[i], f[i]), abs=1e-12)
        assert row["support"] == s[i]


def test_mean_sd_is_the_sample_sd_and_keeps_each_seed():
    values = [0.61, 0.655, 0.6, 0.7, 0.64]
    out = mean_sd(values)
    assert out["mean"] == pytest.approx(np.mean(values)) and out["sd"] == pytest.approx(np.std(values, ddof=1))
    assert out["per_seed"] == values
    assert mean_sd([0.5]) == {"mean": 0.5, "sd": None, "per_seed": [0.5]}


def test_majority_baseline_is_the_most_frequent_test_label():
    gold = torch.tensor([2, 2, 1, 0, 2, 1, 2])  # contradiction 4/7
    assert majority_baseline(gold) == {"label": "contradiction", "accuracy": pytest.approx(4 / 7)}
    assert majority_baseline(torch.tensor([1, 0]))["label"] == "entailment"  # tie: first in NLI_LABELS


def test_each_seed_starts_from_the_adapters_weights(tmp_path):
    encoder, tok = ToyTextAdapter(tmp_path).text_encoder_for_finetuning()
    train, dev, test = toy_pairs(120, 1), toy_pairs(40, 2), toy_pairs(50, 3)
    cfg = NLIFinetuneConfig(learning_rate=2e-3, max_epochs=2, patience=2, max_length=32)
    both = run_protocol(encoder, tok, train, dev, test, config=cfg, seeds=(3, 4), progress=False)
    alone = run_protocol(encoder, tok, train, dev, test, config=cfg, seeds=(4,), progress=False)
    # seed 4 after seed 3 equals seed 4 alone: nothing carries over from one seed to the next
    assert both.runs[1].predictions == alone.runs[0].predictions
    assert both.runs[1].history[-1]["train_loss"] == alone.runs[0].history[-1]["train_loss"]
    s = both.summary()
    accs = [r.metrics["accuracy"] for r in both.runs]
    assert s["accuracy"]["mean"] == pytest.approx(statistics.fmean(accs))
    assert np.array(s["confusion_matrix_sum"]).sum() == 2 * len(test)
    for r in both.runs:  # the confusion matrix and accuracy agree with the predictions, by hand
        gold = [NLI_LABELS.index(p.label) for p in test]
        assert r.metrics["accuracy"] == pytest.approx(np.mean(np.array(r.predictions) == np.array(gold)))
        assert np.trace(np.array(r.confusion)) == sum(p == g for p, g in zip(r.predictions, gold))
    with pytest.raises(ValueError, match="distinct"):
        run_protocol(encoder, tok, train, dev, test, config=cfg, seeds=(1, 1), progress=False)


def test_bad_hyper_parameters_are_named():
    with pytest.raises(ValueError, match="NLI fine-tuning hyper-parameters: lr: Extra inputs are not permitted"):
        NLIFinetuneConfig.from_mapping({"lr": 1e-5})
    with pytest.raises(ValueError, match="max_epochs: Input should be greater than or equal to 1"):
        NLIFinetuneConfig.from_mapping({"max_epochs": 0})
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        NLIFinetuneConfig(max_epochs=0)
