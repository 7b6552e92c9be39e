"""What the leaderboard accepts: its canonical sample sets (recomputed from the toy-world fixture and from the
real Kaggle RSNA labels) and the re-aggregation of every task's rows after the JSON round trip, which must
reproduce the written records exactly (one definition, `Task.metrics`, serves the run and the checks)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from leaderboard_helpers import WORLD, oracle_runs, radnli_run, unranked_runs, weighed_run
from msxr_bench.data.rsna import load_rsna, rsna_patient_ids
from msxr_bench.data.splits import KNOWN_SPLITS, rsna_split
from msxr_bench.leaderboard.board import BOARD, UNRANKED
from msxr_bench.leaderboard.canonical import sample_sets
from msxr_bench.leaderboard.checks import check_metrics
from msxr_bench.results import Metric, TaskResult, load_result
from msxr_bench.hashing import sample_ids_sha256
from msxr_bench.tasks.catalog import TASKS
from msxr_bench.tasks.recompute import RowError, per_category_rows, row_statistics

KAGGLE_LABELS = Path(__file__).parent / "data" / "kaggle_stage_2_train_labels.csv.zip"


def test_every_task_is_on_the_board_or_says_why_not() -> None:
    ranked = {s.task for s in BOARD.values()}
    assert ranked | set(UNRANKED) == set(TASKS) and not ranked & set(UNRANKED)
    assert all(BOARD[k].key == k for k in BOARD)


def test_toy_world_sample_sets_are_those_of_the_fixture() -> None:
    found = sample_sets(WORLD)
    stale = {t: (s, BOARD[t].canonical["toyworld"]) for t, s in found.items() if s != BOARD[t].canonical["toyworld"]}
    assert not stale, ("fixtures/toyworld changed: update the toy-world SampleSets of msxr_bench/leaderboard/board.py "
                       f"from `python -m msxr_bench.leaderboard.canonical fixtures/toyworld`: {stale}")


def test_real_rsna_sample_sets_are_those_of_the_kaggle_labels() -> None:
    test_ids = rsna_split(rsna_patient_ids(KAGGLE_LABELS), "gloria")["test"]
    samples, _ = load_rsna(KAGGLE_LABELS, KAGGLE_LABELS.parent, check_images=False)
    positive = {s.patient_id for s in samples if s.label == 1}
    cls, seg = BOARD["rsna-cls"].canonical["real"], BOARD["rsna-seg"].canonical["real"]
    assert (cls.n, cls.sha256) == (len(test_ids), sample_ids_sha256(test_ids)) == (4003, cls.sha256)
    pos = [i for i in test_ids if i in positive]
    assert (seg.n, seg.sha256) == (len(pos), sample_ids_sha256(pos))
    assert BOARD["rsna-cls"].ordered_split_sha256 == KNOWN_SPLITS["gloria"]["test"][1]


def _missing(x: float | None) -> bool:
    return x is None or math.isnan(x)


def _same(a: Metric, b: Metric) -> bool:
    """Bitwise equal records (a NaN computed here is the null the JSON holds)."""
    def eq(x: float | None, y: float | None) -> bool:
        return (_missing(x) and _missing(y)) or x == y
    return eq(a.value, b.value) and a.n == b.n and a.note == b.note and (a.ci is None) == (b.ci is None) and (
        a.ci is None or (eq(a.ci.low, b.ci.low) and eq(a.ci.high, b.ci.high) and a.ci.method == b.ci.method))


def _results() -> list[TaskResult]:
    files = sorted(p for p in weighed_run().glob("*.json") if p.name != "run.json")
    files += [oracle_runs()[0], radnli_run() / "radnli.json", *unranked_runs()]
    return [load_result(f) for f in files]


def test_rows_reproduce_every_recorded_metric_exactly() -> None:
    seen = set()
    for r in _results():
        stats = row_statistics(r)
        assert set(stats) == set(r.metrics), r.task.name
        for name, stat in stats.items():
            ci = r.metrics[name].ci
            again = stat.metric(ci.n_resamples if ci else 0, ci.seed if ci else r.provenance.seed)
            assert _same(again, r.metrics[name]), (r.task.name, name, again, r.metrics[name])
        assert per_category_rows(r) in (None, r.per_category)
        seen.add(r.task.name)
    assert seen == set(TASKS), set(TASKS) - seen  # ranked or not, every task's rows reproduce its metrics


def test_radnli_predictions_are_checked_against_the_metrics(tmp_path: Path) -> None:
    r = load_result(radnli_run() / "radnli.json")
    row = r.samples[0]
    other = next(lab for lab in ("entailment", "neutral", "contradiction") if lab != row["pred_seed0"])
    row["pred_seed0"] = other
    with pytest.raises(RowError, match="correct_fraction"):
        row_statistics(r)
    seeds_right = [row[f"pred_seed{s}"] == row["label"] for s in (0, 1)]
    row["correct_fraction"] = sum(seeds_right) / 2
    issues = [str(i) for i in check_metrics(tmp_path / "radnli.json", r)]
    assert any("metrics.accuracy_seed0.value" in i for i in issues) and any("per_category" in i for i in issues)


def test_rows_missing_a_field_are_a_clear_error() -> None:
    r = load_result(oracle_runs()[0])
    del r.samples[5]["signed_cnr"]
    with pytest.raises(RowError, match=r"samples\[5\] .*missing field 'signed_cnr'"):
        row_statistics(r)
    data = json.loads(oracle_runs()[0].read_text())
    data["samples"][2]["category"] = 3
    with pytest.raises(RowError, match=r"samples\[2\].*category"):
        row_statistics(r.model_copy(update={"samples": data["samples"]}))
