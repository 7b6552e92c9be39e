"""The files of a training run under OUTPUT/ (written by rank 0 only):

    run.json           what was trained, on what, with which settings (the first launch's)
    log.jsonl          one JSON line per step (losses, lr, grad norm, pairs/s) and per validation
    tokenizer/         the tokenizer (tiny configs: the vocabulary built from the training corpus)
    train_state.pt     the resumable state (training/train_state.py)
    checkpoint/        the adapter's checkpoint directory: --model-arg checkpoint=OUTPUT/checkpoint
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable

import torch

from msxr_bench.training.train_state import STATE_NAME, save_train_state


class RunFiles:
    def __init__(self, root: Path, is_main: bool) -> None:
        self.root, self.is_main = Path(root), is_main

    @property
    def tokenizer_dir(self) -> Path:
        return self.root / "tokenizer"

    @property
    def checkpoint_dir(self) -> Path:
        return self.root / "checkpoint"

    @property
    def state_path(self) -> Path:
        return self.root / STATE_NAME

    @property
    def log_path(self) -> Path:
        return self.root / "log.jsonl"

    def prepare(self, resume: bool) -> None:
        """Check the output folder fits the request: --resume needs a run, a fresh run must not clobber one."""
        if resume and not self.state_path.is_file():
            raise FileNotFoundError(f"--resume: {self.state_path} does not exist (no run to resume in {self.root})")
        if not resume and (self.state_path.exists() or self.log_path.exists()):
            raise FileExistsError(f"{self.root} already holds a training run: pass --resume to continue it, "
                                  "or choose another --output")
        if self.is_main:
            self.root.mkdir(parents=True, exist_ok=True)

    def write_run(self, run: dict) -> None:
        if self.is_main:
            (self.root / "run.json").write_text(json.dumps(run, indent=2, default=str) + "\n")

    def log(self, record: dict) -> None:
        if self.is_main:
            with self.log_path.open("a") as f:
                f.write(json.dumps(record) + "\n")

    def truncate_log(self, step: int) -> None:
        """Drop log lines of steps after `step` (done again by the resumed run)."""
        if not self.is_main or not self.log_path.exists():
            return
        kept = [line for line in self.log_path.read_text().splitlines()
                if line.strip() and json.loads(line)["step"] <= step]
        self.log_path.write_text("".join(line + "\n" for line in kept))

    def save(self, step: int, module, optimizer, scheduler, scaler, rngs: list[dict], run: dict,
             export: Callable[[Path], Path]) -> None:
        """The adapter checkpoint (written beside, then swapped in) and the train state."""
        tmp = self.root / "checkpoint.tmp"
        if tmp.exists():
            shutil.rmtree(tmp)
        export(tmp)
        (tmp / "training_step.json").write_text(json.dumps({"step": step, "run": str(self.root)}) + "\n")
        old = self.root / "checkpoint.old"
        if self.checkpoint_dir.exists():
            self.checkpoint_dir.rename(old)
        tmp.rename(self.checkpoint_dir)
        if old.exists():
            shutil.rmtree(old)
        save_train_state(self.root, step=step, module=module, optimizer=optimizer, scheduler=scheduler,
                         scaler=scaler, rng_per_rank=rngs, run=run)


def batch_to(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def training_data_of(data_root: Path) -> tuple[str, ...]:
    """What the adapter's meta says the model saw: the toy world, or MIMIC-CXR."""
    marker = Path(data_root) / "toyworld.json"
    if marker.is_file():
        return ("msxr-bench toy world (synthetic MIMIC-CXR layout)",)
    return ("MIMIC-CXR",)
