"""Heatmap -> boxes by named rules, so that heatmap models get box metrics; each box is scored by the mean
similarity over its component's pixels. Two rules (`MapBoxRule`, named "KIND@VALUE"):

- top-fraction@q (the box tasks' default): the raw similarity grid (no smoothing, no rescaling) upsampled
  bilinearly onto the model input (align_corners=False: the grid covers the crop), its top q of pixels (those >=
  the ceil(q * pixels)-th largest value), 8-connected components (scikit-image `measure.label`, connectivity 2),
  each component's bounding box mapped back to original pixels through the geometry (`geometry/boxes.py`).
- minmax-components@t: the task's map (after the model's smoothing / rescaling, as CNR sees it), min-max
  rescaled to [0, 1] over the pixels it covers, >= t, components on the grid. Nearest upsampling paints each cell
  as one block of pixels, so components, boxes and pixel-weighted means on the grid equal those of the
  full-resolution map (tested).
A constant map gives no box under either rule. The reverse conversion is not free: a map built from boxes alone
is constant inside and outside them, its variance is zero and CNR undefined (box tasks report CNR "not
applicable" for box-only models).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from skimage.measure import label, regionprops

from msxr_bench.geometry.backprojection import AxisMap
from msxr_bench.geometry.boxes import boxes_to_original
from msxr_bench.geometry.scoring import covered_cells, minmax_rescale
from msxr_bench.geometry.types import Geometry

__all__ = ["DEFAULT_MAP_BOX_THRESHOLD", "MAP_BOX_RULES", "MapBoxRule", "map_boxes", "top_fraction_boxes"]

DEFAULT_MAP_BOX_THRESHOLD = 0.5
MAP_BOX_RULES = ("top-fraction", "minmax-components")


@dataclass(frozen=True)
class MapBoxRule:
    kind: str = "top-fraction"
    value: float = 0.1

    def __post_init__(self) -> None:
        if self.kind not in MAP_BOX_RULES or not 0.0 < self.value <= 1.0:
            raise ValueError(f"map box rule {self.name!r}: expected one of {', '.join(MAP_BOX_RULES)} with a value "
                             "in (0, 1]")

    @property
    def name(self) -> str:
        return f"{self.kind}@{self.value:g}"

    def describe(self) -> str:
        if self.kind == "top-fraction":
            return (f"raw similarity grid upsampled bilinearly onto the model input, its top {self.value:g} of pixels, "
                    "8-connected components (skimage.measure.label, connectivity 2), bounding boxes mapped back to "
                    "original pixels, each scored by the mean similarity over its pixels")
        return (f"the task's map (smoothed / rescaled as for CNR) min-max rescaled to [0, 1] over the pixels it "
                f"covers, >= {self.value:g}, 8-connected components, bounding boxes in original pixels, each scored "
                "by the mean similarity over its pixels")

    def __call__(self, raw: torch.Tensor, scored: torch.Tensor, amap: AxisMap, geometry: Geometry,
                 size: tuple[int, int]) -> torch.Tensor:
        if self.kind == "top-fraction":
            return top_fraction_boxes(raw, geometry, size, self.value)
        return map_boxes(scored, amap, self.value)


def _by_score(boxes: list[list[float]]) -> torch.Tensor:
    if not boxes:
        return torch.zeros(0, 5, dtype=torch.float64)
    out = torch.tensor(boxes, dtype=torch.float64)
    return out[torch.sort(out[:, 4], descending=True, stable=True).indices]


def top_fraction_boxes(grid: torch.Tensor, geometry: Geometry, size: tuple[int, int],
                       fraction: float) -> torch.Tensor:
    """[k, 5] boxes (original pixels + score) of the components of the top `fraction` of the bilinearly upsampled
    grid on the model input, largest score first; empty for a constant grid."""
    if tuple(grid.shape) != tuple(geometry.grid):
        raise ValueError(f"grid shape {tuple(grid.shape)} does not match geometry grid {geometry.grid}")
    g = grid.detach().to("cpu", torch.float64)
    if bool(g.max() == g.min()):
        return torch.zeros(0, 5, dtype=torch.float64)
    crop = geometry.crop
    up = F.interpolate(g[None, None], size=(crop, crop), mode="bilinear", align_corners=False)[0, 0]
    keep = max(1, math.ceil(fraction * up.numel()))
    cut = torch.topk(up.flatten(), keep).values[-1]
    values = up.numpy()
    boxes = []
    for region in regionprops(label((up >= cut).numpy(), connectivity=2)):
        y1, x1, y2, x2 = region.bbox
        boxes.append([x1, y1, x2, y2, float(values[region.coords[:, 0], region.coords[:, 1]].mean())])
    out = _by_score(boxes)
    out[:, :4] = boxes_to_original(out[:, :4], geometry, *size)
    return out[(out[:, 2] > out[:, 0]) & (out[:, 3] > out[:, 1])]


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
    return _by_score(boxes)
