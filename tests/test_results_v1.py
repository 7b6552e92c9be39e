"""Results files of schema 1.0.0 (msxr-bench 0.1.0) still load, validate and re-aggregate to the metrics they
record; only what they may not share (text columns) keeps them off the leaderboard."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from msxr_bench.leaderboard.checks import check_metrics, check_rows, check_task, check_text
from msxr_bench.results import load_result
from msxr_bench.tasks.recompute import row_statistics

V1 = Path(__file__).parent / "data" / "results_v1"
FILES = sorted(V1.glob("*.json"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_v1_files_validate_and_reaggregate_to_their_own_metrics(path: Path) -> None:
    r = load_result(path)
    assert r.schema_version == "1.0.0" and r.protocol is None and r.row_key == ["sample_id"]
    assert check_task(path, r) == [] and check_rows(path, r) == []
    assert check_metrics(path, r) == []  # values, n, notes and the seeded bootstrap CIs, recomputed
    stats = row_statistics(r)
    main = stats[r.main_score.name].value()
    assert main == pytest.approx(r.main_score.value, abs=1e-12)


def test_v1_grounding_rows_with_phrases_are_refused_for_sharing() -> None:
    r = load_result(V1 / "ms-cxr.json")
    issues = check_text(V1 / "ms-cxr.json", r)
    assert len(issues) == 1 and "phrase" in issues[0].message and "wrong_phrase" in issues[0].message
    assert check_text(V1 / "rsna-cls.json", load_result(V1 / "rsna-cls.json")) == []


def test_a_file_must_state_its_schema_version(tmp_path: Path) -> None:
    data = json.loads((V1 / "rsna-cls.json").read_text())
    del data["schema_version"]
    (tmp_path / "r.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match="schema_version"):
        load_result(tmp_path / "r.json")
