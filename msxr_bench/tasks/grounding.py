"""`ms-cxr`: MS-CXR phrase grounding. Per (image, phrase): similarity grid -> smoothing (adapter geometry) ->
optional min-max rescale (adapter meta) -> nearest upsampling to the original image -> CNR, signed CNR, IoU and
Dice at thresholds, computed exactly on cells; the same image is scored again with a phrase of another category
(phrase-sensitivity control). Per-category, macro (main score: macro CNR) and micro means with bootstrap CIs.
"""

from __future__ import annotations

import torch

from msxr_bench.geometry import effective_placement
from msxr_bench.data.mscxr import find_mscxr_annotations, load_mscxr
from msxr_bench.data.types import MS_CXR_CATEGORIES
from msxr_bench.engine import ImageItem, TextLengthPolicy, prepare_adapter
from msxr_bench.metrics import BOX_RULE, NAN_POLICY, STATUS_FLAGS, status_counts
from msxr_bench.metrics.aggregation import group_index, macro_mean, micro_mean
from msxr_bench.hashing import sample_ids_sha256
from msxr_bench.results import DatasetInfo, Metric, TaskResult
from msxr_bench.tasks.aggregate import bootstrap_metric, category_table
from msxr_bench.tasks.assemble import (
    RunClock, apply_limit, build_result, file_record, gathered_names, image_failure_report,
)
from msxr_bench.tasks.heatmaps import HeatmapWriter
from msxr_bench.tasks.map_scoring import MapRequest, score_map_requests
from msxr_bench.geometry.scoring import GridScoring, resolve_placement
from msxr_bench.tasks.providers import text_memo
from msxr_bench.tasks.sensitivity import DRAW_RULE, draw_wrong_phrases
from msxr_bench.tasks.spec import EvalContext, TaskSkipped, TaskSpec

COLUMNS = ("cnr", "signed_cnr", "miou", "mdice", "phrase_gap", "signed_cnr_wrong")
CI_COLUMNS = ("cnr", "signed_cnr", "miou", "mdice", "phrase_gap")
SMALL_CATEGORY = 5


def grid_scoring_for(adapter, spec: TaskSpec) -> GridScoring:
    """Smoothing from the adapter's geometry, rescaling from its meta, placement from its option."""
    rescale = (-1.0, 1.0) if adapter.meta.map_rescale == "minmax" else None
    placement = resolve_placement(adapter.map_placement, spec.defaults["placement"])
    return GridScoring(adapter.geometry.smoothing_sigma, rescale, placement)


