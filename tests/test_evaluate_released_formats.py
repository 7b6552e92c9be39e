"""`msxr-bench evaluate` end to end with the built-in adapters loading files in the released formats (random
weights): BioViL / BioViL-T from the official image `.pt` + text model folder, GLoRIA from a converted
Lightning checkpoint. Every task each model supports runs on the committed toy world and writes a valid results
file that records the loaded weights' checksum."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from gloria_lightning_fakes import released_files
from biovil_files import write_official_files
from msxr_bench.cli import main
from msxr_bench.results import load_result

ZERO_SHOT = ("ms-cxr", "rsna-cls", "rsna-seg", "radnli-zs")
SMALL_TEXT = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 128}


def _evaluate(model: str, args: list[str], tasks: tuple[str, ...], root: Path, out: Path):
    task_args = [a for t in tasks for a in ("--task", t)]
    return CliRunner().invoke(main, ["evaluate", "--model", model, *args, *task_args, "--data-root", str(root),
                                     "--split", "rsna-cls=all", "--split", "rsna-seg=all", "--limit", "6",
                                     "--bootstrap", "0", "--num-workers", "0", "--device", "cpu",
                                     "--radnli-seeds", "0", "--radnli-max-epochs", "1", "--output", str(out)])


@pytest.mark.parametrize("model", ["biovil", "biovil-t"])
def test_biovil_official_files_run_every_task(model: str, toyworld_root: Path, tmp_path: Path) -> None:
    files = write_official_files(tmp_path / "weights", model, seed=0, text_fmt="bin", **SMALL_TEXT)
    args = ["--model-arg", f"image_weights={files['image_weights']}", "--model-arg", f"text_model={files['text_model']}",
            "--model-arg", "verify=false"]  # random files: their checksums are not the released ones
    tasks = (*ZERO_SHOT, "radnli") if model == "biovil" else ZERO_SHOT
    result = _evaluate(model, args, tasks, toyworld_root, tmp_path / "out")
    assert result.exit_code == 0, result.output
    for task in tasks:
        res = load_result(tmp_path / "out" / model / f"{task}.json")
        assert res.adapter.name == model and len(res.adapter.meta.weights_sha256) == 64
        assert res.dataset.limit == 6 and res.dataset.n_scored > 0


def test_converted_gloria_runs_every_task(toyworld_root: Path, tmp_path: Path) -> None:
    files = released_files()
    args = ["--model-arg", f"weights={files['converted'].output}", "--model-arg", f"text_model={files['text_dir']}"]
    result = _evaluate("gloria", args, ZERO_SHOT, toyworld_root, tmp_path / "out")
    assert result.exit_code == 0, result.output
    for task in ZERO_SHOT:
        res = load_result(tmp_path / "out" / "gloria" / f"{task}.json")
        assert res.adapter.meta.map_rescale == "minmax" and len(res.adapter.meta.weights_sha256) == 64
        assert res.dataset.n_scored > 0
