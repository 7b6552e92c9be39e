"""`radnli`: RadNLI accuracy of the adapter's text encoder after fine-tuning (BioViL paper, Table 3).

Per seed: fine-tune a fresh copy on MedNLI train only, keep the epoch with the best RadNLI dev accuracy,
report RadNLI test accuracy, per-class precision/recall/F1 and the confusion matrix; mean ± sd over seeds.
The protocol is `tasks/radnli_protocol.py`; this module turns it into a results record.
"""

from __future__ import annotations

from pathlib import Path

import torch

from msxr_bench.data.nli import find_nli_file, load_nli
from msxr_bench.data.types import NLI_LABELS
from msxr_bench.results import CategoryRow, DatasetInfo, Metric, TaskResult
from msxr_bench.tasks.aggregate import bootstrap_metric
from msxr_bench.hashing import sample_ids_sha256
from msxr_bench.tasks.assemble import RunClock, apply_limit, build_result, file_record
from msxr_bench.tasks.radnli_protocol import run_protocol
from msxr_bench.tasks.spec import EvalContext, TaskSkipped, TaskSpec
from msxr_bench.training.nli_config import NLIFinetuneConfig

DEFAULT_SEEDS = (0, 1, 2, 3, 4)
FILES = {"train": "mednli-train", "dev": "radnli-dev", "test": "radnli-test"}
PROTOCOL = ("fine-tune on MedNLI train only; after each epoch score RadNLI dev and keep the best epoch "
            "(first best on ties; early stop after `patience` epochs without a better dev accuracy); "
            "score RadNLI test with the kept weights; repeat per seed, each from the adapter's own weights")


def run_options(spec: TaskSpec, ctx: EvalContext) -> tuple[NLIFinetuneConfig, tuple[int, ...], Path | None]:
    """Hyper-parameters (the spec's defaults, then the CLI's), seeds (--seeds or the spec's five), save dir.

    The CLI sets the optional EvalContext fields `seeds`, `max_epochs`, `save_dir` and `nli_hyperparameters`
    (a mapping of NLIFinetuneConfig fields); without them the spec's defaults hold."""
    hyper = {k: v for k, v in spec.defaults.items() if k != "seeds" and not k.startswith("ci_")}
    hyper.update(getattr(ctx, "nli_hyperparameters", None) or {})
    if getattr(ctx, "max_epochs", None) is not None:
        hyper["max_epochs"] = ctx.max_epochs
    seeds = tuple(getattr(ctx, "seeds", None) or spec.defaults.get("seeds") or DEFAULT_SEEDS)
    save_dir = getattr(ctx, "save_dir", None)
    return NLIFinetuneConfig.from_mapping(hyper), seeds, None if save_dir is None else Path(save_dir)


