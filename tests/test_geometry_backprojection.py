"""Grid -> original pixels: hi-ml's official placement, the exact inverse, and GLoRIA's letterbox inverse."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from msxr_bench.geometry.types import Geometry
from msxr_bench.geometry import axis_map, effective_placement, forward_transform, grid_to_image

BIOVIL = Geometry("resize_crop", 512, 480, (15, 15), 1.5)
BIOVIL_T = Geometry("resize_crop", 512, 448, (14, 14), 1.5)
GLORIA = Geometry("letterbox_crop", 256, 224, (19, 19))
SIZES = [(500, 600), (600, 500), (3056, 2544), (2544, 3056), (512, 613), (1024, 1024), (333, 777)]


def _himl_convert(sim: torch.Tensor, width: int, height: int, resize: int, crop: int, mode: str) -> torch.Tensor:
    """hi-ml `convert_similarity_to_image_size`, transcribed step by step as the test's reference."""
    s = int(crop * min(height, width) / resize)
    align = False if mode in ("linear", "bilinear", "bicubic", "trilinear") else None
    up = F.interpolate(sim.reshape(1, 1, *sim.shape), size=(s, s), mode=mode, align_corners=align)
    m_w, m_h = width - s, height - s
    pads = (math.floor(m_w / 2), math.ceil(m_w / 2), math.floor(m_h / 2), math.ceil(m_h / 2))
    return F.pad(up[0, 0], pads, value=float("nan"))


def _valid_range(index: torch.Tensor) -> tuple[int, int]:
    v = (index >= 0).nonzero().flatten()
    return int(v[0]), int(v[-1])


def _via_axis_map(grid: torch.Tensor, amap) -> torch.Tensor:
    out = grid[amap.rows.clamp(min=0)][:, amap.cols.clamp(min=0)].clone()
    out[(amap.rows < 0)[:, None] | (amap.cols < 0)[None, :]] = float("nan")
    return out


def test_official_window_matches_the_engine_examples():
    amap = axis_map(BIOVIL, 500, 600)  # hi-ml example: W=600, H=500 -> columns 66..533, rows 16..483
    assert _valid_range(amap.cols) == (66, 533) and _valid_range(amap.rows) == (16, 483)
    assert amap.placement == "official"
    # Portrait 2544x3056: the official map starts at row 335, the real crop at about 338.
    assert _valid_range(axis_map(BIOVIL, 3056, 2544).rows)[0] == 335
    assert _valid_range(axis_map(BIOVIL, 3056, 2544, "exact").rows)[0] == 338


@pytest.mark.parametrize("geometry", [BIOVIL, BIOVIL_T])
@pytest.mark.parametrize("height,width", SIZES)
def test_official_nearest_is_the_engine_map_and_the_axis_map(geometry, height, width):
    grid = torch.rand(geometry.grid, generator=torch.Generator().manual_seed(height + width))
    out = grid_to_image(grid, geometry, height, width)
    ref = _himl_convert(grid, width, height, geometry.resize, geometry.crop, "nearest")
    assert out.shape == (height, width) and out.dtype == torch.float32
    torch.testing.assert_close(out, ref, rtol=0, atol=0, equal_nan=True)
    torch.testing.assert_close(out, _via_axis_map(grid, axis_map(geometry, height, width)), rtol=0, atol=0, equal_nan=True)
    # float64 maps get the same pixels (indices pinned to float32 semantics, which F.interpolate would not do)
    out64 = grid_to_image(grid.double(), geometry, height, width)
    torch.testing.assert_close(out64, ref.double(), rtol=0, atol=0, equal_nan=True)
    bil = grid_to_image(grid, geometry, height, width, interpolation="bilinear")
    ref_bil = _himl_convert(grid, width, height, geometry.resize, geometry.crop, "bilinear")
    torch.testing.assert_close(bil, ref_bil, rtol=0, atol=0, equal_nan=True)


@pytest.mark.parametrize("height,width", SIZES)
def test_exact_axis_map_follows_pixel_centres_through_the_forward_transform(height, width):
    for geometry in (BIOVIL, GLORIA):
        t = forward_transform(geometry, height, width)
        amap = axis_map(geometry, height, width, "exact")
        for dim, index in ((0, amap.rows), (1, amap.cols)):
            orig, resized, shift = t.axis(dim)
            u = (np.arange(orig) + 0.5) * resized / orig + shift  # float64 reference
            n = geometry.grid[dim]
            expect = np.where((u >= 0) & (u < geometry.crop), np.floor(u * n / geometry.crop), -1)
            assert index.tolist() == expect.astype(int).tolist()
        torch.testing.assert_close(
            grid_to_image(torch.arange(float(np.prod(geometry.grid))).view(geometry.grid), geometry, height, width, "exact"),
            _via_axis_map(torch.arange(float(np.prod(geometry.grid))).view(geometry.grid), amap),
            rtol=0,
            atol=0,
            equal_nan=True,
        )


