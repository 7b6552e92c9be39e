"""`radnli` task: from official-format JSONL files and an adapter to a validated results record."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sklearn.metrics import confusion_matrix as sk_confusion

from msxr_bench.adapters.base import GLOBAL, AdapterMeta, EncoderAdapter
from msxr_bench.geometry.types import Geometry
from msxr_bench.data.types import NLI_LABELS, DatasetFormatError
from msxr_bench.results import load_result, write_result
from msxr_bench.tasks import TaskParamsError, TaskSkipped
from msxr_bench.training.nli_config import NLIFinetuneConfig
from radnli_toy import CorpusTextAdapter, ToyTextAdapter, toy_pairs, write_jsonl
from task_helpers import run_named

FAST = {"learning_rate": 2e-3, "max_length": 32, "max_epochs": 3, "patience": 3}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def data_root(tmp_path):
    root = tmp_path / "data"
    write_jsonl(root / "mednli" / "mli_train_v1.jsonl", toy_pairs(200, seed=1), "pairID")
    write_jsonl(root / "radnli" / "radnli_dev_v1.jsonl", toy_pairs(40, seed=2), "pair_id")
    write_jsonl(root / "radnli" / "radnli_test_v1.jsonl", toy_pairs(50, seed=3, weights=(0.2, 0.2, 0.6)), "pair_id")
    return root


def radnli(adapter, root, params: dict | None = None, **run):
    """The radnli task with typed parameters (seeds, hyper-parameters, save_dir) through the driver."""
    return run_named("radnli", params, adapter=adapter, adapter_name="toy-text", data_root=root,
                     **{"n_bootstrap": 200, "seed": 0, **run})


def test_results_record_matches_its_own_per_sample_rows(tmp_path, data_root):
    adapter = ToyTextAdapter(tmp_path)
    before = {k: v.clone() for k, v in adapter.text_model.state_dict().items()}
    result = radnli(adapter, data_root, {"seeds": (0, 1), **FAST, "max_epochs": 2, "save_dir": tmp_path / "models"})
    path = write_result(result, tmp_path / "radnli.json")
    assert load_result(path) == result  # validates against the results schema

    test = [json.loads(line) for line in (data_root / "radnli" / "radnli_test_v1.jsonl").read_text().splitlines()]
    rows = {r["sample_id"]: r for r in result.samples}
    assert list(rows) == [t["pair_id"] for t in test]
    gold = [t["gold_label"] for t in test]
    accs = []
    for seed in (0, 1):  # recompute every figure from the per-sample rows, independently
        pred = [rows[t["pair_id"]][f"pred_seed{seed}"] for t in test]
        accs.append(np.mean([p == g for p, g in zip(pred, gold)]))
        assert result.metrics[f"accuracy_seed{seed}"].value == pytest.approx(accs[-1])
        cm = sk_confusion(gold, pred, labels=list(NLI_LABELS)).tolist()
        assert result.scoring["confusion_matrix"]["per_seed"][str(seed)] == cm
    assert result.main_score.value == result.metrics["accuracy"].value == pytest.approx(np.mean(accs))
    assert result.metrics["accuracy_sd"].value == pytest.approx(np.std(accs, ddof=1))
    ci = result.metrics["accuracy"].ci
    assert ci.low <= result.main_score.value <= ci.high
    assert result.metrics["majority_baseline_accuracy"].value == pytest.approx(
        max(gold.count(k) for k in NLI_LABELS) / len(gold))
    assert result.scoring["majority_baseline"]["label"] == "contradiction"

    assert result.scoring["hyperparameters"] == NLIFinetuneConfig(**{**FAST, "max_epochs": 2}).to_dict()
    assert result.scoring["seeds"] == [0, 1]
    assert [r["epochs_run"] for r in result.scoring["runs"]] == [2, 2]
    assert [f.name for f in result.dataset.files] == ["mli_train_v1.jsonl", "radnli_dev_v1.jsonl",
                                                      "radnli_test_v1.jsonl"]
    assert result.scoring["train_data"]["n"] == 200 and result.scoring["dev_data"]["n"] == 40
    assert {r.category for r in result.per_category} == set(NLI_LABELS)
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["seed-0", "seed-1"]
    after = adapter.text_model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_a_bad_label_in_mednli_names_the_file_and_line(tmp_path, data_root):
    train = data_root / "mednli" / "mli_train_v1.jsonl"
    lines = train.read_text().splitlines()
    lines[2] = lines[2].replace('"gold_label": "', '"gold_label": "not-')
    train.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetFormatError, match=r"mli_train_v1\.jsonl line 3: gold_label"):
        radnli(ToyTextAdapter(tmp_path), data_root, {"seeds": (0,), **FAST})


def test_missing_mednli_is_a_clear_error(tmp_path, data_root):
    (data_root / "mednli" / "mli_train_v1.jsonl").unlink()
    with pytest.raises(DatasetFormatError, match="mli_train_v1.jsonl not found"):
        radnli(ToyTextAdapter(tmp_path), data_root, {"seeds": (0,), **FAST})


class _ImageOnly(EncoderAdapter):
    capabilities = frozenset({GLOBAL})
    meta = AdapterMeta(name="image-only", version="0", description="", weights_source="random", embedding_dim=2)
    geometry = Geometry("resize_crop", resize=64, crop=64, grid=(2, 2))


def test_an_adapter_without_a_text_encoder_skips_and_dev_is_not_a_test_split(tmp_path, data_root):
    with pytest.raises(TaskSkipped, match="image-only lacks text_encoder"):
        radnli(_ImageOnly(), data_root)
    with pytest.raises(TaskParamsError, match="unknown split 'dev'"):
        radnli(ToyTextAdapter(tmp_path), data_root, {"split": "dev"})
    with pytest.raises(TaskParamsError, match="learning_rat: Extra inputs"):
        radnli(ToyTextAdapter(tmp_path), data_root, {"learning_rat": 1e-3})


def _nli_files(root):
    return [root / "mednli" / "mli_train_v1.jsonl", root / "radnli" / "radnli_dev_v1.jsonl",
            root / "radnli" / "radnli_test_v1.jsonl"]


def test_tiny_bert_beats_the_majority_class_on_the_toy_worlds_nli_files(tmp_path, toyworld_root):
    adapter = CorpusTextAdapter(tmp_path, _nli_files(toyworld_root))
    hyper = {"learning_rate": 2e-3, "max_length": 64, "max_epochs": 15, "patience": 5}
    result = radnli(adapter, toyworld_root, {"seeds": (0,), **hyper})
    test = [json.loads(line) for line in (toyworld_root / "radnli" / "radnli_test_v1.jsonl").read_text().splitlines()]
    majority = max(sum(t["gold_label"] == k for t in test) for k in NLI_LABELS) / len(test)
    accuracy = result.metrics["accuracy"].value
    assert result.metrics["majority_baseline_accuracy"].value == pytest.approx(majority)
    assert accuracy > majority + 0.15, (accuracy, majority, result.scoring["runs"][0]["history"])


def test_the_task_is_deterministic_for_a_seed_on_the_toy_world(tmp_path, toyworld_root):
    adapter = CorpusTextAdapter(tmp_path, _nli_files(toyworld_root))
    hyper = {"learning_rate": 2e-3, "max_length": 64, "max_epochs": 2, "patience": 2}
    a, b = (radnli(adapter, toyworld_root, {"seeds": (7,), **hyper}) for _ in range(2))
    assert a.metrics == b.metrics and a.samples == b.samples
    assert a.scoring["confusion_matrix"] == b.scoring["confusion_matrix"]
    history = [[{k: v for k, v in h.items() if k != "seconds"} for h in r.scoring["runs"][0]["history"]] for r in (a, b)]
    assert history[0] == history[1]


def test_limit_cuts_every_file_and_is_recorded(tmp_path, data_root):
    result = radnli(ToyTextAdapter(tmp_path), data_root, {"seeds": (0,), **FAST, "max_epochs": 1}, limit=12)
    assert (result.dataset.n_samples, result.dataset.n_samples_available, result.dataset.limit) == (12, 50, 12)
    assert result.scoring["train_data"]["n"] == 12 and result.scoring["dev_data"]["n"] == 12
    assert len(result.samples) == 12 and any("--limit 12" in note for note in result.notes)
