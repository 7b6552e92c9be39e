"""`ms-cxr-t-cls`: MS-CXR-T temporal image classification. Each labelled (image pair, finding) gets a class among
improving / stable / worsening: zero-shot, the class whose prompt (one per class and finding) is most similar to the
pair's image embedding; or a linear probe on that frozen embedding, cross-fitted over subject-grouped folds
(`probe.py`). The embedding is of current + prior for `image_pairs` adapters, of the current image otherwise
(`pair_inputs.py`). Per finding accuracy and macro accuracy, their means over findings (main: macro accuracy).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import torch

from msxr_bench.adapters.base import TEXT
from msxr_bench.data.mscxr_t import FINDINGS, PROGRESSIONS, ProgressionSample
from msxr_bench.data.types import SkipReport
from msxr_bench.engine.images import image_failure_report
from msxr_bench.metrics.progression import finding_accuracies, nanmean_findings
from msxr_bench.results import CategoryRow
from msxr_bench.tasks.base import Loaded, RowStatistic, Scored, Task, label_column
from msxr_bench.tasks.context import RunContext
from msxr_bench.tasks.spec import ProtocolSpec, TaskSkipped
from msxr_bench.tasks.temporal.pair_inputs import image_input_of, pair_embeddings, pair_key
from msxr_bench.tasks.temporal.probe import cross_fitted_probabilities
from msxr_bench.tasks.temporal.selection import mimic_train_rows, select_progression
from msxr_bench.tasks.temporal.spec import MsCxrTClsParams

DECISION_RULE = "argmax over the classes; exact ties go to the first of improving, stable, worsening"


def _row(s: ProgressionSample, scores: torch.Tensor, **extra: Any) -> dict[str, Any]:
    return {"sample_id": s.sample_id, "dicom_id": s.dicom_id, "previous_dicom_id": s.previous_dicom_id,
            "subject_id": s.subject_id, "finding": s.finding, "label": s.label,
            "predicted": PROGRESSIONS[int(torch.argmax(scores))],
            **{f"score_{c}": float(v) for c, v in zip(PROGRESSIONS, scores)}, **extra}


def zero_shot_rows(samples: Sequence[ProgressionSample], emb: dict[str, torch.Tensor], params: MsCxrTClsParams,
                   run: RunContext) -> tuple[list[dict], dict]:
    policy = run.text_policy(run.adapter)
    memo = run.text_memo(run.adapter, policy)
    findings = [f for f in FINDINGS if any(s.finding == f for s in samples)]
    prompts = {f: memo.embed([params.prompts[f][c] for c in PROGRESSIONS]).double().cpu() for f in findings}
    rows = [_row(s, prompts[s.finding] @ emb[pair_key(s)]) for s in samples]
    return rows, {"score": "cos(image embedding, prompt embedding) per class (L2-normalised, fp32 -> fp64)",
                  "truncated_texts": policy.record(keep_text=run.keep_text)}


def probe_rows(samples: Sequence[ProgressionSample], emb: dict[str, torch.Tensor], params: MsCxrTClsParams,
               skips: SkipReport) -> tuple[list[dict], dict]:
    rows: dict[str, dict] = {}
    folds_used = {}
    for finding in FINDINGS:
        part = [s for s in samples if s.finding == finding]
        n_subjects = len({s.subject_id for s in part})
        if n_subjects < 2:
            for s in part:
                skips.add("finding with fewer than 2 subjects: no probe can be fit", s.sample_id)
            continue
        folds_used[finding] = min(params.probe_folds, n_subjects)
        features = torch.stack([emb[pair_key(s)] for s in part])
        labels = torch.tensor([PROGRESSIONS.index(s.label) for s in part])
        probs, folds = cross_fitted_probabilities(features, labels, [s.subject_id for s in part], len(PROGRESSIONS),
                                                  folds_used[finding], params.probe_seed, params.probe_l2,
                                                  params.probe_max_iter)
        rows.update({s.sample_id: _row(s, p, fold=k) for s, p, k in zip(part, probs, folds)})
    record = {"score": "class probability of the probe that did not see the row's subject",
              "probe": {"model": "multinomial logistic regression per finding on the frozen global embedding, "
                                 "features standardised with the training part's mean and sd",
                        "objective": "mean cross-entropy + l2 / 2 * ||W||^2, full-batch L-BFGS from zeros (float64)",
                        "folds": params.probe_folds, "folds_used": folds_used,
                        "grouping": "subject (a subject's rows share one fold; folds <= subjects)",
                        "fold_rule": "subjects sorted by id, numpy RandomState(seed) permutation, dealt round-robin",
                        "seed": params.probe_seed, "l2": params.probe_l2, "max_iter": params.probe_max_iter}}
    return [rows[s.sample_id] for s in samples if s.sample_id in rows], record


def contamination(loaded: Loaded, run: RunContext) -> tuple[dict, list[str]]:
    trained_on_mimic = any("mimic" in d.lower() for d in run.adapter.meta.training_data)
    n_train = mimic_train_rows(loaded.split_record)
    record = {"rows_in_mimic_train": n_train if "mimic_split_of_rows" in loaded.split_record else None,
              "model_training_data": list(run.adapter.meta.training_data),
              "contaminated": bool(trained_on_mimic and n_train)}
    notes = [f"{n_train} of {loaded.split_record['n_ids']} labels have their current study in the MIMIC-CXR train "
             f"split, which this model was trained on (protocol mimic-split, split test, leaves them out)"] \
        if record["contaminated"] else []
    return record, notes


class MsCxrTClsTask(Task):
    def load(self, params: MsCxrTClsParams, protocol: ProtocolSpec, split: str, data_root: Path) -> Loaded:
        return select_progression(params, protocol, split, data_root)

    def score(self, samples: Sequence[ProgressionSample], loaded: Loaded, params: MsCxrTClsParams,
              run: RunContext) -> Scored:
        if params.mode == "zero-shot" and TEXT not in run.adapter.capabilities:
            raise TaskSkipped(f"{run.adapter.meta.name} lacks text: zero-shot {self.spec.name} needs prompt "
                              "embeddings (mode=linear-probe needs none)")
        image_input = image_input_of(run.adapter, params.image_input)
        emb, failures = pair_embeddings(run, samples, image_input)
        scored = [s for s in samples if pair_key(s) in emb]
        probe_skips = SkipReport(source="linear probe")
        rows, record = (zero_shot_rows(scored, emb, params, run) if params.mode == "zero-shot"
                        else probe_rows(scored, emb, params, probe_skips))
        flagged, notes = contamination(loaded, run)
        scoring = {"mode": params.mode, "image_input": image_input, "prompts": params.prompts,
                   "label_quality": list(params.label_quality) if params.label_quality is not None else None,
                   **record, "decision_rule": DECISION_RULE, "split": loaded.split_record, "contamination": flagged,
                   "ci": f"percentile bootstrap over labels stratified by finding, {run.n_bootstrap} resamples, "
                         f"seed {run.seed}" + ("; probes are not refitted per resample" if params.mode != "zero-shot"
                                               else "")}
        by_pair: dict[str, list[str]] = {}
        for s in samples:
            by_pair.setdefault(pair_key(s), []).append(s.sample_id)
        return Scored(rows, scoring, [image_failure_report(failures, by_pair), probe_skips], notes)

    def metrics(self, rows: Sequence[Mapping[str, Any]], scoring: Mapping[str, Any]) -> dict[str, RowStatistic]:
        finding = torch.tensor([FINDINGS.index(f) for f in label_column(rows, "finding", FINDINGS)])
        label = [PROGRESSIONS.index(v) for v in label_column(rows, "label", PROGRESSIONS)]
        predicted = [PROGRESSIONS.index(v) for v in label_column(rows, "predicted", PROGRESSIONS)]
        data = torch.stack([finding.double(), torch.tensor(label).double(), torch.tensor(predicted).double()], dim=1)

        def per_finding(x: torch.Tensor, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return finding_accuracies(x[:, 0].long()[idx], x[:, 1].long()[idx], x[:, 2].long()[idx], len(FINDINGS),
                                      len(PROGRESSIONS))

        def stat(kind: int, which: int | None) -> RowStatistic:
            def statistic(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
                values = per_finding(x, idx)[kind]
                return nanmean_findings(values) if which is None else values[..., which]
            n = len(rows) if which is None else int((finding == which).sum())
            return RowStatistic(data, statistic, n, strata=finding)

        out = {"macro_accuracy": stat(1, None), "accuracy": stat(0, None),
               "accuracy_micro": RowStatistic(data, lambda x, idx: (x[:, 1][idx] == x[:, 2][idx]).double().mean(-1),
                                              len(rows), strata=finding)}
        for k, f in enumerate(FINDINGS):
            out[f"macro_accuracy_{f}"], out[f"accuracy_{f}"] = stat(1, k), stat(0, k)
        return out

    def per_category(self, rows: Sequence[Mapping[str, Any]]) -> list[CategoryRow]:
        stats = self.metrics(rows, {})
        return [CategoryRow(category=f, n=stats[f"accuracy_{f}"].n,
                            metrics={m: stats[f"{m}_{f}"].value() for m in ("macro_accuracy", "accuracy")})
                for f in FINDINGS if stats[f"accuracy_{f}"].n]
