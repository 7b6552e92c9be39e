"""`compare`: a planted regression (the box oracle's maps blurred and noised) is detected, an identical run
passes, mismatched inputs are refused with exit status 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from leaderboard_helpers import oracle_limited_run, oracle_runs, weighed_run
from msxr_bench.cli.compare_cmd import compare_cmd
from msxr_bench.compare import CompareInputError, compare_paths


def run_cli(*args: str) -> tuple[int, str]:
    out = CliRunner().invoke(compare_cmd, [*args, "--n-resamples", "300"])
    return out.exit_code, out.output


def test_degraded_maps_are_a_significant_regression(tmp_path: Path) -> None:
    good, bad = oracle_runs()
    code, text = run_cli(str(good), str(bad), "--json", str(tmp_path / "cmp.json"))
    assert code == 1, text
    assert "REGRESSION: ms-cxr cnr_macro" in text and "WORSE" in text
    row = json.loads((tmp_path / "cmp.json").read_text())["comparisons"][0]
    # the difference is that of the two tasks' own reported values (independent of compare's recomputation)
    reported = [json.loads(p.read_text())["metrics"]["cnr_macro"]["value"] for p in (good, bad)]
    assert row["baseline"] == pytest.approx(reported[0], abs=1e-12)
    assert row["diff"] == pytest.approx(reported[1] - reported[0], abs=1e-12)
    assert row["high"] < 0 < row["baseline"] - row["candidate"] and row["p_worse"] < 0.01


def test_every_metric_and_the_other_direction(tmp_path: Path) -> None:
    good, bad = oracle_runs()
    rows = {r.metric: r for r in compare_paths(good, bad, ["all"], n_resamples=200)}
    assert rows["miou_macro"].verdict == "worse" and rows["signed_cnr_wrong_macro"].verdict == "no direction"
    better = compare_paths(bad, good, n_resamples=200)[0]
    assert better.verdict == "better" and better.low > 0
    code, _ = run_cli(str(bad), str(good))
    assert code == 0


def test_a_drop_below_min_effect_passes() -> None:
    good, bad = oracle_runs()
    drop = compare_paths(good, bad, n_resamples=100)[0].diff
    code, text = run_cli(str(good), str(bad), "--min-effect", f"{-drop + 0.01:.4f}")
    assert code == 0, text


def test_identical_runs_pass(tmp_path: Path) -> None:
    run = weighed_run()
    copy = shutil.copytree(run, tmp_path / "candidate")
    code, text = run_cli(str(run), str(copy))
    assert code == 0, text
    rows = compare_paths(run, copy, n_resamples=100)
    assert sorted(r.task for r in rows) == ["ms-cxr", "ms-cxr-boxes", "ms-cxr-t-cls", "ms-cxr-t-sim", "padchest-gr",
                                            "radnli-zs", "rsna-cls", "rsna-seg"]
    assert all(r.diff == 0 and r.p_worse == 1 and r.verdict != "worse" for r in rows)


def test_mismatched_tasks_are_refused() -> None:
    run = weighed_run()
    code, text = run_cli(str(run / "ms-cxr.json"), str(run / "rsna-cls.json"))
    assert code == 2 and "different tasks" in text


def _forge(src: Path, dst: Path, change) -> Path:
    data = json.loads(src.read_text())
    change(data)
    dst.write_text(json.dumps(data))
    return dst


def test_other_splits_samples_and_broken_files_are_refused(tmp_path: Path) -> None:
    good, bad = oracle_runs()

    def other_version(d: dict) -> None:
        d["dataset"]["version"] = "1.1.0"

    def edited_row(d: dict) -> None:
        d["samples"][0]["cnr"] = 9.0

    for change, expected in ((other_version, "dataset version differs"), (edited_row, "does not hold together")):
        forged = _forge(bad, tmp_path / f"{change.__name__}.json", change)
        code, text = run_cli(str(good), str(forged))
        assert code == 2 and expected in text, text
    code, text = run_cli(str(good), str(oracle_limited_run()))
    assert code == 2 and "scored samples differ (25 only in the baseline: " in text, text
    limited = {r["sample_id"] for r in json.loads((oracle_limited_run() / "ms-cxr.json").read_text())["samples"]}
    first_missing = sorted({r["sample_id"] for r in json.loads(good.read_text())["samples"]} - limited)[0]
    assert f"{first_missing}, " in text and "and 15 more" in text  # the ids that differ are named
    (tmp_path / "empty").mkdir()
    assert run_cli(str(good), str(tmp_path / "empty"))[0] == 2
    with pytest.raises(CompareInputError, match="the metric nope"):
        compare_paths(good, bad, ["nope"])
