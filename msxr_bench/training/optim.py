"""Optimiser and learning-rate schedule of a recipe: Adam or AdamW over the trainable parameters (AdamW without
decay on biases and norm weights, as BERT), linear warm-up then constant or cosine decay to 0 at the last step,
or halving on a validation-loss plateau (GLoRIA, ConVIRT)."""

from __future__ import annotations

import math

import torch
from torch import nn

from msxr_bench.training.recipes.base import RecipeSettings


def make_optimizer(module: nn.Module, s: RecipeSettings) -> torch.optim.Optimizer:
    params = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters")
    if s.optimizer == "adam":
        return torch.optim.Adam([p for _, p in params], lr=s.lr, betas=s.betas, weight_decay=s.weight_decay)
    if s.optimizer == "adamw":
        decay = [p for _, p in params if p.ndim > 1]
        no_decay = [p for _, p in params if p.ndim <= 1]
        return torch.optim.AdamW([{"params": decay, "weight_decay": s.weight_decay},
                                  {"params": no_decay, "weight_decay": 0.0}], lr=s.lr, betas=s.betas)
    raise ValueError(f"unknown optimizer {s.optimizer!r}")


def warmup_cosine(warmup: int, total: int, cosine: bool):
    """lr factor of step t (0-based): linear warm-up over `warmup` steps, then 1 or a cosine to 0 at `total`."""
    def factor(t: int) -> float:
        if warmup and t < warmup:
            return (t + 1) / warmup
        if not cosine:
            return 1.0
        progress = min(1.0, (t - warmup) / max(1, total - warmup))
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    return factor


def make_scheduler(optimizer: torch.optim.Optimizer, s: RecipeSettings, total_steps: int):
    """A per-step `LambdaLR`, or `ReduceLROnPlateau` (factor 0.5) stepped with each validation loss."""
    if s.schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=0.5,
                                                          patience=s.plateau_patience)
    if s.schedule in ("constant", "cosine"):
        return torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(s.warmup_steps, total_steps,
                                                                          s.schedule == "cosine"))
    raise ValueError(f"unknown schedule {s.schedule!r}")


def steps_per_batch(scheduler) -> bool:
    """True when the scheduler advances every optimisation step (not on validations)."""
    return not isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
