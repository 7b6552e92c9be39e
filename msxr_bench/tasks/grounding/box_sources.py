"""Where a box task's boxes come from, by name: the model's own boxes (`boxes` capability, `predict_boxes` through
the streamed box provider) or its heatmap converted by a named rule (`geometry/map_boxes.py`), with CNR from the
same map. Both give, per sample, [k, 5] boxes in original pixels (x1, y1, x2, y2, score).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch

from msxr_bench.adapters.base import BOXES, PATCHES, TEXT
from msxr_bench.data.types import GroundingSample, SkipReport
from msxr_bench.engine import ImageItem, shard
from msxr_bench.engine.boxes import ModelBoxPredictions
from msxr_bench.engine.images import ALL_EXAMPLES, ImageFailure
from msxr_bench.geometry import GridScoring, axis_map, effective_placement
from msxr_bench.geometry.map_boxes import MapBoxRule
from msxr_bench.tasks.context import RunContext
from msxr_bench.tasks.grounding.map_scoring import MapRequest, score_map_requests
from msxr_bench.tasks.grounding.ms_cxr import grid_scoring_for
from msxr_bench.tasks.spec import TaskSkipped

BOX_SOURCES = ("auto", "model", "heatmap")
MAP_CNR = ("from the model's own similarity map (as ms-cxr): |mean_in - mean_out| / sqrt(var_in + var_out), signed "
           "without the absolute value")
CNR_NOT_APPLICABLE = ("not applicable: the model gives boxes only, and a map made of boxes is constant inside and "
                      "outside them (zero variance: CNR is undefined)")


@dataclass
class PredictedSet:
    boxes: dict[str, torch.Tensor]  # sample_id -> [k, 5] original pixels + score
    cnr: dict[str, tuple[float, float]] = field(default_factory=dict)  # sample_id -> (CNR, signed CNR) of the map
    failures: list[ImageFailure] = field(default_factory=list)
    dropped: Counter = field(default_factory=Counter)
    record: dict[str, Any] = field(default_factory=dict)
    skips: SkipReport | None = None  # pairs whose output the model reported unusable (not scored)


def resolve_source(requested: str, capabilities: frozenset[str] | set[str], adapter_name: str) -> str:
    """"model" or "heatmap": auto = the model's own boxes when it has them, else its heatmap."""
    has_boxes, has_maps = BOXES in capabilities, {PATCHES, TEXT} <= set(capabilities)
    if requested == "auto":
        requested = "model" if has_boxes else "heatmap"
    if requested == "model" and not has_boxes:
        raise TaskSkipped(f"{adapter_name} predicts no boxes (box_source=model needs the 'boxes' capability)")
    if requested == "heatmap" and not has_maps:
        raise TaskSkipped(f"{adapter_name} gives no heatmap (box_source=heatmap needs 'patches' and 'text')")
    return requested


def model_boxes(samples: Sequence[GroundingSample], run: RunContext) -> PredictedSet:
    """The adapter's `predict_boxes` on every (image, phrase) pair, mapped back to original pixels."""
    adapter = run.adapter
    policy = run.text_policy(adapter)
    phrases: dict[str, list[str]] = {}
    where: dict[str, tuple[str, int]] = {}
    items: dict[str, ImageItem] = {}
    for s in samples:
        items.setdefault(s.dicom_id, ImageItem(s.dicom_id, s.image_path))
        texts = phrases.setdefault(s.dicom_id, [])
        where[s.sample_id] = (s.dicom_id, len(texts))
        texts.append(policy.apply(s.phrase))
    provider = ModelBoxPredictions(adapter, run.runtime, phrases, run.batch_size, run.num_workers,
                                   progress="images" if run.progress else None,
                                   decode_options=run.decode_options)
    per_image: dict[str, list[torch.Tensor]] = {}
    failures: list[ImageFailure] = []
    dropped: Counter = Counter()
    unusable: list[tuple[str, int, str]] = []
    for batch in provider.batches(shard(list(items.values()), run.rank, run.world_size)):
        failures.extend(batch.failures)
        dropped.update(batch.dropped)
        per_image.update(batch.boxes)
        unusable.extend(batch.unusable)
    per_image, failures = run.gather_results(per_image, failures)
    dropped = sum((Counter(part) for part in run.gather_all(dict(dropped))), Counter())
    bad = {(key, k): why for part in run.gather_all(unusable) for key, k, why in part}
    boxes = {sid: per_image[key][k] for sid, (key, k) in where.items() if key in per_image and (key, k) not in bad}
    skips = SkipReport(source="model outputs", max_examples=ALL_EXAMPLES)
    for sid, (key, k) in where.items():
        if (key, k) in bad:
            skips.add("model output unusable", f"{sid}: {bad[(key, k)]}")
    record = {"kind": "model", "method": "adapter.predict_boxes on the model input, boxes mapped back to original "
              "pixels through the adapter's geometry and clipped to the image",
              "cnr": CNR_NOT_APPLICABLE, "truncated_texts": policy.record(keep_text=run.keep_text)}
    return PredictedSet(boxes, {}, failures, dropped, record, skips)


