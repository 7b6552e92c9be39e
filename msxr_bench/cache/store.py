"""Cache entries on disk: one safetensors file per entry, written atomically, read defensively.

A writer writes a uniquely named temporary file in the entry's folder and renames it over the entry
(`os.replace`, atomic on POSIX): readers see the old entry, the new one, or none, never a partial file, so
concurrent processes (torchrun ranks, DataLoader workers) may write the same entry. Two writers of one
key write identical content. An unreadable entry is treated as absent (and later overwritten).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file


def _atomic(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_entry(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    """Write tensors (moved to CPU, contiguous) and string metadata to `path` atomically."""
    cpu = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    _atomic(path, lambda tmp: save_file(cpu, tmp, metadata=metadata))


def load_entry(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]] | None:
    """(tensors, metadata) of the entry at `path`, or None when it is absent or unreadable."""
    try:
        with safe_open(str(path), framework="pt") as fh:
            return {k: fh.get_tensor(k) for k in fh.keys()}, dict(fh.metadata() or {})
    except FileNotFoundError:
        return None
    except (SafetensorError, OSError, ValueError, RuntimeError):
        return None  # truncated or foreign file: a miss, rewritten by the next writer


def write_json_once(path: Path, payload: dict) -> None:
    """Describe a key folder (what its entries depend on) for people reading the cache; idempotent."""
    if not path.exists():
        _atomic(path, lambda tmp: Path(tmp).write_text(json.dumps(payload, indent=2, sort_keys=True, default=str)))
