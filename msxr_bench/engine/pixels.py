"""Model inputs travel as uint8 single-channel crops and become float [B, C, crop, crop] on the device.

`preprocess_uint8` is `data.geometry.preprocess` stopped before the float conversion (same resize, pad and
crop numbers from `forward_transform`); `to_model_input` finishes it where the model runs. A worker thus
sends crop * crop bytes per image instead of 3 * crop * crop float32 (12x less inter-process traffic), and
`to_model_input(preprocess_uint8(x)[None]) == preprocess(x)[None]` exactly (tested).
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from msxr_bench.adapters.base import Geometry
from msxr_bench.data.geometry import forward_transform, resize_area


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
    return np.array(canvas[y0 : y0 + t.crop, x0 : x0 + t.crop], dtype=np.uint8, order="C")  # owned, writable


def to_model_input(crops: torch.Tensor, channels: int, device: torch.device) -> torch.Tensor:
    """uint8 [B, crop, crop] (any device) -> float32 [B, channels, crop, crop] in [0, 1] on `device`.

    The copy is asynchronous from pinned memory; conversion and channel replication run on `device`.
    """
    if crops.dtype != torch.uint8 or crops.ndim != 3:
        raise ValueError(f"expected uint8 crops [B, H, W], got {crops.dtype} {tuple(crops.shape)}")
    x = crops.to(device, non_blocking=True).to(torch.float32).div_(255)  # torchvision ToTensor
    return x.unsqueeze(1).expand(-1, channels, -1, -1).contiguous()
