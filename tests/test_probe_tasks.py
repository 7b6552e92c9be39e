"""`rsna-cls-probe` and `rsna-seg-probe` on the toy world's `probe` scale (1,000 RSNA images; gloria split 700 / 150 /
150) with the committed tiny BioViL and tiny SimCLR: the numbers re-derive from the rows with scikit-learn/numpy,
and the probes learn what the BioViL paper's Tables 6-7 say they should (CI-sized; full tables in
benchmarks/results/paper_systems.md)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score, roc_auc_score

from msxr_bench.adapters.registry import build_adapter
from msxr_bench.cache import EvalCache
from msxr_bench.training.recipes import init_checkpoint
from task_helpers import run_named

MODELS = Path(__file__).resolve().parents[1] / "fixtures" / "models"
BOOT = 200


@pytest.fixture(scope="module")
def runs(probe_world_root: Path, tmp_path_factory: pytest.TempPathFactory, one_thread_module):
    """Every run the claims below compare, computed once (one eval cache: each image is encoded once per model)."""
    tmp = tmp_path_factory.mktemp("probe-runs")
    cache = EvalCache(tmp / "cache")
    biovil = build_adapter("biovil", checkpoint=str(MODELS / "tiny-biovil"))
    biovil_init = build_adapter("biovil", checkpoint=str(init_checkpoint(
        "biovil", "tiny", 0, MODELS / "tiny-biovil" / "text", tmp / "biovil-init")))
    simclr = build_adapter("simclr", checkpoint=str(MODELS / "tiny-simclr"))
    simclr_init = build_adapter("simclr", checkpoint=str(init_checkpoint("simclr", "tiny", 0, None, tmp / "simclr-init")))

    def run(task: str, adapter, **params):
        return run_named(task, params, adapter=adapter, data_root=probe_world_root, n_bootstrap=BOOT, batch_size=32,
                         cache=cache)

    return {
        "prompt": run("rsna-cls-probe", biovil), "zero_shot": run("rsna-cls", biovil),
        "classic": run("rsna-cls-probe", biovil, probe="classic"),
        "init_classic": run("rsna-cls-probe", biovil_init, probe="classic"),
        "simclr": run("rsna-cls-probe", simclr, probe="classic"),
        "simclr_init": run("rsna-cls-probe", simclr_init, probe="classic"),
        "seg": run("rsna-seg-probe", biovil), "seg_zero_shot": run("rsna-seg", biovil),
    }


@pytest.fixture(scope="module")
def one_thread_module():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _f1_max(labels: np.ndarray, scores: np.ndarray) -> float:
    """Max over thresholds t in the scores of F1(score >= t), by brute force in numpy."""
    pred = scores[None, :] >= scores[:, None]  # [thresholds, samples]
    tp = (pred & (labels[None] == 1)).sum(1)
    return float(np.max(2 * tp / (pred.sum(1) + labels.sum())))


def _beats(better, worse) -> bool:
    """better's CI lies entirely above worse's."""
    return better.ci.low > worse.ci.high


def test_cls_probe_metrics_re_derive_from_the_rows(runs) -> None:
    result = runs["prompt"]
    assert result.row_key == ["sample_id", "fraction", "seed"] and result.dataset.n_samples == 150
    rows = result.to_dataframe()
    assert len(rows) == 150 * 3 * 3  # images x fractions x seeds
    for fraction, tag in ((0.01, "1%"), (0.1, "10%"), (1.0, "100%")):
        per_seed = [rows[(rows.fraction == fraction) & (rows.seed == s)] for s in (0, 1, 2)]
        aucs = [roc_auc_score(r.label, r.score) for r in per_seed]
        assert result.metrics[f"auroc[{tag}]"].value == pytest.approx(np.mean(aucs), abs=1e-12)
        assert result.metrics[f"auroc_sd[{tag}]"].value == pytest.approx(np.std(aucs, ddof=1), abs=1e-12)
        at_val = [f1_score(r.label, r.score >= r.val_threshold.iloc[0]) for r in per_seed]
        assert result.metrics[f"f1@val[{tag}]"].value == pytest.approx(np.mean(at_val), abs=1e-12)
        best = [_f1_max(r.label.to_numpy(), r.score.to_numpy()) for r in per_seed]
        assert result.metrics[f"f1@f1max[{tag}]"].value == pytest.approx(np.mean(best), abs=1e-12)
    runs_record = result.scoring["runs"]
    assert [(r["fraction"], r["seed"], r["n"]) for r in runs_record][:3] == [(0.01, 0, 7), (0.01, 1, 7), (0.01, 2, 7)]
    assert all(r["selected_lr"] in (1e-3, 1e-2, 1e-1) for r in runs_record)
    assert "optimistic" in result.metrics["f1@f1max[1%]"].note and "validation" in result.metrics["f1@val[1%]"].note


def test_trained_features_probe_above_zero_shot_and_random_init(runs) -> None:
    prompt, classic, init = runs["prompt"].metrics, runs["classic"].metrics, runs["init_classic"].metrics
    assert _beats(prompt["auroc[100%]"], runs["zero_shot"].metrics["auroc"])
    assert _beats(prompt["auroc[1%]"], runs["zero_shot"].metrics["auroc"])  # even 7 labelled images
    assert _beats(classic["auroc[100%]"], init["auroc[100%]"])


def test_auroc_grows_with_the_label_fraction(runs) -> None:
    m = runs["classic"].metrics
    assert _beats(m["auroc[100%]"], m["auroc[1%]"]), (m["auroc[1%]"], m["auroc[100%]"])
    assert m["auroc[1%]"].value < m["auroc[10%]"].value < m["auroc[100%]"].value


def test_simclr_features_probe_better_than_random_init(runs) -> None:
    trained, init = runs["simclr"].metrics, runs["simclr_init"].metrics
    assert _beats(trained["auroc[10%]"], init["auroc[10%]"]), (trained["auroc[10%]"], init["auroc[10%]"])
    assert trained["auroc[100%]"].value > init["auroc[100%]"].value


def test_seg_probe_beats_zero_shot_dice_and_re_derives(runs) -> None:
    seg, zero = runs["seg"], runs["seg_zero_shot"]
    assert _beats(seg.metrics["dice[100%]"], zero.metrics["dice"])
    rows = seg.to_dataframe()
    assert set(rows.fraction) == {0.05, 1.0} and set(rows.seed) == {0}
    assert seg.metrics["dice[5%]"].value == pytest.approx(rows[rows.fraction == 0.05].dice.mean(), abs=1e-12)
    assert seg.scoring["map_scale"] == "minmax" and seg.scoring["training_images"] == "positives"
    assert [r["n"] for r in seg.scoring["runs"]] == [round(0.05 * seg.scoring["train"]["n_embedded"]),
                                                     seg.scoring["train"]["n_embedded"]]


def test_prompt_probe_needs_text_and_simclr_is_skipped_with_the_reason(probe_world_root: Path) -> None:
    from msxr_bench.tasks.spec import TaskSkipped

    simclr = build_adapter("simclr", checkpoint=str(MODELS / "tiny-simclr"))
    with pytest.raises(TaskSkipped, match="simclr lacks text"):
        run_named("rsna-cls-probe", {}, adapter=simclr, data_root=probe_world_root, n_bootstrap=0)
