"""Multi-process evaluation under `torchrun`: one process group, each rank a shard of the unique images.

    torchrun --nproc-per-node N -m msxr_bench evaluate --model ... --task ms-cxr --data-root ...

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK; `from_environment` reads them, `start` creates the process
group (nccl when the run's device is CUDA, gloo on CPU) and pins each rank to `cuda:LOCAL_RANK`. Tasks call
`gather` (all_gather_object) to merge every rank's per-image results; rank 0 then writes the results.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Launch:
    rank: int
    world_size: int
    local_rank: int


def from_environment() -> Launch | None:
    """The torchrun launch this process belongs to, or None for a plain (single-process) run."""
    world = os.environ.get("WORLD_SIZE")
    if world is None:
        return None
    try:
        launch = Launch(int(os.environ["RANK"]), int(world), int(os.environ.get("LOCAL_RANK", os.environ["RANK"])))
    except (KeyError, ValueError) as exc:
        raise ValueError(f"WORLD_SIZE={world} is set but RANK/LOCAL_RANK are missing or not integers "
                         f"(launch with torchrun): {exc}") from exc
    if not 0 <= launch.rank < launch.world_size:
        raise ValueError(f"RANK={launch.rank} outside WORLD_SIZE={launch.world_size}")
    return launch if launch.world_size > 1 else None


def rank_device(device: str, launch: Launch) -> str:
    """The device of this rank for a `--device` request: CUDA requests become `cuda:LOCAL_RANK`."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        return f"cuda:{launch.local_rank}"
    return device


def start(launch: Launch, device: torch.device) -> None:
    """Join the process group of this launch (idempotent)."""
    if dist.is_initialized():
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)
        dist.init_process_group("nccl", rank=launch.rank, world_size=launch.world_size, device_id=device)
    else:
        dist.init_process_group("gloo", rank=launch.rank, world_size=launch.world_size)


def gather(obj: Any) -> list[Any]:
    """`obj` of every rank, in rank order (picklable objects; all ranks must call this together)."""
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def stop() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