def run_radnli(spec: TaskSpec, ctx: EvalContext) -> TaskResult:
    clock = RunClock()
    split = ctx.split or spec.dataset.default_split
    if split != "test":
        raise ValueError(f"radnli: the epoch is selected on RadNLI dev, so only --split test is scored (got {split!r})")
    try:
        encoder, tokenizer = ctx.adapter.text_encoder_for_finetuning()
    except NotImplementedError as exc:
        raise TaskSkipped(str(exc)) from exc
    config, seeds, save_dir = run_options(spec, ctx)
    paths = {role: find_nli_file(ctx.data_root, name) for role, name in FILES.items()}
    loaded = {role: load_nli(path) for role, path in paths.items()}  # bad lines: DatasetFormatError (file, line)
    used = {role: apply_limit(pairs, ctx.limit, f"{FILES[role]} ({paths[role]})") for role, pairs in loaded.items()}

    outcome = run_protocol(
        encoder, tokenizer, used["train"], used["dev"], used["test"], config=config, seeds=seeds,
        device=ctx.runtime.device, save_dir=save_dir, progress=ctx.progress,
        sources=(str(paths["train"]), str(paths["dev"]), str(paths["test"])),
    )
    summary = outcome.summary()
    test = used["test"]
    n = len(test)
    correct = torch.tensor([[p == g for p, g in zip(r.predictions, outcome.test_gold)] for r in outcome.runs],
                           dtype=torch.float64).mean(0)  # [pairs]: fraction of seeds that got each pair right
    metrics = {
        "accuracy": bootstrap_metric(
            lambda idx: correct[idx].mean(-1), n, ctx,
            note=f"mean over {len(seeds)} seeds of the test accuracy; CI resamples test pairs"),
        "accuracy_sd": Metric(value=summary["accuracy"]["sd"], n=n, note=f"sample sd over {len(seeds)} seeds"),
        **{m: Metric(value=summary[m]["mean"], n=n, note=f"mean over {len(seeds)} seeds")
           for m in ("precision_macro", "recall_macro", "f1_macro")},
        "majority_baseline_accuracy": Metric(
            value=summary["majority_baseline"]["accuracy"], n=n,
            note=f"always '{summary['majority_baseline']['label']}' (the most frequent RadNLI test label)"),
    }
    for run in outcome.runs:
        metrics[f"accuracy_seed{run.seed}"] = Metric(value=run.metrics["accuracy"], n=n,
                                                     note=f"best dev epoch {run.best_epoch}")
    per_category = [
        CategoryRow(category=name, n=row["support"],
                    metrics={f"{m}{suffix}": row[m][key] for m in ("precision", "recall", "f1")
                             for suffix, key in (("", "mean"), ("_sd", "sd"))})
        for name, row in summary["per_class"].items()
    ]
    samples = [
        {"sample_id": pair.pair_id, "label": pair.label,
         **{f"pred_seed{r.seed}": NLI_LABELS[r.predictions[i]] for r in outcome.runs},
         "correct_fraction": float(correct[i])}
        for i, pair in enumerate(test)
    ]
    dataset = DatasetInfo(
        name=spec.dataset.name, version=spec.dataset.default_version, split=split,
        sample_ids_sha256=sample_ids_sha256([p.pair_id for p in test]), n_samples_available=len(loaded["test"]),
        n_samples=n, n_scored=n, limit=ctx.limit,
        files=[file_record(FILES[role], path) for role, path in paths.items()],
    )
    scoring = {
        "protocol": PROTOCOL,
        "hyperparameters": config.to_dict(),
        "seeds": list(seeds),
        "labels": list(NLI_LABELS),
        "head": f"dropout + linear on the {'[CLS] last hidden state' if config.pooling == 'cls' else 'pooler output'}",
        "train_data": {"file": paths["train"].name, "n": len(used["train"]),
                       "sample_ids_sha256": sample_ids_sha256([p.pair_id for p in used["train"]])},
        "dev_data": {"file": paths["dev"].name, "n": len(used["dev"]),
                     "sample_ids_sha256": sample_ids_sha256([p.pair_id for p in used["dev"]])},
        "confusion_matrix": {"rows": "gold", "columns": "predicted", "labels": list(NLI_LABELS),
                             "per_seed": {str(r.seed): r.confusion for r in outcome.runs},
                             "sum_over_seeds": summary["confusion_matrix_sum"]},
        "majority_baseline": summary["majority_baseline"],
        "runs": [{"seed": r.seed, "test_accuracy": r.metrics["accuracy"], "best_epoch": r.best_epoch,
                  "best_dev_accuracy": r.best_dev_accuracy, "epochs_run": r.epochs_run,
                  "stopped_early": r.stopped_early, "autocast_dtype": r.amp_dtype, "wall_s": round(r.wall_s, 3),
                  "history": r.history, "saved_to": r.saved_to} for r in outcome.runs],
        "fine_tuned_weights": "kept under save_dir" if save_dir is not None else "discarded",
        "ci": f"{spec.defaults.get('ci_method', 'percentile bootstrap over samples')}, resampling RadNLI test pairs, "
              f"{ctx.n_bootstrap} resamples, seed {ctx.seed}",
    }
    notes = [f"RadNLI test accuracy {summary['accuracy']['mean']:.4f}"
             + (f" ± {summary['accuracy']['sd']:.4f}" if summary["accuracy"]["sd"] is not None else "")
             + f" over {len(seeds)} seed(s); majority-class baseline {summary['majority_baseline']['accuracy']:.4f}"]
    if ctx.limit is not None:
        notes.append(f"--limit {ctx.limit} applied to MedNLI train, RadNLI dev and RadNLI test (smoke test only)")
    return build_result(spec, ctx, clock, dataset=dataset, scoring=scoring, metrics=metrics, samples=samples,
                        per_category=per_category, notes=notes)
