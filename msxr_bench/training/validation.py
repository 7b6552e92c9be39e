"""Validation loss on the `validate` split: eval mode, centre view (no augmentation), captions drawn with the
run's seed at epoch 0 (the same every time), batches of the training size sharded over the processes, the
mean over all batches of every process."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.utils.data import DataLoader

from msxr_bench.engine import distributed
from msxr_bench.training.augment import centre_view
from msxr_bench.training.data import EpochBatchSampler, PairDataset
from msxr_bench.training.recipes.base import RecipeSettings
from msxr_bench.training.run_files import batch_to


@torch.no_grad()
def validation_loss(module: nn.Module, dataset: PairDataset, collate: Callable, s: RecipeSettings,
                    ctx: distributed.Process, view: Callable[[dict], None] | None = None) -> dict[str, float]:
    """`view(batch)` makes the batch's deterministic image views in place (default: the centre crop of "images")."""
    batch_size = min(s.batch_size, len(dataset) // ctx.world_size)
    if batch_size < 2:
        return {}
    sampler = EpochBatchSampler(len(dataset), batch_size, epoch=0, seed=0, rank=ctx.rank,
                                world_size=ctx.world_size, shuffle=False)
    was_training = module.training
    module.eval()
    sums: dict[str, float] = {}
    n = 0
    loader = DataLoader(dataset, batch_sampler=sampler, collate_fn=collate, generator=torch.Generator().manual_seed(0))
    for batch in loader:
        batch = batch_to(batch, ctx.device)
        if view is not None:
            view(batch)
        elif "images" in batch:
            batch["images"] = centre_view(batch["images"], s.crop)
        for key, value in module(batch).items():
            sums[key] = sums.get(key, 0.0) + float(value)
        n += 1
    module.train(was_training)
    keys = sorted(sums)
    totals = distributed.all_sum([sums[k] for k in keys] + [float(n)], ctx.device)
    count = totals[-1]
    return {k: v / count for k, v in zip(keys, totals[:-1])} if count else {}
