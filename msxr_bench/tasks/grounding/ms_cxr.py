"""`ms-cxr`: MS-CXR phrase grounding. Per (image, phrase): similarity grid -> smoothing (adapter geometry) ->
optional min-max rescale (adapter meta) -> nearest upsampling to the original image -> CNR, signed CNR, IoU and
Dice at thresholds, computed exactly on cells; the same image is scored again with a phrase of another category
(phrase-sensitivity control). Per-category, macro (main score: macro CNR) and micro means with bootstrap CIs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import torch

from msxr_bench.data.types import MS_CXR_CATEGORIES, GroundingSample
from msxr_bench.engine import ImageItem
from msxr_bench.geometry import GridScoring, effective_placement, resolve_placement
from msxr_bench.metrics import BOX_RULE, NAN_POLICY, STATUS_FLAGS, status_counts
from msxr_bench.metrics.aggregation import aggregate, group_index, macro_mean, micro_mean
from msxr_bench.results import CategoryRow
from msxr_bench.tasks.base import (
    Loaded, RowStatistic, Scored, Task, finite_count, label_column, number_column,
)
from msxr_bench.tasks.context import RunContext
from msxr_bench.tasks.grounding.heatmaps import HeatmapWriter
from msxr_bench.tasks.grounding.map_scoring import MapRequest, image_failure_report, score_map_requests
from msxr_bench.tasks.grounding.phrase_control import DRAW_RULE, draw_wrong_phrases
from msxr_bench.tasks.grounding.protocols import select_mscxr
from msxr_bench.tasks.grounding.spec import MsCxrParams
from msxr_bench.tasks.spec import ProtocolSpec

COLUMNS = ("cnr", "signed_cnr", "miou", "mdice", "phrase_gap", "signed_cnr_wrong")
CI_COLUMNS = ("cnr", "signed_cnr", "miou", "mdice", "phrase_gap")
SMALL_CATEGORY = 5


def grid_scoring_for(adapter) -> GridScoring:
    """Smoothing from the adapter's geometry, rescaling from its meta, placement from its option (else official)."""
    rescale = (-1.0, 1.0) if adapter.meta.map_rescale == "minmax" else None
    return GridScoring(adapter.geometry.smoothing_sigma, rescale, resolve_placement(adapter.map_placement))


