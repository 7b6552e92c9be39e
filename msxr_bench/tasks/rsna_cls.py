"""`rsna-cls`: zero-shot pneumonia classification on RSNA, score = cos(img, positive) - cos(img, negative).

Prompt lists are averaged as hi-ml does (adapter.embed_prompt_list). AUROC is the main score; the other rates
are given at the F1-maximising threshold (chosen on the evaluated split itself: optimistic, the paper's choice)
and at the natural threshold 0.
"""

from __future__ import annotations

import torch

from msxr_bench.engine import ImageItem, TextLengthPolicy, prepare_adapter, shard
from msxr_bench.metrics.classification import auroc, binary_metrics_at, f1_max_threshold
from msxr_bench.hashing import sample_ids_sha256
from msxr_bench.results import DatasetInfo, TaskResult
from msxr_bench.tasks.aggregate import bootstrap_metric
from msxr_bench.tasks.assemble import (
    RunClock, apply_limit, build_result, gather_scores, image_failure_report,
)
from msxr_bench.tasks.providers import image_provider, text_memo
from msxr_bench.tasks.rsna_data import select_rsna
from msxr_bench.tasks.spec import EvalContext, TaskSpec

RATES = ("accuracy", "f1", "sensitivity", "specificity", "precision")
OPTIMISTIC = "threshold chosen on the evaluated split itself (F1-max): optimistic, as in the paper"


def prompts(ctx: EvalContext, spec: TaskSpec) -> tuple[list[str], list[str]]:
    pos = list(ctx.positive_prompts or spec.defaults["positive_prompts"])
    neg = list(ctx.negative_prompts or spec.defaults.get("negative_prompts", []))
    return pos, neg


def run_rsna_cls(spec: TaskSpec, ctx: EvalContext) -> TaskResult:
    clock = RunClock()
    sel = select_rsna(spec, ctx)
    samples = apply_limit(sel.samples, ctx.limit, f"RSNA split {sel.split!r} ({sel.files.labels})")
    adapter = prepare_adapter(ctx.adapter, ctx.runtime)
    policy = TextLengthPolicy.for_adapter(adapter, ctx.truncate_long_phrases)
    memo = text_memo(ctx, adapter, policy)
    pos_prompts, neg_prompts = prompts(ctx, spec)
    for prompt in pos_prompts + neg_prompts:
        policy.apply(prompt)  # a prompt that is too long fails the run now, before any image work

    by_key = {s.patient_id: s for s in samples}
    items = shard([ImageItem(s.patient_id, s.image_path) for s in samples], ctx.rank, ctx.world_size)
    batches = image_provider(ctx, adapter).batches(items)  # the DataLoader workers start decoding now,
    direction = torch.stack([memo.embed_prompt_list(pos_prompts), memo.embed_prompt_list(neg_prompts)])  # [2, D]
    cos: dict[str, tuple[float, float]] = {}
    failures = []
    for batch in batches:
        failures.extend(batch.failures)
        if batch.embeddings is not None:
            sims = (batch.embeddings.global_ @ direction.T).double().cpu()  # [B, 2]
            for item, (cp, cn) in zip(batch.items, sims.tolist()):
                cos[item.key] = (cp, cn)
    cos, failures = gather_scores(ctx, cos, failures)
    rows = [{"sample_id": s.patient_id, "label": s.label, "score": cos[s.patient_id][0] - cos[s.patient_id][1],
             "cos_positive": cos[s.patient_id][0], "cos_negative": cos[s.patient_id][1]}
            for s in samples if s.patient_id in cos]
    if not rows:
        raise ValueError(f"rsna-cls: no image of the split could be read ({len(failures)} failed)")
    scores = torch.tensor([r["score"] for r in rows], dtype=torch.float64)
    labels = torch.tensor([r["label"] for r in rows], dtype=torch.float64)

    def resampled(idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return scores[idx], labels[idx]

    metrics = {"auroc": bootstrap_metric(lambda idx: auroc(*resampled(idx), warn=False), len(rows), ctx)}
    for suffix, compute, note in (
        ("f1max", lambda idx: f1_max_threshold(*resampled(idx)), OPTIMISTIC),
        ("0", lambda idx: binary_metrics_at(*resampled(idx), spec.defaults["natural_threshold"]), None),
    ):
        for rate in RATES:
            metrics[f"{rate}@{suffix}"] = bootstrap_metric(
                lambda idx, c=compute, r=rate: getattr(c(idx), r), len(rows), ctx, note=note)
    at_f1max = f1_max_threshold(scores, labels)
    dataset = DatasetInfo(
        name=spec.dataset.name, version=spec.dataset.default_version, split=sel.split, split_scheme=sel.scheme,
        sample_ids_sha256=sample_ids_sha256([s.patient_id for s in samples]), n_samples_available=len(sel.samples),
        n_samples=len(samples), n_scored=len(rows), limit=ctx.limit, files=sel.file_records(),
    )
    scoring = {
        "score": "cos(image, positive prompt embedding) - cos(image, negative prompt embedding), global embeddings",
        "positive_prompts": pos_prompts, "negative_prompts": neg_prompts,
        "prompt_list_embedding": "mean of unnormalised text projections, then L2 (adapter.embed_prompt_list)",
        "decision_rule": "positive iff score >= threshold",
        "f1max_threshold": float(at_f1max.threshold), "f1max_note": OPTIMISTIC,
        "natural_threshold": spec.defaults["natural_threshold"],
        "auroc": "exact Mann-Whitney, ties count half; NaN if one class is absent",
        "split": sel.split_record,
        "ci": f"{spec.defaults['ci_method']} (threshold re-chosen per resample for @f1max), "
              f"{ctx.n_bootstrap} resamples, seed {ctx.seed}",
        "truncated_texts": policy.record(),
    }
    n_pos = int(labels.sum())
    notes = [f"{len(rows)} images scored: {n_pos} positive, {len(rows) - n_pos} negative"]
    if sel.split_record["n_ids_not_loaded"]:
        notes.append(f"{sel.split_record['n_ids_not_loaded']} ids of the split were not loaded (see skipped)")
    skipped = [sel.loader_skips, image_failure_report(failures, {k: [k] for k in by_key})]
    return build_result(spec, ctx, clock, dataset=dataset, scoring=scoring, metrics=metrics, samples=rows,
                        skipped=skipped, notes=notes)
