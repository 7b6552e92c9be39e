"""`msxr-bench evaluate` on the committed toy world with a random-weights CNN: all four tasks, validated JSON,
tables, heatmaps; chance levels on signed values; identical numbers from an identical library run; exit codes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from adapters_for_tests import RandomCNNAdapter
from msxr_bench.cli import main
from msxr_bench.results import load_result
from task_helpers import run_named

ALL_TASKS = ["--task", "ms-cxr", "--task", "rsna-cls", "--task", "rsna-seg", "--task", "radnli-zs"]
COMMON = ["--num-workers", "2", "--batch-size", "7", "--bootstrap", "100", "--seed", "0"]


@pytest.fixture(scope="module")
def cli_run(toyworld_root: Path, tmp_path_factory: pytest.TempPathFactory):
    from conftest import TEST_ADAPTERS
    from msxr_bench.adapters import registry

    out = tmp_path_factory.mktemp("results")
    mp = pytest.MonkeyPatch()
    mp.setattr(registry, "BUILTIN_ADAPTERS", {**registry.BUILTIN_ADAPTERS, **TEST_ADAPTERS})
    try:
        result = CliRunner().invoke(main, ["evaluate", "--model", "test-random-cnn", *ALL_TASKS, "--data-root",
                                           str(toyworld_root), "--split", "rsna-cls=all", "--split", "rsna-seg=all",
                                           "--save-heatmaps", "1", "--output", str(out), *COMMON])
    finally:
        mp.undo()
    return result, out / "test-random-cnn"


def test_all_four_tasks_write_valid_results(cli_run) -> None:
    result, model_dir = cli_run
    assert result.exit_code == 0, result.output
    for task in ALL_TASKS[1::2]:
        res = load_result(model_dir / f"{task}.json")  # validates against the schema
        assert res.task.name == task and res.adapter.name == "test-random-cnn"
        assert res.provenance.seed == 0 and res.provenance.num_workers == 2 and res.provenance.precision == "fp32"
        assert res.provenance.packages["torch"] and res.provenance.wall_time_s > 0
        assert len(res.samples) == res.dataset.n_scored > 0
    assert "Pleural Effusion" in result.output and "macro" in result.output and "contradiction_gap" in result.output
    assert sorted(p.name.split("_")[0] for p in (model_dir / "heatmaps").glob("*.png")) == ["ms-cxr", "rsna-seg"]
    assert (model_dir / "ms-cxr_categories.png").is_file()


def _mean_se(values) -> tuple[float, float]:
    v = np.array([x for x in values if x is not None], dtype=float)
    return float(v.mean()), float(v.std(ddof=1) / math.sqrt(len(v)))


def test_random_weights_are_at_chance_on_signed_values(cli_run) -> None:
    _, model_dir = cli_run
    grounding = load_result(model_dir / "ms-cxr.json")
    assert grounding.dataset.n_scored >= 40
    for key in ("signed_cnr", "phrase_gap"):
        mean, se = _mean_se(r[key] for r in grounding.samples)
        assert abs(mean) < 3 * se, (key, mean, se)  # chance = 0: within 3 standard errors of the mean
    assert 0.1 < grounding.metrics["cnr_macro"].value < 1.0  # |CNR| of smooth random maps is not 0
    cls = load_result(model_dir / "rsna-cls.json")
    labels = np.array([r["label"] for r in cls.samples])
    n1, n0 = labels.sum(), len(labels) - labels.sum()
    null_sd = math.sqrt((n1 + n0 + 1) / (12 * n1 * n0))  # Mann-Whitney null, no ties
    assert abs(cls.metrics["auroc"].value - 0.5) < 3 * null_sd
    nli = load_result(model_dir / "radnli-zs.json")
    gap = nli.metrics["contradiction_gap"]
    assert gap.ci.low < 0 < gap.ci.high or abs(gap.value) < 0.1


def test_an_identical_run_gives_identical_numbers(cli_run, toyworld_root: Path) -> None:
    _, model_dir = cli_run
    written = load_result(model_dir / "ms-cxr.json")
    again = run_named("ms-cxr", adapter=RandomCNNAdapter(), adapter_name="test-random-cnn", data_root=toyworld_root,
                      num_workers=0, batch_size=7, n_bootstrap=100, seed=0)  # in-process decoding, not 2 workers
    fields = {"samples", "metrics", "per_category", "dataset"}
    assert json.loads(again.model_dump_json(include=fields)) == json.loads(written.model_dump_json(include=fields))


def test_grounding_is_skipped_for_global_only_models(toyworld_root: Path, tmp_path: Path, test_adapters) -> None:
    args = ["evaluate", "--model", "test-global-only", "--data-root", str(toyworld_root), "--output", str(tmp_path),
            "--num-workers", "0", "--bootstrap", "0"]
    ran = CliRunner().invoke(main, [*args, "--task", "ms-cxr", "--task", "radnli-zs"])
    assert ran.exit_code == 0, ran.output
    assert "skipped ms-cxr" in ran.output and "lacks patches" in ran.output
    assert not (tmp_path / "test-global-only" / "ms-cxr.json").exists()
    nothing = CliRunner().invoke(main, [*args, "--task", "ms-cxr"])
    assert nothing.exit_code == 1 and "no task ran" in nothing.output


@pytest.mark.parametrize("extra, message", [
    (["--precision", "bf16", "--device", "cpu"], "autocast for CUDA"),
    (["--split", "test", "--split", "all"], "--split given twice"),
    (["--split", "nope=test"], "unknown task 'nope'"),
    (["--model-arg", "seed"], "key=value"),
])
def test_bad_options_are_usage_errors(extra, message, toyworld_root: Path, test_adapters) -> None:
    ran = CliRunner().invoke(main, ["evaluate", "--model", "test-random-cnn", "--task", "radnli-zs", "--data-root",
                                    str(toyworld_root), *extra])
    assert ran.exit_code == 2 and message in ran.output


def test_data_errors_fail_the_task_with_a_clear_message(tmp_path: Path, test_adapters) -> None:
    ran = CliRunner().invoke(main, ["evaluate", "--model", "test-random-cnn", "--task", "ms-cxr", "--data-root",
                                    str(tmp_path), "--output", str(tmp_path / "out")])
    assert ran.exit_code == 1 and "cannot start" in ran.output and "MS_CXR_Local_Alignment" in ran.output


def test_help_names_every_option() -> None:
    text = CliRunner().invoke(main, ["evaluate", "--help"]).output
    for option in ("--model", "--model-arg", "--task", "--data-root", "--split", "--ms-cxr-version", "--output",
                   "--device", "--precision", "--batch-size", "--num-workers", "--limit", "--seed", "--save-heatmaps",
                   "--truncate-long-phrases", "Exit status"):
        assert option in text
