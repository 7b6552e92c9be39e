"""From a patch grid back to the original image's pixels (NaN where the model saw nothing).

Placements:
- "official" (resize_crop): what hi-ml's `convert_similarity_to_image_size` does and published BioViL
  numbers used: the grid upsampled (PyTorch legacy nearest, or bilinear align_corners=False) to a square
  of side s = int(crop * min(H, W) / resize) and NaN-padded floor-first ((W - s) // 2 on the left,
  (H - s) // 2 on top). It can sit a few pixels off the real crop (about 3 rows on 2544 x 3056).
  Nearest is done as an index gather with the indices F.interpolate picks for a float32 map (hi-ml's
  dtype), so float64 maps land on the same pixels (F.interpolate's CPU index arithmetic follows the dtype).
- "exact": the true crop window. Pixel centre (y + 0.5) maps to crop position
  u = (y + 0.5) * resized / original + pad - crop_offset (the forward transform's own numbers); the pixel
  is in the map iff 0 <= u < crop, its nearest cell is floor(u * h / crop), computed in exact integer
  arithmetic (a centre on a cell edge goes to the later cell). Bilinear samples the grid at u * h / crop
  with align_corners=False conventions (edge cells clamped), like F.interpolate over the crop.
- letterbox_crop (GLoRIA) has only the exact inverse: "official" is accepted and means "exact"
  (`effective_placement` says which was used, for the results JSON). Pixels cut by the crop are NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from msxr_bench.geometry.types import Geometry, Placement
from msxr_bench.geometry.forward import forward_transform

__all__ = ["AxisMap", "axis_map", "effective_placement", "grid_to_image", "official_square_side"]




@dataclass(frozen=True)
class AxisMap:
    """Nearest-upsampling map: grid row of each original pixel row, grid column of each pixel column.

    -1 marks a pixel row/column outside the map (NaN). Pixel (i, j) has value grid[rows[i], cols[j]]
    when both are >= 0, else NaN.
    """

    rows: torch.Tensor  # LongTensor [H]
    cols: torch.Tensor  # LongTensor [W]
    grid: tuple[int, int]
    placement: str  # the placement actually used ("official" or "exact")

    @property
    def image_size(self) -> tuple[int, int]:
        return (int(self.rows.numel()), int(self.cols.numel()))

    def cell_counts(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Pixels per grid row [h] and per grid column [w] (valid pixels only)."""
        return _counts(self.rows, self.grid[0]), _counts(self.cols, self.grid[1])

    def cell_spans(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(row_lo, row_hi, col_lo, col_hi): each cell's half-open pixel range per axis (empty: lo == hi).

        Valid for every map built here, whose cells are contiguous and in order; checked.
        """
        r_lo, r_hi = _spans(self.rows, self.grid[0], "rows")
        c_lo, c_hi = _spans(self.cols, self.grid[1], "cols")
        return r_lo, r_hi, c_lo, c_hi


def _counts(index: torch.Tensor, n: int) -> torch.Tensor:
    valid = index[index >= 0]
    return torch.bincount(valid, minlength=n)[:n]


def _spans(index: torch.Tensor, n: int, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    counts = _counts(index, n)
    n_valid = int(counts.sum())
    valid = (index >= 0).nonzero().flatten()
    start = int(valid[0]) if n_valid else 0
    hi = start + torch.cumsum(counts, 0)
    lo = hi - counts
    block = index[start : start + n_valid]
    if n_valid and (bool((block < 0).any()) or bool((block[1:] < block[:-1]).any())):
        raise ValueError(f"AxisMap {name} are not contiguous ordered cells; spans are undefined")
    return lo, hi


def effective_placement(geometry: Geometry, placement: str) -> str:
    """The placement actually used: letterbox geometries have only the exact inverse."""
    if placement not in ("official", "exact"):
        raise ValueError(f"placement must be 'official' or 'exact', got {placement!r}")
    return "exact" if geometry.kind == "letterbox_crop" else placement


def official_square_side(geometry: Geometry, height: int, width: int) -> int:
    """hi-ml's side of the map square in original pixels: int(crop * min(H, W) / resize)."""
    return int(geometry.crop * min(height, width) / geometry.resize)


def _official_pad(geometry: Geometry, height: int, width: int) -> tuple[int, int, int, int, int]:
    s = official_square_side(geometry, height, width)
    m_w, m_h = width - s, height - s
    return s, math.floor(m_w / 2), math.ceil(m_w / 2), math.floor(m_h / 2), math.ceil(m_h / 2)


def _legacy_nearest(n_in: int, n_out: int) -> torch.Tensor:
    """Indices that PyTorch's legacy `nearest` picks for a float32 map (hi-ml's dtype), from F.interpolate itself.

    On CPU the index arithmetic follows the input dtype: a float64 map would pick other source rows
    in a few places (6 of 2385 rows for 15 -> 2385), so the indices are pinned to float32 here.
    """
    src = torch.arange(n_in, dtype=torch.float32).view(1, 1, n_in, 1)
    return F.interpolate(src, size=(n_out, 1), mode="nearest").view(n_out).round().to(torch.int64)


def _exact_fraction(geometry: Geometry, height: int, width: int, dim: int, n_cells: int) -> tuple[torch.Tensor, int]:
    """Numerator and denominator of each pixel centre's crop position in cell units (exact integers)."""
    t = forward_transform(geometry, height, width)
    orig, resized, shift = t.axis(dim)
    y = torch.arange(orig, dtype=torch.int64)
    # u * n / crop with u = (y + 1/2) * resized / orig + shift  ->  num / den
    num = ((2 * y + 1) * resized + 2 * orig * shift) * n_cells
    return num, 2 * orig * t.crop


def _exact_axis(geometry: Geometry, height: int, width: int, dim: int) -> torch.Tensor:
    n = geometry.grid[dim]
    num, den = _exact_fraction(geometry, height, width, dim, n)
    inside = (num >= 0) & (num < n * den)
    return torch.where(inside, torch.div(num, den, rounding_mode="floor"), torch.full_like(num, -1))


def axis_map(geometry: Geometry, height: int, width: int, placement: Placement = "official") -> AxisMap:
    """Nearest-upsampling AxisMap of `geometry`'s grid onto an original image of size (height, width)."""
    used = effective_placement(geometry, placement)
    forward_transform(geometry, height, width)  # validates sizes and geometry
    h, w = geometry.grid
    if used == "official":
        s, left, right, top, bottom = _official_pad(geometry, height, width)
        pad = lambda idx, a, b: torch.cat([torch.full((a,), -1), idx, torch.full((b,), -1)])  # noqa: E731
        rows = pad(_legacy_nearest(h, s), top, bottom)
        cols = pad(_legacy_nearest(w, s), left, right)
    else:
        rows = _exact_axis(geometry, height, width, 0)
        cols = _exact_axis(geometry, height, width, 1)
    return AxisMap(rows=rows, cols=cols, grid=(h, w), placement=used)


def _bilinear_matrix(geometry: Geometry, height: int, width: int, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """[orig, n] interpolation weights at each pixel centre (align_corners=False), and the inside mask."""
    n = geometry.grid[dim]
    num, den = _exact_fraction(geometry, height, width, dim, n)
    inside = (num >= 0) & (num < n * den)
    src = (num.to(torch.float64) / den - 0.5).clamp(min=0.0)
    i0 = src.floor().to(torch.int64).clamp(max=n - 1)
    i1 = (i0 + 1).clamp(max=n - 1)
    lam = src - i0.to(torch.float64)
    mat = torch.zeros(num.numel(), n, dtype=torch.float64)
    ar = torch.arange(num.numel())
    mat[ar, i0] += 1 - lam
    mat[ar, i1] += lam
    return mat, inside


def grid_to_image(
    grid: torch.Tensor,
    geometry: Geometry,
    height: int,
    width: int,
    placement: Placement = "official",
    interpolation: Literal["nearest", "bilinear"] = "nearest",
) -> torch.Tensor:
    """Upsample grid [..., h, w] to the original image [..., H, W], NaN outside the model's view."""
    if tuple(grid.shape[-2:]) != tuple(geometry.grid):
        raise ValueError(f"grid shape {tuple(grid.shape[-2:])} does not match geometry grid {geometry.grid}")
    if interpolation not in ("nearest", "bilinear"):
        raise ValueError(f"interpolation must be 'nearest' or 'bilinear', got {interpolation!r}")
    if not torch.is_floating_point(grid):
        grid = grid.to(torch.float32)
    used = effective_placement(geometry, placement)
    lead = grid.shape[:-2]
    if used == "official" and interpolation == "bilinear":
        s, left, right, top, bottom = _official_pad(geometry, height, width)
        x = F.interpolate(grid.reshape(1, -1, *geometry.grid), size=(s, s), mode="bilinear", align_corners=False)
        x = F.pad(x, (left, right, top, bottom), value=float("nan"))
        return x.reshape(*lead, height, width)
    if interpolation == "nearest":
        # Official: F.interpolate(nearest) + NaN pad, as an index gather (float32 index semantics for any dtype).
        amap = axis_map(geometry, height, width, used)
        rows, cols = amap.rows.to(grid.device), amap.cols.to(grid.device)
        out = grid[..., rows.clamp(min=0), :][..., cols.clamp(min=0)]
        invalid = (rows < 0)[:, None] | (cols < 0)[None, :]
    else:
        ry, in_y = _bilinear_matrix(geometry, height, width, 0)
        rx, in_x = _bilinear_matrix(geometry, height, width, 1)
        g64 = grid.to(torch.float64)
        out = torch.einsum("Hh,...hw,Ww->...HW", ry.to(grid.device), g64, rx.to(grid.device)).to(grid.dtype)
        invalid = (~in_y.to(grid.device))[:, None] | (~in_x.to(grid.device))[None, :]
    return out.masked_fill(invalid, float("nan"))
