"""Grid-level scoring steps that precede upsampling: Gaussian smoothing (the model's geometry), min-max
rescaling over the pixels the map covers, and where the grid lands in the original image (placement).

`resolve_placement` is the one rule for placement; metrics on the upsampled map live in `msxr_bench.metrics`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from msxr_bench.geometry.backprojection import AxisMap
from msxr_bench.geometry.smoothing import smooth_grid
from msxr_bench.geometry.types import PLACEMENTS, Placement

__all__ = ["GridScoring", "covered_cells", "minmax_rescale", "resolve_placement"]
DEFAULT_PLACEMENT: Placement = "official"


def resolve_placement(model_placement: str | None, requested: str | None = None) -> Placement:
    """Where a model's grids land in the original image: the model's own declared placement (an adapter option,
    e.g. BioViL's `--model-arg geometry=exact`) wins, then the request, then "official" (hi-ml's square, what
    published BioViL numbers used; letterbox geometries then use their exact inverse, see effective_placement)."""
    placement = model_placement or requested or DEFAULT_PLACEMENT
    if placement not in PLACEMENTS:
        raise ValueError(f"placement must be one of {', '.join(PLACEMENTS)}, got {placement!r}")
    return placement  # type: ignore[return-value]


def minmax_rescale(
    values: torch.Tensor, valid: torch.Tensor | None = None, low: float = 0.0, high: float = 1.0
) -> torch.Tensor:
    """Min-max rescale the last two dims to [low, high] over the `valid` entries (default: non-NaN).

    Use low=0, high=1 for RSNA segmentation (then threshold 0.6) and -1, 1 for models whose scores are not
    cosines (paper A.3). For cell grids pass valid = w_all > 0, so cells that cover no pixel do not count;
    the result then equals rescaling the nearest-upsampled map. A constant map becomes `low` everywhere.
    Invalid entries keep their value (NaN stays NaN). Arithmetic in the input dtype.
    """
    ok = ~torch.isnan(values) if valid is None else (valid.bool() & ~torch.isnan(values))
    big = torch.finfo(values.dtype).max
    vmin = values.masked_fill(~ok, big).amin(dim=(-2, -1), keepdim=True)
    vmax = values.masked_fill(~ok, -big).amax(dim=(-2, -1), keepdim=True)
    span = vmax - vmin
    flat = span <= 0
    scaled = (values - vmin) / torch.where(flat, torch.ones_like(span), span) * (high - low) + low
    scaled = torch.where(flat, torch.full_like(values, low), scaled)
    return torch.where(ok, scaled, values)


def covered_cells(amap: AxisMap, device: torch.device) -> torch.Tensor:
    """Bool [h, w]: cells that paint at least one pixel of the original image (nearest upsampling)."""
    row_counts, col_counts = amap.cell_counts()
    return ((row_counts > 0)[:, None] & (col_counts > 0)[None, :]).to(device)


@dataclass(frozen=True)
class GridScoring:
    """The grid-level scoring choices of a run (recorded in the results)."""

    smoothing_sigma: float | None
    rescale: tuple[float, float] | None  # None = raw scores; else min-max to this range
    placement: str  # "official" | "exact" (effective placement per geometry is recorded too)

    def apply(self, grid: torch.Tensor, amap: AxisMap) -> torch.Tensor:
        if self.smoothing_sigma:
            grid = smooth_grid(grid, self.smoothing_sigma)
        if self.rescale is not None:  # min/max over covered cells = over the upsampled map's valid pixels
            grid = minmax_rescale(grid, valid=covered_cells(amap, grid.device), low=self.rescale[0],
                                  high=self.rescale[1])
        return grid

    def record(self) -> dict:
        return {
            "smoothing_sigma": self.smoothing_sigma,
            "smoothing": "gaussian on the grid before upsampling, mode reflect, truncate 4" if self.smoothing_sigma
            else "none",
            "map_rescale": "none" if self.rescale is None else f"minmax to [{self.rescale[0]}, {self.rescale[1]}] "
            "over the pixels the map covers",
            "upsampling": "nearest (exact cell-weighted metrics, equal to the full-resolution pixel computation)",
            "placement": self.placement,
        }
