"""torch.distributed as launched by `torchrun`, for evaluation and training alike (the one torchrun module).

    torchrun --nproc-per-node N -m msxr_bench evaluate --model ... --task ms-cxr --data-root ...
    torchrun --nproc-per-node N -m msxr_bench train --model gloria ...

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK; `from_environment` reads them (a plain run is a world of one and
never touches torch.distributed), `start` joins the process group (nccl on CUDA, gloo on CPU) with this process
pinned to `cuda:LOCAL_RANK`. Evaluation shards the unique images over the ranks and `gather`s their results
(rank 0 writes); training wraps the model in DDP and uses the collectives below. No process management here:
torchrun starts, watches and stops the processes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Launch:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def from_environment() -> Launch:
    """The torchrun launch this process belongs to (a world of one for a plain run)."""
    world = os.environ.get("WORLD_SIZE")
    if world is None:
        return Launch()
    try:
        launch = Launch(int(os.environ["RANK"]), int(world), int(os.environ.get("LOCAL_RANK", os.environ["RANK"])))
    except (KeyError, ValueError) as exc:
        raise ValueError(f"WORLD_SIZE={world} is set but RANK/LOCAL_RANK are missing or not integers "
                         f"(launch with torchrun): {exc}") from exc
    if not 0 <= launch.rank < launch.world_size:
        raise ValueError(f"RANK={launch.rank} outside WORLD_SIZE={launch.world_size}")
    return launch


def rank_device(device: str, launch: Launch) -> str:
    """The device of this process for a `--device` request: auto = CUDA when available; CUDA requests become
    `cuda:LOCAL_RANK` under torchrun."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and launch.distributed:
        return f"cuda:{launch.local_rank}"
    return device


def start(launch: Launch, device: torch.device) -> None:
    """Join the process group of this launch (nothing for a world of one; idempotent)."""
    if not launch.distributed or dist.is_initialized():
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)
        dist.init_process_group("nccl", rank=launch.rank, world_size=launch.world_size, device_id=device)
    else:
        dist.init_process_group("gloo", rank=launch.rank, world_size=launch.world_size)


def stop() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def gather(obj: Any) -> list[Any]:
    """`obj` of every rank, in rank order (picklable objects; all ranks call this together); [obj] alone."""
    if not dist.is_initialized():
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def all_mean(values: dict[str, float], device: torch.device) -> dict[str, float]:
    """The mean over processes of each scalar (identity in a world of one)."""
    if not dist.is_initialized() or not values:
        return values
    keys = sorted(values)
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return {k: float(v) / dist.get_world_size() for k, v in zip(keys, t.tolist())}


def all_sum(values: list[float], device: torch.device) -> list[float]:
    if not dist.is_initialized():
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def sync_buffers(module: torch.nn.Module) -> None:
    """Copy rank 0's buffers (BatchNorm running statistics) to every process. DDP broadcasts them before each
    forward, so after a step every replica holds its own batch's statistics; validation and checkpoints use
    rank 0's, as the next forward would."""
    if dist.is_initialized():
        for buffer in module.buffers():
            dist.broadcast(buffer, src=0)


@dataclass(frozen=True)
class Process(Launch):
    """This process of a launch with its device (what the training loop carries)."""

    device: torch.device = torch.device("cpu")


def init_process(device: str = "auto") -> Process:
    """This process of the launch, its device chosen and the process group joined (training)."""
    launch = from_environment()
    resolved = torch.device(rank_device(device, launch))
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(f"--device {device}: CUDA is not available in this torch build / machine")
        torch.cuda.set_device(resolved)
    start(launch, resolved)
    return Process(launch.rank, launch.world_size, launch.local_rank, resolved)
