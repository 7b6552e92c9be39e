"""A CI-sized proof of learning: the tiny BioViL trained for a few minutes of CPU on the committed toy world
lowers its loss and grounds phrases clearly better than the same model at initialisation (the full-size
figures are in benchmarks/results/proof_of_learning.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from msxr_bench.learning import learning_metrics
from msxr_bench.training.recipes import init_checkpoint
from msxr_bench.training.loop import TrainOptions, train

TOY = Path(__file__).resolve().parents[1] / "fixtures" / "toyworld"
STEPS = 400


@pytest.mark.slow
def test_tiny_biovil_loss_falls_and_grounding_improves(tmp_path):
    run = tmp_path / "run"
    checkpoint = train(TrainOptions(model="biovil", data_root=TOY, output=run, config="tiny", max_steps=STEPS,
                                    batch_size=16, device="cpu", progress=False))
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    alignment = [r["global_alignment"] for r in records if "global_alignment" in r and "split" not in r]
    first, last = sum(alignment[:10]) / 10, sum(alignment[-10:]) / 10
    assert last < first - 0.3, (first, last)

    init = init_checkpoint("biovil", "tiny", 0, run / "tokenizer", tmp_path / "init")
    before = learning_metrics("biovil", init, TOY, [])
    after = learning_metrics("biovil", checkpoint, TOY, [])
    assert after["signed_cnr"] - before["signed_cnr"] >= 0.3, (before, after)
