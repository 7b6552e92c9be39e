"""The forward transform: an original uint8 image becomes the model's [3, crop, crop] input.

`forward_transform` gives the numbers (resized size, letterbox padding, crop offsets) that both
`preprocess` and the inverse mapping (`backprojection.py`) use, so they cannot drift apart.
- resize_crop (BioViL, hi-ml `Resize(r)` + `CenterCrop(c)` on a PIL image): short side -> r, long side
  -> int(r * long / short) (torchvision truncation), PIL bilinear (antialiased), crop offsets
  int(round((size - c) / 2)) with Python's half-to-even round; ToTensor; channels repeated; no normalisation.
- letterbox_crop (GLoRIA `_resize_img` + `CenterCrop(c)`): long side -> r with cv2.INTER_AREA, the short
  side int(short * (r / long)); zero-pad to r x r (floor before, ceil after); centre crop as above.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from msxr_bench.geometry.types import Geometry
from msxr_bench.geometry.area_resize import resize_area

__all__ = ["ForwardTransform", "forward_transform", "preprocess"]


@dataclass(frozen=True)
class ForwardTransform:
    """Where every stage of the preprocessing puts an original image of size (H, W).

    A point at continuous original coordinates (y, x) (pixel edges at integers) lands in the crop
    at (y * scale[0] + pad[0] - crop_offset[0], x * scale[1] + pad[2] - crop_offset[1]).
    """

    kind: str
    original: tuple[int, int]  # (H, W) on disk
    resized: tuple[int, int]  # (h, w) after the resize
    pad: tuple[int, int, int, int]  # zero padding (top, bottom, left, right) after the resize
    crop_offset: tuple[int, int]  # (top, left) of the centre crop in the padded canvas
    crop: int

    @property
    def canvas(self) -> tuple[int, int]:
        """Size of the padded image that the centre crop is cut from."""
        return (self.resized[0] + self.pad[0] + self.pad[1], self.resized[1] + self.pad[2] + self.pad[3])

    @property
    def scale(self) -> tuple[float, float]:
        """Per-axis resize factor (resized / original); the resamplers map pixel edges to edges."""
        return (self.resized[0] / self.original[0], self.resized[1] / self.original[1])

    def axis(self, dim: int) -> tuple[int, int, int]:
        """(original size, resized size, pad before - crop offset) along dim 0 (rows) or 1 (columns)."""
        shift = (self.pad[0] if dim == 0 else self.pad[2]) - self.crop_offset[dim]
        return self.original[dim], self.resized[dim], shift

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "original": list(self.original),
            "resized": list(self.resized),
            "pad": list(self.pad),
            "crop_offset": list(self.crop_offset),
            "crop": self.crop,
        }


def _check(geometry: Geometry, height: int, width: int) -> None:
    if height < 1 or width < 1:
        raise ValueError(f"image size must be positive, got (H, W) = {(height, width)}")
    if geometry.crop > geometry.resize:
        raise ValueError(
            f"geometry crop {geometry.crop} is larger than resize {geometry.resize}: "
            "padding before the crop is not supported"
        )
    if geometry.kind not in ("resize_crop", "letterbox_crop"):
        raise ValueError(f"unknown geometry kind {geometry.kind!r} (expected 'resize_crop' or 'letterbox_crop')")


def _centre_crop_offset(size: int, crop: int) -> int:
    return int(round((size - crop) / 2.0))  # torchvision CenterCrop (round half to even)


def forward_transform(geometry: Geometry, height: int, width: int) -> ForwardTransform:
    """The resize/pad/crop numbers for an original image of size (height, width)."""
    _check(geometry, height, width)
    r, c = geometry.resize, geometry.crop
    if geometry.kind == "resize_crop":
        # torchvision `_compute_resized_output_size` with a single int size.
        short, long = (width, height) if width <= height else (height, width)
        new_short, new_long = r, int(r * long / short)
        new_w, new_h = (new_short, new_long) if width <= height else (new_long, new_short)
        pad = (0, 0, 0, 0)
    else:
        # GLoRIA `_resize_img`: `size.index(max(size))` picks the height on ties.
        if height >= width:
            new_h, new_w = r, int(float(width) * float(r / float(height)))
            extra = r - new_w
            pad = (0, 0, extra // 2, extra - extra // 2)
        else:
            new_h, new_w = int(float(height) * float(r / float(width))), r
            extra = r - new_h
            pad = (extra // 2, extra - extra // 2, 0, 0)
        if new_h < 1 or new_w < 1:
            raise ValueError(f"image of size {(height, width)} is too thin to letterbox to {r}")
    canvas_h, canvas_w = new_h + pad[0] + pad[1], new_w + pad[2] + pad[3]
    offset = (_centre_crop_offset(canvas_h, c), _centre_crop_offset(canvas_w, c))
    return ForwardTransform(geometry.kind, (height, width), (new_h, new_w), pad, offset, c)


def preprocess_uint8(image: np.ndarray, geometry: Geometry) -> np.ndarray:
    """An original uint8 [H, W] image resized, padded and centre-cropped: uint8 [crop, crop] (C-contiguous)."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 2:
        got = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"preprocess expects a uint8 [H, W] greyscale image, got {got}")
    t = forward_transform(geometry, *image.shape)
    if t.kind == "resize_crop":
        resized = Image.fromarray(image).resize((t.resized[1], t.resized[0]), Image.Resampling.BILINEAR)
        canvas = np.asarray(resized)
    else:
        small = resize_area(image, *t.resized)
        top, bottom, left, right = t.pad
        canvas = np.pad(small, [(top, bottom), (left, right)], mode="constant", constant_values=0)
    y0, x0 = t.crop_offset
    # an owned, writable copy: PIL's buffer is read-only and torch warns on non-writable arrays
    return np.array(canvas[y0 : y0 + t.crop, x0 : x0 + t.crop], dtype=np.uint8, order="C")


def preprocess(image: np.ndarray, geometry: Geometry) -> torch.Tensor:
    """An original uint8 [H, W] image as the model input: float32 [channels, crop, crop] in [0, 1]."""
    x = torch.from_numpy(preprocess_uint8(image, geometry)).to(torch.float32).div(255)  # torchvision ToTensor
    return x.unsqueeze(0).repeat(geometry.channels, 1, 1)
