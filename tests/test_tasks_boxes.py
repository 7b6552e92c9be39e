"""`ms-cxr-boxes` end to end on the toy world: a box model that knows the truth scores 1, the centre box scores
what numpy says, heatmap models get boxes by the named rule and the same CNR as `ms-cxr`, box-only models get CNR
"not applicable", and every number is recomputed from the rows as `leaderboard validate` does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from msxr_bench.adapters.base import BOXES, AdapterMeta, EncoderAdapter, PredictedBox
from msxr_bench.adapters.centre_box import CentreBoxAdapter
from msxr_bench.data.mscxr import find_mscxr_annotations, load_mscxr
from msxr_bench.geometry import preprocess
from msxr_bench.geometry.boxes import boxes_to_input
from msxr_bench.geometry.types import Geometry
from msxr_bench.data.images import load_image
from msxr_bench.leaderboard.checks import check_metrics
from msxr_bench.tasks.spec import TaskSkipped
from adapters_for_tests import crop_key
from task_helpers import run_named

TINY_BIOVIL = Path(__file__).resolve().parents[1] / "fixtures" / "models" / "tiny-biovil"


class TruthBoxAdapter(EncoderAdapter):
    """Knows every (image, phrase)'s true boxes (looked up by the crop's bytes) and predicts them, on the input."""

    capabilities = frozenset({BOXES})

    def __init__(self, root: Path, geometry: Geometry, drop: set[str] = frozenset()) -> None:
        super().__init__()
        self.geometry = geometry
        self.meta = AdapterMeta(name="test-truth-boxes", version="1", description="predicts the true boxes",
                                weights_source="oracle")
        samples, _ = load_mscxr(find_mscxr_annotations(root, "0.1"), root)
        self.table: dict[tuple[str, str], list[PredictedBox]] = {}
        for s in samples:
            key = crop_key(preprocess(load_image(s.image_path), geometry))
            xyxy = torch.tensor([[b.x, b.y, b.x2, b.y2] for b in s.boxes])
            mapped = boxes_to_input(xyxy, geometry, *s.image_size)
            self.table[(key, s.phrase)] = [] if s.sample_id in drop else [
                PredictedBox(float(a), float(b), float(c - a), float(d - b), 0.9) for a, b, c, d in mapped.tolist()]

    def predict_boxes(self, images: torch.Tensor, phrases: list[str]) -> list[list[PredictedBox]]:
        return [self.table[(crop_key(image), phrase)] for image, phrase in zip(images, phrases)]


def _no_issues(result, tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text(result.model_dump_json())
    assert check_metrics(path, result) == []


def test_true_boxes_score_one_and_cnr_is_not_applicable(toyworld_root: Path, tmp_path: Path) -> None:
    geometry = Geometry("resize_crop", 600, 600, (1, 1))  # upscaled: boxes land on fractional input pixels
    result = run_named("ms-cxr-boxes", {}, adapter=TruthBoxAdapter(toyworld_root, geometry), data_root=toyworld_root,
                       n_bootstrap=50)
    m = result.metrics
    for name in ("union_iou_micro", "union_iou_macro", "map", "ap75", "pooled_iou", "pooled_miou",
                 "groundability_precision", "groundability_recall"):
        assert m[name].value == pytest.approx(1.0, abs=1e-9), name
    # best box = the first of equal scores vs the box enclosing all true boxes (MedRPG's union box), by hand
    samples = {s.sample_id: s for s in load_mscxr(find_mscxr_annotations(toyworld_root, "0.1"), toyworld_root)[0]}
    hits = []
    for row in result.samples:
        b = samples[row["sample_id"]].boxes
        ex_area = (max(x.x2 for x in b) - min(x.x for x in b)) * (max(x.y2 for x in b) - min(x.y for x in b))
        iou = b[0].w * b[0].h / ex_area  # the first box lies inside the enclosing box
        assert row["best_box_iou"] == pytest.approx(iou, abs=1e-9)
        hits.append(iou >= 0.5)
    assert m["acc@0.5_micro"].value == pytest.approx(np.mean(hits)) and 0 < np.mean(hits) < 1
    assert m["cnr_macro"].value is None and "not applicable" in m["cnr_macro"].note
    assert result.scoring["box_source"]["kind"] == "model"
    assert {k for r in result.samples for k, v in r.items() if isinstance(v, str)} == {"sample_id", "dicom_id",
                                                                                        "category"}  # ids only
    _no_issues(result, tmp_path)


def test_a_phrase_without_a_box_scores_zero_and_is_counted(toyworld_root: Path) -> None:
    geometry = Geometry("resize_crop", 512, 512, (1, 1))
    samples, _ = load_mscxr(find_mscxr_annotations(toyworld_root, "0.1"), toyworld_root)
    dropped = {samples[0].sample_id, samples[3].sample_id}
    result = run_named("ms-cxr-boxes", {}, adapter=TruthBoxAdapter(toyworld_root, geometry, dropped),
                       data_root=toyworld_root, n_bootstrap=0)
    n = len(result.samples)
    assert result.metrics["no_box_rate"].value == pytest.approx(2 / n)
    assert result.metrics["groundability_recall"].value == pytest.approx((n - 2) / n)
    assert result.metrics["union_iou_micro"].value == pytest.approx((n - 2) / n)
    assert [r["best_box_iou"] for r in result.samples if r["sample_id"] in dropped] == [0.0, 0.0]
    assert any("2 groundable phrases got no box" in note for note in result.notes)


def test_centre_box_equals_a_numpy_computation(toyworld_root: Path, tmp_path: Path) -> None:
    result = run_named("ms-cxr-boxes", {}, adapter=CentreBoxAdapter(), data_root=toyworld_root, n_bootstrap=0)
    samples = {s.sample_id: s for s in load_mscxr(find_mscxr_annotations(toyworld_root, "0.1"), toyworld_root)[0]}
    checked = 0
    for row in result.samples:
        s = samples[row["sample_id"]]
        if s.image_size != (512, 512):
            continue  # 512 x 512 images are their own model input: the box is (128, 128, 384, 384)
        t = np.array([[b.x, b.y, b.x2, b.y2] for b in s.boxes])
        ex = [t[:, 0].min(), t[:, 1].min(), t[:, 2].max(), t[:, 3].max()]
        iw, ih = max(0, min(384, ex[2]) - max(128, ex[0])), max(0, min(384, ex[3]) - max(128, ex[1]))
        inter = iw * ih
        iou = inter / (256 * 256 + (ex[2] - ex[0]) * (ex[3] - ex[1]) - inter)
        assert row["best_box_iou"] == pytest.approx(iou, abs=1e-12)
        checked += 1
    assert checked > 30
    _no_issues(result, tmp_path)


def test_heatmap_models_get_boxes_by_the_named_rule_and_the_cnr_of_ms_cxr(toyworld_root: Path, tmp_path: Path,
                                                                          one_torch_thread) -> None:
    from msxr_bench.adapters.biovil import build_biovil

    adapter = build_biovil(checkpoint=str(TINY_BIOVIL))
    boxes = run_named("ms-cxr-boxes", {"protocol": "v1.1.0-test"}, adapter=adapter, data_root=toyworld_root,
                      n_bootstrap=20)
    maps = run_named("ms-cxr", {"protocol": "v1.1.0-test"}, adapter=adapter, data_root=toyworld_root, n_bootstrap=0)
    assert boxes.scoring["box_source"]["kind"] == "heatmap"
    assert boxes.scoring["box_source"]["rule"] == "top-fraction@0.1"
    cnr = {r["sample_id"]: r["cnr"] for r in maps.samples}
    assert {r["sample_id"]: r["cnr"] for r in boxes.samples} == pytest.approx(cnr)
    assert all(r["n_boxes"] >= 1 for r in boxes.samples)
    assert boxes.protocol.name == "v1.1.0-test" and boxes.dataset.split == "test"
    _no_issues(boxes, tmp_path)


def test_models_without_boxes_or_maps_are_skipped(toyworld_root: Path, test_adapters) -> None:
    from msxr_bench.adapters.registry import build_adapter

    with pytest.raises(TaskSkipped, match="has none of boxes / patches\\+text"):
        run_named("ms-cxr-boxes", {}, adapter=build_adapter("test-global-only"), data_root=toyworld_root)
    with pytest.raises(TaskSkipped, match="box_source=heatmap needs"):
        run_named("ms-cxr-boxes", {"box_source": "heatmap"}, adapter=CentreBoxAdapter(), data_root=toyworld_root)


def test_unusable_outputs_of_some_pairs_are_counted_skips_not_empty_boxes(toyworld_root: Path) -> None:
    from msxr_bench.adapters.errors import PartialBatchError

    class Flaky(CentreBoxAdapter):
        def predict_boxes(self, images: torch.Tensor, phrases: list[str]) -> list[list[PredictedBox]]:
            boxes = super().predict_boxes(images, phrases)
            bad = {i: "worker said: no" for i, p in enumerate(phrases) if len(p) % 3 == 0}
            if bad:
                kept = [i for i in range(len(phrases)) if i not in bad]
                raise PartialBatchError("some pairs failed", bad, kept, [boxes[i] for i in kept])
            return boxes

    samples = load_mscxr(find_mscxr_annotations(toyworld_root, "0.1"), toyworld_root)[0]
    failing = {s.sample_id for s in samples if len(s.phrase) % 3 == 0}
    result = run_named("ms-cxr-boxes", {}, adapter=Flaky(), data_root=toyworld_root, n_bootstrap=0)
    assert failing and {r["sample_id"] for r in result.samples} == {s.sample_id for s in samples} - failing
    skipped = next(s for s in result.skipped if s.source == "model outputs")
    assert skipped.counts == {"model output unusable": len(failing)}
    assert result.metrics["no_box_rate"].value == 0.0  # a failed pair is not an abstention
