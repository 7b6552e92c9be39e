"""`ms-cxr` end to end through the library API: a hand-made 4-sample case scored exactly as a numpy
full-resolution computation, the box oracle on the toy world, and bad input. (The random CNN's chance levels
and run-to-run determinism are tested on the CLI's output, tests/test_evaluate_cli.py.)"""

from __future__ import annotations

import csv
import hashlib
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from adapters_for_tests import BoxOracleAdapter, RandomCNNAdapter, coverage_oracle, crop_key
from msxr_bench.adapters.base import AdapterMeta
from msxr_bench.geometry.types import Geometry
from msxr_bench.geometry import preprocess
from msxr_bench.data.images import load_image
from msxr_bench.data.mscxr import find_mscxr_annotations, load_mscxr
from msxr_bench.engine import PhraseTooLongError
from msxr_bench.tasks import TaskParamsError, TaskSkipped
from msxr_bench.tasks.driver import EmptySplitError
from task_helpers import run_named
GEOMETRY = Geometry("resize_crop", resize=64, crop=64, grid=(4, 4))
THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5)
IDS = {"A": "aaaaaaaa-00000000-00000000-00000000-00000001", "B": "bbbbbbbb-00000000-00000000-00000000-00000002"}
SIZES = {"A": (64, 64), "B": (64, 80)}  # (H, W): B is landscape, so the official map leaves 8 NaN columns a side
# (image, category, phrase, boxes x, y, w, h) and the oracle's hand-written 4x4 grid for each (image, category)
ROWS = [
    ("A", "Pneumonia", "right lower lobe pneumonia", [(10, 20, 30, 25)]),
    ("B", "Cardiomegaly", "enlarged cardiac silhouette", [(20, 30, 30, 20)]),
    ("B", "Pleural Effusion", "bilateral pleural effusions", [(2, 40, 20, 20), (60, 44, 15, 10)]),  # one box in NaN
    ("B", "Pneumonia", "patchy opacity at the left base", [(55, 45, 20, 15)]),
]
GRIDS = {
    ("A", "Pneumonia"): [[0, .1, 0, 0], [.3, .9, .6, 0], [.2, .8, .5, .1], [0, .2, .1, 0]],
    ("B", "Cardiomegaly"): [[0, 0, 0, 0], [0, .7, .8, 0], [.1, .9, .6, 0], [0, .2, .3, 0]],
    ("B", "Pleural Effusion"): [[0, 0, 0, 0], [0, 0, 0, 0], [.4, 0, 0, .5], [.9, .2, .1, .8]],
    ("B", "Pneumonia"): [[0, 0, 0, 0], [0, 0, 0, .2], [0, 0, .3, .9], [0, 0, .4, .7]],
}


def write_hand_case(root: Path) -> dict[str, str]:
    """MS-CXR v0.1 CSV + two JPEGs in the data-root layout; returns sample_id per phrase."""
    rng = np.random.default_rng(0)
    paths = {}
    for key, (h, w) in SIZES.items():
        rel = f"files/p10/p1000000{1 if key == 'A' else 2}/s5000000{1 if key == 'A' else 2}/{IDS[key]}.jpg"
        (root / "mimic-cxr-jpg" / rel).parent.mkdir(parents=True)
        Image.fromarray(rng.integers(0, 255, (h, w), dtype=np.uint8)).save(root / "mimic-cxr-jpg" / rel)
        paths[key] = rel
    (root / "ms-cxr").mkdir()
    with open(root / "ms-cxr" / "MS_CXR_Local_Alignment_v1.0.0.csv", "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["dicom_id", "category_name", "label_text", "path", "x", "y", "w", "h", "image_width",
                      "image_height"])
        for key, cat, phrase, boxes in ROWS:
            for x, y, w, h in boxes:
                out.writerow([IDS[key], cat, phrase, paths[key], x, y, w, h, SIZES[key][1], SIZES[key][0]])
    ids = {}
    for key in IDS:
        for k, phrase in enumerate(r[2] for r in ROWS if r[0] == key):
            ids[phrase] = f"{IDS[key]}/{k}"
    return ids


def hand_oracle(root: Path, map_rescale: str = "none") -> BoxOracleAdapter:
    grids: dict[str, dict] = {}
    for (key, cat), grid in GRIDS.items():
        path = next((root / "mimic-cxr-jpg").rglob(f"{IDS[key]}.jpg"))
        image_key = crop_key(preprocess(load_image(path), GEOMETRY))
        grids.setdefault(image_key, {})[cat] = torch.tensor(grid, dtype=torch.float32)
    oracle = BoxOracleAdapter(GEOMETRY, grids, {r[2]: r[1] for r in ROWS})
    oracle.meta = AdapterMeta(**{**oracle.meta.to_dict(), "training_data": (), "map_rescale": map_rescale})
    return oracle


