"""Heatmap -> boxes by a named rule, so that heatmap models get box metrics: the map (after the model's grid
scoring: smoothing, rescaling) is min-max rescaled to [0, 1] over the pixels it covers, thresholded (>= t),
cut into 8-connected components (scikit-image `measure.label`, connectivity 2), and each component becomes its
bounding box in original pixels, scored by the mean similarity (the unrescaled map) over the component's pixels.

Computed on the grid: nearest upsampling paints each cell as one contiguous block of pixels, so components,
their bounding boxes and pixel-weighted means on the grid equal those of the full-resolution map (tested). The
reverse conversion is not free: a map built from boxes alone is constant inside and outside them, its variance
is zero and CNR undefined (the box tasks report CNR "not applicable" for box-only models).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from skimage.measure import label

from msxr_bench.geometry.backprojection import AxisMap
from msxr_bench.geometry.scoring import covered_cells, minmax_rescale

__all__ = ["DEFAULT_MAP_BOX_THRESHOLD", "MapBoxRule", "map_boxes"]

DEFAULT_MAP_BOX_THRESHOLD = 0.5


@dataclass(frozen=True)
class MapBoxRule:
    threshold: float = DEFAULT_MAP_BOX_THRESHOLD

    @property
    def name(self) -> str:
        return f"minmax-components@{self.threshold:g}"

    def describe(self) -> str:
        return (f"map min-max rescaled to [0, 1] over the pixels it covers, >= {self.threshold:g}, 8-connected "
                "components (skimage.measure.label, connectivity 2), each component's bounding box in original "
                "pixels scored by the mean similarity over its pixels")

    def __call__(self, grid: torch.Tensor, amap: AxisMap) -> torch.Tensor:
        return map_boxes(grid, amap, self.threshold)


def map_boxes(grid: torch.Tensor, amap: AxisMap, threshold: float = DEFAULT_MAP_BOX_THRESHOLD) -> torch.Tensor:
    """[k, 5] boxes (x1, y1, x2, y2 in original pixels, score) of the components of `grid` [h, w] (float64),
    largest score first; empty when no pixel reaches the threshold (e.g. a constant map)."""
    if tuple(grid.shape) != tuple(amap.grid):
        raise ValueError(f"grid shape {tuple(grid.shape)} does not match the AxisMap grid {amap.grid}")
    g = grid.detach().to("cpu", torch.float64)
    covered = covered_cells(amap, torch.device("cpu"))
    rescaled = minmax_rescale(g, valid=covered, low=0.0, high=1.0)
    on = (covered & (rescaled >= threshold)).numpy()
    labels = label(on, connectivity=2)
    if labels.max() == 0:
        return torch.zeros(0, 5, dtype=torch.float64)
    r_lo, r_hi, c_lo, c_hi = (t.to(torch.float64) for t in amap.cell_spans())
    rows, cols = amap.cell_counts()
    weight = (rows[:, None] * cols[None, :]).to(torch.float64).numpy()
    values = g.numpy()
    boxes = []
    for k in range(1, int(labels.max()) + 1):
        rr, cc = np.nonzero(labels == k)
        w = weight[rr, cc]
        score = float((values[rr, cc] * w).sum() / w.sum())
        boxes.append([float(c_lo[cc.min()]), float(r_lo[rr.min()]), float(c_hi[cc.max()]), float(r_hi[rr.max()]),
                      score])
    out = torch.tensor(boxes, dtype=torch.float64)
    return out[torch.sort(out[:, 4], descending=True, stable=True).indices]