def _map_pass(samples: Sequence[GroundingSample], run: RunContext, scoring: GridScoring, on_map: Any = None,
              on_raw: Any = None) -> tuple[dict[str, tuple[float, float]], list[ImageFailure], dict[str, Any]]:
    """Every sample's similarity map scored against its true boxes (as ms-cxr); the callbacks see the grids."""
    adapter = run.adapter
    texts = sorted({s.phrase for s in samples})
    policy = run.text_policy(adapter)
    for text in texts:
        policy.apply(text)
    memo = run.text_memo(adapter, policy, batch_size=max(run.batch_size, 32))
    row_of = {t: i for i, t in enumerate(texts)}
    requests = [MapRequest(s.sample_id, ImageItem(s.dicom_id, s.image_path), row_of[s.phrase], s.boxes)
                for s in samples]
    scores, failures = score_map_requests(requests, lambda: memo.embed(texts), run, adapter, scoring, (0.5,),
                                          on_map=on_map, on_raw=on_raw)
    cnr = {sid: (s.cnr, s.signed_cnr) for (sid, role), s in scores.items() if role == "right"}
    record = {**scoring.record(), "placement_effective": effective_placement(adapter.geometry, scoring.placement),
              "truncated_texts": policy.record(keep_text=run.keep_text)}
    return cnr, failures, record


def map_cnr(samples: Sequence[GroundingSample], run: RunContext) -> tuple[dict[str, tuple[float, float]], dict]:
    """CNR and signed CNR of the model's own map, for a box model that also gives maps."""
    cnr, _, record = _map_pass(samples, run, grid_scoring_for(run.adapter))
    return cnr, {"cnr": MAP_CNR, "map": record}


def heatmap_boxes(samples: Sequence[GroundingSample], run: RunContext, rule: MapBoxRule) -> PredictedSet:
    """Boxes from each phrase's similarity map by `rule`, and the map's CNR against the true boxes."""
    adapter = run.adapter
    boxes: dict[str, torch.Tensor] = {}
    raw: dict[str, torch.Tensor] = {}
    amaps: dict[tuple[int, int], Any] = {}
    scoring = grid_scoring_for(adapter)

    def on_raw(request: MapRequest, size: tuple[int, int], grid: torch.Tensor) -> None:
        raw[request.sample_id] = grid

    def on_map(request: MapRequest, size: tuple[int, int], grid: torch.Tensor, score: Any) -> None:
        if size not in amaps:
            amaps[size] = axis_map(adapter.geometry, size[0], size[1], scoring.placement)
        boxes[request.sample_id] = rule(raw.pop(request.sample_id), grid, amaps[size], adapter.geometry, size)

    cnr, failures, map_record = _map_pass(samples, run, scoring, on_map, on_raw)
    boxes = {sid: b for part in run.gather_all(boxes) for sid, b in part.items()}
    record = {"kind": "heatmap", "rule": rule.name, "method": rule.describe(), **map_record, "cnr": MAP_CNR}
    return PredictedSet(boxes, cnr, failures, Counter(), record)
