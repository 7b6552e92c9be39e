"""`rsna-cls`: zero-shot pneumonia classification on RSNA, score = cos(img, positive) - cos(img, negative).

Prompt lists are averaged as hi-ml does (adapter.embed_prompt_list). With `prompt_sweep` every pair of the sweep is
scored on the same image embeddings too (`sweep_scores.py`, BioViL paper Table A.1). AUROC is the main score; the other rates
are given at the F1-maximising threshold (chosen on the evaluated split itself: optimistic, the paper's choice,
flagged in every note) and at the natural threshold 0.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import torch

from msxr_bench.data.types import RsnaSample
from msxr_bench.engine import ImageItem, shard
from msxr_bench.hashing import file_sha256
from msxr_bench.engine.images import image_failure_report
from msxr_bench.metrics.classification import auroc, binary_metrics_at, f1_max_threshold
from msxr_bench.tasks.base import Loaded, RowError, RowStatistic, Scored, Task, number_column
from msxr_bench.tasks.context import RunContext
from msxr_bench.tasks.rsna.selection import select_rsna
from msxr_bench.tasks.rsna.spec import RsnaClsParams
from msxr_bench.tasks.rsna.sweep import SWEEPS, load_sweep
from msxr_bench.tasks.rsna.sweep_scores import paired_deltas, score_field, sweep_metrics
from msxr_bench.tasks.spec import ProtocolSpec

RATES = ("accuracy", "f1", "sensitivity", "specificity", "precision")
OPTIMISTIC = "threshold chosen on the evaluated split itself (F1-max): optimistic, as in the paper"


def prompt_direction(run: RunContext, positive: Sequence[str], negative: Sequence[str]) -> torch.Tensor:
    """[2, D]: the positive and negative prompt-list embeddings (too-long prompts fail before any image work)."""
    policy = run.text_policy(run.adapter)
    for prompt in list(positive) + list(negative):
        policy.apply(prompt)
    memo = run.text_memo(run.adapter, policy)
    return torch.stack([memo.embed_prompt_list(list(positive)), memo.embed_prompt_list(list(negative))])


def zero_shot_cosines(run: RunContext, samples: Sequence[RsnaSample], direction: torch.Tensor,
                      ) -> tuple[dict[str, tuple[float, ...]], list]:
    """{patient_id: (cos with each row of direction: positive, negative, ...)} of every image that decoded (all
    ranks), and the failures."""
    items = shard([ImageItem(s.patient_id, s.image_path) for s in samples], run.rank, run.world_size)
    cos: dict[str, tuple[float, float]] = {}
    failures = []
    for batch in run.image_provider_for(run.adapter).batches(items):
        failures.extend(batch.failures)
        if batch.embeddings is not None:
            sims = (batch.embeddings.global_ @ direction.T).double().cpu()  # [B, 2 (+ 2 per swept pair)]
            for item, row in zip(batch.items, sims.tolist()):
                cos[item.key] = tuple(row)
    return run.gather_results(cos, failures)


class RsnaClsTask(Task):
    def load(self, params: RsnaClsParams, protocol: ProtocolSpec, split: str, data_root: Path) -> Loaded:
        return select_rsna(data_root, protocol, split)

    def score(self, samples: Sequence[RsnaSample], loaded: Loaded, params: RsnaClsParams,
              run: RunContext) -> Scored:
        pairs = load_sweep(params.prompt_sweep) if params.prompt_sweep else ()
        direction = torch.cat([prompt_direction(run, params.positive_prompts, params.negative_prompts)]
                              + [prompt_direction(run, p.positive, p.negative) for p in pairs])
        cos, failures = zero_shot_cosines(run, samples, direction)
        rows = [{"sample_id": s.patient_id, "label": s.label, "score": cos[s.patient_id][0] - cos[s.patient_id][1],
                 "cos_positive": cos[s.patient_id][0], "cos_negative": cos[s.patient_id][1],
                 **{score_field(p.name): cos[s.patient_id][2 + 2 * k] - cos[s.patient_id][3 + 2 * k]
                    for k, p in enumerate(pairs)}}
                for s in samples if s.patient_id in cos]
        scoring = {
            "score": "cos(image, positive prompt embedding) - cos(image, negative prompt embedding), global "
                     "embeddings",
            "positive_prompts": list(params.positive_prompts), "negative_prompts": list(params.negative_prompts),
            "prompt_list_embedding": "mean of unnormalised text projections, then L2 (adapter.embed_prompt_list)",
            "decision_rule": "positive iff score >= threshold",
            "f1max_note": OPTIMISTIC,
            "natural_threshold": params.natural_threshold,
            "auroc": "exact Mann-Whitney, ties count half; NaN if one class is absent",
            "split": loaded.split_record,
            "ci": f"percentile bootstrap over samples (threshold re-chosen per resample for @f1max), "
                  f"{run.n_bootstrap} resamples, seed {run.seed}",
        }
        if rows:
            scores = torch.tensor([r["score"] for r in rows], dtype=torch.float64)
            labels = torch.tensor([r["label"] for r in rows], dtype=torch.float64)
            scoring["f1max_threshold"] = float(f1_max_threshold(scores, labels).threshold)
        if pairs:
            labels = torch.tensor([float(r["label"]) for r in rows], dtype=torch.float64)
            scoring["prompt_sweep"] = {
                "sweep": params.prompt_sweep if params.prompt_sweep in SWEEPS else Path(params.prompt_sweep).name,
                "sweep_sha256": None if params.prompt_sweep in SWEEPS else file_sha256(Path(params.prompt_sweep)),
                "pairs": [p.record() for p in pairs],
                "paired_bootstrap": paired_deltas(rows, labels, pairs, run.n_bootstrap, run.seed) if rows else {}}
        n_pos = sum(r["label"] for r in rows)
        notes = [f"{len(rows)} images scored: {n_pos} positive, {len(rows) - n_pos} negative"]
        if loaded.split_record.get("n_ids_not_loaded"):
            notes.append(f"{loaded.split_record['n_ids_not_loaded']} ids of the split were not loaded (see skipped)")
        return Scored(rows, scoring, [image_failure_report(failures, {s.patient_id: [s.patient_id] for s in samples})],
                      notes)

    def metrics(self, rows: Sequence[Mapping[str, Any]], scoring: Mapping[str, Any]) -> dict[str, RowStatistic]:
        labels = number_column(rows, "label", allow_null=False)
        if not bool(((labels == 0) | (labels == 1)).all()):
            raise RowError("samples[*].label: RSNA labels must be 0 or 1")
        data = torch.stack([number_column(rows, "score", allow_null=False), labels], dim=1)
        n = data.shape[0]

        def area(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
            return auroc(x[:, 0][idx], x[:, 1][idx], warn=False)

        out = {"auroc": RowStatistic(data, area, n)}
        natural = scoring.get("natural_threshold", 0.0)
        natural = float(natural) if isinstance(natural, (int, float)) else 0.0
        for suffix, rule, note in (("f1max", None, OPTIMISTIC), (f"{natural:g}", natural, None)):
            for rate in RATES:
                def rate_at(x: torch.Tensor, idx: torch.Tensor, r: str = rate, t=rule) -> torch.Tensor:
                    s, y = x[:, 0][idx], x[:, 1][idx]
                    return getattr(f1_max_threshold(s, y) if t is None else binary_metrics_at(s, y, t), r)

                out[f"{rate}@{suffix}"] = RowStatistic(data, rate_at, n, note=note)
        out.update(sweep_metrics(rows, labels, scoring))
        return out