def run_ms_cxr(spec: TaskSpec, ctx: EvalContext) -> TaskResult:
    clock = RunClock()
    adapter = ctx.adapter
    if not adapter.supports_grounding:
        raise TaskSkipped(f"{adapter.meta.name} has no patch embeddings: phrase grounding is not available")
    version = ctx.mscxr_version or spec.dataset.default_version
    split = ctx.split or spec.dataset.default_split
    if split not in spec.dataset.splits:
        raise ValueError(f"ms-cxr: unknown split {split!r}; MS-CXR splits: {', '.join(spec.dataset.splits)}")
    annotations = find_mscxr_annotations(ctx.data_root, version)
    loaded, load_skips = load_mscxr(annotations, ctx.data_root, split=None if split == "all" else split)
    load_skips.source = annotations.name
    samples = apply_limit(loaded, ctx.limit, f"MS-CXR {version} split {split!r} ({annotations})")

    adapter = prepare_adapter(adapter, ctx.runtime)
    wrong = draw_wrong_phrases(samples, loaded, ctx.seed)
    texts = sorted({s.phrase for s in samples} | {w[0] for w in wrong.values() if w is not None})
    policy = TextLengthPolicy.for_adapter(adapter, ctx.truncate_long_phrases)
    for text in texts:
        policy.apply(text)  # a text that is too long fails the run now, before any image work
    memo = text_memo(ctx, adapter, policy, batch_size=max(ctx.batch_size, 32))
    row_of = {t: i for i, t in enumerate(texts)}
    requests = []
    for s in samples:
        item = ImageItem(s.dicom_id, s.image_path)
        requests.append(MapRequest(s.sample_id, item, row_of[s.phrase], s.boxes))
        if wrong[s.sample_id] is not None:
            requests.append(MapRequest(s.sample_id, item, row_of[wrong[s.sample_id][0]], s.boxes, role="wrong"))
    scoring = grid_scoring_for(adapter, spec)
    thresholds = tuple(spec.defaults["iou_thresholds"])
    writer = None
    if ctx.save_heatmaps and ctx.heatmap_dir is not None:
        first = [s.sample_id for s in samples[: ctx.save_heatmaps]]
        titles = {s.sample_id: f"{s.category}: {s.phrase}" for s in samples}
        writer = HeatmapWriter(ctx.heatmap_dir, spec.name, first, titles, adapter.geometry, scoring.placement)
    scores, failures = score_map_requests(requests, lambda: memo.embed(texts), ctx, adapter, scoring, thresholds,
                                          on_map=writer)

    rows = []
    for s in samples:
        right = scores.get((s.sample_id, "right"))
        if right is None:
            continue
        w = scores.get((s.sample_id, "wrong"))
        row = {"sample_id": s.sample_id, "dicom_id": s.dicom_id, "category": s.category, "phrase": s.phrase,
               "cnr": right.cnr, "signed_cnr": right.signed_cnr,
               "miou": sum(right.iou) / len(right.iou), "mdice": sum(right.dice) / len(right.dice),
               **{f"iou@{t:g}": v for t, v in zip(thresholds, right.iou)},
               **{f"dice@{t:g}": v for t, v in zip(thresholds, right.dice)},
               "status": right.status,
               "wrong_phrase": wrong[s.sample_id][0] if wrong[s.sample_id] else None,
               "wrong_category": wrong[s.sample_id][1] if wrong[s.sample_id] else None,
               "signed_cnr_wrong": w.signed_cnr if w else None,
               "phrase_gap": right.signed_cnr - w.signed_cnr if w else None}
        rows.append(row)
    if not rows:
        raise ValueError(f"ms-cxr: no image could be read ({len(failures)} failed); see the skipped images")

    cats = [r["category"] for r in rows]
    columns = {c: torch.tensor([float("nan") if r[c] is None else r[c] for r in rows], dtype=torch.float64)
               for c in COLUMNS}
    per_category, summaries = category_table(columns, cats, MS_CXR_CATEGORIES)
    groups, names = group_index(cats, MS_CXR_CATEGORIES)
    metrics: dict[str, Metric] = {}
    for c in COLUMNS:
        n_ok = summaries[c]["n"]
        if c not in CI_COLUMNS:
            metrics[f"{c}_macro"] = Metric(value=summaries[c]["macro"], n=n_ok)
            metrics[f"{c}_micro"] = Metric(value=summaries[c]["micro"], n=n_ok)
            continue
        v = columns[c]
        metrics[f"{c}_macro"] = bootstrap_metric(lambda idx, v=v: macro_mean(v[idx], groups[idx], len(names)),
                                                 len(rows), ctx, n=n_ok, strata=groups)
        metrics[f"{c}_micro"] = bootstrap_metric(lambda idx, v=v: micro_mean(v[idx]), len(rows), ctx, n=n_ok,
                                                 strata=groups)

    statuses = torch.tensor([r["status"] for r in rows], dtype=torch.int64)
    dataset = DatasetInfo(
        name=spec.dataset.name, version=version, split=split,
        sample_ids_sha256=sample_ids_sha256([s.sample_id for s in samples]), n_samples_available=len(loaded),
        n_samples=len(samples), n_scored=len(rows), limit=ctx.limit, files=[file_record("annotations", annotations)],
    )
    record = {
        **scoring.record(),
        "placement_effective": effective_placement(adapter.geometry, scoring.placement),
        "similarity": "adapter.similarity_grid on L2-normalised image patch and phrase embeddings (fp32)",
        "cnr": "|mean_in - mean_out| / sqrt(var_in + var_out), population variances, in = box union",
        "signed_cnr": "CNR without the absolute value",
        "iou_thresholds": list(thresholds),
        "miou": "mean over thresholds of IoU(map > t, box union); mdice likewise",
        "box_rule": BOX_RULE, "nan_policy": NAN_POLICY,
        "aggregation": "per-category mean over samples with a finite value; macro = mean over categories; "
                       "micro = mean over samples",
        "phrase_sensitivity": {"rule": DRAW_RULE, "seed": ctx.seed,
                               "gap": "signed CNR with the right phrase minus with the wrong phrase, same boxes"},
        "status_flags": dict(STATUS_FLAGS),
        "degenerate_cases": status_counts(statuses),
        "aggregates": summaries,
        "ci": f"{spec.defaults['ci_method']} stratified by category, {ctx.n_bootstrap} resamples, seed {ctx.seed}",
        "truncated_texts": policy.record(),
        "heatmaps": gathered_names(ctx, [p.name for p in writer.written]) if writer else [],
    }
    sample_ids_by_image: dict[str, list[str]] = {}
    for s in samples:
        sample_ids_by_image.setdefault(s.dicom_id, []).append(s.sample_id)
    skipped = [load_skips, image_failure_report(failures, sample_ids_by_image)]
    small = [r.category for r in per_category if r.n < SMALL_CATEGORY]
    notes = [f"categories with fewer than {SMALL_CATEGORY} samples ({', '.join(small)}): their means are noisy and "
             "the stratified CIs of macro metrics understate the uncertainty"] if small else []
    return build_result(spec, ctx, clock, dataset=dataset, scoring=record, metrics=metrics, samples=rows,
                        per_category=per_category, skipped=skipped, notes=notes)
