"""Box metrics equal independent computations: numpy masks, hand numbers, ChEX's own mask rule, and the
`mean-average-precision` package with ChEX's settings."""

from __future__ import annotations


import numpy as np
import pytest
import torch

from chex_map_reference import chex_package_map
from msxr_bench.metrics.box_ap import AP_IOU_THRESHOLDS, average_precision, soft_match
from msxr_bench.metrics.boxes import box_scores, chex_grid_boxes, pad_boxes, union_areas


def _random_sets(rng: np.random.Generator, n: int, max_boxes: int, size: tuple[float, float], integer: bool,
                 empty_share: float = 0.1) -> list[np.ndarray]:
    h, w = size
    smallest = min(h, w) / 50
    out = []
    for _ in range(n):
        k = 0 if rng.random() < empty_share else int(rng.integers(1, max_boxes + 1))
        xy = rng.uniform(0, [w * 0.8, h * 0.8], size=(k, 2))
        wh = rng.uniform(smallest, [w * 0.5, h * 0.5], size=(k, 2))
        boxes = np.concatenate([xy, np.minimum(xy + wh, [w, h])], axis=1)
        out.append(np.floor(boxes) if integer else boxes)
    return out


def _mask(boxes: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    m = np.zeros(size, dtype=bool)
    for x1, y1, x2, y2 in boxes.astype(int):
        m[y1:y2, x1:x2] = True
    return m


def test_union_areas_equal_pixel_masks() -> None:
    rng = np.random.default_rng(0)
    size = (60, 50)
    a, b = _random_sets(rng, 300, 5, size, True), _random_sets(rng, 300, 4, size, True)
    pa, pb = pad_boxes([torch.from_numpy(x) for x in a]), pad_boxes([torch.from_numpy(x) for x in b])
    area_a, area_b, inter = union_areas(pa.boxes, pa.mask, pb.boxes, pb.mask)
    for i in range(300):
        ma, mb = _mask(a[i], size), _mask(b[i], size)
        assert (area_a[i], area_b[i], inter[i]) == (ma.sum(), mb.sum(), (ma & mb).sum())


def test_union_iou_and_best_box_iou_by_hand() -> None:
    # truth: two 10x10 boxes side by side; prediction: one box over the first and half of the second (score 0.9)
    # plus a far box (score 0.2). Union IoU = (100 + 50) / (200 + 100); best box = the 0.9 one vs the enclosing
    # box [0, 0, 20, 10]: 150 / 200.
    truth = pad_boxes([torch.tensor([[0.0, 0, 10, 10], [10, 0, 20, 10]])])
    pred = pad_boxes([torch.tensor([[0.0, 0, 15, 10, 0.9], [30, 30, 40, 40, 0.2]])])
    s = box_scores(pred, truth, torch.tensor([[100, 100]]))
    assert float(s.union_iou[0]) == pytest.approx(150 / 300)
    assert float(s.best_box_iou[0]) == pytest.approx(150 / 200)
    empty = box_scores(pad_boxes([torch.zeros(0, 5)]), truth, torch.tensor([[100, 100]]))
    assert float(empty.union_iou[0]) == 0.0 and float(empty.best_box_iou[0]) == 0.0  # no box = IoU 0
    none = box_scores(pred, pad_boxes([torch.zeros(0, 4)]), torch.tensor([[100, 100]]))
    assert torch.isnan(none.union_iou[0]) and torch.isnan(none.best_box_iou[0])  # nothing to localise


def _chex_mask(boxes: np.ndarray, h: int, w: int, grid: int = 1024) -> np.ndarray:
    """ChEX's bboxes_to_mask on normalised (cx, cy, w, h) float32 boxes, written with numpy loops."""
    m = np.zeros((grid, grid), dtype=bool)
    for x1, y1, x2, y2 in boxes:
        cxcywh = np.array([(x1 + x2) / 2 / w, (y1 + y2) / 2 / h, (x2 - x1) / w, (y2 - y1) / h], dtype=np.float32)
        box = np.float32(grid) * cxcywh
        lo = np.minimum((box[:2] - box[2:] / 2).astype(np.int32), grid)
        hi = np.minimum((box[:2] + box[2:] / 2).astype(np.int32), grid)
        m[lo[1]:hi[1], lo[0]:hi[0]] = True
    return m


def test_pooled_parts_follow_chex_masks() -> None:
    rng = np.random.default_rng(1)
    sizes = [(3056, 2544), (512, 512), (2544, 3056)] * 10
    pred = [np.concatenate([b, rng.uniform(0, 1, (len(b), 1))], 1) for b in
            (_random_sets(rng, 1, 4, s, False)[0] for s in sizes)]
    truth = [_random_sets(rng, 1, 3, s, False, empty_share=0)[0] for s in sizes]
    s = box_scores(pad_boxes([torch.from_numpy(p) for p in pred]), pad_boxes([torch.from_numpy(t) for t in truth]),
                   torch.tensor(sizes))
    for i, (h, w) in enumerate(sizes):
        mt = _chex_mask(truth[i], h, w)
        for j, t in enumerate((None, 0.1, 0.2, 0.3, 0.4, 0.5)):
            keep = pred[i][:, :4] if t is None else pred[i][pred[i][:, 4] > t, :4]
            mp = _chex_mask(keep, h, w)
            assert float(s.pooled_inter[i, j]) == (mp & mt).sum()
            assert float(s.pooled_union[i, j]) == (mp | mt).sum()
    grid = chex_grid_boxes(torch.tensor([[[0.0, 0.0, 2544.0, 3056.0]]]), torch.tensor([[3056, 2544]]))
    assert grid.tolist() == [[[0.0, 0.0, 1024.0, 1024.0]]]


def _ap_case(seed: int, n: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    truth = _random_sets(rng, n, 3, (1.0, 1.0), False, empty_share=0.0)
    scores = rng.permutation(10_000)[: 5 * n] / 10_000  # distinct scores: the package's sort is not stable
    pred, used = [], 0
    for t in truth:
        k = int(rng.integers(0, 5))
        near = t[rng.integers(0, len(t), k)] + rng.normal(0, 0.05, (k, 4))  # near a true box, sometimes on it
        near[:, 2:] = np.maximum(near[:, 2:], near[:, :2] + 0.01)
        pred.append(np.concatenate([near, scores[used:used + k, None]], 1))
        used += k
    return pred, truth


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_map_equals_the_mean_average_precision_package_with_chex_settings(seed: int) -> None:
    pytest.importorskip("mean_average_precision")
    pred, truth = _ap_case(seed, 150)
    ref = chex_package_map(pred, truth)
    scores, tp = soft_match(pad_boxes([torch.from_numpy(p) for p in pred]),
                            pad_boxes([torch.from_numpy(t) for t in truth]))
    ap = average_precision(scores, tp, torch.tensor([len(t) for t in truth]))[0]
    assert float(ap.mean()) == pytest.approx(float(ref["mAP"]), abs=1e-6)  # the package keeps APs in float32
    for i, t in enumerate(AP_IOU_THRESHOLDS):
        assert float(ap[i]) == pytest.approx(float(ref[t][0]["ap"]), abs=1e-6)


def test_soft_matching_takes_the_second_box_when_the_best_is_taken() -> None:
    # two predictions both best on true box A (IoU 1.0 and 0.9); the second also overlaps B with IoU 0.8:
    # soft matching gives it B (tp at 0.5), greedy VOC would call it a false positive
    truth = pad_boxes([torch.tensor([[0.0, 0, 10, 10], [0.0, 1, 10, 11]])])
    pred = pad_boxes([torch.tensor([[0.0, 0, 10, 10, 0.9], [0.0, 0.5, 10, 10.5, 0.8]])])
    _, tp = soft_match(pred, truth, (0.5,))
    assert tp[0, :, 0].tolist() == [True, True]


def test_resampling_weights_equal_duplicated_samples() -> None:
    pred, truth = _ap_case(5, 40)
    weights = torch.from_numpy(np.random.default_rng(9).integers(0, 3, size=(1, 40))).double()
    dup_pred = [p for p, c in zip(pred, weights[0].int().tolist()) for _ in range(c)]
    dup_truth = [t for t, c in zip(truth, weights[0].int().tolist()) for _ in range(c)]
    pad = lambda xs: pad_boxes([torch.from_numpy(x) for x in xs])  # noqa: E731
    s, tp = soft_match(pad(pred), pad(truth))
    s2, tp2 = soft_match(pad(dup_pred), pad(dup_truth))
    weighted = average_precision(s, tp, torch.tensor([len(t) for t in truth]), weights)
    explicit = average_precision(s2, tp2, torch.tensor([len(t) for t in dup_truth]))
    assert torch.allclose(weighted, explicit, atol=1e-12)


def test_no_detection_at_all_gives_ap_zero() -> None:
    truth = pad_boxes([torch.tensor([[0.0, 0, 1, 1]])])
    s, tp = soft_match(pad_boxes([torch.zeros(0, 5)]), truth)
    assert average_precision(s, tp, torch.tensor([1])).tolist() == [[0.0] * len(AP_IOU_THRESHOLDS)]
