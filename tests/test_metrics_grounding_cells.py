"""The cell-weighted fast path gives the full-resolution numbers (nearest upsampling, NaN margins, box unions)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from msxr_bench.geometry.types import Geometry
from msxr_bench.geometry import axis_map, grid_to_image
from msxr_bench.data.types import Box
from msxr_bench.geometry import minmax_rescale
from msxr_bench.metrics import (
    STATUS_FLAGS,
    box_union_mask,
    cell_weights,
    grounding_scores,
    grounding_scores_full,
    iou_dice,
    iou_dice_from_cells,

)

THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5)  # MS-CXR's mIoU thresholds (the ms-cxr task's default)

BIOVIL = Geometry("resize_crop", 512, 480, (15, 15), 1.5)
BIOVIL_T = Geometry("resize_crop", 512, 448, (14, 14), 1.5)
GLORIA = Geometry("letterbox_crop", 256, 224, (19, 19))


def _random_boxes(rng: np.random.Generator, height: int, width: int) -> list[Box]:
    """1-4 boxes: random, touching a border, overlapping the previous one, in the corner margin; some fractional."""
    boxes = []
    for k in range(int(rng.integers(1, 5))):
        w, h = rng.uniform(0.05, 0.5) * width, rng.uniform(0.05, 0.5) * height
        kind = rng.integers(0, 4)
        if kind == 0:
            x, y = rng.uniform(0, width - w), rng.uniform(0, height - h)
        elif kind == 1:  # touching (or crossing) a border
            x, y = (0.0 if rng.random() < 0.5 else width - w + rng.uniform(0, 20)), rng.uniform(-20, height - h)
        elif kind == 2 and boxes:  # overlapping the previous box
            p = boxes[-1]
            x, y = p.x + rng.uniform(-0.5, 0.5) * p.w, p.y + rng.uniform(-0.5, 0.5) * p.h
        else:  # near the top-left corner, mostly in the NaN margin of portrait/landscape maps
            x, y, w, h = rng.uniform(0, 30), rng.uniform(0, 30), rng.uniform(5, 120), rng.uniform(5, 120)
        if rng.random() < 0.5:
            x, y, w, h = round(x), round(y), round(w), round(h)
        boxes.append(Box(float(x), float(y), float(w), float(h)))
    return boxes


def _random_grid(rng: np.random.Generator, shape: tuple[int, int], kind: int) -> torch.Tensor:
    g = rng.uniform(-1, 1, size=shape).astype(np.float32)
    if kind == 1:
        g[:] = np.float32(0.25)  # constant map
    elif kind == 2:
        g = np.round(g * 2) / 2  # few distinct values: ties at the thresholds' neighbours, flat regions
    elif kind == 3:
        g[rng.integers(0, shape[0]), rng.integers(0, shape[1])] = np.nan  # a NaN cell
    return torch.from_numpy(g)


def _assert_same(fast, full):
    torch.testing.assert_close(fast.cnr, full.cnr, rtol=1e-9, atol=0, equal_nan=True)
    torch.testing.assert_close(fast.cnr_signed, full.cnr_signed, rtol=1e-9, atol=0, equal_nan=True)
    torch.testing.assert_close(fast.iou, full.iou, rtol=1e-12, atol=0, equal_nan=True)
    torch.testing.assert_close(fast.dice, full.dice, rtol=1e-12, atol=0, equal_nan=True)
    assert torch.equal(fast.status, full.status)


def _full_resolution(grids, geometry, sizes, boxes, placement):
    maps, masks = [], []
    for g, (h, w), b in zip(grids, sizes, boxes):
        maps.append(grid_to_image(g, geometry, h, w, placement))
        masks.append(box_union_mask(b, h, w))
    return maps, masks


@pytest.mark.parametrize("geometry", [BIOVIL, BIOVIL_T, GLORIA])
@pytest.mark.parametrize("placement", ["official", "exact"])
def test_fast_path_equals_full_resolution_on_random_small_images(geometry, placement):
    rng = np.random.default_rng([geometry.grid[0], int(placement == "exact")])
    sizes = [(int(rng.integers(100, 500)), int(rng.integers(100, 500))) for _ in range(10)]
    boxes = [_random_boxes(rng, h, w) for h, w in sizes]
    boxes[1].append(Box(sizes[1][1] / 4, sizes[1][0] / 4, sizes[1][1] / 2, sizes[1][0] / 2))  # sample 1: constant map
    grids = torch.stack([_random_grid(rng, geometry.grid, i % 5) for i in range(len(sizes))])
    amaps = [axis_map(geometry, h, w, placement) for h, w in sizes]
    fast = grounding_scores(grids, amaps, boxes, THRESHOLDS)
    for i, (m, k) in enumerate(zip(*_full_resolution(grids, geometry, sizes, boxes, placement))):
        full = grounding_scores_full(m[None], k[None], THRESHOLDS)
        one = type(fast)(fast.cnr[i : i + 1], fast.cnr_signed[i : i + 1], fast.iou[i : i + 1],
                         fast.dice[i : i + 1], fast.status[i : i + 1], fast.thresholds)
        _assert_same(one, full)
    assert (fast.status & STATUS_FLAGS["constant_map"]).any()  # the constant grids were exercised


@pytest.mark.parametrize("height,width,placement", [(3056, 2544, "official"), (2544, 3056, "exact")])
def test_fast_path_equals_full_resolution_at_mimic_size(height, width, placement):
    rng = np.random.default_rng(height)
    boxes = [
        Box(0.0, 0.0, 400.0, 500.0),  # corner: partly in the NaN margin
        Box(1200.0, 900.0, 700.0, 800.0),
        Box(1500.5, 1400.25, 900.0, 1000.0),  # overlaps the previous box, fractional
        Box(width - 300.0, height - 200.0, 300.0, 200.0),  # touches the bottom-right border
    ]
    grid = _random_grid(rng, (15, 15), 0)
    amap = axis_map(BIOVIL, height, width, placement)
    fast = grounding_scores(grid[None], [amap], [boxes], THRESHOLDS)
    maps, masks = _full_resolution(grid[None], BIOVIL, [(height, width)], [boxes], placement)
    _assert_same(fast, grounding_scores_full(maps[0][None], masks[0][None], THRESHOLDS))


def test_cell_weights_count_the_pixels_of_the_upsampled_mask():
    rng = np.random.default_rng(7)
    for geometry, placement, (h, w) in [(BIOVIL, "official", (700, 520)), (GLORIA, "exact", (610, 800))]:
        boxes = _random_boxes(rng, h, w) + [Box(10, 10, w * 0.6, h * 0.6), Box(w * 0.3, h * 0.3, w, h)]
        amap = axis_map(geometry, h, w, placement)
        w_in, w_all = cell_weights([amap], [boxes])
        mask = box_union_mask(boxes, h, w)
        valid = (amap.rows[:, None] >= 0) & (amap.cols[None, :] >= 0)
        cell = amap.rows.clamp(min=0)[:, None] * geometry.grid[1] + amap.cols.clamp(min=0)[None, :]
        n = geometry.grid[0] * geometry.grid[1]
        ref_in = torch.bincount(cell[valid & mask], minlength=n).view(geometry.grid).double()
        ref_all = torch.bincount(cell[valid], minlength=n).view(geometry.grid).double()
        assert torch.equal(w_in[0], ref_in) and torch.equal(w_all[0], ref_all)


def test_rsna_style_rescale_then_threshold_matches_full_resolution():
    rng = np.random.default_rng(11)
    sizes = [(1024, 1024), (900, 700)]
    boxes = [_random_boxes(rng, h, w) for h, w in sizes]
    grids = torch.stack([_random_grid(rng, (19, 19), 0) for _ in sizes])
    amaps = [axis_map(GLORIA, h, w) for h, w in sizes]
    w_in, w_all = cell_weights(amaps, boxes)
    scaled = minmax_rescale(grids, w_all > 0, 0.0, 1.0)
    iou, dice = iou_dice_from_cells(scaled, w_in, w_all, thresholds=[0.6])
    for i, (m, k) in enumerate(zip(*_full_resolution(grids, GLORIA, sizes, boxes, "exact"))):
        ref_iou, ref_dice = iou_dice(minmax_rescale(m[None], None, 0.0, 1.0)[0], k, thresholds=[0.6])
        torch.testing.assert_close(iou[i], ref_iou, rtol=1e-12, atol=0)
        torch.testing.assert_close(dice[i], ref_dice, rtol=1e-12, atol=0)


def test_boxes_only_in_the_nan_margin_give_nan_and_a_flag():
    amap = axis_map(BIOVIL, 3056, 2544)  # official map starts at row 335
    s = grounding_scores(torch.rand(1, 15, 15), [amap], [[Box(100, 10, 500, 300)]], THRESHOLDS)
    assert torch.isnan(s.cnr).all() and torch.isnan(s.iou).all() and torch.isnan(s.dice).all()
    assert s.status.item() == STATUS_FLAGS["empty_ground_truth"]
