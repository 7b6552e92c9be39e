"""`rsna-seg`: zero-shot pneumonia segmentation on the positive RSNA images of a split.

Map of the positive prompt (list averaged) -> smoothing per adapter geometry -> min-max rescale to [0, 1] over
the pixels the map covers -> (map > 0.6) vs the union of the image's boxes: IoU and Dice; signed and absolute CNR
as for MS-CXR (the absolute one flatters maps that point away from the boxes: both are reported, signed first).
Computed exactly on cells (nearest upsampling); boxes are in the 1024 x 1024 Kaggle frame, scaled to the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import torch

from msxr_bench.data.types import RsnaSample
from msxr_bench.engine import ImageItem
from msxr_bench.geometry import GridScoring, effective_placement, resolve_placement
from msxr_bench.metrics import BOX_RULE, NAN_POLICY, STATUS_FLAGS, status_counts
from msxr_bench.metrics.aggregation import micro_mean
from msxr_bench.tasks.base import Loaded, RowStatistic, Scored, Task, finite_count, number_column
from msxr_bench.tasks.context import RunContext
from msxr_bench.tasks.grounding.heatmaps import HeatmapWriter
from msxr_bench.tasks.grounding.map_scoring import MapRequest, image_failure_report, score_map_requests
from msxr_bench.tasks.rsna.selection import BOX_FRAME, select_rsna
from msxr_bench.tasks.rsna.spec import RsnaSegParams
from msxr_bench.tasks.spec import ProtocolSpec

RESCALE = (0.0, 1.0)
MEASURES = ("dice", "iou", "signed_cnr", "cnr")


class RsnaSegTask(Task):
    def load(self, params: RsnaSegParams, protocol: ProtocolSpec, split: str, data_root: Path) -> Loaded:
        return select_rsna(data_root, protocol, split, positives_only=True)

    def score(self, samples: Sequence[RsnaSample], loaded: Loaded, params: RsnaSegParams,
              run: RunContext) -> Scored:
        adapter = run.adapter
        policy = run.text_policy(adapter)
        prompts = list(params.positive_prompts)
        for prompt in prompts:
            policy.apply(prompt)  # a prompt that is too long fails the run now, before any image work
        memo = run.text_memo(adapter, policy)
        placement = resolve_placement(adapter.map_placement)
        scoring = GridScoring(adapter.geometry.smoothing_sigma, RESCALE, placement)
        requests = [MapRequest(s.patient_id, ImageItem(s.patient_id, s.image_path), 0, s.boxes, box_frame=BOX_FRAME)
                    for s in samples]
        writer = None
        if run.save_heatmaps and run.heatmap_dir is not None:
            writer = HeatmapWriter(run.heatmap_dir, self.spec.name, [s.patient_id for s in samples[: run.save_heatmaps]],
                                   {s.patient_id: " / ".join(prompts) for s in samples}, adapter.geometry, placement,
                                   value_range=RESCALE)
        scores, failures = score_map_requests(requests, lambda: memo.embed_prompt_list(prompts)[None], run, adapter,
                                              scoring, (params.threshold,), on_map=writer)  # text table [1, D]
        rows = []
        for s in samples:
            got = scores.get((s.patient_id, "right"))
            if got is not None:
                rows.append({"sample_id": s.patient_id, "n_boxes": len(s.boxes), "iou": got.iou[0], "dice": got.dice[0],
                             "signed_cnr": got.signed_cnr, "cnr": got.cnr, "status": got.status})
        record = {
            **scoring.record(),
            "placement_effective": effective_placement(adapter.geometry, placement),
            "positive_prompts": prompts,
            "prompt_list_embedding": "mean of unnormalised text projections, then L2 (adapter.embed_prompt_list)",
            "threshold": params.threshold,
            "iou_dice": f"IoU and Dice of (rescaled map > {params.threshold}) vs the union of the image's boxes",
            "cnr": "|mean_in - mean_out| / sqrt(var_in + var_out) on the rescaled map (CNR is invariant to it); "
                   "signed_cnr without the absolute value",
            "box_frame": f"{BOX_FRAME[0]}x{BOX_FRAME[1]} Kaggle frame, scaled per axis to the decoded image size",
            "box_rule": BOX_RULE, "nan_policy": NAN_POLICY,
            "aggregation": "mean over positive images with a finite value",
            "status_flags": dict(STATUS_FLAGS),
            "degenerate_cases": status_counts(torch.tensor([r["status"] for r in rows], dtype=torch.int64)),
            "split": loaded.split_record,
            "ci": f"percentile bootstrap over samples, {run.n_bootstrap} resamples, seed {run.seed}",
            "truncated_texts": policy.record(keep_text=run.keep_text),
            "heatmaps": sorted({n for part in run.gather_all([p.name for p in writer.written]) for n in part})
            if writer else [],
        }
        skips = [image_failure_report(failures, {s.patient_id: [s.patient_id] for s in samples})]
        return Scored(rows, record, skips)

    def metrics(self, rows: Sequence[Mapping[str, Any]], scoring: Mapping[str, Any]) -> dict[str, RowStatistic]:
        out = {}
        # rows of rsna-seg 1.0.0 runs have no signed_cnr: their files aggregate as they did (compatible version)
        for name in MEASURES if any("signed_cnr" in r for r in rows) else ("dice", "iou", "cnr"):
            values = number_column(rows, name)
            out[name] = RowStatistic(values[:, None], lambda x, idx: micro_mean(x[:, 0][idx]), finite_count(values))
        return out
