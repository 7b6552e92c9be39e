"""`rsna-cls` with a prompt sweep (BioViL paper Table A.1): every pair reported, each pair's AUROC and F1 equal
scikit-learn on its own zero-shot scores, each change's CI equals `metrics.bootstrap.paired_bootstrap` computed
here, and sweep files are checked with errors that name them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score, roc_auc_score

from adapters_for_tests import RandomCNNAdapter
from msxr_bench.metrics.bootstrap import paired_bootstrap
from msxr_bench.metrics.classification import auroc
from msxr_bench.tasks.rsna.sweep import PAPER_SWEEP, PromptSweepError, load_sweep
from msxr_bench.tasks.spec import TaskParamsError
from task_helpers import run_named

MODEL = Path(__file__).resolve().parents[1] / "fixtures" / "models" / "tiny-biovil"


@pytest.fixture(scope="module")
def swept(toyworld_root: Path):
    from msxr_bench.adapters.registry import build_adapter

    adapter = build_adapter("biovil", checkpoint=str(MODEL))
    return adapter, run_named("rsna-cls", {"split": "all", "prompt_sweep": "paper"}, adapter=adapter,
                              data_root=toyworld_root, n_bootstrap=300, seed=4)


def test_the_paper_sweep_is_table_a1_with_its_reference_pairs() -> None:
    assert [(p.positive[0], p.negative[0], p.reference) for p in PAPER_SWEEP] == [
        ("Findings suggesting pneumonia", "There is no evidence of acute pneumonia", None),
        ("Findings suggesting pneumonia", "No evidence of pneumonia", None),
        ("Consistent with the diagnosis of pneumonia", "There is no evidence of acute pneumonia",
         "suggesting_vs_no_evidence"),
        ("Findings consistent with pneumonia", "No evidence of pneumonia", None),
        ("Findings consistent with pneumonia", "There is no pneumonia", "consistent_vs_no_evidence"),
    ]


def test_every_pair_is_scored_with_its_own_prompts(swept, toyworld_root: Path) -> None:
    from msxr_bench.data.images import load_image
    from msxr_bench.data.rsna import find_rsna_files, load_rsna
    from msxr_bench.geometry import preprocess

    adapter, result = swept
    rows = result.to_dataframe().set_index("sample_id")
    labels = rows.label.to_numpy()
    files = find_rsna_files(toyworld_root)
    samples = load_rsna(files.labels, files.images_dir, files.class_info)[0][::6]  # 4 images, encoded here
    with torch.no_grad():
        images = {s.patient_id: adapter.encode_images(preprocess(load_image(s.image_path), adapter.geometry)[None])
                  .global_[0] for s in samples}
        for pair in PAPER_SWEEP:
            name = pair.name
            scores = rows[f"score[{name}]"].to_numpy()
            assert result.metrics[f"auroc[{name}]"].value == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
            best = max(f1_score(labels, scores >= t) for t in scores)
            assert result.metrics[f"f1@f1max[{name}]"].value == pytest.approx(best, abs=1e-12)
            pos, neg = adapter.embed_prompt_list(list(pair.positive)), adapter.embed_prompt_list(list(pair.negative))
            for pid, g in images.items():
                assert rows.loc[pid, f"score[{name}]"] == pytest.approx(float(g @ pos - g @ neg), abs=1e-5)
    default = rows["score[suggesting_vs_no_evidence]"].to_numpy()  # the default pair = the task's own score
    assert np.allclose(default, rows.score.to_numpy(), atol=1e-9)


def test_delta_auroc_ci_is_the_paired_bootstrap(swept) -> None:
    _, result = swept
    rows = result.to_dataframe()
    labels = torch.tensor(rows.label.to_numpy(), dtype=torch.float64)
    for name, ref in (("consistent_diagnosis_vs_no_evidence_acute", "suggesting_vs_no_evidence"),
                      ("consistent_vs_there_is_no", "consistent_vs_no_evidence")):
        a = torch.stack([labels, torch.tensor(rows[f"score[{name}]"].to_numpy())], 1)
        b = torch.stack([labels, torch.tensor(rows[f"score[{ref}]"].to_numpy())], 1)
        got = paired_bootstrap(a, b, lambda x, idx: auroc(x[:, 1][idx], x[:, 0][idx], warn=False), n_resamples=300,
                               seed=4)
        metric = result.metrics[f"delta_auroc[{name}]"]
        assert metric.value == pytest.approx(roc_auc_score(labels, a[:, 1]) - roc_auc_score(labels, b[:, 1]))
        assert (metric.ci.low, metric.ci.high) == pytest.approx((got.low, got.high), abs=1e-12)
        assert result.metrics[f"abs_delta_auroc[{name}]"].value == pytest.approx(abs(metric.value), abs=1e-15)
        recorded = result.scoring["prompt_sweep"]["paired_bootstrap"][name]
        assert recorded["reference"] == ref and recorded["p_value_worse"] == pytest.approx(got.p_value_worse)
    assert "delta_auroc[suggesting_vs_no_evidence]" not in result.metrics  # no reference: no change reported


def test_a_sweep_file_of_pairs(toyworld_root: Path, tmp_path: Path) -> None:
    path = tmp_path / "pairs.json"
    path.write_text(json.dumps([{"name": "a", "positive": ["Pneumonia", "Airspace disease"], "negative": "No pneumonia"},
                                {"name": "b", "positive": "Opacity", "negative": "Clear lungs", "reference": "a"}]))
    result = run_named("rsna-cls", {"split": "all", "prompt_sweep": str(path)}, adapter=RandomCNNAdapter(),
                       data_root=toyworld_root, n_bootstrap=0)
    assert {"auroc[a]", "auroc[b]", "delta_auroc[b]"} <= set(result.metrics)
    assert result.scoring["prompt_sweep"]["sweep"] == "pairs.json" and len(result.scoring["prompt_sweep"]["sweep_sha256"]) == 64


@pytest.mark.parametrize("content,match", [
    ("[{\"name\": \"a\", \"positive\": \"x\"}]", r"pairs.json \[0\]: expected an object with name"),
    ("[{\"name\": \"a\", \"positive\": \"x\", \"negative\": \"y\", \"reference\": \"z\"}]", "names reference 'z'"),
    ("[{\"name\": \"a b\", \"positive\": \"x\", \"negative\": \"y\"}]", "pair name 'a b'"),
    ("[{\"name\": \"a\", \"positive\": [], \"negative\": \"y\"}]", r"\[0\].positive: expected a non-empty"),
    ("{\"name\": 1}", "expected a JSON list"),
])
def test_bad_sweep_files_are_refused_naming_the_file(tmp_path: Path, content: str, match: str) -> None:
    path = tmp_path / "pairs.json"
    path.write_text(content)
    with pytest.raises(PromptSweepError, match=match):
        load_sweep(str(path))


def test_a_missing_sweep_fails_when_the_parameters_are_checked() -> None:
    from msxr_bench.tasks.catalog import TASKS

    with pytest.raises(TaskParamsError, match="neither a named sweep"):
        TASKS["rsna-cls"].make_params({"prompt_sweep": "/no/such/file.json"})


def test_evaluate_prompt_sweep_paper_from_the_command_line(toyworld_root: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from msxr_bench.cli import main

    got = CliRunner().invoke(main, ["evaluate", "--model", "biovil", "--model-arg", f"checkpoint={MODEL}",
                                    "--task", "rsna-cls", "--split", "all", "--prompt-sweep", "paper",
                                    "--bootstrap", "0", "--data-root", str(toyworld_root), "--output", str(tmp_path)])
    assert got.exit_code == 0, got.output
    result = json.loads(next(tmp_path.rglob("rsna-cls.json")).read_text())
    assert {f"auroc[{p.name}]" for p in PAPER_SWEEP} <= set(result["metrics"])
    assert result["scoring"]["parameters"]["prompt_sweep"] == "paper"
    refused = CliRunner().invoke(main, ["evaluate", "--model", "biovil", "--task", "ms-cxr", "--prompt-sweep", "paper",
                                        "--data-root", str(toyworld_root), "--output", str(tmp_path)])
    assert refused.exit_code != 0 and "--prompt-sweep applies to rsna-cls" in refused.output
