"""`radnli-zs`: cosines and their summaries equal a direct computation from the adapter's text embeddings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from adapters_for_tests import RandomCNNAdapter
from msxr_bench.data.nli import find_nli_file, load_nli
from msxr_bench.engine import PhraseTooLongError
from task_helpers import run_named


def test_similarities_match_a_direct_computation(toyworld_root: Path) -> None:
    adapter = RandomCNNAdapter(seed=5)
    result = run_named("radnli-zs", adapter=adapter, data_root=toyworld_root, n_bootstrap=200)
    pairs = load_nli(find_nli_file(toyworld_root, "radnli-test"))
    with torch.no_grad():
        cos = {p.pair_id: float(adapter.encode_texts([p.premise])[0] @ adapter.encode_texts([p.hypothesis])[0])
               for p in pairs}
    rows = {r["sample_id"]: r for r in result.samples}
    assert len(rows) == len(pairs) and result.dataset.split == "test"
    for p in pairs:
        assert rows[p.pair_id]["cosine"] == pytest.approx(cos[p.pair_id], abs=1e-6)
        assert rows[p.pair_id]["label"] == p.label
    by_label = {lab: np.mean([cos[p.pair_id] for p in pairs if p.label == lab])
                for lab in ("entailment", "contradiction")}
    m = result.metrics
    assert m["synonym_similarity"].value == pytest.approx(by_label["entailment"], abs=1e-6)
    assert m["contradiction_gap"].value == pytest.approx(by_label["entailment"] - by_label["contradiction"], abs=1e-6)
    assert m["contradiction_gap"].ci.low <= m["contradiction_gap"].value <= m["contradiction_gap"].ci.high
    assert result.main_score.name == "contradiction_gap"
    assert all(set(r) == {"sample_id", "label", "cosine"} for r in result.samples)  # no sentence text
    kept = run_named("radnli-zs", adapter=adapter, data_root=toyworld_root, n_bootstrap=0, keep_text=True)
    assert kept.contains_dataset_text and {p.pair_id: p.premise for p in pairs} == {
        r["sample_id"]: r["premise"] for r in kept.samples}


def test_dev_split_limit_and_long_sentences(toyworld_root: Path) -> None:
    run = dict(adapter=RandomCNNAdapter(max_text_tokens=4), data_root=toyworld_root, limit=10, n_bootstrap=0)
    with pytest.raises(PhraseTooLongError, match="limit of 4"):
        run_named("radnli-zs", {"split": "dev"}, **run)
    result = run_named("radnli-zs", {"split": "dev"}, truncate_long_phrases=True, **run)
    n_dev = len(load_nli(find_nli_file(toyworld_root, "radnli-dev")))
    assert (result.dataset.split, result.dataset.n_samples, result.dataset.n_samples_available) == ("dev", 10, n_dev)
    assert result.scoring["truncated_texts"] and result.metrics["contradiction_gap"].ci is None
    json.loads(result.model_dump_json())  # strict JSON
    with pytest.raises(ValueError, match="unknown split 'train'"):
        run_named("radnli-zs", {"split": "train"}, **run)
    assert run_named("radnli-zs", {"split": "validate"}, truncate_long_phrases=True, **run).dataset.split == "dev"
