"""`rsna-seg`: zero-shot pneumonia segmentation on the positive RSNA images of a split.

Map of the positive prompt (list averaged) -> smoothing per adapter geometry -> min-max rescale to [0, 1] over
the pixels the map covers -> (map > 0.6) vs the union of the image's boxes: IoU and Dice; CNR as for MS-CXR.
Computed exactly on cells (nearest upsampling); boxes are in the 1024 x 1024 Kaggle frame, scaled to the file.
"""

from __future__ import annotations

import torch

from msxr_bench.geometry import effective_placement
from msxr_bench.engine import ImageItem, TextLengthPolicy, prepare_adapter
from msxr_bench.metrics import BOX_RULE, NAN_POLICY, STATUS_FLAGS, status_counts
from msxr_bench.metrics.aggregation import micro_mean
from msxr_bench.hashing import sample_ids_sha256
from msxr_bench.results import DatasetInfo, TaskResult
from msxr_bench.tasks.aggregate import bootstrap_metric
from msxr_bench.tasks.assemble import (
    RunClock, apply_limit, build_result, gathered_names, image_failure_report,
)
from msxr_bench.tasks.heatmaps import HeatmapWriter
from msxr_bench.tasks.map_scoring import MapRequest, score_map_requests
from msxr_bench.geometry.scoring import GridScoring, resolve_placement
from msxr_bench.tasks.providers import text_memo
from msxr_bench.tasks.rsna_cls import prompts
from msxr_bench.tasks.rsna_data import BOX_FRAME, select_rsna
from msxr_bench.tasks.spec import EvalContext, TaskSkipped, TaskSpec

POSITIVES_OF_SPLIT = " (positive images)"  # dataset.split = the --split value + this


def run_rsna_seg(spec: TaskSpec, ctx: EvalContext) -> TaskResult:
    clock = RunClock()
    adapter = ctx.adapter
    if not adapter.supports_grounding:
        raise TaskSkipped(f"{adapter.meta.name} has no patch embeddings: zero-shot segmentation is not available")
    sel = select_rsna(spec, ctx)
    positives = [s for s in sel.samples if s.label == 1]
    samples = apply_limit(positives, ctx.limit, f"RSNA split {sel.split!r}, positive images ({sel.files.labels})")

    adapter = prepare_adapter(adapter, ctx.runtime)
    policy = TextLengthPolicy.for_adapter(adapter, ctx.truncate_long_phrases)
    pos_prompts, _ = prompts(ctx, spec)
    for prompt in pos_prompts:
        policy.apply(prompt)  # a prompt that is too long fails the run now, before any image work
    memo = text_memo(ctx, adapter, policy)
    low, high = spec.defaults["rescale"]
    placement = resolve_placement(adapter.map_placement, spec.defaults["placement"])
    scoring = GridScoring(adapter.geometry.smoothing_sigma, (float(low), float(high)), placement)
    threshold = float(spec.defaults["threshold"])
    requests = [MapRequest(s.patient_id, ImageItem(s.patient_id, s.image_path), 0, s.boxes, box_frame=BOX_FRAME)
                for s in samples]
    writer = None
    if ctx.save_heatmaps and ctx.heatmap_dir is not None:
        writer = HeatmapWriter(ctx.heatmap_dir, spec.name, [s.patient_id for s in samples[: ctx.save_heatmaps]],
                               {s.patient_id: " / ".join(pos_prompts) for s in samples}, adapter.geometry, placement,
                               value_range=(low, high))
    scores, failures = score_map_requests(requests, lambda: memo.embed_prompt_list(pos_prompts)[None], ctx, adapter,
                                          scoring, (threshold,), on_map=writer)  # text table [1, D]

    rows = [{"sample_id": s.patient_id, "n_boxes": len(s.boxes), "iou": scores[(s.patient_id, "right")].iou[0],
             "dice": scores[(s.patient_id, "right")].dice[0], "cnr": scores[(s.patient_id, "right")].cnr,
             "status": scores[(s.patient_id, "right")].status}
            for s in samples if (s.patient_id, "right") in scores]
    if not rows:
        raise ValueError(f"rsna-seg: no image could be read ({len(failures)} failed); see the skipped images")
    metrics = {}
    for name in ("dice", "iou", "cnr"):
        values = torch.tensor([r[name] for r in rows], dtype=torch.float64)
        metrics[name] = bootstrap_metric(lambda idx, v=values: micro_mean(v[idx]), len(rows), ctx,
                                         n=int(torch.isfinite(values).sum()))
    dataset = DatasetInfo(
        name=spec.dataset.name, version=spec.dataset.default_version, split=f"{sel.split}{POSITIVES_OF_SPLIT}",
        split_scheme=sel.scheme, sample_ids_sha256=sample_ids_sha256([s.patient_id for s in samples]),
        n_samples_available=len(positives), n_samples=len(samples), n_scored=len(rows), limit=ctx.limit,
        files=sel.file_records(),
    )
    record = {
        **scoring.record(),
        "placement_effective": effective_placement(adapter.geometry, placement),
        "positive_prompts": pos_prompts,
        "prompt_list_embedding": "mean of unnormalised text projections, then L2 (adapter.embed_prompt_list)",
        "threshold": threshold,
        "iou_dice": f"IoU and Dice of (rescaled map > {threshold}) vs the union of the image's boxes",
        "cnr": "|mean_in - mean_out| / sqrt(var_in + var_out) on the rescaled map (CNR is invariant to it)",
        "box_frame": f"{BOX_FRAME[0]}x{BOX_FRAME[1]} Kaggle frame, scaled per axis to the decoded image size",
        "box_rule": BOX_RULE, "nan_policy": NAN_POLICY,
        "aggregation": "mean over positive images with a finite value",
        "status_flags": dict(STATUS_FLAGS),
        "degenerate_cases": status_counts(torch.tensor([r["status"] for r in rows], dtype=torch.int64)),
        "split": sel.split_record,
        "ci": f"{spec.defaults['ci_method']}, {ctx.n_bootstrap} resamples, seed {ctx.seed}",
        "truncated_texts": policy.record(),
        "heatmaps": gathered_names(ctx, [p.name for p in writer.written]) if writer else [],
    }
    skipped = [sel.loader_skips, image_failure_report(failures, {s.patient_id: [s.patient_id] for s in samples})]
    return build_result(spec, ctx, clock, dataset=dataset, scoring=record, metrics=metrics, samples=rows,
                        skipped=skipped)
