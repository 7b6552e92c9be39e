"""`radnli`: RadNLI accuracy of the adapter's text encoder after fine-tuning (BioViL paper, Table 3).

Per seed: fine-tune a fresh copy on MedNLI train only, keep the epoch with the best RadNLI dev accuracy, report
RadNLI test accuracy, per-class precision/recall/F1 and the confusion matrix; mean ± sd over seeds. The loop over
seeds is `training/nli_protocol.py`. Rows hold the gold label and each seed's prediction (`pred_seed<k>`), so every
metric below is recomputed from them (a loop over resamples where the class metrics are unbatched).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import torch

from msxr_bench.data.nli import find_nli_file, load_nli
from msxr_bench.data.types import NLI_LABELS, NLIPair
from msxr_bench.hashing import sample_ids_sha256
from msxr_bench.metrics.nli import class_metrics, confusion_matrix, majority_baseline, mean_sd
from msxr_bench.results import CategoryRow
from msxr_bench.tasks.base import Loaded, RowError, RowStatistic, Scored, Task, file_record
from msxr_bench.tasks.context import RunContext
from msxr_bench.tasks.driver import apply_limit
from msxr_bench.tasks.radnli.spec import RadnliParams
from msxr_bench.tasks.spec import ProtocolSpec
from msxr_bench.training.nli_config import NLIFinetuneConfig

FILES = {"train": "mednli-train", "dev": "radnli-dev", "test": "radnli-test"}
PRED_PREFIX = "pred_seed"
PROTOCOL = ("fine-tune on MedNLI train only; after each epoch score RadNLI dev and keep the best epoch "
            "(first best on ties; early stop after `patience` epochs without a better dev accuracy); "
            "score RadNLI test with the kept weights; repeat per seed, each from the adapter's own weights")


class RadnliFinetuneTask(Task):
    def load(self, params: RadnliParams, protocol: ProtocolSpec, split: str, data_root: Path) -> Loaded:
        paths = {role: find_nli_file(data_root, name) for role, name in FILES.items()}
        test = load_nli(paths["test"])  # bad lines: DatasetFormatError (file, line)
        return Loaded(test, [p.pair_id for p in test], protocol.dataset_version, split,
                      [file_record(FILES[role], path) for role, path in paths.items()], context={"paths": paths})

    def score(self, samples: Sequence[NLIPair], loaded: Loaded, params: RadnliParams, run: RunContext) -> Scored:
        from msxr_bench.training.nli_protocol import run_protocol  # torch and transformers: only when it runs

        encoder, tokenizer = run.adapter.text_encoder_for_finetuning()
        paths = loaded.context["paths"]
        used = {role: apply_limit(load_nli(paths[role]), run.limit, f"{FILES[role]} ({paths[role]})")
                for role in ("train", "dev")}
        config = NLIFinetuneConfig(**params.model_dump(include=set(NLIFinetuneConfig.model_fields)))
        outcome = run_protocol(
            encoder, tokenizer, used["train"], used["dev"], list(samples), config=config, seeds=params.seeds,
            device=run.runtime.device, save_dir=params.save_dir, progress=run.progress,
            sources=(str(paths["train"]), str(paths["dev"]), str(paths["test"])),
        )
        summary = outcome.summary()
        correct = torch.tensor([[p == g for p, g in zip(r.predictions, outcome.test_gold)] for r in outcome.runs],
                               dtype=torch.float64).mean(0)  # [pairs]: fraction of seeds that got each pair right
        rows = [{"sample_id": pair.pair_id, "label": pair.label,
                 **{f"{PRED_PREFIX}{r.seed}": NLI_LABELS[r.predictions[i]] for r in outcome.runs},
                 "correct_fraction": float(correct[i])} for i, pair in enumerate(samples)]
        scoring = {
            "protocol": PROTOCOL,
            "hyperparameters": config.to_dict(),
            "seeds": list(params.seeds),
            "labels": list(NLI_LABELS),
            "head": f"dropout + linear on the {'[CLS] last hidden state' if config.pooling == 'cls' else 'pooler output'}",
            **{f"{role}_data": {"file": paths[role].name, "n": len(used[role]),
                                "sample_ids_sha256": sample_ids_sha256([p.pair_id for p in used[role]])}
               for role in ("train", "dev")},
            "confusion_matrix": {"rows": "gold", "columns": "predicted", "labels": list(NLI_LABELS),
                                 "per_seed": {str(r.seed): r.confusion for r in outcome.runs},
                                 "sum_over_seeds": summary["confusion_matrix_sum"]},
            "majority_baseline": summary["majority_baseline"],
            "runs": [{"seed": r.seed, "test_accuracy": r.metrics["accuracy"], "best_epoch": r.best_epoch,
                      "best_dev_accuracy": r.best_dev_accuracy, "epochs_run": r.epochs_run,
                      "stopped_early": r.stopped_early, "autocast_dtype": r.amp_dtype, "wall_s": round(r.wall_s, 3),
                      "history": r.history, "saved_to": r.saved_to} for r in outcome.runs],
            "fine_tuned_weights": "kept under save_dir" if params.save_dir is not None else "discarded",
            "ci": f"percentile bootstrap over samples, resampling RadNLI test pairs, {run.n_bootstrap} resamples, "
                  f"seed {run.seed}",
        }
        acc = summary["accuracy"]
        notes = [f"RadNLI test accuracy {acc['mean']:.4f}" + (f" ± {acc['sd']:.4f}" if acc["sd"] is not None else "")
                 + f" over {len(params.seeds)} seed(s); majority-class baseline "
                 f"{summary['majority_baseline']['accuracy']:.4f}"]
        if run.limit is not None:
            notes.append(f"--limit {run.limit} applied to MedNLI train, RadNLI dev and RadNLI test (smoke test only)")
        return Scored(rows, scoring, notes=notes)

    def metrics(self, rows: Sequence[Mapping[str, Any]], scoring: Mapping[str, Any]) -> dict[str, RowStatistic]:
        data, seeds = _columns(rows)
        n, k = data.shape[0], len(seeds)
        out = {
            "accuracy": RowStatistic(data, _correct_fraction, n,
                                     note=f"mean over {k} seeds of the test accuracy; CI resamples test pairs"),
            "accuracy_sd": RowStatistic(data, _accuracy_sd, n, with_ci=False, note=f"sample sd over {k} seeds"),
            **{m: RowStatistic(data, _seed_mean(m), n, with_ci=False, note=f"mean over {k} seeds")
               for m in ("precision_macro", "recall_macro", "f1_macro")},
            "majority_baseline_accuracy": RowStatistic(
                data, _majority_accuracy, n, with_ci=False,
                note=f"always '{majority_baseline(data[:, 0])['label']}' (the most frequent RadNLI test label)"),
        }
        runs = scoring.get("runs") if isinstance(scoring.get("runs"), list) else []
        epochs = {r.get("seed"): r.get("best_epoch") for r in runs if isinstance(r, dict)}
        for j, seed in enumerate(seeds):
            out[f"accuracy_seed{seed}"] = RowStatistic(data, _seed_accuracy(j), n, with_ci=False,
                                                       note=f"best dev epoch {epochs.get(seed)}",
                                                       check_note=seed in epochs)
        return out

    def per_category(self, rows: Sequence[Mapping[str, Any]]) -> list[CategoryRow]:
        """Per class: support, and mean and sd over seeds of precision, recall, F1."""
        data, _ = _columns(rows)
        runs = [class_metrics(confusion_matrix(data[:, 0], data[:, 1 + j])) for j in range(data.shape[1] - 1)]
        out = []
        for name in NLI_LABELS:
            stats = {m: mean_sd([r["per_class"][name][m] for r in runs]) for m in ("precision", "recall", "f1")}
            out.append(CategoryRow(category=name, n=runs[0]["per_class"][name]["support"],
                                   metrics={f"{m}{suffix}": stats[m][key] for m in ("precision", "recall", "f1")
                                            for suffix, key in (("", "mean"), ("_sd", "sd"))}))
        return out

    def no_direction(self) -> frozenset[str]:
        return frozenset({"accuracy_sd", "majority_baseline_accuracy"})


# ---- statistics over (gold, each seed's prediction) columns ------------------------------------------------
def _label_index(rows: Sequence[Mapping[str, Any]], field: str) -> list[int]:
    out = []
    for i, row in enumerate(rows):
        if row.get(field) not in NLI_LABELS:
            raise RowError(f"samples[{i}] ({row.get('sample_id')!r}).{field}: expected one of {', '.join(NLI_LABELS)},"
                           f" got {row.get(field)!r}")
        out.append(NLI_LABELS.index(row[field]))
    return out


def _columns(rows: Sequence[Mapping[str, Any]]) -> tuple[torch.Tensor, list[int]]:
    """[N, 1 + S] float64: gold label index, then each seed's predicted index; and the seeds."""
    keys = sorted((k for k in rows[0] if k.startswith(PRED_PREFIX)), key=lambda k: int(k[len(PRED_PREFIX):]))
    if not keys or any(sorted(k for k in r if k.startswith(PRED_PREFIX)) != sorted(keys) for r in rows):
        raise RowError("samples: every row needs the same pred_seed<k> columns")
    seeds = [int(k[len(PRED_PREFIX):]) for k in keys]
    cols = [_label_index(rows, "label")] + [_label_index(rows, k) for k in keys]
    data = torch.tensor(cols, dtype=torch.float64).T.contiguous()
    correct = (data[:, 1:] == data[:, :1]).double().mean(-1)
    for i, row in enumerate(rows):
        if row.get("correct_fraction") != float(correct[i]):
            raise RowError(f"samples[{i}] ({row.get('sample_id')!r}).correct_fraction: {row.get('correct_fraction')!r}"
                           f" but its predictions give {float(correct[i])!r}")
    return data, seeds


def _correct_fraction(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Accuracy: mean over resampled pairs of the fraction of seeds that got each right."""
    return (x[:, 1:] == x[:, :1]).double().mean(-1)[idx].mean(-1)


def _seed_accuracy(j: int):
    return lambda x, idx: (x[:, 1 + j][idx] == x[:, 0][idx]).double().mean(-1)


def _per_resample(x: torch.Tensor, idx: torch.Tensor, summary) -> torch.Tensor:
    """summary(list of per-seed class_metrics) -> float, for each resample of pairs."""
    out = []
    for row in idx:
        gold = x[row, 0]
        value = summary([class_metrics(confusion_matrix(gold, x[row, 1 + j])) for j in range(x.shape[1] - 1)])
        out.append(float("nan") if value is None else value)
    return torch.tensor(out, dtype=torch.float64)


def _seed_mean(metric: str):
    return lambda x, idx: _per_resample(x, idx, lambda runs: mean_sd([r[metric] for r in runs])["mean"])


def _accuracy_sd(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    return _per_resample(x, idx, lambda runs: mean_sd([r["accuracy"] for r in runs])["sd"])


def _majority_accuracy(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    return torch.tensor([majority_baseline(x[row, 0])["accuracy"] for row in idx], dtype=torch.float64)
