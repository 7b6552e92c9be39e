"""Preflight: everything checkable without the model fails in seconds, all problems at once, before any compute;
the CLI and the Python facade share it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from msxr_bench.cli import main
from msxr_bench.preflight import PreflightError, check_output, preflight

CKPT = Path(__file__).resolve().parents[1] / "fixtures" / "models" / "tiny-biovil"


def problems(**kw) -> list[str]:
    with pytest.raises(PreflightError) as err:
        preflight(**{"model": "biovil", "tasks": ["ms-cxr"], **kw})
    return err.value.problems


def test_a_good_plan_resolves_protocols_splits_and_files(toyworld_root: Path, tmp_path: Path) -> None:
    plan = preflight("biovil", ["ms-cxr", "rsna-cls", "radnli-zs"], toyworld_root,
                     model_args={"checkpoint": str(CKPT), "crop": "96"},
                     task_params={"ms-cxr": {"protocol": "v1.1.0-test", "split": "valid"},
                                  "rsna-cls": {"split": "all"}}, output=tmp_path / "out")
    by = {p.spec.name: p for p in plan.tasks}
    assert (by["ms-cxr"].protocol.name, by["ms-cxr"].split) == ("v1.1.0-test", "val")  # alias accepted
    assert (by["rsna-cls"].protocol.name, by["rsna-cls"].split) == ("gloria", "all")
    assert by["radnli-zs"].split == "test" and by["radnli-zs"].files[0].name == "radnli_test_v1.jsonl"
    assert plan.model_options["crop"] == 96 and plan.model_options["verify"] is True  # typed by the schema
    assert not list((tmp_path / "out").iterdir())  # the write probe left nothing behind


def test_every_problem_is_reported_at_once(toyworld_root: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    found = problems(tasks=["ms-cxr", "rsna-cls", "radnli-zs", "msxr"], data_root=toyworld_root,
                     model_args={"checkpoint": str(CKPT), "crop": "big", "colour": "blue"},
                     task_params={"ms-cxr": {"split": "test"}, "rsna-cls": {"split": "tset"},
                                  "radnli-zs": {"thresholds": 3}, "rsna-seg": {"split": "test"}},
                     output=blocker / "results")
    text = "\n".join(found)
    assert "unknown task 'msxr' (did you mean ms-cxr?)" in text
    assert "ms-cxr: unknown split 'test' for protocol 'v0.1-all'" in text
    assert "rsna-cls: unknown split 'tset'" in text
    assert "radnli-zs: thresholds: Extra inputs are not permitted" in text
    assert "parameters given for 'rsna-seg', which is not among the requested tasks" in text
    assert "colour" in text and "not a writable folder" in text
    assert len(found) == 7, found


def test_missing_data_and_bad_options_name_what_is_wrong(tmp_path: Path) -> None:
    text = "\n".join(problems(tasks=["ms-cxr", "rsna-seg", "radnli"], data_root=tmp_path,
                              model_args={"geometry": "square"}))
    assert "MS_CXR_Local_Alignment_v1.0.0.csv" in text and "stage_2_train_labels" in text
    assert "mli_train_v1.jsonl not found" in text and "geometry=square: expected one of official, exact" in text
    assert "unknown model 'biovl'" in "\n".join(problems(model="biovl", data_root=tmp_path))


def test_output_below_a_regular_file_is_refused_even_as_root(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    assert "not a writable folder" in check_output(tmp_path / "f" / "out")
    assert check_output(tmp_path / "fine" / "deep") is None


def test_cli_fails_in_seconds_before_building_the_model(toyworld_root: Path, tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "msxr_bench", "evaluate", "--model", "biovil", "--model-arg",
                           f"checkpoint={CKPT}", "--task", "ms-cxr", "--task", "rsna-cls", "--data-root",
                           str(toyworld_root), "--output", str(tmp_path / "f" / "results")],
                          capture_output=True, text=True, timeout=60)
    took = time.perf_counter() - t0
    assert proc.returncode == 1 and "not a writable folder" in proc.stderr, proc.stderr
    assert took < 10 and "== ms-cxr" not in proc.stderr  # no task started


@pytest.mark.parametrize("args, message", [
    (["--split", "rsna-cls=tset"], "rsna-cls is not among the requested tasks"),
    (["--task-arg", "ms-cxr.iou_thresholds=[0.5]", "--task-arg", "ms-cxr.iou_thresholds=[0.3]"], "given twice"),
    (["--task-arg", "iou_thresholds=0.5"], "TASK.KEY=VALUE"),
])
def test_cli_usage_errors(args, message, toyworld_root: Path) -> None:
    ran = CliRunner().invoke(main, ["evaluate", "--model", "biovil", "--task", "ms-cxr", "--data-root",
                                    str(toyworld_root), *args])
    assert ran.exit_code == 2 and message in ran.output, ran.output


def test_valid_is_an_alias_on_the_cli_too(toyworld_root: Path) -> None:
    from msxr_bench.cli.task_args import task_params_from_cli

    params = task_params_from_cli(["ms-cxr", "rsna-cls"], splits=["ms-cxr=valid"], ms_cxr_version="1.1.0",
                                  task_args=["rsna-cls.positive_prompts=[\"Pneumonia\", \"Consolidation\"]"])
    plan = preflight("biovil", ["ms-cxr", "rsna-cls"], toyworld_root, task_params=params)
    ms, rsna = plan.tasks
    assert (ms.protocol.name, ms.split) == ("v1.1.0-test", "val")
    assert rsna.params.positive_prompts == ("Pneumonia", "Consolidation")
