"""Model inputs travel as uint8 single-channel crops and become float [B, C, crop, crop] on the device.

`preprocess_uint8` (data/geometry) is `preprocess` stopped before the float conversion; `to_model_input`
finishes it where the model runs. A worker thus sends crop * crop bytes per image instead of
3 * crop * crop float32 (12x less inter-process traffic), and `to_model_input(preprocess_uint8(x)[None]) ==
preprocess(x)[None]` exactly (tested).
"""

from __future__ import annotations

import torch

from msxr_bench.geometry import preprocess_uint8

__all__ = ["preprocess_uint8", "to_model_input"]


def to_model_input(crops: torch.Tensor, channels: int, device: torch.device) -> torch.Tensor:
    """uint8 [B, crop, crop] (any device) -> float32 [B, channels, crop, crop] in [0, 1] on `device`.

    The copy is asynchronous from pinned memory; conversion and channel replication run on `device`.
    """
    if crops.dtype != torch.uint8 or crops.ndim != 3:
        raise ValueError(f"expected uint8 crops [B, H, W], got {crops.dtype} {tuple(crops.shape)}")
    x = crops.to(device, non_blocking=True).to(torch.float32).div_(255)  # torchvision ToTensor
    return x.unsqueeze(1).expand(-1, channels, -1, -1).contiguous()
