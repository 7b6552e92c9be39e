"""`msxr-bench export model-index`: a Hugging Face model-index block of validated results (YAML that parses back
to the measured numbers; toy-world runs named as such; never `verified`; text-bearing files refused)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from click.testing import CliRunner

from msxr_bench.cli import main

ENTRY = Path(__file__).resolve().parents[1] / "leaderboard" / "submissions" / "msxr-bench__tiny-biovil-toyworld" \
    / "fixture-seed0-1200steps"


def test_block_parses_back_to_the_measured_numbers(tmp_path: Path) -> None:
    ran = CliRunner().invoke(main, ["export", "model-index", str(ENTRY), "--name", "msxr-bench/tiny-biovil",
                                    "--output", str(tmp_path / "mi.yaml")])
    assert ran.exit_code == 0, ran.output
    block = yaml.safe_load((tmp_path / "mi.yaml").read_text())["model-index"][0]
    results_files = [p for p in ENTRY.glob("*.json") if p.name not in ("model.json", "run.json")]
    assert block["name"] == "msxr-bench/tiny-biovil" and len(block["results"]) == len(results_files) == 8
    by_task = {r["dataset"]["type"]: r for r in block["results"]}
    grounding = by_task["msxr-bench-toyworld-ms-cxr"]
    assert grounding["dataset"]["config"] == "v0.1-all" and "toy world (synthetic)" in grounding["dataset"]["name"]
    written = json.loads((ENTRY / "ms-cxr.json").read_text())["metrics"]
    got = {m["type"]: m["value"] for m in grounding["metrics"]}
    assert got["cnr_macro"] == round(written["cnr_macro"]["value"], 6)
    assert got["signed_cnr_macro"] == round(written["signed_cnr_macro"]["value"], 6)
    assert "verified" not in (tmp_path / "mi.yaml").read_text()


def test_files_with_dataset_text_are_refused(tmp_path: Path) -> None:
    data = json.loads((ENTRY / "radnli-zs.json").read_text())
    data["samples"][0]["premise"] = "a sentence of the dataset"
    (tmp_path / "radnli-zs.json").write_text(json.dumps(data))
    ran = CliRunner().invoke(main, ["export", "model-index", str(tmp_path / "radnli-zs.json")])
    assert ran.exit_code == 1 and "free-text field(s) premise" in ran.output
