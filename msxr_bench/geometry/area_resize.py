"""OpenCV's `cv2.resize(..., interpolation=cv2.INTER_AREA)` for uint8 greyscale images, in torch.

GLoRIA letterboxes with INTER_AREA and OpenCV is not a dependency, so its arithmetic is reproduced here:
- both axes shrink by exact integer factors ("area fast"): block sums; 2x2 rounds half up
  (`(s + 2) >> 2`), other factors `cvRound(sum * (1.f / area))` (float32, half to even);
- both axes shrink by any other factors: the area table of `computeResizeAreaTab` (partial overlaps
  below 1e-3 px dropped, weights in float32), accumulated in float32 in OpenCV's order, rounded half
  to even. Both paths are bit-identical to OpenCV 4.10 and 5.0 on the images of the tests;
- an axis grows (only when the long side is below `resize`): OpenCV falls back to a bilinear variant
  with "area" coefficients in 11-bit fixed point and SIMD-dependent rounding; this computes the same
  coefficients in float64 and rounds, within one grey level of OpenCV (documented, tested).
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["resize_area"]


def resize_area(image: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Resize a uint8 [H, W] image to [out_h, out_w] exactly as `cv2.resize(img, (out_w, out_h), INTER_AREA)`."""
    if image.dtype != np.uint8 or image.ndim != 2:
        raise ValueError(f"resize_area expects a uint8 [H, W] image, got {image.dtype} {image.shape}")
    in_h, in_w = image.shape
    if out_h < 1 or out_w < 1:
        raise ValueError(f"resize_area: output size must be positive, got {(out_h, out_w)}")
    if (in_h, in_w) == (out_h, out_w):
        return image.copy()
    # OpenCV: inv_scale = dsize / ssize; scale = 1 / inv_scale (double).
    scale_y = 1.0 / (out_h / in_h)
    scale_x = 1.0 / (out_w / in_w)
    if scale_x >= 1 and scale_y >= 1:
        iy, ix = _saturate_int(scale_y), _saturate_int(scale_x)
        eps = np.finfo(np.float64).eps
        if abs(scale_x - ix) < eps and abs(scale_y - iy) < eps:
            return _area_fast(image, iy, ix, out_h, out_w)
        return _area_general(image, scale_y, scale_x, out_h, out_w)
    return _area_upscale(image, scale_y, scale_x, out_h, out_w)


def _saturate_int(v: float) -> int:
    return int(np.rint(v))  # cv::saturate_cast<int>(double) rounds half to even


def _area_fast(image: np.ndarray, iy: int, ix: int, out_h: int, out_w: int) -> np.ndarray:
    x = torch.tensor(image[: out_h * iy, : out_w * ix], dtype=torch.int64)  # a copy: the input may be read-only
    sums = x.reshape(out_h, iy, out_w, ix).sum(dim=(1, 3))
    if iy == 2 and ix == 2:
        out = (sums + 2) >> 2
    else:
        inv_area = torch.tensor(1.0 / (iy * ix), dtype=torch.float32)  # 1.f/area in float32
        out = torch.round(sums.to(torch.float32) * inv_area)
    return out.clamp(0, 255).to(torch.uint8).numpy()


def _area_table(in_size: int, out_size: int, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """`computeResizeAreaTab` as dense [out, k] source indices and float32 weights (zero-padded, in order)."""
    rows: list[list[tuple[int, float]]] = []
    for d in range(out_size):
        f1 = d * scale
        f2 = f1 + scale
        cell = min(scale, in_size - f1)
        s1, s2 = math.ceil(f1), math.floor(f2)
        s2 = min(s2, in_size - 1)
        s1 = min(s1, s2)
        terms: list[tuple[int, float]] = []
        if s1 - f1 > 1e-3:
            terms.append((s1 - 1, (s1 - f1) / cell))
        for s in range(s1, s2):
            terms.append((s, 1.0 / cell))
        if f2 - s2 > 1e-3:
            terms.append((s2, min(min(f2 - s2, 1.0), cell) / cell))
        rows.append(terms)
    k = max(len(t) for t in rows)
    idx = np.zeros((out_size, k), dtype=np.int64)
    alpha = np.zeros((out_size, k), dtype=np.float64)
    for d, terms in enumerate(rows):
        for j, (s, a) in enumerate(terms):
            idx[d, j] = s
            alpha[d, j] = a
    # (float) cast of each double weight, as OpenCV stores it.
    return torch.from_numpy(idx), torch.from_numpy(alpha.astype(np.float32))


def _area_general(image: np.ndarray, scale_y: float, scale_x: float, out_h: int, out_w: int) -> np.ndarray:
    in_h, in_w = image.shape
    xi, xa = _area_table(in_w, out_w, scale_x)
    yi, ya = _area_table(in_h, out_h, scale_y)
    src = torch.tensor(image, dtype=torch.float32)  # a copy: the input may be a read-only view
    # Horizontal pass per source row: buf[dx] += S[si] * alpha, terms in table order (float32).
    buf = torch.zeros(in_h, out_w, dtype=torch.float32)
    for j in range(xi.shape[1]):
        buf = buf + src[:, xi[:, j]] * xa[:, j]
    # Vertical pass: sum = beta0 * buf[sy0]; sum += beta_j * buf[sy_j] (float32, in order).
    acc = torch.zeros(out_h, out_w, dtype=torch.float32)
    for j in range(yi.shape[1]):
        acc = acc + ya[:, j, None] * buf[yi[:, j]]
    return torch.round(acc).clamp(0, 255).to(torch.uint8).numpy()


def _linear_area_coeffs(in_size: int, out_size: int, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """OpenCV's INTER_AREA-as-bilinear source index and fraction per output index."""
    inv = out_size / in_size
    d = torch.arange(out_size, dtype=torch.float64)
    sx = torch.floor(d * scale)
    fx = (d + 1) - (sx + 1) * inv
    fx = torch.where(fx <= 0, torch.zeros_like(fx), fx - torch.floor(fx))
    sx = sx.to(torch.int64)
    low = sx < 0
    high = sx >= in_size - 1
    fx = torch.where(low | high, torch.zeros_like(fx), fx)
    sx = sx.clamp(0, in_size - 1)
    return sx, fx


def _area_upscale(image: np.ndarray, scale_y: float, scale_x: float, out_h: int, out_w: int) -> np.ndarray:
    in_h, in_w = image.shape
    src = torch.tensor(image, dtype=torch.float64)  # a copy: the input may be read-only
    sx, fx = _linear_area_coeffs(in_w, out_w, scale_x)
    sy, fy = _linear_area_coeffs(in_h, out_h, scale_y)
    sx1 = (sx + 1).clamp(max=in_w - 1)
    sy1 = (sy + 1).clamp(max=in_h - 1)
    rows = src[:, sx] * (1 - fx) + src[:, sx1] * fx
    out = rows[sy] * (1 - fy)[:, None] + rows[sy1] * fy[:, None]
    return torch.round(out).clamp(0, 255).to(torch.uint8).numpy()
