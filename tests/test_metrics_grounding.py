"""Grounding metric definitions (CNR, IoU, Dice) checked against hand computations and numpy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from msxr_bench.data.types import Box
from msxr_bench.geometry import minmax_rescale
from msxr_bench.metrics import (
    STATUS_FLAGS,
    box_pixel_ranges,
    box_pixel_ranges_batched,
    box_union_mask,
    cnr,
    grounding_scores_full,
    iou_dice,
    status_counts,
)

THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5)  # MS-CXR's mIoU thresholds (the ms-cxr task's default)

NAN = float("nan")


def test_integer_boxes_cover_exactly_their_slice_and_the_union_is_taken():
    mask = box_union_mask([Box(2, 1, 3, 2), Box(4, 2, 2, 2)], 6, 8)
    ref = np.zeros((6, 8), dtype=bool)
    ref[1:3, 2:5] = True
    ref[2:4, 4:6] = True
    assert np.array_equal(mask.numpy(), ref)


def test_fractional_boxes_use_pixel_centres_and_are_clipped():
    # x in [0.4, 1.6): centres 0.5 and 1.5 are inside, 2.5 is not.
    assert box_pixel_ranges([Box(0.4, 0.4, 1.2, 1.2)], 5, 5).tolist() == [[0, 2, 0, 2]]
    # x in [0.6, 1.4): no pixel centre inside -> empty.
    assert box_union_mask([Box(0.6, 0.6, 0.8, 0.8)], 5, 5).sum() == 0
    # a centre exactly on the left/top edge is inside, on the right/bottom edge it is not: [1.5, 3.5)
    assert box_pixel_ranges([Box(1.5, 1.5, 2.0, 2.0)], 5, 5).tolist() == [[1, 3, 1, 3]]
    # clipped to the image; tensors in xywh are accepted
    assert box_pixel_ranges(torch.tensor([[-3.0, 3.0, 10.0, 10.0]]), 5, 6).tolist() == [[3, 5, 0, 6]]


def test_batched_box_ranges_pad_with_empty_boxes_and_clip_per_image():
    lists = [[Box(-3, 3, 10, 10)], [Box(1, 1, 2, 2), Box(0.4, 0.4, 1.2, 1.2)], []]
    sizes = [(5, 6), (8, 8), (4, 4)]
    out = box_pixel_ranges_batched(lists, sizes)
    assert out.shape == (3, 2, 4)
    assert out[0].tolist() == [[3, 5, 0, 6], [0, 0, 0, 0]]
    assert out[1].tolist() == box_pixel_ranges(lists[1], 8, 8).tolist()
    assert out[2].tolist() == [[0, 0, 0, 0], [0, 0, 0, 0]]
    with pytest.raises(ValueError, match="finite"):
        box_pixel_ranges([Box(float("nan"), 0, 1, 1)], 4, 4)


def _numpy_cnr(m: np.ndarray, mask: np.ndarray) -> float:
    valid = ~np.isnan(m)
    a, b = m[valid & mask], m[valid & ~mask]
    return (a.mean() - b.mean()) / math.sqrt(a.var() + b.var())


def test_cnr_by_hand():
    m = torch.tensor([[1.0, 2.0, 0.0], [3.0, 0.5, 0.5]], dtype=torch.float64)
    mask = torch.tensor([[True, True, False], [True, False, False]])
    # in: 1, 2, 3 -> mean 2, var 2/3; out: 0, .5, .5 -> mean 1/3, var 1/18
    expect = (2 - 1 / 3) / math.sqrt(2 / 3 + 1 / 18)
    assert cnr(m, mask).item() == pytest.approx(expect, rel=1e-15)
    assert cnr(-m, mask, signed=True).item() == pytest.approx(-expect, rel=1e-15)
    assert cnr(-m, mask).item() == pytest.approx(expect, rel=1e-15)


def test_cnr_ignores_nan_pixels_and_matches_numpy_on_random_maps():
    rng = np.random.default_rng(0)
    maps = rng.normal(size=(4, 40, 30)).astype(np.float32)
    maps[:, :5] = np.nan
    masks = np.zeros((4, 40, 30), dtype=bool)
    masks[:, 2:20, 5:15] = True  # partly in the NaN rows
    out = cnr(torch.from_numpy(maps), torch.from_numpy(masks), signed=True)
    ref = [_numpy_cnr(maps[i].astype(np.float64), masks[i]) for i in range(4)]
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-12)


def test_iou_and_dice_by_hand():
    m = torch.tensor([[0.05, 0.15, 0.25], [0.35, 0.45, NAN]], dtype=torch.float64)
    mask = torch.tensor([[False, True, True], [False, True, True]])  # the NaN pixel leaves the ground truth
    iou, dice = iou_dice(m, mask, THRESHOLDS)
    # t=0.1: pred {.15,.25,.35,.45}, gt {.15,.25,.45}: tp 3 -> IoU 3/4, Dice 6/7
    # t=0.2: pred {.25,.35,.45}: tp 2 -> 2/4, 4/6;  t=0.3: {.35,.45}: tp 1 -> 1/4, 2/5
    # t=0.4: {.45}: 1/3, 2/4;  t=0.5: nothing predicted -> 0, 0
    np.testing.assert_allclose(iou.numpy(), [3 / 4, 2 / 4, 1 / 4, 1 / 3, 0.0], rtol=1e-15)
    np.testing.assert_allclose(dice.numpy(), [6 / 7, 4 / 6, 2 / 5, 2 / 4, 0.0], rtol=1e-15)


def test_thresholds_compare_in_the_map_dtype_like_numpy_and_torch_do():
    m32 = torch.tensor([[np.float32(0.1), 0.0], [0.0, 0.0]], dtype=torch.float32)
    mask = torch.tensor([[True, False], [False, False]])
    iou, _ = iou_dice(m32, mask, thresholds=[0.1])
    assert iou.item() == 0.0  # float32(0.1) > float32(0.1) is false; numpy gives the same:
    assert not bool((m32.numpy() > 0.1)[0, 0])


def test_degenerate_cases_are_defined_and_flagged():
    mask = torch.zeros(4, 4, dtype=torch.bool)
    mask[1:3, 1:3] = True
    constant = torch.full((4, 4), 0.05, dtype=torch.float64)
    step = torch.where(mask, torch.tensor(0.7, dtype=torch.float64), torch.tensor(0.1, dtype=torch.float64))
    margin = torch.rand(4, 4, dtype=torch.float64)
    margin[1:3] = NAN  # every box pixel is NaN
    everything = torch.ones(4, 4, dtype=torch.bool)
    maps = torch.stack([constant, step, margin, constant + torch.rand(4, 4, dtype=torch.float64)])
    masks = torch.stack([mask, mask, mask, everything])
    s = grounding_scores_full(maps, masks, THRESHOLDS)
    assert s.cnr[0].item() == 0.0 and s.status[0].item() == STATUS_FLAGS["constant_map"]
    assert math.isnan(s.cnr[1].item()) and s.status[1].item() == STATUS_FLAGS["zero_variance"]
    assert math.isnan(s.cnr[2].item()) and torch.isnan(s.iou[2]).all() and torch.isnan(s.dice[2]).all()
    assert s.status[2].item() == STATUS_FLAGS["empty_ground_truth"]
    assert math.isnan(s.cnr[3].item()) and s.status[3].item() == STATUS_FLAGS["empty_background"]
    assert not torch.isnan(s.iou[3]).any()
    assert status_counts(s.status) == {"empty_ground_truth": 1, "empty_background": 1, "constant_map": 1,
                                       "zero_variance": 1}
    # constant map below every threshold: empty prediction against a non-empty truth -> IoU 0, Dice 0
    assert s.iou[0].tolist() == [0.0] * 5 and s.dice[0].tolist() == [0.0] * 5
    # the step map (0.7 in, 0.1 out) is a perfect segmentation at every threshold (0.1 > 0.1 is false)
    assert s.iou[1].tolist() == [1.0] * 5 and s.dice[1].tolist() == [1.0] * 5
    assert s.miou.shape == (4,) and s.mdice.shape == (4,)


def test_minmax_rescale_uses_valid_pixels_only():
    x = torch.tensor([[[NAN, 2.0], [4.0, 3.0]]])
    out = minmax_rescale(x)
    torch.testing.assert_close(out, torch.tensor([[[NAN, 0.0], [1.0, 0.5]]]), equal_nan=True)
    valid = torch.tensor([[[True, True], [False, True]]])
    out = minmax_rescale(torch.tensor([[[1.0, 2.0], [100.0, 3.0]]]), valid, -1.0, 1.0)
    torch.testing.assert_close(out, torch.tensor([[[-1.0, 0.0], [100.0, 1.0]]]))  # invalid entry untouched
    flat = minmax_rescale(torch.full((1, 2, 2), 5.0))
    assert torch.equal(flat, torch.zeros(1, 2, 2))  # a constant map becomes `low`
