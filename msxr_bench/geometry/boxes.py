"""Boxes through the model's geometry: original pixels <-> model-input pixels, the exact affine maps of the
forward transform (`forward.py`), so a box predicted on the model's input lands where the input came from.

Coordinates are continuous, pixel edges at integers ([x1, y1, x2, y2], x2 = x + w): a point at original (x, y)
lands in the input at (x * scale_x + pad_left - crop_left, y * scale_y + pad_top - crop_top), the same numbers
`preprocess` cuts with. The inverse divides them out; a box that reaches past the crop or the letterbox padding
maps to original coordinates outside the image and is clipped to it (`clip=True`, the default: pixels the model
never saw cannot hold a finding). Heatmap -> box conversion lives in `map_boxes.py`; box metrics in
`msxr_bench.metrics.boxes`.
"""

from __future__ import annotations

import torch

from msxr_bench.geometry.forward import forward_transform
from msxr_bench.geometry.types import Geometry

__all__ = ["boxes_to_input", "boxes_to_original", "input_window"]


def _affine(geometry: Geometry, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale, offset) [4] each, for xyxy boxes: input = original * scale + offset."""
    t = forward_transform(geometry, height, width)
    sy, sx = t.scale
    oy = float(t.pad[0] - t.crop_offset[0])
    ox = float(t.pad[2] - t.crop_offset[1])
    scale = torch.tensor([sx, sy, sx, sy], dtype=torch.float64)
    offset = torch.tensor([ox, oy, ox, oy], dtype=torch.float64)
    return scale, offset


def _as_xyxy(boxes: torch.Tensor) -> torch.Tensor:
    boxes = torch.as_tensor(boxes, dtype=torch.float64)
    if boxes.shape[-1:] != (4,):
        raise ValueError(f"boxes must be [..., 4] (x1, y1, x2, y2), got {tuple(boxes.shape)}")
    return boxes


def boxes_to_input(boxes: torch.Tensor, geometry: Geometry, height: int, width: int) -> torch.Tensor:
    """Original-pixel boxes [..., 4] (x1, y1, x2, y2) of an (height, width) image -> model-input pixels (float64)."""
    scale, offset = _affine(geometry, height, width)
    return _as_xyxy(boxes) * scale + offset


def boxes_to_original(boxes: torch.Tensor, geometry: Geometry, height: int, width: int,
                      clip: bool = True) -> torch.Tensor:
    """Model-input boxes [..., 4] (x1, y1, x2, y2) -> original pixels of an (height, width) image (float64), the
    exact inverse of `boxes_to_input`; `clip` bounds them to the image (a box wholly outside becomes empty)."""
    scale, offset = _affine(geometry, height, width)
    out = (_as_xyxy(boxes) - offset) / scale
    if clip:
        bound = torch.tensor([width, height, width, height], dtype=torch.float64)
        out = torch.minimum(out.clamp(min=0.0), bound)
    return out


def input_window(geometry: Geometry, height: int, width: int) -> tuple[float, float, float, float]:
    """The part of the original image the model input shows, (x1, y1, x2, y2) in original pixels."""
    crop = float(geometry.crop)
    box = boxes_to_original(torch.tensor([0.0, 0.0, crop, crop]), geometry, height, width)
    return tuple(float(v) for v in box)  # type: ignore[return-value]