# ---- the independent computation: numpy, full resolution -----------------------------------------
def full_map(grid, h: int, w: int, rescale: bool) -> np.ndarray:
    """hi-ml's official placement for this geometry: a min(H, W) square, nearest (floor) upsampling."""
    s = min(h, w)
    idx = np.arange(s) * 4 // s
    out = np.full((h, w), np.nan, dtype=np.float32)
    top, left = (h - s) // 2, (w - s) // 2
    out[top:top + s, left:left + s] = np.asarray(grid, dtype=np.float32)[np.ix_(idx, idx)]
    if rescale:  # min-max over valid pixels to [-1, 1], in float32 like the grid
        lo, hi = np.nanmin(out), np.nanmax(out)
        out = ((out - lo) / (hi - lo) * np.float32(2) - np.float32(1)).astype(np.float32) if hi > lo else \
            np.where(np.isnan(out), np.nan, np.float32(-1)).astype(np.float32)
    return out


def box_mask(boxes, h: int, w: int) -> np.ndarray:
    mask = np.zeros((h, w), dtype=bool)
    for x, y, bw, bh in boxes:
        mask[y:y + bh, x:x + bw] = True
    return mask


def expected(m: np.ndarray, mask: np.ndarray) -> dict:
    valid = ~np.isnan(m)
    a, b = m[valid & mask].astype(np.float64), m[valid & ~mask].astype(np.float64)
    if np.nanmax(m) == np.nanmin(m):
        signed = 0.0  # constant map: no contrast (the documented rule)
    else:
        signed = (a.mean() - b.mean()) / math.sqrt(a.var() + b.var())
    gt = valid & mask
    ious, dices = [], []
    for t in THRESHOLDS:
        pred = valid & (m > np.float32(t))
        inter, union = (pred & gt).sum(), (pred | gt).sum()
        ious.append(inter / union)
        dices.append(2 * inter / (pred.sum() + gt.sum()))
    return {"cnr": abs(signed), "signed_cnr": signed, "miou": float(np.mean(ious)), "mdice": float(np.mean(dices)),
            **{f"iou@{t:g}": v for t, v in zip(THRESHOLDS, ious)}}


def scored(map_rescale: str, tmp_path: Path):
    ids = write_hand_case(tmp_path)
    result = run_named("ms-cxr", adapter=hand_oracle(tmp_path, map_rescale), adapter_name="hand-oracle",
                       data_root=tmp_path, n_bootstrap=50)
    return ids, result


@pytest.mark.parametrize("map_rescale", ["none", "minmax"])
def test_hand_case_equals_full_resolution_numpy(map_rescale: str, tmp_path: Path) -> None:
    ids, result = scored(map_rescale, tmp_path)
    rows = {r["sample_id"]: r for r in result.samples}
    assert len(rows) == 4 and result.dataset.n_scored == 4
    per_cat: dict[str, list[float]] = {}
    for key, cat, phrase, boxes in ROWS:
        h, w = SIZES[key]
        row = rows[ids[phrase]]
        want = expected(full_map(GRIDS[(key, cat)], h, w, map_rescale == "minmax"), box_mask(boxes, h, w))
        for name, value in want.items():
            assert row[name] == pytest.approx(value, rel=1e-12, abs=1e-12), (phrase, name)
        # the control: the same image with the wrong phrase's category grid (zeros if absent), same boxes
        wrong_grid = GRIDS.get((key, row["wrong_category"]), np.zeros((4, 4)))
        wrong = expected(full_map(wrong_grid, h, w, map_rescale == "minmax"), box_mask(boxes, h, w))
        assert row["wrong_category"] != cat
        assert row["signed_cnr_wrong"] == pytest.approx(wrong["signed_cnr"], rel=1e-12, abs=1e-12)
        assert row["phrase_gap"] == pytest.approx(want["signed_cnr"] - wrong["signed_cnr"], rel=1e-12, abs=1e-12)
        per_cat.setdefault(cat, []).append(want["cnr"])
    macro = np.mean([np.mean(v) for v in per_cat.values()])
    micro = np.mean([v for vs in per_cat.values() for v in vs])
    assert result.metrics["cnr_macro"].value == pytest.approx(macro, rel=1e-12)
    assert result.metrics["cnr_micro"].value == pytest.approx(micro, rel=1e-12)
    assert result.main_score.value == result.metrics["cnr_macro"].value
    assert {r.category: r.n for r in result.per_category} == {"Cardiomegaly": 1, "Pleural Effusion": 1, "Pneumonia": 2}
    assert result.dataset.sample_ids_sha256 == hashlib.sha256("\n".join(sorted(ids.values())).encode()).hexdigest()
    assert result.scoring["map_rescale"].startswith("none" if map_rescale == "none" else "minmax to [-1.0, 1.0]")


def test_one_forward_per_image(tmp_path: Path) -> None:
    write_hand_case(tmp_path)
    oracle = hand_oracle(tmp_path)
    seen: list[int] = []
    encode = oracle.encode_images
    oracle.encode_images = lambda x: (seen.append(x.shape[0]), encode(x))[1]  # type: ignore[method-assign]
    run_named("ms-cxr", adapter=oracle, data_root=tmp_path, n_bootstrap=0, batch_size=1)
    assert seen == [1, 1]  # 4 phrases (+4 wrong phrases) on 2 images: 2 forwards


