"""`rsna-cls` and `rsna-seg` on the toy world: scores equal an independent computation (adapter calls +
scikit-learn; numpy at full resolution), chance level for random weights, the split recorded exactly."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from adapters_for_tests import BoxOracleAdapter, RandomCNNAdapter, crop_key
from msxr_bench.geometry.types import Geometry
from msxr_bench.geometry import axis_map, preprocess
from msxr_bench.data.images import load_image
from msxr_bench.data.rsna import find_rsna_files, load_rsna, rsna_patient_ids
from msxr_bench.data.splits import rsna_split
from msxr_bench.hashing import ordered_ids_sha256
from msxr_bench.metrics import cell_weights
from task_helpers import run_named

PROMPT = "Findings suggesting pneumonia"


@pytest.fixture(scope="module")
def rsna(toyworld_root: Path):
    files = find_rsna_files(toyworld_root)
    return files, load_rsna(files.labels, files.images_dir, files.class_info)[0]


def test_cls_scores_auroc_and_rates_match_an_independent_computation(toyworld_root: Path, rsna) -> None:
    adapter = RandomCNNAdapter(seed=3).eval()
    result = run_named("rsna-cls", {"split": "all"}, adapter=adapter, data_root=toyworld_root, n_bootstrap=50)
    _, samples = rsna
    assert result.dataset.n_scored == len(samples) == len(result.samples)
    with torch.no_grad():
        pos, neg = adapter.embed_prompt_list([PROMPT]), adapter.embed_prompt_list(["No evidence of pneumonia"])
        rows = {r["sample_id"]: r for r in result.samples}
        for s in samples[::4]:  # a quarter of the images, decoded and encoded here independently
            g = adapter.encode_images(preprocess(load_image(s.image_path), adapter.geometry)[None]).global_[0]
            assert rows[s.patient_id]["score"] == pytest.approx(float(g @ pos - g @ neg), abs=1e-6)
    assert {r["sample_id"]: r["label"] for r in result.samples} == {s.patient_id: s.label for s in samples}
    scores = np.array([r["score"] for r in result.samples])
    labels = np.array([r["label"] for r in result.samples])
    assert result.metrics["auroc"].value == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    at0 = scores >= 0
    assert result.metrics["accuracy@0"].value == pytest.approx(np.mean(at0 == labels.astype(bool)))
    assert "optimistic" in result.metrics["f1@f1max"].note and result.metrics["auroc"].note is None
    # chance: AUROC of an untrained model within 3 null standard deviations of 0.5 (Mann-Whitney, no ties)
    n1, n0 = labels.sum(), len(labels) - labels.sum()
    null_sd = math.sqrt((n1 + n0 + 1) / (12 * n1 * n0))
    assert abs(result.metrics["auroc"].value - 0.5) < 3 * null_sd


def test_cls_default_split_is_the_rebuilt_gloria_test_split(toyworld_root: Path, rsna) -> None:
    files, samples = rsna
    result = run_named("rsna-cls", adapter=RandomCNNAdapter(), data_root=toyworld_root, n_bootstrap=0)
    test_ids = rsna_split(rsna_patient_ids(files.labels), "gloria")["test"]
    split = result.scoring["split"]
    assert (result.dataset.split, result.dataset.split_scheme, split["ids_sha256"]) == (
        "test", "gloria", ordered_ids_sha256(test_ids))
    assert sorted(r["sample_id"] for r in result.samples) == sorted(set(test_ids) & {s.patient_id for s in samples})


def rsna_oracle(samples, geometry: Geometry) -> BoxOracleAdapter:
    """The positive prompt's grid = fraction of each cell inside the image's boxes (1024 frame = the file)."""
    grids = {}
    for s in samples:
        image = load_image(s.image_path)
        w_in, w_all = cell_weights([axis_map(geometry, *image.shape)], [s.boxes])
        grids[crop_key(preprocess(image, geometry))] = {"Pneumonia": (w_in[0] / w_all[0].clamp(min=1)).float()}
    return BoxOracleAdapter(geometry, grids, {PROMPT: "Pneumonia"})


def numpy_seg_scores(grid: np.ndarray, boxes, h: int, w: int) -> tuple[float, float]:
    """Full resolution: nearest upsampling over the whole 1024 image (crop = resize here), min-max to [0, 1],
    map > 0.6 vs the union of boxes (pixel centres inside [x, x+w) x [y, y+h))."""
    gh = grid.shape[0]
    full = grid.astype(np.float32)[np.ix_(np.arange(h) * gh // h, np.arange(w) * gh // w)]
    full = (full - full.min()) / (full.max() - full.min())
    centres_y, centres_x = np.arange(h) + 0.5, np.arange(w) + 0.5
    gt = np.zeros((h, w), dtype=bool)
    for b in boxes:
        gt |= ((centres_y >= b.y) & (centres_y < b.y + b.h))[:, None] & ((centres_x >= b.x) & (centres_x < b.x + b.w))
    pred = full > np.float32(0.6)
    inter = (pred & gt).sum()
    return inter / (pred | gt).sum(), 2 * inter / (pred.sum() + gt.sum())


def test_seg_oracle_matches_numpy_full_resolution(toyworld_root: Path, rsna) -> None:
    _, samples = rsna
    positives = [s for s in samples if s.label == 1]
    geometry = Geometry("resize_crop", resize=64, crop=64, grid=(8, 8))
    oracle = rsna_oracle(positives, geometry)
    result = run_named("rsna-seg", {"split": "all"}, adapter=oracle, data_root=toyworld_root, n_bootstrap=50)
    rows = {r["sample_id"]: r for r in result.samples}
    assert len(rows) == len(positives) > 5
    for s in positives:
        image = load_image(s.image_path)
        grid = oracle.grids[crop_key(preprocess(image, geometry))]["Pneumonia"].numpy()
        iou, dice = numpy_seg_scores(grid, s.boxes, *image.shape)
        assert rows[s.patient_id]["iou"] == pytest.approx(iou, rel=1e-12)
        assert rows[s.patient_id]["dice"] == pytest.approx(dice, rel=1e-12)
    assert result.metrics["dice"].value == pytest.approx(np.mean([r["dice"] for r in rows.values()]), rel=1e-12)
    assert result.metrics["dice"].value > 0.6 and result.metrics["cnr"].value > 1.0
    assert result.metrics["signed_cnr"].value == pytest.approx(result.metrics["cnr"].value)  # oracle: never away
    assert not any("OUTSIDE" in note for note in result.notes)


def test_seg_reports_signed_cnr_beside_the_flattering_absolute_one(toyworld_root: Path, rsna) -> None:
    """A map that is highest outside the boxes gets a good absolute CNR; the signed CNR is negative and says so."""
    _, samples = rsna
    positives = [s for s in samples if s.label == 1]
    geometry = Geometry("resize_crop", resize=64, crop=64, grid=(8, 8))
    oracle = rsna_oracle(positives, geometry)
    for grids in oracle.grids.values():
        grids["Pneumonia"] = 1.0 - grids["Pneumonia"]  # points away from the boxes
    result = run_named("rsna-seg", {"split": "all"}, adapter=oracle, data_root=toyworld_root, n_bootstrap=50)
    cnr, signed = result.metrics["cnr"], result.metrics["signed_cnr"]
    assert cnr.value > 1.0 and signed.value == pytest.approx(-cnr.value)
    assert signed.ci is not None and signed.ci.high < 0
    assert all(r["signed_cnr"] < 0 for r in result.samples)
    assert any(f"OUTSIDE the boxes for {len(positives)} of {len(positives)}" in note for note in result.notes)
    assert "OUTSIDE the boxes" in str(result)  # printed with the table
    assert result.dataset.split == "all (positive images)" and result.scoring["threshold"] == 0.6
