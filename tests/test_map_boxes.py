"""Heatmap -> boxes on the grid equals the same rule applied to the full-resolution map (scikit-image, numpy)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.measure import label, regionprops

from msxr_bench.geometry import axis_map, grid_to_image
from msxr_bench.geometry.map_boxes import MapBoxRule, map_boxes
from msxr_bench.geometry.types import Geometry

BIOVIL = Geometry("resize_crop", 512, 480, (15, 15), 1.5)
GLORIA = Geometry("letterbox_crop", 256, 224, (19, 19))
SMALL = Geometry("resize_crop", 64, 64, (8, 8))


def _full_resolution(grid: torch.Tensor, geometry: Geometry, size: tuple[int, int], placement: str,
                     threshold: float) -> list[list[float]]:
    """The rule on the upsampled map: min-max over valid pixels, threshold, 8-connected regions, mean value."""
    full = grid_to_image(grid.double(), geometry, *size, placement=placement).numpy()
    valid = ~np.isnan(full)
    lo, hi = full[valid].min(), full[valid].max()
    on = valid & ((full - lo) / (hi - lo) >= threshold)
    out = []
    for region in regionprops(label(on, connectivity=2)):
        y1, x1, y2, x2 = region.bbox
        out.append([x1, y1, x2, y2, float(full[region.coords[:, 0], region.coords[:, 1]].mean())])
    return sorted(out, key=lambda b: -b[4])


@pytest.mark.parametrize("geometry,size,placement", [
    (BIOVIL, (600, 500), "official"), (BIOVIL, (305, 254), "exact"), (GLORIA, (305, 254), "exact"),
    (SMALL, (90, 70), "official")])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_grid_components_equal_full_resolution_components(geometry, size, placement, seed) -> None:
    g = torch.Generator().manual_seed(seed)
    grid = torch.rand(geometry.grid, generator=g) * 2 - 1
    amap = axis_map(geometry, *size, placement=placement)
    for threshold in (0.4, 0.6, 0.8):
        got = map_boxes(grid, amap, threshold)
        want = _full_resolution(grid, geometry, size, placement, threshold)
        assert got.shape[0] == len(want) > 0
        assert np.allclose(got.numpy(), np.array(want), atol=1e-9)


def test_a_blob_gives_its_box_and_a_constant_map_gives_none() -> None:
    amap = axis_map(SMALL, 64, 64, placement="exact")  # 8x8 cells of 8x8 pixels
    grid = torch.full((8, 8), -0.2)
    grid[2:4, 5:7] = 0.6  # one blob: rows 2-3, cols 5-6
    boxes = map_boxes(grid, amap, 0.5)
    assert boxes.tolist() == [[40.0, 16.0, 56.0, 32.0, pytest.approx(0.6)]]
    assert map_boxes(torch.full((8, 8), 0.3), amap).shape == (0, 5)
    assert MapBoxRule(0.5).name == "minmax-components@0.5"
