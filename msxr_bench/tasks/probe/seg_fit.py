"""Fitting the segmentation probe: a 1x1 convolution (a linear map per cell: weight [D, 2] + bias [2], softmax over
background / pneumonia) on grid features streamed from a `GridStore`, one model per (lr, weight decay) of the grid
trained together. Mini-batches of images in a seeded order per epoch; loss = mean over the batch's valid cells of
the soft-target cross-entropy (target = the cell's fraction inside the boxes); AdamW as `fit.adamw_step`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from msxr_bench.tasks.probe.fit import adamw_step, grid_points
from msxr_bench.tasks.probe.seg_store import GridStore

SEG_OPTIMISER = ("AdamW (torch.optim.AdamW's update, betas 0.9/0.999, eps 1e-8, decoupled weight decay on the "
                 "weight only) on mini-batches of images in a seeded order per epoch; loss = mean over the valid cells "
                 "of the batch of the soft-target cross-entropy of the softmax over (background, pneumonia)")


@dataclass
class SegProbeFit:
    weight: torch.Tensor  # [G, D, 2]
    bias: torch.Tensor  # [G, 2]
    grid: list[tuple[float, float]]
    steps: int
    final_loss: list[float]  # mean training loss of the last epoch, per grid point


def fit_seg_probe(store: GridStore, indices: np.ndarray, init_weight: torch.Tensor, init_bias: torch.Tensor,
                  lrs: Sequence[float], weight_decays: Sequence[float], epochs: int, batch_images: int, seed: int,
                  prep: Callable[[torch.Tensor], torch.Tensor] = lambda v: v) -> SegProbeFit:
    """Train on the store's images at `indices` (features mapped by `prep` first)."""
    grid = grid_points(lrs, weight_decays)
    lr = torch.tensor([p[0] for p in grid])
    decay = 1 - lr * torch.tensor([p[1] for p in grid])
    w = init_weight.float().T[None].repeat(len(grid), 1, 1).contiguous()  # [G, 2, D]
    b = init_bias.float()[None].repeat(len(grid), 1).contiguous()  # [G, 2]
    state = [torch.zeros_like(w), torch.zeros_like(w), torch.zeros_like(b), torch.zeros_like(b)]
    t, losses = 0, torch.zeros(len(grid))
    for epoch in range(epochs):
        order = np.random.default_rng([seed, epoch]).permutation(indices)
        total, cells = torch.zeros(len(grid)), 0
        for lo in range(0, order.size, batch_images):
            x, target = store.read(np.sort(order[lo:lo + batch_images]))
            keep = target >= 0
            if not bool(keep.any()):
                continue
            x, target = prep(x[keep]), target[keep]
            d = (w[:, 1] - w[:, 0]) @ x.T + (b[:, 1] - b[:, 0])[:, None]  # [G, M]: logit(pneumonia) - logit(bg)
            r = (torch.sigmoid(d) - target[None]) / target.numel()
            gw, gb = r @ x, r.sum(1)
            t += 1
            adamw_step(w, torch.stack([-gw, gw], dim=1), state[0], state[1], lr, t, decay)
            adamw_step(b, torch.stack([-gb, gb], dim=1), state[2], state[3], lr, t, None)
            total += torch.nn.functional.binary_cross_entropy_with_logits(
                d, target[None].expand_as(d), reduction="none").sum(1)
            cells += target.numel()
        losses = total / max(cells, 1)
    return SegProbeFit(w.transpose(1, 2).contiguous(), b, grid, t, losses.tolist())


def positive_maps(patches: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """[K, B, h, w] positive-class probability of K probes ([K, D, 2], [K, 2]) on patches [B, h, w, D]."""
    d = torch.einsum("bhwd,kd->kbhw", patches.float(), weight[:, :, 1] - weight[:, :, 0])
    return torch.sigmoid(d + (bias[:, 1] - bias[:, 0])[:, None, None, None])
