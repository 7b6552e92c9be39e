"""`leaderboard validate`: real toy-world runs are accepted; every forged or unsafe file is rejected with an
issue that names the file and the field; submitted code is never imported."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Callable

import pytest
from click.testing import CliRunner

from leaderboard_helpers import make_submission, weighed_run
from msxr_bench.cli.leaderboard_cmd import leaderboard_group
from msxr_bench.leaderboard.safe_json import MAX_BYTES
from msxr_bench.leaderboard.validate import validate_paths


@pytest.fixture
def submission(tmp_path: Path) -> Path:
    return make_submission(tmp_path / "submissions", weighed_run())


# the ranked tasks the random CNN of `weighed_run` can run (radnli needs a text encoder to fine-tune)
RUN_TASKS = ("ms-cxr", "ms-cxr-boxes", "ms-cxr-t-cls", "ms-cxr-t-sim", "padchest-gr", "radnli-zs", "rsna-cls",
             "rsna-seg")


def edit(path: Path, change: Callable[[dict], None]) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def issues_of(*paths: Path) -> list[str]:
    return [str(i) for i in validate_paths(list(paths)).issues]


def test_real_runs_of_the_toy_world_are_accepted(submission: Path) -> None:
    report = validate_paths([submission.parents[1]])
    assert report.issues == []
    assert sorted(e.result.task.name for e in report.entries) == list(RUN_TASKS)
    assert {e.track for e in report.entries} == {"toyworld"}
    out = CliRunner().invoke(leaderboard_group, ["validate", str(submission)])
    assert out.exit_code == 0, out.output
    assert f"{len(RUN_TASKS)} results file(s) valid" in out.output


def _bump_metric(d: dict) -> None:
    d["metrics"]["cnr_macro"]["value"] += 0.01
    d["main_score"]["value"] = d["metrics"]["cnr_macro"]["value"]  # consistent, so only the rows can tell


def _edit_row(d: dict) -> None:
    d["samples"][3]["cnr"] += 0.25


def _narrow_ci(d: dict) -> None:
    ci = d["metrics"]["cnr_macro"]["ci"]
    ci["low"], ci["high"] = ci["low"] + 0.01, ci["high"] - 0.01


def _drop_row(d: dict) -> None:
    d["samples"].pop()
    d["dataset"]["n_scored"] -= 1


FORGERIES: dict[str, tuple[str, Callable[[dict], None], str]] = {
    "edited metric value": ("ms-cxr", _bump_metric, "metrics.cnr_macro.value"),
    "edited per-sample row": ("ms-cxr", _edit_row, "metrics.cnr_macro.value"),
    "edited per-sample row (category table)": ("ms-cxr", _edit_row, "per_category."),
    "narrowed CI": ("ms-cxr", _narrow_ci, "metrics.cnr_macro.ci.low"),
    "edited AUROC": ("rsna-cls", lambda d: d["metrics"]["f1@f1max"].update(value=0.99), "metrics.f1@f1max.value"),
    "wrong split hash": ("rsna-cls", lambda d: d["dataset"].update(sample_ids_sha256="0" * 64),
                         "dataset.sample_ids_sha256"),
    "dropped row": ("radnli-zs", _drop_row, "dataset.n_scored"),
    "missing provenance": ("ms-cxr", lambda d: d.pop("provenance"), "provenance: Field required"),
    "missing harness version": ("rsna-seg", lambda d: d["provenance"].update(harness_version="unknown"),
                                "provenance.harness_version"),
    "extra field": ("rsna-seg", lambda d: d.update(leaderboard_rank=1), "leaderboard_rank: Extra inputs"),
    "extra field in a metric": ("rsna-seg", lambda d: d["metrics"]["dice"].update(verified=True),
                                "metrics.dice.verified"),
    "unknown task version": ("radnli-zs", lambda d: d["task"].update(version="9.9.9"), "task.version"),
    "unknown task": ("radnli-zs", lambda d: d["task"].update(name="radnli-ft"), "task.name"),
    "a --limit run": ("rsna-seg", lambda d: d["dataset"].update(limit=2), "dataset.limit"),
    "other prompts": ("rsna-cls", lambda d: d["scoring"].update(positive_prompts=["Pneumonia"]),
                      "scoring.positive_prompts"),
    "other weights": ("ms-cxr", lambda d: d["adapter"]["meta"].update(weights_sha256="f" * 64),
                      "adapter.meta.weights_sha256"),
    "MIMIC-CXR training hidden": ("ms-cxr", lambda d: d["adapter"]["meta"].update(training_data=["MIMIC-CXR"]),
                                  "mimic_cxr_overlap is false"),
    "non-string sample id": ("radnli-zs", lambda d: d["samples"][0].update(sample_id=7), "samples[0]"),
    "schema version deleted": ("rsna-cls", lambda d: d.pop("schema_version"), "schema_version: Field required"),
    "phrase text in the rows": ("ms-cxr", lambda d: d["samples"][0].update(phrase="small left effusion"),
                                "free-text field(s) phrase"),
    "a free-text column": ("radnli-zs", lambda d: [r.update(note="premise was ...") for r in d["samples"]],
                           "free-text field(s) note"),
    "a text run": ("radnli-zs", lambda d: d.update(contains_dataset_text=True), "contains_dataset_text: true"),
    "truncated texts kept": ("rsna-seg", lambda d: d["scoring"].update(truncated_texts=[{"text": "x"}]),
                             "scoring.truncated_texts"),
    "an unknown category": ("ms-cxr", lambda d: d["samples"][1].update(wrong_category="Left effusion, small"),
                            "free-text field(s) wrong_category"),
    "a file of another run": ("rsna-seg", lambda d: d["notes"].append("rerun"), "differs from what run"),
}


@pytest.mark.parametrize("name", list(FORGERIES))
def test_forged_results_are_rejected(submission: Path, name: str) -> None:
    task, change, expected = FORGERIES[name]
    path = submission / f"{task}.json"
    edit(path, change)
    found = issues_of(submission.parents[1])
    assert any(expected in i and (str(path) in i or path.name in i) for i in found), found
    assert CliRunner().invoke(leaderboard_group, ["validate", str(submission)]).exit_code == 1


@pytest.mark.parametrize("text, expected", [
    ('{"a": NaN}', "non-finite number NaN"),
    ('{"a": -Infinity}', "non-finite number -Infinity"),
    ('{"a": 1e999}', "overflows"),
    ('{"a": 1, "a": 2}', "duplicate key 'a'"),
    ('{"a": [1, 2', "invalid JSON at line 1"),
    ("[" * 100 + "]" * 100, "nested"),
    ("[" * 200_000 + "]" * 200_000, "nested too deeply"),
])
def test_unsafe_json_is_rejected(submission: Path, text: str, expected: str) -> None:
    (submission / "ms-cxr.json").write_text(text)
    assert any(expected in i and "ms-cxr.json" in i for i in issues_of(submission))


def test_nan_smuggled_into_a_metric_is_rejected(submission: Path) -> None:
    path = submission / "rsna-seg.json"
    path.write_text(path.read_text().replace('"value":', '"value": NaN, "x":', 1))
    assert any("non-finite" in i for i in issues_of(submission))


def test_huge_file_is_refused_before_parsing(submission: Path) -> None:
    path = submission / "ms-cxr.json"
    with open(path, "r+b") as fh:
        fh.truncate(MAX_BYTES + 1)  # sparse: nothing is written, and nothing may be read
    found = issues_of(submission)
    assert any("over the limit" in i and "(not parsed)" in i for i in found), found


def test_model_card_problems_are_rejected(submission: Path, tmp_path: Path) -> None:
    card = submission / "model.json"
    edit(card, lambda d: d.update(homepage="x"))
    edit(card, lambda d: d["weights"].update(sha256="ABC"))
    edit(card, lambda d: d["training"].update(datasets=["MIMIC-CXR v2"]))
    edit(card, lambda d: d.pop("contact"))
    found = issues_of(submission)
    for expected in ("homepage", "weights.sha256", "mimic_cxr_overlap is false", "contact: Field required"):
        assert any(expected in i and "model.json" in i for i in found), (expected, found)


def test_synthetic_look_alikes_are_not_mimic_cxr(submission: Path) -> None:
    edit(submission / "model.json", lambda d: d["training"].update(
        datasets=["msxr-bench toy world (synthetic MIMIC-CXR layout)"], mimic_cxr_overlap=False))
    assert issues_of(submission) == []


def test_folder_names_must_match_model_json(submission: Path) -> None:
    renamed = submission.with_name("v2")
    submission.rename(renamed)
    assert any("must be the revision 'v1'" in i for i in issues_of(renamed))
    model_dir = renamed.parent
    model_dir.rename(model_dir.with_name("otherorg__random-cnn"))
    assert any("must be 'testorg__random-cnn'" in i for i in issues_of(model_dir.with_name("otherorg__random-cnn")))


def test_duplicate_entries_are_rejected(submission: Path, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere" / submission.parent.name / submission.name
    shutil.copytree(submission, other)
    found = issues_of(submission.parents[1], other.parents[1])
    assert sum("duplicate entry: testorg/random-cnn v1" in i for i in found) == len(RUN_TASKS)


def test_stray_files_and_links_are_rejected(submission: Path) -> None:
    (submission / "adapter.py").write_text("raise SystemExit")
    (submission / "weights.pkl").write_bytes(b"\x80\x04")
    (submission / "rsna-cls-old.json").write_text("{}")
    (submission / "linked.json").symlink_to(submission / "ms-cxr.json")
    found = issues_of(submission)
    for name in ("adapter.py", "weights.pkl", "rsna-cls-old.json", "linked.json"):
        assert any(name in i and "unexpected entry" in i for i in found), (name, found)


def test_results_of_one_task_under_another_name_are_rejected(submission: Path) -> None:
    (submission / "rsna-seg.json").unlink()
    shutil.copy(submission / "rsna-cls.json", submission / "rsna-seg.json")
    assert any("rsna-seg.json: task.name" in i for i in issues_of(submission))


def test_submitted_code_is_never_imported(submission: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "pkgs" / "evil_adapter"
    package.mkdir(parents=True)
    marker = tmp_path / "imported"
    (package / "__init__.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    monkeypatch.syspath_prepend(str(package.parent))
    edit(submission / "model.json", lambda d: d["adapter"].update(entry_point="evil_adapter:build"))
    report = validate_paths([submission])
    assert report.ok and len(report.entries) == len(RUN_TASKS)
    assert not marker.exists() and "evil_adapter" not in sys.modules


def test_images_in_a_submission_are_refused(submission: Path) -> None:
    png = (Path(__file__).resolve().parents[1] / "fixtures" / "toyworld" / "mimic-cxr-jpg").rglob("*.jpg")
    (submission / "ms-cxr_heatmap.png").write_bytes(next(png).read_bytes())
    (submission / "ms-cxr_categories.PNG").write_bytes(b"\x89PNG")
    found = issues_of(submission)
    for name in ("ms-cxr_heatmap.png", "ms-cxr_categories.PNG"):
        assert any(name in i and "credentialed images" in i for i in found), (name, found)
