"""Heatmap -> boxes on the grid equals the same rule applied to the full-resolution map (scikit-image, numpy)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.measure import label, regionprops

from msxr_bench.geometry import axis_map, grid_to_image
from msxr_bench.geometry.map_boxes import MapBoxRule, map_boxes, top_fraction_boxes
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
    assert MapBoxRule("minmax-components", 0.5).name == "minmax-components@0.5"
    assert top_fraction_boxes(torch.full((8, 8), 0.3), SMALL, (64, 64), 0.1).shape == (0, 5)
    with pytest.raises(ValueError, match="map box rule"):
        MapBoxRule("otsu", 0.5)


def _bilinear(grid: np.ndarray, out: int) -> np.ndarray:
    """align_corners=False bilinear resampling written out (source = (i + 0.5) * n / out - 0.5, edges clamped)."""
    n = grid.shape[0]
    src = np.clip((np.arange(out) + 0.5) * n / out - 0.5, 0, None)
    i0 = np.minimum(np.floor(src).astype(int), n - 1)
    i1 = np.minimum(i0 + 1, n - 1)
    lam = src - i0
    rows = grid[i0] * (1 - lam)[:, None] + grid[i1] * lam[:, None]
    return rows[:, i0] * (1 - lam)[None, :] + rows[:, i1] * lam[None, :]


@pytest.mark.parametrize("seed", [0, 1])
def test_top_fraction_equals_an_independent_bilinear_threshold_and_labelling(seed) -> None:
    from scipy import ndimage

    geometry = Geometry("resize_crop", 64, 64, (8, 8))  # a 64 x 64 image is its own model input
    grid = torch.rand((8, 8), generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    up = _bilinear(grid.numpy(), 64)
    cut = np.sort(up.ravel())[::-1][int(np.ceil(0.1 * up.size)) - 1]
    labels, n = ndimage.label(up >= cut, structure=np.ones((3, 3)))
    want = []
    for k in range(1, n + 1):
        ys, xs = np.nonzero(labels == k)
        want.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1, up[ys, xs].mean()])
    want.sort(key=lambda b: -b[4])
    got = top_fraction_boxes(grid, geometry, (64, 64), 0.1)
    assert got.shape[0] == n > 0
    assert np.allclose(got.numpy(), np.array(want), atol=1e-9)
    # components live on the model input: another image size moves the boxes, never their number
    wide = top_fraction_boxes(grid, geometry, (128, 256), 0.1)
    assert wide.shape[0] == n
