"""The RadNLI fine-tuning protocol (BioViL paper, Table 3): per seed, fine-tune a fresh copy of the adapter's text
encoder on MedNLI train, select the epoch on RadNLI dev, predict RadNLI test; then the 3-class metrics per seed
and their mean and standard deviation over seeds.

No results-file assembly here (that is `tasks/radnli/finetune.py`); the loop itself is `nli_finetune.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from msxr_bench.data.types import NLI_LABELS, NLIPair
from msxr_bench.metrics.nli import class_metrics, confusion_matrix, majority_baseline, mean_sd
from msxr_bench.training.nli_batches import label_index
from msxr_bench.training.nli_finetune import NLIFinetuneConfig, finetune_nli, predict_nli, save_nli_model


@dataclass
class SeedOutcome:
    seed: int
    best_epoch: int
    best_dev_accuracy: float
    epochs_run: int
    stopped_early: bool
    history: list[dict]
    predictions: list[int]  # label indices, test order
    confusion: list[list[int]]
    metrics: dict
    amp_dtype: str | None
    wall_s: float
    saved_to: str | None = None


@dataclass
class RadNLIOutcome:
    config: NLIFinetuneConfig
    seeds: list[int]
    test_gold: list[int]
    test_pair_ids: list[str]
    runs: list[SeedOutcome] = field(default_factory=list)

    def summary(self) -> dict:
        """Mean ± sd over seeds of accuracy, macro and per-class P/R/F1; the summed confusion matrix."""
        gold = torch.tensor(self.test_gold)
        per_class = {
            name: {m: mean_sd([r.metrics["per_class"][name][m] for r in self.runs])
                   for m in ("precision", "recall", "f1")}
            | {"support": self.runs[0].metrics["per_class"][name]["support"]}
            for name in NLI_LABELS
        }
        total = torch.tensor([r.confusion for r in self.runs]).sum(0)
        return {
            "accuracy": mean_sd([r.metrics["accuracy"] for r in self.runs]),
            **{m: mean_sd([r.metrics[m] for r in self.runs]) for m in ("precision_macro", "recall_macro", "f1_macro")},
            "per_class": per_class,
            "confusion_matrix_sum": total.tolist(),
            "majority_baseline": majority_baseline(gold),
            "n_test": len(self.test_gold),
        }


def run_protocol(encoder: nn.Module, tokenizer, train: list[NLIPair], dev: list[NLIPair], test: list[NLIPair], *,
                 config: NLIFinetuneConfig = NLIFinetuneConfig(), seeds: tuple[int, ...] = (0, 1, 2, 3, 4),
                 device: str | torch.device = "cpu", save_dir: Path | None = None, progress: bool = True,
                 sources: tuple[str, str, str] = ("train", "dev", "test")) -> RadNLIOutcome:
    """Fine-tune once per seed (each from the adapter's own weights), select on `dev`, score on `test`."""
    if not seeds:
        raise ValueError("RadNLI needs at least one seed")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct, got {list(seeds)}")
    gold = [label_index(p, sources[2]) for p in test]
    outcome = RadNLIOutcome(config=config, seeds=list(seeds), test_gold=gold, test_pair_ids=[p.pair_id for p in test])
    for seed in seeds:
        run = finetune_nli(encoder, tokenizer, train, dev, config, seed=seed, device=device, progress=progress,
                           train_source=sources[0], dev_source=sources[1])
        pred = predict_nli(run, tokenizer, test, config, device=device, source=sources[2])
        cm = confusion_matrix(torch.tensor(gold), pred)
        saved = None
        if save_dir is not None:
            saved = str(save_nli_model(run, tokenizer, config, Path(save_dir) / f"seed-{seed}"))
        outcome.runs.append(SeedOutcome(
            seed=seed, best_epoch=run.best_epoch, best_dev_accuracy=run.best_dev_accuracy,
            epochs_run=len(run.history), stopped_early=run.stopped_early, history=run.history,
            predictions=pred.tolist(), confusion=cm.tolist(), metrics=class_metrics(cm),
            amp_dtype=run.amp_dtype, wall_s=run.wall_s, saved_to=saved,
        ))
        del run
        if torch.device(device).type == "cuda":
            torch.cuda.empty_cache()
    return outcome
