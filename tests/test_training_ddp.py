"""Distributed training as users launch it: `torchrun --nproc-per-node 2 -m msxr_bench train` on CPU (gloo), for
BioViL, GLoRIA and ConVIRT.
Both ranks must end with identical weights (the loop logs every replica's parameter fingerprint at each save),
training must have moved them, and only rank 0 writes the run's files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from msxr_bench.adapters.registry import build_adapter
from msxr_bench.training.recipes import get_recipe
from msxr_bench.training.train_state import parameter_fingerprint

TOY = Path(__file__).resolve().parents[1] / "fixtures" / "toyworld"


def _torchrun() -> list[str]:
    exe = Path(sys.executable).with_name("torchrun")
    return [str(exe)] if exe.exists() else [shutil.which("torchrun") or "torchrun"]


@pytest.mark.parametrize("model", ["biovil", "gloria", "convirt"])
def test_two_cpu_processes_end_with_identical_weights(tmp_path, model):
    out = tmp_path / "ddp"
    cmd = _torchrun() + ["--standalone", "--nproc-per-node", "2", "-m", "msxr_bench", "train", "--model", model,
                         "--config", "tiny", "--data-root", str(TOY), "--output", str(out), "--max-steps", "3",
                         "--batch-size", "4", "--max-train-pairs", "24", "--device", "cpu", "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    steps = [r for r in records if "loss" in r and "split" not in r]
    assert [r["step"] for r in steps] == [1, 2, 3]  # written once (rank 0), not once per process
    saves = [r for r in records if r.get("event") == "checkpoint"]
    assert len(saves) == 1 and len(saves[0]["replica_fingerprints"]) == 2
    assert len(set(saves[0]["replica_fingerprints"])) == 1
    state = torch.load(out / "train_state.pt", weights_only=True)
    assert state["run"]["world_size"] == 2 and len(state["rng"]) == 2
    assert not torch.equal(state["rng"][0]["torch"], state["rng"][1]["torch"])  # per-rank dropout streams
    assert parameter_fingerprint(_as_named(state["module"])) == saves[0]["replica_fingerprints"][0]
    recipe = get_recipe(model, "tiny")
    torch.manual_seed(0)  # the run's initial weights (seed 0), rebuilt: training moved them
    initial = recipe.build(recipe.load_tokenizer(out / "tokenizer"))
    assert parameter_fingerprint(initial) != saves[0]["replica_fingerprints"][0]
    assert initial.state_dict().keys() == state["module"].keys()
    adapter = build_adapter(model, checkpoint=str(out / "checkpoint"))  # the adapter loads rank 0's export
    crop = adapter.geometry.crop
    assert adapter.encode_images(torch.rand(1, 3, crop, crop)).global_.shape[0] == 1


class _as_named(torch.nn.Module):
    """A module whose state_dict is exactly `state` (same names, same order)."""

    def __init__(self, state: dict) -> None:
        super().__init__()
        self._state = state

    def state_dict(self, *args, **kwargs):  # noqa: D102 - mirrors nn.Module
        return self._state


@pytest.mark.skipif(not hasattr(torch.distributed, "is_available") or not torch.distributed.is_available(),
                    reason="torch without distributed support")
def test_world_of_one_needs_no_process_group(tmp_path, monkeypatch):
    from msxr_bench.engine.distributed import init_process

    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    ctx = init_process("cpu")
    assert (ctx.rank, ctx.world_size, ctx.is_main, ctx.distributed) == (0, 1, True, False)
    assert not torch.distributed.is_initialized()
