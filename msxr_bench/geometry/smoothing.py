"""Gaussian smoothing of patch grids, identical to `scipy.ndimage.gaussian_filter(x, (s, s), order=0)`.

BioViL's engine smooths every similarity grid with sigma 1.5 before upsampling. This reproduces
scipy's defaults in torch (any device, batched over leading dims): mode "reflect" (half-sample
symmetric, repeated when the radius exceeds the grid), truncate 4.0 (radius int(4 * sigma + 0.5)),
the kernel computed as scipy does, rows first then columns, each pass summed in float64 in scipy's
order and stored in the input dtype (so float32 grids round between the passes, like scipy's).
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["gaussian_kernel1d", "reflect_indices", "smooth_grid"]


def gaussian_kernel1d(sigma: float, truncate: float = 4.0) -> np.ndarray:
    """scipy's normalised order-0 Gaussian weights, float64, length 2 * int(truncate * sigma + 0.5) + 1."""
    radius = int(truncate * float(sigma) + 0.5)
    x = np.arange(-radius, radius + 1)
    phi = np.exp(-0.5 / (sigma * sigma) * x**2)
    return phi / phi.sum()


def reflect_indices(n: int, radius: int) -> torch.Tensor:
    """Source index of each position -radius..n+radius-1 under scipy's 'reflect' (d c b a | a b c d | d c ...)."""
    i = torch.arange(-radius, n + radius)
    m = torch.remainder(i, 2 * n)
    return torch.where(m >= n, 2 * n - 1 - m, m)


def _correlate_axis(x: torch.Tensor, weights: np.ndarray, dim: int) -> torch.Tensor:
    radius = (len(weights) - 1) // 2
    n = x.shape[dim]
    xp = x.to(torch.float64).index_select(dim, reflect_indices(n, radius).to(x.device))
    w = [float(v) for v in weights[radius:]]  # centre, then offsets 1..radius (symmetric kernel)

    def tap(offset: int) -> torch.Tensor:
        return xp.narrow(dim, radius + offset, n)

    # scipy's symmetric correlate1d: out = x[0]*w[0]; then += (x[-j] + x[+j]) * w[j] for j = radius..1.
    out = tap(0) * w[0]
    for j in range(radius, 0, -1):
        out = out + (tap(-j) + tap(j)) * w[j]
    return out.to(x.dtype)


def smooth_grid(grid: torch.Tensor, sigma: float | None, truncate: float = 4.0) -> torch.Tensor:
    """Gaussian-smooth the last two dims of `grid` [..., h, w]; sigma None or ~0 returns a copy."""
    if not torch.is_floating_point(grid):
        raise TypeError(f"smooth_grid expects a floating-point grid, got {grid.dtype}")
    if grid.dim() < 2:
        raise ValueError(f"smooth_grid expects [..., h, w], got shape {tuple(grid.shape)}")
    if sigma is None or sigma <= 1e-15:  # scipy skips axes with sigma <= 1e-15
        if sigma is not None and sigma < 0:
            raise ValueError(f"sigma must be >= 0, got {sigma}")
        return grid.clone()
    weights = gaussian_kernel1d(sigma, truncate)
    out = _correlate_axis(grid, weights, grid.dim() - 2)
    return _correlate_axis(out, weights, grid.dim() - 1)
