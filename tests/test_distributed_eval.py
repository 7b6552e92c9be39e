"""`torchrun --nproc-per-node 2 -m msxr_bench evaluate ...` on CPU (gloo): each rank evaluates a shard of the
images, rank 0 gathers and writes; metrics, per-category rows and per-sample rows equal a single process's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from msxr_bench.cli import main
from msxr_bench.engine import distributed
from test_cache import tiny_biovil_checkpoint

TASKS = ["--task", "ms-cxr", "--task", "rsna-seg", "--split", "rsna-seg=all"]
# one image per forward: every per-image number is then computed by the same kernels in both runs, so any
# difference is a sharding/gathering error (a batch's composition moves float rounding, see test_cache.py)
COMMON = ["--num-workers", "1", "--batch-size", "1", "--bootstrap", "50", "--seed", "3", "--device", "cpu"]
COMPARED = ("metrics", "per_category", "samples", "skipped", "main_score", "dataset")


def test_two_torchrun_processes_give_the_single_process_results(toyworld_root: Path, tmp_path: Path) -> None:
    ckpt = tiny_biovil_checkpoint(tmp_path / "ckpt")
    args = ["evaluate", "--model", "biovil", "--model-arg", f"checkpoint={ckpt}", *TASKS, "--data-root",
            str(toyworld_root), *COMMON]
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env["OMP_NUM_THREADS"] = "1"  # torchrun's default, made explicit
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           "-m", "msxr_bench", *args, "--output", str(tmp_path / "two")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "rank 0 of 2" in proc.stderr and "rank 1 of 2" not in proc.stderr  # rank 0 speaks for the run
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as torchrun's ranks (OMP_NUM_THREADS=1): the same float reduction order
    try:
        single = CliRunner().invoke(main, [*args, "--output", str(tmp_path / "one")])
    finally:
        torch.set_num_threads(threads)
    assert single.exit_code == 0, single.output
    for task in ("ms-cxr", "rsna-seg"):
        two = json.loads((tmp_path / "two" / "biovil" / f"{task}.json").read_text())
        one = json.loads((tmp_path / "one" / "biovil" / f"{task}.json").read_text())
        assert len(one["samples"]) > 10
        for key in COMPARED:
            assert two[key] == one[key], (task, key)


def test_the_launch_is_read_from_torchrun_variables(monkeypatch) -> None:
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert not distributed.from_environment().distributed
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("RANK", "0")
    assert not distributed.from_environment().distributed  # a world of one is a plain run
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    launch = distributed.from_environment()
    assert launch == distributed.Launch(2, 4, 1)
    assert distributed.rank_device("cuda", launch) == "cuda:1" and distributed.rank_device("cpu", launch) == "cpu"
    monkeypatch.setenv("RANK", "x")
    with pytest.raises(ValueError, match="RANK"):
        distributed.from_environment()