def test_exact_window_without_resampling_is_the_crop_itself():
    amap = axis_map(BIOVIL, 512, 613, "exact")  # no resize; crop rows 16..495, columns 66..545; 32 px cells
    assert _valid_range(amap.rows) == (16, 495) and _valid_range(amap.cols) == (66, 545)
    assert amap.cols[66 + 32 * 7].item() == 7 and amap.cols[66 + 32 * 7 - 1].item() == 6
    r_lo, r_hi, c_lo, c_hi = amap.cell_spans()
    assert torch.equal(c_lo, 66 + 32 * torch.arange(15)) and torch.equal(c_hi - c_lo, torch.full((15,), 32))


def test_letterbox_inverse_marks_cropped_pixels_nan():
    # 1024x1024 -> 256 canvas (4 px per canvas pixel), crop canvas [16, 240): original pixels 64..959.
    amap = axis_map(GLORIA, 1024, 1024, "official")
    assert amap.placement == "exact" and effective_placement(GLORIA, "official") == "exact"
    assert _valid_range(amap.rows) == (64, 959) and _valid_range(amap.cols) == (64, 959)
    # Portrait 3056x2544: the width fits inside the crop (letterbox pad 21 > crop margin 16), the height is cut.
    amap = axis_map(GLORIA, 3056, 2544)
    assert bool((amap.cols >= 0).all()) and int((amap.rows < 0).sum()) > 0
    rows_c, cols_c = amap.cell_counts()
    assert int(rows_c.sum()) == int((amap.rows >= 0).sum()) and int(cols_c.sum()) == 2544
    assert cols_c[0] < cols_c[1] and cols_c[-1] < cols_c[-2]  # edge cells are partly letterbox padding


@pytest.mark.parametrize("geometry", [BIOVIL, GLORIA])
def test_exact_bilinear_reproduces_a_linear_ramp_at_pixel_centres(geometry):
    h, w = geometry.grid
    height, width = 2544, 3056
    grid = (2.0 * torch.arange(h, dtype=torch.float64)[:, None] + 0.5 * torch.arange(w, dtype=torch.float64)[None, :])
    out = grid_to_image(grid, geometry, height, width, "exact", "bilinear")
    t = forward_transform(geometry, height, width)
    ys = [((y + 0.5) * t.axis(0)[1] / height + t.axis(0)[2]) * h / geometry.crop - 0.5 for y in range(height)]
    xs = [((x + 0.5) * t.axis(1)[1] / width + t.axis(1)[2]) * w / geometry.crop - 0.5 for x in range(width)]
    iy = [i for i, v in enumerate(ys) if 0 <= v <= h - 1]
    ix = [j for j, v in enumerate(xs) if 0 <= v <= w - 1]
    ty = torch.tensor([ys[i] for i in iy], dtype=torch.float64)
    tx = torch.tensor([xs[j] for j in ix], dtype=torch.float64)
    expect = 2.0 * ty[:, None] + 0.5 * tx[None, :]
    torch.testing.assert_close(out[iy][:, ix], expect, rtol=0, atol=1e-9)
    nearest = grid_to_image(grid, geometry, height, width, "exact")
    assert torch.equal(torch.isnan(out), torch.isnan(nearest))


def test_grid_to_image_is_batched_and_validates():
    grids = torch.rand(2, 3, 15, 15, generator=torch.Generator().manual_seed(1))
    for placement in ("official", "exact"):
        for mode in ("nearest", "bilinear"):
            out = grid_to_image(grids, BIOVIL, 700, 600, placement, mode)
            assert out.shape == (2, 3, 700, 600)
            single = grid_to_image(grids[1, 2], BIOVIL, 700, 600, placement, mode)
            torch.testing.assert_close(out[1, 2], single, rtol=0, atol=0, equal_nan=True)
    with pytest.raises(ValueError, match="grid shape"):
        grid_to_image(torch.rand(14, 14), BIOVIL, 700, 600)
    with pytest.raises(ValueError, match="placement"):
        axis_map(BIOVIL, 700, 600, "centre")  # type: ignore[arg-type]
