"""BioViL run by Microsoft's hi-ml-multimodal inside the oracle venv, as a remote adapter
(msxr_bench/remote/workers/himl_biovil.py), against our in-process `biovil` adapter on the same
random-but-discriminating weights in the released formats: `msxr-bench evaluate` on the toy world's ms-cxr and
rsna-cls gives the same per-sample rows (every number within 1e-4, compared by sample_id)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from biovil_files import SMALL_TEXT_CONFIG, write_official_files
from msxr_bench.cli import main
from oracle_runner import oracle_python

pytestmark = [pytest.mark.oracle, pytest.mark.slow]
TOL = 1e-4
ENTRY = "msxr_bench.remote.workers.himl_biovil:make_adapter"


@pytest.fixture(scope="module")
def runs(toyworld_root: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    python = oracle_python()  # skips (or fails with MSXR_REQUIRE_ORACLE=1) without the oracle venv
    work = tmp_path_factory.mktemp("remote-himl")
    files = write_official_files(work / "weights", "biovil", seed=0, text_fmt="bin", **SMALL_TEXT_CONFIG)
    common = ["--task", "ms-cxr", "--task", "rsna-cls", "--split", "rsna-cls=all", "--data-root", str(toyworld_root),
              "--output", str(work / "results"), "--bootstrap", "0", "--num-workers", "2", "--batch-size", "4"]
    models = {
        "biovil": ["--model", "biovil", "--model-arg", f"image_weights={files['image_weights']}",
                   "--model-arg", f"text_model={files['text_model']}", "--model-arg", "verify=false"],
        "remote": ["--model", "remote", "--model-arg", f"python={python}", "--model-arg", f"entry={ENTRY}",
                   "--model-arg", f"arg.image_weights={files['image_weights']}",
                   "--model-arg", f"arg.text_model={files['text_model']}", "--model-arg", "arg.threads=2"],
    }
    for name, args in models.items():
        result = CliRunner().invoke(main, ["evaluate", *args, *common])
        assert result.exit_code == 0, f"{name}: {result.output}"
    return {name: work / "results" / name for name in models}


def _rows(path: Path) -> dict[str, dict]:
    return {r["sample_id"]: r for r in json.loads(path.read_text())["samples"]}


@pytest.mark.parametrize("task, key", [("ms-cxr", "cnr"), ("rsna-cls", "score")])
def test_hi_ml_through_a_worker_gives_our_per_sample_metrics(runs: dict[str, Path], task: str, key: str) -> None:
    ours, theirs = _rows(runs["biovil"] / f"{task}.json"), _rows(runs["remote"] / f"{task}.json")
    assert sorted(ours) == sorted(theirs) and len(ours) >= 24
    worst = 0.0
    for sample_id, mine in ours.items():
        other = theirs[sample_id]
        assert set(mine) == set(other), sample_id
        for field, value in mine.items():
            if isinstance(value, float) and not isinstance(other[field], str):
                assert other[field] is not None and math.isfinite(other[field]), (sample_id, field)
                worst = max(worst, abs(value - other[field]))
            else:
                assert value == other[field], (sample_id, field)
    assert worst <= TOL, f"{task}: max abs difference {worst:.2e}"
    print(f"\n{task}: {len(ours)} samples, max abs difference of any per-sample number {worst:.1e}")
    # discriminating weights: the per-sample values really differ from sample to sample
    assert np.std([r[key] for r in ours.values()]) > 10 * TOL


def test_the_remote_run_records_hi_ml_as_the_model(runs: dict[str, Path]) -> None:
    record = json.loads((runs["remote"] / "ms-cxr.json").read_text())["adapter"]
    ours = json.loads((runs["biovil"] / "ms-cxr.json").read_text())["adapter"]
    assert record["name"] == "remote" and record["meta"]["name"] == "biovil-himl"
    assert record["meta"]["version"] == "hi-ml-multimodal 0.2.2"
    assert record["meta"]["weights_sha256"] == ours["meta"]["weights_sha256"]  # the same image weights file
    assert record["geometry"] == ours["geometry"]


def test_biovil_t_and_its_prior_image_path_through_a_worker(tmp_path: Path) -> None:
    """hi-ml's MultiImageModel behind the worker vs our biovil-t, current image alone and with a prior."""
    import torch

    from msxr_bench.adapters.biovil import build_biovil_t
    from msxr_bench.remote.adapter import build_remote

    python = oracle_python()
    files = write_official_files(tmp_path, "biovil-t", seed=1, text_fmt="bin", **SMALL_TEXT_CONFIG)
    theirs = build_remote(python=str(python), entry=ENTRY, **{
        "arg.image_weights": str(files["image_weights"]), "arg.text_model": str(files["text_model"]),
        "arg.model": "biovil-t", "arg.threads": "2"})
    try:
        ours = build_biovil_t(image_weights=str(files["image_weights"]), text_model=str(files["text_model"]),
                              verify="false").eval()
        assert theirs.geometry == ours.geometry and "image_pairs" in theirs.capabilities
        g = torch.Generator().manual_seed(0)
        current, prior = (torch.randint(0, 256, (2, 448, 448), dtype=torch.uint8, generator=g).float().div(255)
                          .unsqueeze(1).expand(-1, 3, -1, -1) for _ in range(2))
        with torch.inference_mode():
            single = ours.encode_images(current)
            for a, b in ((theirs.encode_images(current), single),
                         (theirs.encode_image_pairs(current, prior), ours.encode_image_pairs(current, prior))):
                assert (a.patches - b.patches).abs().max() <= TOL and (a.global_ - b.global_).abs().max() <= TOL
            assert (ours.encode_image_pairs(current, prior).patches - single.patches).abs().max() > 100 * TOL
    finally:
        theirs.close()
