"""The resumable state of a training run (`OUTPUT/train_state.pt`): module, optimizer, lr scheduler, AMP
scaler, step, and every process's RNG states, so that `--resume` continues exactly where the run stopped.

Stored with plain tensors and Python values only, so it loads with `torch.load(weights_only=True)`.
Written atomically (temporary file + rename) by rank 0.
"""

from __future__ import annotations

import hashlib
import os
import random
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

STATE_NAME = "train_state.pt"
STATE_VERSION = 1


def capture_rng() -> dict[str, Any]:
    """This process's Python, NumPy (global), torch CPU and CUDA generator states."""
    py_version, py_state, py_gauss = random.getstate()
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {"python": [py_version, list(py_state), py_gauss],
             "numpy": [name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(gauss)],
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    py_version, py_state, py_gauss = state["python"]
    random.setstate((py_version, tuple(py_state), py_gauss))
    name, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def parameter_fingerprint(module: torch.nn.Module) -> str:
    """sha256 over the bytes of every parameter and buffer, in state_dict order (replicas must agree)."""
    h = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def save_train_state(directory: Path, *, step: int, module: torch.nn.Module, optimizer: torch.optim.Optimizer,
                     scheduler: Any, scaler: Any, rng_per_rank: list[dict], run: dict) -> Path:
    path = Path(directory) / STATE_NAME
    state = {
        "version": STATE_VERSION, "step": step, "run": run,
        "module": {k: v.detach().cpu() for k, v in module.state_dict().items()},
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "scaler": scaler.state_dict() if scaler is not None else None,
        "rng": rng_per_rank,
    }
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path


def load_train_state(directory: Path) -> dict:
    path = Path(directory) / STATE_NAME
    if not path.is_file():
        raise FileNotFoundError(f"--resume: {path} does not exist (no run to resume in {directory})")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if state.get("version") != STATE_VERSION:
        raise ValueError(f"{path}: train-state version {state.get('version')!r}, this msxr-bench reads {STATE_VERSION}")
    return state


RESUME_SETTINGS = ("batching", "temperature", "lock_text")  # recipe settings a resume must keep


def check_compatible(state: dict, run: dict, path: Path) -> None:
    """A resumed run must be the same model, config, world size, seed, batch size and the same settings in
    RESUME_SETTINGS as the one that wrote the state (a state without them had the recipe defaults)."""
    from msxr_bench.training.recipes.base import RecipeSettings

    defaults = {f.name: f.default for f in fields(RecipeSettings) if f.name in RESUME_SETTINGS}
    before, now = state["run"].get("recipe", {}).get("settings", {}), run.get("recipe", {}).get("settings", {})
    pairs = [(key, state["run"].get(key), run.get(key)) for key in ("model", "config", "world_size", "seed",
                                                                    "batch_size")]
    pairs += [(key, before.get(key, default), now.get(key, default)) for key, default in defaults.items()]
    for key, was, is_now in pairs:
        if was != is_now:
            raise ValueError(f"--resume: {path} was written by a run with {key}={was!r}, this run has {key}={is_now!r}")