class MsCxrTask(Task):
    def load(self, params: MsCxrParams, protocol: ProtocolSpec, split: str, data_root: Path) -> Loaded:
        return select_mscxr(data_root, protocol, split)

    def score(self, samples: Sequence[GroundingSample], loaded: Loaded, params: MsCxrParams,
              run: RunContext) -> Scored:
        adapter = run.adapter
        wrong = draw_wrong_phrases(samples, loaded.pool, run.seed)
        texts = sorted({s.phrase for s in samples} | {w.phrase for w in wrong.values() if w is not None})
        policy = run.text_policy(adapter)
        for text in texts:
            policy.apply(text)  # a text that is too long fails the run now, before any image work
        memo = run.text_memo(adapter, policy, batch_size=max(run.batch_size, 32))
        row_of = {t: i for i, t in enumerate(texts)}
        requests = []
        for s in samples:
            item = ImageItem(s.dicom_id, s.image_path)
            requests.append(MapRequest(s.sample_id, item, row_of[s.phrase], s.boxes))
            if wrong[s.sample_id] is not None:
                requests.append(MapRequest(s.sample_id, item, row_of[wrong[s.sample_id].phrase], s.boxes, role="wrong"))
        scoring = grid_scoring_for(adapter)
        thresholds = tuple(params.iou_thresholds)
        writer = None
        if run.save_heatmaps and run.heatmap_dir is not None:
            first = [s.sample_id for s in samples[: run.save_heatmaps]]
            titles = {s.sample_id: f"{s.category}: {s.phrase}" for s in samples}
            writer = HeatmapWriter(run.heatmap_dir, self.spec.name, first, titles, adapter.geometry, scoring.placement)
        scores, failures = score_map_requests(requests, lambda: memo.embed(texts), run, adapter, scoring, thresholds,
                                              on_map=writer)
        rows = [self._row(s, scores, wrong[s.sample_id], thresholds) for s in samples
                if (s.sample_id, "right") in scores]
        by_image: dict[str, list[str]] = {}
        for s in samples:
            by_image.setdefault(s.dicom_id, []).append(s.sample_id)
        statuses = torch.tensor([r["status"] for r in rows], dtype=torch.int64)
        record = {
            **scoring.record(),
            "placement_effective": effective_placement(adapter.geometry, scoring.placement),
            "similarity": "adapter.similarity_grid on L2-normalised image patch and phrase embeddings (fp32)",
            "iou_thresholds": list(thresholds),
            "box_rule": BOX_RULE, "nan_policy": NAN_POLICY,
            "aggregation": "per-category mean over samples with a finite value; macro = mean over categories; "
                           "micro = mean over samples",
            "phrase_sensitivity": {"rule": DRAW_RULE, "seed": run.seed,
                                   "gap": "signed CNR with the right phrase minus with the wrong phrase, same boxes"},
            "status_flags": dict(STATUS_FLAGS),
            "degenerate_cases": status_counts(statuses),
            "ci": f"percentile bootstrap over samples stratified by category, {run.n_bootstrap} resamples, "
                  f"seed {run.seed}",
            "truncated_texts": policy.record(keep_text=run.keep_text),
            "heatmaps": sorted({n for part in run.gather_all([p.name for p in writer.written]) for n in part})
            if writer else [],
        }
        per_cat = self.per_category(rows) if rows else []
        small = [r.category for r in per_cat if r.n < SMALL_CATEGORY]
        notes = [f"categories with fewer than {SMALL_CATEGORY} samples ({', '.join(small)}): their means are noisy "
                 "and the stratified CIs of macro metrics understate the uncertainty"] if small else []
        return Scored(rows, record, [image_failure_report(failures, by_image)], notes)

    @staticmethod
    def _row(s: GroundingSample, scores: dict, wrong, thresholds: tuple[float, ...]) -> dict[str, Any]:
        right = scores[(s.sample_id, "right")]
        w = scores.get((s.sample_id, "wrong"))
        return {"sample_id": s.sample_id, "dicom_id": s.dicom_id, "category": s.category, "phrase": s.phrase,
                "cnr": right.cnr, "signed_cnr": right.signed_cnr,
                "miou": sum(right.iou) / len(right.iou), "mdice": sum(right.dice) / len(right.dice),
                **{f"iou@{t:g}": v for t, v in zip(thresholds, right.iou)},
                **{f"dice@{t:g}": v for t, v in zip(thresholds, right.dice)},
                "status": right.status,
                "wrong_sample_id": wrong.sample_id if wrong else None,
                "wrong_category": wrong.category if wrong else None,
                "wrong_phrase": wrong.phrase if wrong else None,
                "signed_cnr_wrong": w.signed_cnr if w else None,
                "phrase_gap": right.signed_cnr - w.signed_cnr if w else None}

    def metrics(self, rows: Sequence[Mapping[str, Any]], scoring: Mapping[str, Any]) -> dict[str, RowStatistic]:
        groups, names = group_index(label_column(rows, "category"), MS_CXR_CATEGORIES)
        g = groups.to(torch.float64)
        out: dict[str, RowStatistic] = {}
        for c in COLUMNS:
            values = number_column(rows, c)
            data = torch.stack([values, g], dim=1)
            with_ci = c in CI_COLUMNS
            strata = groups if with_ci else None

            def macro(x: torch.Tensor, idx: torch.Tensor, k: int = len(names)) -> torch.Tensor:
                return macro_mean(x[:, 0][idx], x[:, 1].long()[idx], k)

            def micro(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
                return micro_mean(x[:, 0][idx])

            out[f"{c}_macro"] = RowStatistic(data, macro, finite_count(values), strata, with_ci)
            out[f"{c}_micro"] = RowStatistic(data, micro, finite_count(values), strata, with_ci)
        return out

    def per_category(self, rows: Sequence[Mapping[str, Any]]) -> list[CategoryRow]:
        """Per-category means of each column (NaN samples left out), categories in MS-CXR order."""
        categories = label_column(rows, "category")
        summaries = {c: aggregate(number_column(rows, c), categories, MS_CXR_CATEGORIES) for c in COLUMNS}
        present = [c for c in MS_CXR_CATEGORIES if c in set(categories)]
        present += sorted(set(categories) - set(MS_CXR_CATEGORIES))
        return [CategoryRow(category=c, n=categories.count(c),
                            metrics={name: s.per_group[c].mean for name, s in summaries.items()}) for c in present]

    def no_direction(self) -> frozenset[str]:
        return frozenset({"signed_cnr_wrong_macro", "signed_cnr_wrong_micro"})
