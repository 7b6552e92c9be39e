"""The training loop on the committed toy world: each model trains, its checkpoint loads in its adapter with no
conversion and holds the trained weights; --resume continues bit for bit; runs are never clobbered."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from msxr_bench.adapters.registry import build_adapter
from msxr_bench.cli.train_cmd import train_cmd
from msxr_bench.training.loop import TrainOptions, train

TOY = Path(__file__).resolve().parents[1] / "fixtures" / "toyworld"
# the adapter-side module holding each model's trained weights, and its key prefix in the training module
ADAPTER_MODULE = {"biovil": ("image_model", "image_model."), "gloria": ("model", "model."),
                  "convirt": ("model", "model.")}


def _opts(model: str, out: Path, **kw) -> TrainOptions:
    base = dict(model=model, data_root=TOY, output=out, config="tiny", max_steps=2, batch_size=4,
                max_train_pairs=12, device="cpu", progress=False)
    return TrainOptions(**{**base, **kw})


def _log(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("model", ["biovil", "gloria", "convirt"])
def test_each_model_trains_and_its_checkpoint_loads_in_its_adapter(tmp_path, model):
    out = tmp_path / model
    checkpoint = train(_opts(model, out))
    records = _log(out)
    steps = [r for r in records if "loss" in r and "split" not in r]
    assert [r["step"] for r in steps] == [1, 2] and all(torch.isfinite(torch.tensor(r["loss"])) for r in steps)
    assert any(r.get("split") == "validate" and "loss" in r for r in records)
    adapter = build_adapter(model, checkpoint=str(checkpoint))
    trained = torch.load(out / "train_state.pt", weights_only=True)["module"]
    attr, prefix = ADAPTER_MODULE[model]
    loaded = getattr(adapter, attr).state_dict()
    for key, value in trained.items():
        if key.startswith(prefix):
            torch.testing.assert_close(loaded[key[len(prefix):]], value, rtol=0, atol=0)
    crop = adapter.geometry.crop
    with torch.no_grad():
        emb = adapter.encode_images(torch.rand(2, 3, crop, crop))
        texts = adapter.encode_texts(["small left pleural effusion", "no pneumothorax"])
    assert emb.patches.shape[1:3] == adapter.geometry.grid == (8, 8)
    assert torch.allclose(texts.norm(dim=-1), torch.ones(2))
    assert json.loads((out / "run.json").read_text())["recipe"]["model"] == model


def test_resume_continues_exactly_where_the_run_stopped(tmp_path):
    straight = tmp_path / "straight"
    train(_opts("biovil", straight, max_steps=4))
    sliced = tmp_path / "sliced"
    train(_opts("biovil", sliced, max_steps=4, stop_after=2))
    assert torch.load(sliced / "train_state.pt", weights_only=True)["step"] == 2
    train(_opts("biovil", sliced, max_steps=4, resume=True))
    a = torch.load(straight / "train_state.pt", weights_only=True)
    b = torch.load(sliced / "train_state.pt", weights_only=True)
    assert a["step"] == b["step"] == 4
    for key in a["module"]:
        assert torch.equal(a["module"][key], b["module"][key]), key
    losses = lambda out: [r["loss"] for r in _log(out) if "loss" in r and "split" not in r]  # noqa: E731
    assert losses(straight) == losses(sliced)


def test_runs_are_not_clobbered_and_resume_needs_a_run(tmp_path):
    runner = CliRunner()
    args = ["--model", "convirt", "--config", "tiny", "--data-root", str(TOY), "--output", str(tmp_path / "r"),
            "--max-steps", "1", "--batch-size", "4", "--max-train-pairs", "8", "--device", "cpu", "--no-progress"]
    missing = runner.invoke(train_cmd, args + ["--resume"])
    assert missing.exit_code != 0 and "no run to resume" in missing.output
    assert runner.invoke(train_cmd, args).exit_code == 0
    again = runner.invoke(train_cmd, args)
    assert again.exit_code != 0 and "already holds a training run" in again.output


def test_a_batch_larger_than_the_data_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="lower --batch-size"):
        train(_opts("convirt", tmp_path / "r", batch_size=16, max_train_pairs=8))