@pytest.fixture(scope="module")
def toy_samples(toyworld_root: Path):
    return load_mscxr(find_mscxr_annotations(toyworld_root, "0.1"), toyworld_root)[0]


def test_box_oracle_on_toyworld_grounds_and_reads_the_phrase(toyworld_root: Path, toy_samples) -> None:
    oracle = coverage_oracle(toy_samples, Geometry("resize_crop", resize=128, crop=128, grid=(16, 16)))
    m = run_named("ms-cxr", adapter=oracle, data_root=toyworld_root, n_bootstrap=50).metrics
    assert m["cnr_macro"].value > 2.0 and m["miou_macro"].value > 0.6 and m["mdice_macro"].value > 0.75
    assert m["phrase_gap_macro"].value > 2.0 and m["phrase_gap_macro"].ci.low > 1.0
    assert m["cnr_macro"].ci.low <= m["cnr_macro"].value <= m["cnr_macro"].ci.high


def test_missing_and_corrupt_images_are_counted_and_listed(tmp_path: Path) -> None:
    ids = write_hand_case(tmp_path)
    oracle = hand_oracle(tmp_path)
    path_a = next((tmp_path / "mimic-cxr-jpg").rglob(f"{IDS['A']}.jpg"))
    path_a.write_bytes(path_a.read_bytes()[:1000])  # the header still reads, the pixels do not decode
    result = run_named("ms-cxr", adapter=oracle, data_root=tmp_path, n_bootstrap=0)
    assert result.dataset.n_samples == 4 and result.dataset.n_scored == 3
    images = next(s for s in result.skipped if s.source == "images")
    assert images.counts == {"truncated image": 1}
    assert images.examples["truncated image"][0].startswith(ids["right lower lobe pneumonia"])
    path_a.unlink()  # a missing file is caught by the loader: counted there, the run goes on
    result = run_named("ms-cxr", adapter=oracle, data_root=tmp_path, n_bootstrap=0)
    assert result.dataset.n_scored == 3
    assert [(s.counts, s.examples["missing image"]) for s in result.skipped] == [
        ({"missing image": 1}, [str(path_a)])]


def test_limit_is_recorded_and_empty_split_is_a_clear_error(tmp_path: Path) -> None:
    write_hand_case(tmp_path)
    run = dict(adapter=hand_oracle(tmp_path), data_root=tmp_path, n_bootstrap=0)
    result = run_named("ms-cxr", limit=2, **run)
    assert (result.dataset.limit, result.dataset.n_samples_available, result.dataset.n_samples) == (2, 4, 2)
    with pytest.raises(TaskParamsError, match="unknown split 'test' for protocol 'v0.1-all'"):
        run_named("ms-cxr", {"split": "test"}, **run)
    (tmp_path / "ms-cxr" / "MS_CXR_Local_Alignment_v1.0.0.csv").write_text(
        "dicom_id,category_name,label_text,path,x,y,w,h,image_width,image_height\n")
    with pytest.raises(EmptySplitError, match="no samples"):
        run_named("ms-cxr", **run)


def test_long_phrases_fail_or_are_truncated_on_record(tmp_path: Path, toyworld_root: Path) -> None:
    run = dict(adapter=RandomCNNAdapter(max_text_tokens=3), data_root=toyworld_root, limit=3, n_bootstrap=0)
    with pytest.raises(PhraseTooLongError, match="exceeds the text encoder's limit of 3"):
        run_named("ms-cxr", **run)
    result = run_named("ms-cxr", truncate_long_phrases=True, **run)
    cut = result.scoring["truncated_texts"]
    assert cut and all(c["kept_words"] == 3 < c["words"] and c["n_tokens"] > 3 == c["limit"] for c in cut)
    assert all("text" not in c for c in cut)  # the texts are dataset text: only counts are recorded
    kept = run_named("ms-cxr", truncate_long_phrases=True, keep_text=True, **run)
    assert all(len(c["text"].split()) == c["words"] for c in kept.scoring["truncated_texts"])
    assert kept.contains_dataset_text and all("phrase" in r for r in kept.samples)


def test_adapter_without_patches_skips_grounding(toyworld_root: Path) -> None:
    from adapters_for_tests import build_global_only

    with pytest.raises(TaskSkipped, match="lacks patches"):
        run_named("ms-cxr", adapter=build_global_only(), data_root=toyworld_root)


def test_sharded_ranks_merged_by_gather_equal_one_process(tmp_path: Path) -> None:
    write_hand_case(tmp_path)
    oracle = hand_oracle(tmp_path)

    def run(**kw):
        return run_named("ms-cxr", adapter=oracle, data_root=tmp_path, n_bootstrap=20, **kw)

    single = run()
    captured: list = []
    run(rank=1, world_size=2, gather=lambda obj: captured.append(obj) or [obj])
    assert len(captured) == 1 and len(captured[0][0]) < 8  # rank 1 scored only its share of the images
    merged = run(rank=0, world_size=2, gather=lambda obj: [obj, captured[0]])
    fields = {"samples", "metrics", "per_category"}
    assert merged.model_dump_json(include=fields) == single.model_dump_json(include=fields)
