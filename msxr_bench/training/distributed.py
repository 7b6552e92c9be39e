"""torch.distributed as launched by `torchrun` (env RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR): gloo on
CPU, nccl on CUDA. A plain `msxr-bench train` is a world of one and never touches torch.distributed.
No process management here: torchrun starts, watches and stops the processes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistributedContext:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise RuntimeError(f"environment variable {name}={value!r} is not an integer (set by torchrun)") from None


def resolve_device(device: str, local_rank: int) -> torch.device:
    """"auto" = cuda:LOCAL_RANK when CUDA is available, else cpu; "cuda" gets this process's local rank."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        device = f"cuda:{local_rank}"
    resolved = torch.device(device)
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(f"--device {device}: CUDA is not available in this torch build / machine")
        torch.cuda.set_device(resolved)
    return resolved


def init_distributed(device: str = "auto") -> DistributedContext:
    """Join the process group torchrun prepared (when WORLD_SIZE > 1) and pick this process's device."""
    world_size, rank, local_rank = _env_int("WORLD_SIZE", 1), _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    resolved = resolve_device(device, local_rank)
    if world_size > 1 and not dist.is_initialized():
        backend = "nccl" if resolved.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, rank=rank, world_size=world_size)
    return DistributedContext(rank, world_size, local_rank, resolved)


def barrier(ctx: DistributedContext) -> None:
    if ctx.distributed:
        dist.barrier()


def all_mean(ctx: DistributedContext, values: dict[str, float]) -> dict[str, float]:
    """The mean over processes of each scalar (identity in a world of one)."""
    if not ctx.distributed or not values:
        return values
    keys = sorted(values)
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=ctx.device)
    dist.all_reduce(t)
    return {k: float(v) / ctx.world_size for k, v in zip(keys, t.tolist())}


def all_sum(ctx: DistributedContext, values: list[float]) -> list[float]:
    if not ctx.distributed:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=ctx.device)
    dist.all_reduce(t)
    return t.tolist()


def sync_buffers(ctx: DistributedContext, module: torch.nn.Module) -> None:
    """Copy rank 0's buffers (BatchNorm running statistics) to every process. DDP broadcasts them before each
    forward, so after a step every replica holds its own batch's statistics; validation and checkpoints use
    rank 0's, as the next forward would."""
    if ctx.distributed:
        for buffer in module.buffers():
            dist.broadcast(buffer, src=0)


def gather_objects(ctx: DistributedContext, obj: Any) -> list[Any]:
    """Every process's `obj`, in rank order (e.g. RNG states for a checkpoint written by rank 0)."""
    if not ctx.distributed:
        return [obj]
    out: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out


def cleanup(ctx: DistributedContext) -> None:
    if ctx.distributed and dist.is_initialized():
        dist.destroy_process_group()
