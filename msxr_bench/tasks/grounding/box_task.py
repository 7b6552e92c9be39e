"""Box grounding tasks: per (image, phrase), the model's boxes (its own, or its heatmap's by a named rule) scored
against the true boxes; metrics in `box_metrics.py`. `ms-cxr-boxes` selects samples by the MS-CXR protocols;
`padchest-gr` by PadChest-GR's master table, with phrases that have no box.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from msxr_bench.adapters.base import PATCHES, TEXT
from msxr_bench.data.padchest_gr import find_padchest_gr, load_padchest_gr
from msxr_bench.data.types import MS_CXR_CATEGORIES, GroundingSample
from msxr_bench.geometry.map_boxes import MapBoxRule
from msxr_bench.metrics.box_ap import AP_IOU_THRESHOLDS
from msxr_bench.metrics.boxes import OBJECT_THRESHOLDS, POOLED_GRID
from msxr_bench.results import CategoryRow
from msxr_bench.tasks.base import Loaded, RowStatistic, Scored, Task, file_record
from msxr_bench.tasks.context import RunContext
from msxr_bench.tasks.grounding.box_metrics import box_per_category, box_statistics
from msxr_bench.tasks.grounding.box_rows import RANKED_BOXES, box_rows
from msxr_bench.tasks.grounding.box_sources import heatmap_boxes, map_cnr, model_boxes, resolve_source
from msxr_bench.tasks.grounding.box_spec import PADCHEST_CATEGORIES, BoxTaskParams
from msxr_bench.tasks.grounding.map_scoring import image_failure_report
from msxr_bench.tasks.grounding.protocols import select_mscxr
from msxr_bench.tasks.spec import ProtocolSpec

CHEX_MAP = {"package": "mean-average-precision (bes-dev) rules, reimplemented in torch (metrics/box_ap.py)",
            "iou_thresholds": list(AP_IOU_THRESHOLDS), "matching": "soft", "recall_points": 101,
            "iou": "IoU > t (strict)", "boxes_ranked_per_phrase": RANKED_BOXES}


class BoxGroundingTask(Task):
    """Shared `score` / `metrics` of the box tasks; subclasses load samples and name their categories."""

    categories: tuple[str, ...] = MS_CXR_CATEGORIES
    id_field = "dicom_id"

    def score(self, samples: Sequence[GroundingSample], loaded: Loaded, params: BoxTaskParams,
              run: RunContext) -> Scored:
        source = resolve_source(params.box_source, run.adapter.capabilities, run.adapter.meta.name)
        if source == "model":
            predicted = model_boxes(samples, run)
            if {PATCHES, TEXT} <= set(run.adapter.capabilities):  # it also gives maps: CNR applies
                predicted.cnr, extra = map_cnr(samples, run)
                predicted.record.update(extra)
        else:
            kind, _, value = params.map_box_rule.partition("@")
            predicted = heatmap_boxes(samples, run, MapBoxRule(kind, float(value)))
        rows = box_rows(samples, predicted.boxes, self.id_field, predicted.cnr)
        by_image: dict[str, list[str]] = {}
        for s in samples:
            by_image.setdefault(s.dicom_id, []).append(s.sample_id)
        record = {
            "box_source": predicted.record,
            "boxes_dropped": dict(predicted.dropped),
            "box_frame": "original image pixels (x1, y1, x2, y2), pixel edges at integers",
            "map": CHEX_MAP,
            "pooled_iou": {"grid": POOLED_GRID, "coordinates": "normalised to the original image (x / W, y / H); "
                           "ChEX normalises to its centre-cropped square input", "object_thresholds":
                           list(OBJECT_THRESHOLDS), "object_threshold_rule": "score > t"},
            "no_box": "a groundable phrase without a predicted box scores IoU 0 (never another sample's box)",
            "ci": f"percentile bootstrap over samples stratified by category, {run.n_bootstrap} resamples, "
                  f"seed {run.seed}",
            "split": loaded.split_record,
        }
        skips = [image_failure_report(predicted.failures, by_image)] + ([predicted.skips] if predicted.skips else [])
        return Scored(rows, record, skips, self._notes(rows))

    @staticmethod
    def _notes(rows: Sequence[Mapping[str, Any]]) -> list[str]:
        groundable = [r for r in rows if r["n_true_boxes"] > 0]
        no_box = sum(1 for r in groundable if r["n_boxes"] == 0)
        notes = [f"{len(groundable)} of {len(rows)} phrases have true boxes (localisation is measured on these)"]
        if no_box:
            notes.append(f"{no_box} groundable phrases got no box: each scores IoU 0 (counted in no_box_rate)")
        return notes

    def metrics(self, rows: Sequence[Mapping[str, Any]], scoring: Mapping[str, Any]) -> dict[str, RowStatistic]:
        return box_statistics(rows, scoring, self.categories)

    def per_category(self, rows: Sequence[Mapping[str, Any]]) -> list[CategoryRow]:
        return box_per_category(rows, self.categories)

    def no_direction(self) -> frozenset[str]:
        return frozenset({"no_box_rate"})  # lower is better


class MsCxrBoxTask(BoxGroundingTask):
    def load(self, params: BoxTaskParams, protocol: ProtocolSpec, split: str, data_root: Path) -> Loaded:
        return select_mscxr(data_root, protocol, split)


class PadchestGrTask(BoxGroundingTask):
    categories = PADCHEST_CATEGORIES
    id_field = "image_id"

    def load(self, params: BoxTaskParams, protocol: ProtocolSpec, split: str, data_root: Path) -> Loaded:
        files = find_padchest_gr(data_root)
        samples, skips = load_padchest_gr(files, None if split == "all" else split)
        version = files.reports.stem.rpartition("_")[2] or protocol.dataset_version
        record = {"rule": protocol.description, "groundable": sum(1 for s in samples if s.boxes),
                  "without_boxes": sum(1 for s in samples if not s.boxes)}
        return Loaded(samples, [s.sample_id for s in samples], version, split,
                      [file_record("grounded_reports", files.reports), file_record("master_table", files.master)],
                      [skips], split_scheme="master table", split_record=record)
